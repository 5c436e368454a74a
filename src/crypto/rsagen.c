/*
 * RSA key generation from random probable primes (FIPS 186-4 B.3.3), with OpenSSL's primitives.
 *
 * OpenSSL 3.0 generates two-prime keys of 2048 bits and more by SP 800-56B / FIPS 186-4 B.3.6
 * (primes built around auxiliary primes), about twice the time of plain random primes: 20 RSA-3072
 * key pairs, which a manifest may ask for, took ~9 s of CPU, most of a manifest set. This is the
 * method OpenSSL 1.1.1 used by default and Go's crypto/rsa (MarbleRun's) uses: each prime from
 * BN_generate_prime_ex2 (random, top two bits set so p >= sqrt(2) 2^(k-1), sieved, then OpenSSL's
 * Miller-Rabin rounds: 64, or 128 for primes over 2048 bits), then the checks B.3.3 asks for -
 * gcd(p - 1, e) = 1, |p - q| > 2^(nlen/2 - 100), d > 2^(nlen/2) with d = e^-1 mod lcm(p - 1, q - 1) -
 * and a pairwise sign/verify test of the assembled key. Every loop is bounded (B.3.3 bounds its
 * searches too): a random source that repeats itself fails the generation instead of hanging it. The
 * arithmetic is OpenSSL's, in constant-time mode; every secret number is wiped when freed.
 *
 * With the FIPS provider as the default, keys come from OpenSSL's generator as before: the
 * validated module must make them.
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/param_build.h>

#include "crypto_int.h"

#define RSA_E 65537u
#define RSA_MAX_TRIES 100 /* each check fails with probability < 2^-16: never reached by chance */

/* The secret numbers of one attempt; all BN_clear_free'd together. */
struct rsa_parts {
    BIGNUM *p, *q, *n, *e, *d, *dp, *dq, *qinv;
};
#define RSA_PARTS(k) {&(k)->p, &(k)->q, &(k)->n, &(k)->e, &(k)->d, &(k)->dp, &(k)->dq, &(k)->qinv}

static void parts_free(struct rsa_parts *k)
{
    BIGNUM **all[] = RSA_PARTS(k);
    for (size_t i = 0; i < QY_ARRAY_LEN(all); i++) {
        BN_clear_free(*all[i]);
        *all[i] = NULL;
    }
}

/* A random prime of `bits` bits with gcd(prime - 1, e) = 1 (e is prime: prime mod e != 1). */
static int gen_prime(BIGNUM *out, int bits, BN_CTX *ctx)
{
    for (int i = 0; i < RSA_MAX_TRIES; i++) {
        ENSURE(BN_generate_prime_ex2(out, bits, 0, NULL, NULL, NULL, ctx) == 1, ERR_CRYPTO,
               "cannot generate a prime: %s", crypto_last_error());
        BN_ULONG r = BN_mod_word(out, RSA_E);
        ENSURE(r != (BN_ULONG)-1, ERR_CRYPTO, "BN_mod_word failed");
        if (r != 1)
            return 0;
    }
    FAIL(ERR_CRYPTO, "no usable prime in %d tries: is the random source broken?", RSA_MAX_TRIES);
}

/* |p - q| > 2^(nbits/2 - 100): the two primes are not close (FIPS 186-4 B.3.3 step 5.4). */
static int far_apart(const BIGNUM *p, const BIGNUM *q, int nbits, BN_CTX *ctx, bool *ok)
{
    BN_CTX_start(ctx);
    BIGNUM *diff = BN_CTX_get(ctx);
    if (diff != NULL)
        BN_set_flags(diff, BN_FLG_CONSTTIME);
    bool done = diff != NULL && BN_sub(diff, p, q) == 1;
    /* more than k + 1 significant bits means diff >= 2^(k + 1) > 2^k */
    *ok = done && BN_num_bits(diff) > nbits / 2 - 100 + 1;
    BN_CTX_end(ctx);
    ENSURE(done, ERR_CRYPTO, "BN_sub failed");
    return 0;
}

/* n, d, the CRT values from p and q; *ok false when d is too small (then new primes are drawn). */
static int derive(struct rsa_parts *k, int nbits, BN_CTX *ctx, bool *ok)
{
    *ok = false;
    BN_CTX_start(ctx);
    BIGNUM *p1 = BN_CTX_get(ctx), *q1 = BN_CTX_get(ctx), *g = BN_CTX_get(ctx), *q1g = BN_CTX_get(ctx);
    BIGNUM *lcm = BN_CTX_get(ctx);
    int r = ERR_CRYPTO;
    if (lcm == NULL) {
        BN_CTX_end(ctx);
        FAIL(ERR_NOMEM, "cannot allocate numbers");
    }
    BN_set_flags(p1, BN_FLG_CONSTTIME);
    BN_set_flags(q1, BN_FLG_CONSTTIME);
    BN_set_flags(q1g, BN_FLG_CONSTTIME);
    BN_set_flags(lcm, BN_FLG_CONSTTIME);
    if (BN_mul(k->n, k->p, k->q, ctx) != 1 || BN_sub(p1, k->p, BN_value_one()) != 1 ||
        BN_sub(q1, k->q, BN_value_one()) != 1 || BN_gcd(g, p1, q1, ctx) != 1 ||
        BN_div(q1g, NULL, q1, g, ctx) != 1 || BN_mul(lcm, p1, q1g, ctx) != 1)
        goto out;
    if (BN_num_bits(k->n) != nbits) { /* cannot happen with the top two bits set; checked anyway */
        r = 0;
        goto out;
    }
    if (BN_mod_inverse(k->d, k->e, lcm, ctx) == NULL)
        goto out;
    if (BN_num_bits(k->d) <= nbits / 2) { /* d > 2^(nlen/2) (B.3.1 criterion 3) */
        r = 0;
        goto out;
    }
    if (BN_mod(k->dp, k->d, p1, ctx) != 1 || BN_mod(k->dq, k->d, q1, ctx) != 1 ||
        BN_mod_inverse(k->qinv, k->q, k->p, ctx) == NULL)
        goto out;
    *ok = true;
    r = 0;
out:
    BN_CTX_end(ctx);
    if (r != 0)
        return err_fail(ERR_CRYPTO, __func__, "RSA arithmetic failed: %s", crypto_last_error());
    return 0;
}

