/* Private to store/. */
#ifndef QUARRY_STORE_INT_H
#define QUARRY_STORE_INT_H

#include "store.h"

int kv_sqlite_open(const char *path, struct kv_backend **out) QY_MUST_USE;
int kv_memory_open(struct kv_backend **out) QY_MUST_USE;

#endif
