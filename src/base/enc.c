#include "enc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int hex_append(struct buf *out, struct view in, const char *digits)
{
    ENSURE(in.size <= SIZE_MAX / 2, ERR_TOO_LARGE, "input too large to hex-encode");
    TRY(buf_reserve(out, in.size * 2));
    for (size_t i = 0; i < in.size; i++) {
        out->ptr[out->size++] = (uint8_t)digits[in.ptr[i] >> 4];
        out->ptr[out->size++] = (uint8_t)digits[in.ptr[i] & 15];
    }
    return 0;
}

int enc_hex(struct buf *out, struct view in)
{
    return hex_append(out, in, "0123456789abcdef");
}

int enc_hex_upper(struct buf *out, struct view in)
{
    return hex_append(out, in, "0123456789ABCDEF");
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex_decode_into(uint8_t *dst, struct view in)
{
    for (size_t i = 0; i < in.size; i += 2) {
        int hi = hex_value(in.ptr[i]), lo = hex_value(in.ptr[i + 1]);
        ENSURE(hi >= 0 && lo >= 0, ERR_ENCODING, "invalid hex digit at offset %zu", hi < 0 ? i : i + 1);
        dst[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int enc_hex_decode(struct buf *out, struct view in)
{
    ENSURE(in.size % 2 == 0, ERR_ENCODING, "hex has an odd number of digits (%zu)", in.size);
    TRY(buf_reserve(out, in.size / 2));
    TRY(hex_decode_into(out->ptr + out->size, in));
    out->size += in.size / 2;
    return 0;
}

int enc_hex_decode_fixed(void *dst, size_t size, struct view in)
{
    ENSURE(in.size == size * 2, ERR_ENCODING, "expected %zu hex digits, got %zu", size * 2, in.size);
    return hex_decode_into(dst, in);
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_append(struct buf *out, struct view in, const char *alphabet, int pad)
{
    ENSURE(in.size <= SIZE_MAX / 2, ERR_TOO_LARGE, "input too large to base64-encode");
    TRY(buf_reserve(out, (in.size + 2) / 3 * 4));
    size_t i = 0;
    uint8_t *o = out->ptr + out->size;
    for (; i + 3 <= in.size; i += 3) {
        uint32_t v = (uint32_t)in.ptr[i] << 16 | (uint32_t)in.ptr[i + 1] << 8 | in.ptr[i + 2];
        *o++ = (uint8_t)alphabet[v >> 18];
        *o++ = (uint8_t)alphabet[(v >> 12) & 63];
        *o++ = (uint8_t)alphabet[(v >> 6) & 63];
        *o++ = (uint8_t)alphabet[v & 63];
    }
    size_t left = in.size - i;
    if (left > 0) {
        uint32_t v = (uint32_t)in.ptr[i] << 16 | (left == 2 ? (uint32_t)in.ptr[i + 1] << 8 : 0);
        *o++ = (uint8_t)alphabet[v >> 18];
        *o++ = (uint8_t)alphabet[(v >> 12) & 63];
        if (left == 2)
            *o++ = (uint8_t)alphabet[(v >> 6) & 63];
        else if (pad)
            *o++ = '=';
        if (pad)
            *o++ = '=';
    }
    out->size = (size_t)(o - out->ptr);
    return 0;
}

int enc_b64(struct buf *out, struct view in)
{
    return b64_append(out, in, b64_std, 1);
}

int enc_b64url(struct buf *out, struct view in)
{
    return b64_append(out, in, b64_url, 0);
}

static int b64_value(uint8_t c)
{
    const char *p = c ? memchr(b64_std, c, 64) : NULL;
    return p ? (int)(p - b64_std) : -1;
}

int enc_b64_decode(struct buf *out, struct view in)
{
    ENSURE(in.size <= SIZE_MAX / 2, ERR_TOO_LARGE, "input too large to base64-decode");
    TRY(buf_reserve(out, in.size / 4 * 3 + 3));
    uint8_t *o = out->ptr + out->size;
    uint32_t acc = 0;
    size_t n = 0, pad = 0;
    for (size_t i = 0; i < in.size; i++) {
        uint8_t c = in.ptr[i];
        if (c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            ENSURE(pad <= 2 && n % 4 >= 2, ERR_ENCODING, "misplaced base64 padding at offset %zu", i);
            n++;
            continue;
        }
        int v = b64_value(c);
        ENSURE(v >= 0, ERR_ENCODING, "invalid base64 character at offset %zu", i);
        ENSURE(pad == 0, ERR_ENCODING, "base64 data after padding at offset %zu", i);
        acc = acc << 6 | (uint32_t)v;
        n++;
        if (n % 4 == 0) {
            *o++ = (uint8_t)(acc >> 16);
            *o++ = (uint8_t)(acc >> 8);
            *o++ = (uint8_t)acc;
            acc = 0;
        }
    }
    ENSURE(n % 4 == 0, ERR_ENCODING, "base64 length is not a multiple of 4 (missing padding?)");
    if (pad > 0) {
        acc <<= 6 * pad; /* shifted as if the padding were zero digits */
        *o++ = (uint8_t)(acc >> 16);
        if (pad == 1)
            *o++ = (uint8_t)(acc >> 8);
    }
    out->size = (size_t)(o - out->ptr);
    return 0;
}

int enc_pem(struct buf *out, const char *label, struct view der)
{
    struct buf b64 = BUF_INIT;
    int r = ERR_INTERNAL;
    TRY_OUT(enc_b64(&b64, der));
    TRY_OUT(buf_appendf(out, "-----BEGIN %s-----\n", label));
    for (size_t i = 0; i < b64.size; i += 64) {
        size_t n = b64.size - i < 64 ? b64.size - i : 64;
        TRY_OUT(buf_append(out, b64.ptr + i, n));
        TRY_OUT(buf_append_byte(out, '\n'));
    }
    TRY_OUT(buf_appendf(out, "-----END %s-----\n", label));
    r = 0;
out:
    buf_free(&b64);
    return r;
}

bool enc_utf8_valid(struct view in, size_t *bad_offset)
{
    size_t i = 0;
    while (i < in.size) {
        uint8_t c = in.ptr[i];
        size_t n;
        uint32_t min, cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, cp = c & 0x07;
        } else {
            goto bad;
        }
        if (n > in.size - i - 1)
            goto bad;
        for (size_t k = 1; k <= n; k++) {
            if ((in.ptr[i + k] & 0xc0) != 0x80)
                goto bad;
            cp = cp << 6 | (in.ptr[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        i += n + 1;
    }
    return true;
bad:
    if (bad_offset != NULL)
        *bad_offset = i;
    return false;
}

int enc_dec_u64(const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    ENSURE(end != NULL && *end == '\0' && errno == 0 && v >= min && v <= max, ERR_RANGE,
           "%s must be a number from %llu to %llu", what, (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return 0;
}
