#include "rd.h"

#include <string.h>

struct rd rd_init(struct view in)
{
    return (struct rd){in, 0};
}

size_t rd_remaining(const struct rd *r)
{
    return r->in.size - r->off;
}

size_t rd_offset(const struct rd *r)
{
    return r->off;
}

static int rd_need(const struct rd *r, size_t size)
{
    if (size > rd_remaining(r))
        return err_fail(ERR_TRUNCATED, __func__, "input truncated at offset %zu: need %zu bytes, %zu left",
                        r->off, size, rd_remaining(r));
    return 0;
}

int rd_bytes(struct rd *r, size_t size, struct view *out)
{
    *out = VIEW_EMPTY;
    TRY(rd_need(r, size));
    out->ptr = size ? r->in.ptr + r->off : NULL;
    out->size = size;
    r->off += size;
    return 0;
}

int rd_copy(struct rd *r, void *dst, size_t size)
{
    struct view v;
    TRY(rd_bytes(r, size, &v));
    if (size > 0)
        memcpy(dst, v.ptr, size);
    return 0;
}

int rd_skip(struct rd *r, size_t size)
{
    struct view v;
    return rd_bytes(r, size, &v);
}

static int rd_uint(struct rd *r, size_t size, int big_endian, uint64_t *out)
{
    struct view v;
    *out = 0;
    TRY(rd_bytes(r, size, &v));
    uint64_t x = 0;
    for (size_t i = 0; i < size; i++) {
        size_t idx = big_endian ? i : size - 1 - i;
        x = (x << 8) | v.ptr[idx];
    }
    *out = x;
    return 0;
}

int rd_u8(struct rd *r, uint8_t *out)
{
    uint64_t x;
    *out = 0;
    TRY(rd_uint(r, 1, 0, &x));
    *out = (uint8_t)x;
    return 0;
}

int rd_u16le(struct rd *r, uint16_t *out)
{
    uint64_t x;
    *out = 0;
    TRY(rd_uint(r, 2, 0, &x));
    *out = (uint16_t)x;
    return 0;
}

int rd_u32le(struct rd *r, uint32_t *out)
{
    uint64_t x;
    *out = 0;
    TRY(rd_uint(r, 4, 0, &x));
    *out = (uint32_t)x;
    return 0;
}

int rd_u64le(struct rd *r, uint64_t *out)
{
    return rd_uint(r, 8, 0, out);
}

int rd_u16be(struct rd *r, uint16_t *out)
{
    uint64_t x;
    *out = 0;
    TRY(rd_uint(r, 2, 1, &x));
    *out = (uint16_t)x;
    return 0;
}

int rd_u32be(struct rd *r, uint32_t *out)
{
    uint64_t x;
    *out = 0;
    TRY(rd_uint(r, 4, 1, &x));
    *out = (uint32_t)x;
    return 0;
}

int rd_sub(struct rd *r, size_t size, struct rd *out)
{
    struct view v;
    *out = rd_init(VIEW_EMPTY);
    TRY(rd_bytes(r, size, &v));
    *out = rd_init(v);
    return 0;
}

struct view rd_rest(struct rd *r)
{
    size_t left = rd_remaining(r);
    struct view v = {left ? r->in.ptr + r->off : NULL, left};
    r->off = r->in.size;
    return v;
}

int rd_end(const struct rd *r)
{
    ENSURE(rd_remaining(r) == 0, ERR_TRAILING, "%zu unexpected bytes after offset %zu", rd_remaining(r),
           r->off);
    return 0;
}
