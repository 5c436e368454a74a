/* Helpers shared by the store's tests (st.c). */
#ifndef QUARRY_TEST_STORE_ST_H
#define QUARRY_TEST_STORE_ST_H

#include <sqlite3.h>

#include "qt.h"
#include "store/store.h"

/* A fresh temporary directory per test: db (state.db), keyfile, and their specs. */
extern char dir[256], db[300], keyfile[300], spec_db[320], spec_key[320];
void setup(void);
void teardown(void);

/* The sealer `ctx` (a spec) is available on this "host", if it has the recorded name. */
int lookup(void *ctx, const char *name, struct sealer **out);
/* Opens a store, asserting it opens. */
struct store *open_store(const char *backend, const char *sealer);
struct sealer *sealer(const char *spec);
extern const uint8_t dek1[STORE_DEK_SIZE];
/* store_reset under dek1 with recovery data {"recovery":1} and, unless key is NULL, one write. */
void reset_with(struct store *s, const char *sealer_spec, const char *key, const char *value);
void put(struct store *s, const char *key, const char *value, uint64_t expect, int want);
void expect_value(struct store *s, const char *key, const char *want);
/* The SQLite file, opened directly (as whoever holds the disk). */
sqlite3 *raw_db(void);
/* Runs one SQL statement on the file at path, asserting it succeeds. */
void sql(const char *path, const char *stmt);
/* The first column of the first row of a query, as an integer. */
long long sql_int(const char *path, const char *query);
/* Asserts that db opens with ERR_TAMPERED and exactly this detail. */
void open_refused(const char *detail);
/* Deletes state.db and its WAL files. */
void remove_db(void);

#endif
