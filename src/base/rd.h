/*
 * rd.h - part of base.h: the bounded reader, the only way Quarry reads binary input.
 *
 * A reader walks a borrowed view front to back. Every read is all-or-nothing: it either consumes
 * exactly the bytes asked for and succeeds, or consumes nothing and fails with ERR_TRUNCATED (with the
 * offset in the detail). Reads never move backwards, never hand out pointers past the end, and
 * rd_end() fails with ERR_TRAILING when bytes remain, so "parsed" always means "parsed all of it".
 * Sub-readers (rd_sub) carve a length-prefixed region out of the parent and advance the parent past
 * it, so nested structures are bounded by their declared size.
 */
#ifndef QUARRY_BASE_RD_H
#define QUARRY_BASE_RD_H

#include <stddef.h>
#include <stdint.h>

#include "bytes.h"

struct rd {
    struct view in;
    size_t off;
};

QY_API struct rd rd_init(struct view in);
QY_API size_t rd_remaining(const struct rd *r);
QY_API size_t rd_offset(const struct rd *r);

QY_API int rd_u8(struct rd *r, uint8_t *out) QY_MUST_USE;
QY_API int rd_u16le(struct rd *r, uint16_t *out) QY_MUST_USE;
QY_API int rd_u32le(struct rd *r, uint32_t *out) QY_MUST_USE;
QY_API int rd_u64le(struct rd *r, uint64_t *out) QY_MUST_USE;
QY_API int rd_u16be(struct rd *r, uint16_t *out) QY_MUST_USE;
QY_API int rd_u32be(struct rd *r, uint32_t *out) QY_MUST_USE;
/* Borrow the next `size` bytes (valid as long as the input is). */
QY_API int rd_bytes(struct rd *r, size_t size, struct view *out) QY_MUST_USE;
/* Copy the next `size` bytes into dst. */
QY_API int rd_copy(struct rd *r, void *dst, size_t size) QY_MUST_USE;
QY_API int rd_skip(struct rd *r, size_t size) QY_MUST_USE;
/* A reader over the next `size` bytes; the parent moves past them. */
QY_API int rd_sub(struct rd *r, size_t size, struct rd *out) QY_MUST_USE;
/* Everything that is left (possibly nothing). */
QY_API struct view rd_rest(struct rd *r);
/* 0 when the input is fully consumed, ERR_TRAILING otherwise. */
QY_API int rd_end(const struct rd *r) QY_MUST_USE;

#endif
