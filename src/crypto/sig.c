/* Signatures: ECDSA (DER or raw r||s), Ed25519, RSA PKCS#1 v1.5. */
#include <openssl/ec.h>
#include <openssl/err.h>
#include <string.h>

#include "crypto_int.h"

static const EVP_MD *sig_md(enum crypto_sig_alg alg)
{
    switch (alg) {
    case CRYPTO_SIG_ECDSA_SHA256:
    case CRYPTO_SIG_ECDSA_SHA256_RAW:
    case CRYPTO_SIG_RSA_PKCS1_SHA256:
        return crypto_md_sha256();
    case CRYPTO_SIG_ECDSA_SHA384:
        return crypto_md_sha384();
    case CRYPTO_SIG_ED25519:
    default:
        return NULL; /* Ed25519 hashes internally */
    }
}

static int check_alg_fits_key(const struct crypto_key *k, enum crypto_sig_alg alg)
{
    enum crypto_key_type t = crypto_key_type(k);
    bool ec = t == CRYPTO_KEY_EC_P224 || t == CRYPTO_KEY_EC_P256 || t == CRYPTO_KEY_EC_P384 ||
              t == CRYPTO_KEY_EC_P521;
    bool ok = alg == CRYPTO_SIG_ED25519           ? t == CRYPTO_KEY_ED25519
              : alg == CRYPTO_SIG_RSA_PKCS1_SHA256 ? t == CRYPTO_KEY_RSA
                                                   : ec;
    ENSURE(ok, ERR_KEY, "signature algorithm %d does not fit a key of type %d", (int)alg, (int)t);
    return 0;
}

/* Bytes of one ECDSA scalar for the key's curve. */
static size_t ec_scalar_size(const struct crypto_key *k)
{
    return ((size_t)crypto_key_bits(k) + 7) / 8;
}

/* r||s (each `half` bytes, big-endian) <-> DER ECDSA-Sig-Value. */
static int raw_to_der(struct view raw, size_t half, struct buf *der)
{
    ENSURE(raw.size == 2 * half, ERR_BAD_SIGNATURE, "raw ECDSA signature is %zu bytes, expected %zu",
           raw.size, 2 * half);
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw.ptr, (int)half, NULL), *t = BN_bin2bn(raw.ptr + half, (int)half, NULL);
    int rc = ERR_CRYPTO;
    if (s != NULL && r != NULL && t != NULL && ECDSA_SIG_set0(s, r, t) == 1) {
        r = t = NULL; /* owned by s now */
        unsigned char *p = NULL;
        int len = i2d_ECDSA_SIG(s, &p);
        rc = len > 0 ? buf_append(der, p, (size_t)len) : ERR_CRYPTO;
        OPENSSL_free(p);
    }
    BN_free(r);
    BN_free(t);
    ECDSA_SIG_free(s);
    ENSURE(rc == 0 || rc == ERR_NOMEM, ERR_CRYPTO, "cannot encode an ECDSA signature");
    return rc;
}

static int der_to_raw(struct view der, size_t half, struct buf *raw)
{
    const unsigned char *p = der.ptr;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)der.size);
    ENSURE(s != NULL, ERR_CRYPTO, "cannot decode our own ECDSA signature");
    int r = buf_reserve(raw, 2 * half);
    if (r == 0) {
        uint8_t *o = raw->ptr + raw->size;
        bool ok = BN_bn2binpad(ECDSA_SIG_get0_r(s), o, (int)half) == (int)half &&
                  BN_bn2binpad(ECDSA_SIG_get0_s(s), o + half, (int)half) == (int)half;
        r = ok ? 0 : err_fail(ERR_CRYPTO, __func__, "ECDSA scalar too large");
        if (ok)
            raw->size += 2 * half;
    }
    ECDSA_SIG_free(s);
    return r;
}

int crypto_sign(const struct crypto_key *k, enum crypto_sig_alg alg, struct view data, struct buf *sig)
{
    int r = ERR_INTERNAL;
    struct buf der = BUF_INIT;
    EVP_MD_CTX *ctx = NULL;
    TRY(check_alg_fits_key(k, alg));
    ENSURE(crypto_key_has_private(k), ERR_KEY, "signing needs a private key");
    ctx = EVP_MD_CTX_new();
    ENSURE_OUT(ctx != NULL, ERR_NOMEM, "cannot allocate a digest context");
    ENSURE_OUT(EVP_DigestSignInit_ex(ctx, NULL, alg == CRYPTO_SIG_ED25519 ? NULL : EVP_MD_get0_name(sig_md(alg)),
                                     NULL, NULL, k->pkey, NULL) == 1,
               ERR_CRYPTO, "sign init: %s", crypto_last_error());
    size_t len = 0;
    ENSURE_OUT(EVP_DigestSign(ctx, NULL, &len, data.ptr, data.size) == 1, ERR_CRYPTO, "sign: %s",
               crypto_last_error());
    TRY_OUT(buf_reserve(&der, len));
    ENSURE_OUT(EVP_DigestSign(ctx, der.ptr, &len, data.ptr, data.size) == 1, ERR_CRYPTO, "sign: %s",
               crypto_last_error());
    der.size = len;
    if (alg == CRYPTO_SIG_ECDSA_SHA256_RAW)
        TRY_OUT(der_to_raw(buf_view(&der), ec_scalar_size(k), sig));
    else
        TRY_OUT(buf_append_view(sig, buf_view(&der)));
    r = 0;
out:
    EVP_MD_CTX_free(ctx);
    buf_free(&der);
    return r;
}

int crypto_verify(const struct crypto_key *k, enum crypto_sig_alg alg, struct view data, struct view sig)
{
    int r = ERR_INTERNAL;
    struct buf der = BUF_INIT;
    EVP_MD_CTX *ctx = NULL;
    TRY(check_alg_fits_key(k, alg));
    if (alg == CRYPTO_SIG_ECDSA_SHA256_RAW) {
        TRY_OUT(raw_to_der(sig, ec_scalar_size(k), &der));
        sig = buf_view(&der);
    }
    ctx = EVP_MD_CTX_new();
    ENSURE_OUT(ctx != NULL, ERR_NOMEM, "cannot allocate a digest context");
    ENSURE_OUT(EVP_DigestVerifyInit_ex(ctx, NULL, alg == CRYPTO_SIG_ED25519 ? NULL : EVP_MD_get0_name(sig_md(alg)),
                                       NULL, NULL, k->pkey, NULL) == 1,
               ERR_CRYPTO, "verify init: %s", crypto_last_error());
    int ok = EVP_DigestVerify(ctx, sig.ptr, sig.size, data.ptr, data.size);
    ERR_clear_error(); /* a bad signature leaves decoding errors on the queue */
    ENSURE_OUT(ok == 1, ERR_BAD_SIGNATURE, "signature does not verify");
    r = 0;
out:
    EVP_MD_CTX_free(ctx);
    buf_free(&der);
    return r;
}