static int assemble(const struct rsa_parts *k, EVP_PKEY **out)
{
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    bool ok = b != NULL && ctx != NULL && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, k->n) == 1 &&
              OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, k->e) == 1 &&
              OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_D, k->d) == 1 &&
              OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_FACTOR1, k->p) == 1 &&
              OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_FACTOR2, k->q) == 1 &&
              OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_EXPONENT1, k->dp) == 1 &&
              OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_EXPONENT2, k->dq) == 1 &&
              OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, k->qinv) == 1 &&
              (params = OSSL_PARAM_BLD_to_param(b)) != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
              EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) == 1;
    OSSL_PARAM_free(params); /* the secret numbers sit in its secure block, cleared on free */
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(ctx);
    ENSURE(ok, ERR_CRYPTO, "cannot assemble the RSA key: %s", crypto_last_error());
    return 0;
}

/* The pairwise consistency test: a PKCS#1 v1.5 SHA-256 signature made with the key verifies. */
static int pairwise(EVP_PKEY *key)
{
    static const char msg[] = "quarry RSA pairwise consistency test";
    struct crypto_key *k = NULL;
    struct buf sig = BUF_INIT;
    TRY(crypto_key_wrap_evp(key, &k));
    int r = crypto_sign(k, CRYPTO_SIG_RSA_PKCS1_SHA256, view_str(msg), &sig);
    if (r == 0)
        r = crypto_verify(k, CRYPTO_SIG_RSA_PKCS1_SHA256, view_str(msg), buf_view(&sig));
    crypto_key_free(k);
    buf_free(&sig);
    ENSURE(r == 0, ERR_CRYPTO, "the generated RSA key fails its pairwise test: %s", err_detail(r));
    return 0;
}

static int attempt(struct rsa_parts *k, int nbits, BN_CTX *ctx, bool *ok)
{
    *ok = false;
    BIGNUM **all[] = RSA_PARTS(k);
    for (size_t i = 0; i < QY_ARRAY_LEN(all); i++) {
        ENSURE((*all[i] = BN_secure_new()) != NULL, ERR_NOMEM, "cannot allocate a number");
        BN_set_flags(*all[i], BN_FLG_CONSTTIME);
    }
    ENSURE(BN_set_word(k->e, RSA_E) == 1, ERR_CRYPTO, "BN_set_word failed");
    TRY(gen_prime(k->p, (nbits + 1) / 2, ctx));
    bool apart = false;
    for (int i = 0; i < RSA_MAX_TRIES && !apart; i++) {
        TRY(gen_prime(k->q, nbits / 2, ctx));
        TRY(far_apart(k->p, k->q, nbits, ctx, &apart));
    }
    ENSURE(apart, ERR_CRYPTO, "no prime q far enough from p in %d tries: is the random source broken?",
           RSA_MAX_TRIES);
    if (BN_cmp(k->p, k->q) < 0)
        BN_swap(k->p, k->q); /* p > q, as OpenSSL orders its factors */
    return derive(k, nbits, ctx, ok);
}

int crypto_rsa_generate(unsigned bits, EVP_PKEY **out)
{
    *out = NULL;
    ENSURE(bits >= 1024 && bits <= 16384, ERR_INVALID_ARG, "RSA size %u out of range", bits);
    if (EVP_default_properties_is_fips_enabled(NULL)) {
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
        ENSURE(*out != NULL, ERR_CRYPTO, "key generation failed: %s", crypto_last_error());
        return 0;
    }
    BN_CTX *ctx = BN_CTX_secure_new();
    ENSURE(ctx != NULL, ERR_NOMEM, "cannot allocate a BN_CTX");
    struct rsa_parts k = {0};
    int r = 0;
    bool ok = false;
    for (int i = 0; r == 0 && !ok && i < RSA_MAX_TRIES; i++) {
        parts_free(&k);
        r = attempt(&k, (int)bits, ctx, &ok);
    }
    if (r == 0 && !ok)
        r = err_fail(ERR_CRYPTO, __func__, "no usable RSA key in %d attempts", RSA_MAX_TRIES);
    if (r == 0)
        r = assemble(&k, out);
    parts_free(&k);
    BN_CTX_free(ctx);
    if (r == 0 && (r = pairwise(*out)) != 0) {
        EVP_PKEY_free(*out);
        *out = NULL;
    }
    return r;
}
