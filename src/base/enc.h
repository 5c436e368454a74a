/*
 * enc.h - part of base.h: hex, base64 and PEM armouring of bytes.
 *
 * Encoders append to a buf. Decoders are strict where the formats are strict and say where the
 * input went wrong: hex needs an even number of hex digits (either case); base64 is the standard
 * alphabet with padding, and, as Go's decoder does, skips CR and LF so wrapped text decodes. Decoded
 * bytes are appended to the output buffer, which is untouched on failure.
 */
#ifndef QUARRY_BASE_ENC_H
#define QUARRY_BASE_ENC_H

#include "bytes.h"

QY_API int enc_hex(struct buf *out, struct view in) QY_MUST_USE;
QY_API int enc_hex_upper(struct buf *out, struct view in) QY_MUST_USE;
QY_API int enc_hex_decode(struct buf *out, struct view in) QY_MUST_USE;
/* Decode exactly `size` bytes of hex into dst (e.g. a 32-byte MRENCLAVE). */
QY_API int enc_hex_decode_fixed(void *dst, size_t size, struct view in) QY_MUST_USE;

QY_API int enc_b64(struct buf *out, struct view in) QY_MUST_USE;
QY_API int enc_b64_decode(struct buf *out, struct view in) QY_MUST_USE;
/* URL-safe alphabet, no padding (JWS-style, used for tokens and nonces). */
QY_API int enc_b64url(struct buf *out, struct view in) QY_MUST_USE;

/* A decimal number from min to max, digits only (no sign, no space, nothing after), for options
 * and environment variables: ERR_RANGE naming `what` and the range otherwise. */
QY_API int enc_dec_u64(const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *out) QY_MUST_USE;

/* True when `in` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF);
 * otherwise *bad_offset is where it goes wrong. */
QY_API bool enc_utf8_valid(struct view in, size_t *bad_offset);

/* "-----BEGIN <label>-----\n" + base64 in 64-column lines + "-----END <label>-----\n". */
QY_API int enc_pem(struct buf *out, const char *label, struct view der) QY_MUST_USE;

#endif
