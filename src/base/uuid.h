/*
 * uuid.h - part of base.h: UUIDs as text. Marbles are named by UUIDs (reference/marblerun.md §5.5,
 * §6.3); the Coordinator accepts every form Go's uuid.Parse does and works with the canonical one.
 */
#ifndef QUARRY_BASE_UUID_H
#define QUARRY_BASE_UUID_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

#define UUID_TEXT_SIZE 37 /* 36 characters and a NUL */

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (any case), "{...}", "urn:uuid:...", or 32 hex digits ->
 * the canonical lowercase form. ERR_SYNTAX otherwise. */
QY_API int uuid_canonical(const char *in, char out[UUID_TEXT_SIZE]) QY_MUST_USE;
/* True when `s` is a UUID in canonical form: 8-4-4-4-12 lowercase hex digits. */
QY_API bool uuid_is_canonical(const char *s);
/* The same forms -> the UUID's 16 bytes. ERR_SYNTAX otherwise. */
QY_API int uuid_parse(const char *in, uint8_t out[16]) QY_MUST_USE;
/* A version-4 UUID from 16 random bytes (the caller supplies them: base has no randomness). */
QY_API void uuid_v4(const uint8_t random[16], char out[UUID_TEXT_SIZE]);

#endif
