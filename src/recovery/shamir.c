/*
 * Shamir's secret sharing over GF(2^8), compatible with HashiCorp Vault's shamir package (which
 * MarbleRun vendors): field polynomial x^8 + x^4 + x^3 + x + 1 (0x11B), one random polynomial of
 * degree threshold-1 per secret byte with that byte as constant term, x coordinates a random
 * permutation of 1..255, share = y bytes || x. Field arithmetic is branch-free on secret values.
 */
#include <string.h>

#include "crypto/crypto.h"
#include "recovery.h"

static uint8_t gf_mul(uint8_t a, uint8_t b)
{
    uint8_t r = 0;
    for (int i = 0; i < 8; i++) {
        r ^= (uint8_t)(-(b & 1) & a);
        uint8_t hi = (uint8_t)-(a >> 7);
        a = (uint8_t)((a << 1) ^ (hi & 0x1b));
        b >>= 1;
    }
    return r;
}

/* a^254 = a^-1 (0 for 0). */
static uint8_t gf_inv(uint8_t a)
{
    uint8_t r = 1, p = a;
    for (int e = 254; e > 0; e >>= 1) {
        if (e & 1)
            r = gf_mul(r, p);
        p = gf_mul(p, p);
    }
    return r;
}

/* Horner evaluation of coeffs (degree n-1) at x. */
static uint8_t eval(const uint8_t *coeffs, unsigned n, uint8_t x)
{
    uint8_t y = 0;
    for (unsigned i = n; i-- > 0;)
        y = (uint8_t)(gf_mul(y, x) ^ coeffs[i]);
    return y;
}

/* A uniform random permutation of 1..255 (Fisher-Yates with rejection sampling). */
static int random_xs(uint8_t xs[255])
{
    for (int i = 0; i < 255; i++)
        xs[i] = (uint8_t)(i + 1);
    for (int i = 254; i > 0; i--) {
        uint8_t b;
        unsigned limit = 256 - 256 % (unsigned)(i + 1);
        do
            TRY(crypto_random(&b, 1));
        while (b >= limit);
        unsigned j = b % (unsigned)(i + 1);
        uint8_t t = xs[i];
        xs[i] = xs[j];
        xs[j] = t;
    }
    return 0;
}

int rec_shamir_split(struct view secret, unsigned count, unsigned threshold, uint8_t *shares)
{
    ENSURE(threshold >= 2 && threshold <= count && count <= 255, ERR_INVALID_ARG,
           "invalid Shamir parameters: %u of %u", threshold, count);
    ENSURE(secret.size > 0 && secret.size <= 64, ERR_INVALID_ARG, "secret of %zu bytes", secret.size);
    uint8_t xs[255], coeffs[255];
    TRY(random_xs(xs));
    size_t stride = secret.size + 1;
    for (unsigned s = 0; s < count; s++)
        shares[s * stride + secret.size] = xs[s];
    int r = 0;
    for (size_t b = 0; b < secret.size && r == 0; b++) {
        coeffs[0] = secret.ptr[b];
        r = crypto_random(coeffs + 1, threshold - 1);
        for (unsigned s = 0; s < count && r == 0; s++)
            shares[s * stride + b] = eval(coeffs, threshold, xs[s]);
    }
    mem_wipe(coeffs, sizeof(coeffs));
    return r;
}

int rec_shamir_combine(const uint8_t *shares, size_t count, size_t share_size, struct buf *secret)
{
    ENSURE(count >= 2 && count <= 255 && share_size >= 2, ERR_BAD_REQUEST, "need at least two shares");
    size_t len = share_size - 1;
    for (size_t i = 0; i < count; i++)
        for (size_t j = 0; j < i; j++)
            ENSURE(shares[i * share_size + len] != shares[j * share_size + len], ERR_BAD_REQUEST,
                   "duplicate share");
    TRY(buf_reserve(secret, len));
    uint8_t *out = secret->ptr + secret->size;
    memset(out, 0, len);
    for (size_t i = 0; i < count; i++) {
        uint8_t xi = shares[i * share_size + len], basis = 1; /* L_i(0) = prod x_j / (x_j - x_i) */
        for (size_t j = 0; j < count; j++) {
            if (j == i)
                continue;
            uint8_t xj = shares[j * share_size + len];
            basis = gf_mul(basis, gf_mul(xj, gf_inv((uint8_t)(xj ^ xi))));
        }
        for (size_t b = 0; b < len; b++)
            out[b] ^= gf_mul(shares[i * share_size + b], basis);
    }
    secret->size += len;
    return 0;
}
