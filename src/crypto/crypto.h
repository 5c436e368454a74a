/*
 * crypto - the only component that calls OpenSSL's EVP, RAND, KDF and AEAD interfaces (pki also
 * uses the X509_* interfaces). Everything above asks for operations by name - hash these bytes,
 * fill this with randomness, check that this PEM is a certificate - and never sees an OpenSSL type.
 *
 * What it does not do: it holds no long-lived keys (pki, store and recovery own those) and no policy.
 *
 * Thread-safety: all functions are safe to call from several threads (OpenSSL 3 is).
 * Errors: ERR_CRYPTO when the library fails, input-category errors when the input is malformed; the
 * detail carries OpenSSL's reason when there is one.
 */
#ifndef QUARRY_CRYPTO_CRYPTO_H
#define QUARRY_CRYPTO_CRYPTO_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

#define CRYPTO_SHA256_SIZE 32

/* SHA-256 of the concatenation of `count` views. */
QY_API int crypto_sha256(const struct view *parts, size_t count, uint8_t out[CRYPTO_SHA256_SIZE])
    QY_MUST_USE;
/* Cryptographically secure random bytes. */
QY_API int crypto_random(void *out, size_t size) QY_MUST_USE;

/* The first PEM block of `pem` must be a CERTIFICATE that parses as X.509; its DER is appended to
 * der_out. ERR_CERT with the reason otherwise. */
QY_API int crypto_cert_pem_to_der(struct view pem, struct buf *der_out) QY_MUST_USE;
/* The first PEM block of `pem` must be a PUBLIC KEY (PKIX) holding an RSA key; returns its size in
 * bits. ERR_KEY with the reason otherwise. */
QY_API int crypto_rsa_pubkey_pem_bits(struct view pem, int *out_bits) QY_MUST_USE;

/* The reason of OpenSSL's most recent error on this thread (and clears its queue). */
QY_API const char *crypto_last_error(void);

/* Keys ---------------------------------------------------------------------------------------- */

/* An asymmetric key (public, or private with its public half). Opaque; reference-counted so
 * long-lived owners (caches, CA handles) can share one. Private keys are wiped by OpenSSL on free. */
struct crypto_key;

enum crypto_key_type {
    CRYPTO_KEY_UNKNOWN,
    CRYPTO_KEY_EC_P224,
    CRYPTO_KEY_EC_P256,
    CRYPTO_KEY_EC_P384,
    CRYPTO_KEY_EC_P521,
    CRYPTO_KEY_ED25519,
    CRYPTO_KEY_RSA,
};

/* A fresh key pair; rsa_bits only for CRYPTO_KEY_RSA. Returns an owned key. */
QY_API int crypto_key_generate(enum crypto_key_type type, unsigned rsa_bits, struct crypto_key **out)
    QY_MUST_USE;
/* PKCS#8 DER private key / SubjectPublicKeyInfo DER public key. Trailing bytes are refused. */
QY_API int crypto_key_from_private_der(struct view pkcs8, struct crypto_key **out) QY_MUST_USE;
QY_API int crypto_key_from_public_der(struct view spki, struct crypto_key **out) QY_MUST_USE;
/* The first PEM block: PRIVATE KEY, EC PRIVATE KEY, RSA PRIVATE KEY, PUBLIC KEY or RSA PUBLIC KEY. */
QY_API int crypto_key_from_pem(struct view pem, struct crypto_key **out) QY_MUST_USE;
/* An uncompressed P-256 point given as X||Y (64 bytes), as in DCAP quotes. */
QY_API int crypto_key_from_p256_xy(const uint8_t xy[64], struct crypto_key **out) QY_MUST_USE;

/* Appends the PKCS#8 DER private key (a secret: out should be wiped, buf_free does) / the SPKI DER. */
QY_API int crypto_key_private_der(const struct crypto_key *k, struct buf *out) QY_MUST_USE;
QY_API int crypto_key_public_der(const struct crypto_key *k, struct buf *out) QY_MUST_USE;
/* X||Y of a P-256 key. */
QY_API int crypto_key_p256_xy(const struct crypto_key *k, uint8_t out[64]) QY_MUST_USE;

QY_API enum crypto_key_type crypto_key_type(const struct crypto_key *k);
QY_API int crypto_key_bits(const struct crypto_key *k);
QY_API bool crypto_key_has_private(const struct crypto_key *k);
/* True when both keys have the same public key. */
QY_API bool crypto_key_public_eq(const struct crypto_key *a, const struct crypto_key *b);
/* Another reference to the same key. */
QY_API struct crypto_key *crypto_key_ref(struct crypto_key *k);
/* Drops a reference; NULL-safe. */
QY_API void crypto_key_free(struct crypto_key *k);

/* For pki and attestation only, which build and verify X.509 with OpenSSL's X509_* API: the
 * underlying EVP_PKEY (borrowed), and a key wrapping one (takes a new reference). */
struct evp_pkey_st;
QY_API struct evp_pkey_st *crypto_key_evp(const struct crypto_key *k);
QY_API int crypto_key_wrap_evp(struct evp_pkey_st *pkey, struct crypto_key **out) QY_MUST_USE;
/* The key's SubjectPublicKeyInfo as an owned X509_PUBKEY (X509_PUBKEY_free), for copying into
 * certificates and requests. For EC and Ed25519 keys it is set from the encoded point and carries
 * no decoded key (X509_PUBKEY_get0 gives NULL): OpenSSL 3.0's X509_PUBKEY_set would run its encoder
 * and then its decoder, each costlier than a signature. */
struct X509_pubkey_st;
QY_API int crypto_key_x509_pubkey(const struct crypto_key *k, struct X509_pubkey_st **out) QY_MUST_USE;

/* Signatures ---------------------------------------------------------------------------------- */

enum crypto_sig_alg {
    CRYPTO_SIG_ECDSA_SHA256,     /* DER-encoded ECDSA-Sig-Value */
    CRYPTO_SIG_ECDSA_SHA256_RAW, /* r||s, each as wide as the curve order (P-256: 64 bytes) */
    CRYPTO_SIG_ECDSA_SHA384,     /* DER */
    CRYPTO_SIG_ED25519,
    CRYPTO_SIG_RSA_PKCS1_SHA256,
};

/* Signs `data` (hashed inside as the algorithm says) and appends the signature. */
QY_API int crypto_sign(const struct crypto_key *k, enum crypto_sig_alg alg, struct view data,
                       struct buf *sig) QY_MUST_USE;
/* 0 when `sig` is a valid signature of `data` under k; ERR_BAD_SIGNATURE otherwise (also for
 * malformed signatures); ERR_CRYPTO when the library fails. */
QY_API int crypto_verify(const struct crypto_key *k, enum crypto_sig_alg alg, struct view data,
                         struct view sig) QY_MUST_USE;

/* Symmetric ----------------------------------------------------------------------------------- */

#define CRYPTO_AEAD_KEY_SIZE 32
#define CRYPTO_AEAD_NONCE_SIZE 12
#define CRYPTO_AEAD_TAG_SIZE 16

/* HKDF-SHA256 (RFC 5869): out_size bytes of output keying material. */
QY_API int crypto_hkdf_sha256(struct view ikm, struct view salt, struct view info, uint8_t *out,
                              size_t out_size) QY_MUST_USE;
/* HMAC-SHA256 (RFC 2104) under `key` of the concatenation of `count` views. */
QY_API int crypto_hmac_sha256(struct view key, const struct view *parts, size_t count,
                              uint8_t out[CRYPTO_SHA256_SIZE]) QY_MUST_USE;
/* The same, keyed once for many MACs (the key's setup is a third of a short MAC's cost). The key is
 * copied in (wiped on free); one thread at a time per handle. Free with crypto_hmac_free. */
struct crypto_hmac;
QY_API int crypto_hmac_new(struct view key, struct crypto_hmac **out) QY_MUST_USE;
QY_API int crypto_hmac_run(struct crypto_hmac *h, const struct view *parts, size_t count,
                           uint8_t out[CRYPTO_SHA256_SIZE]) QY_MUST_USE;
QY_API void crypto_hmac_free(struct crypto_hmac *h);
/* AES-256-GCM with a random 96-bit nonce; appends nonce || ciphertext || tag. */
QY_API int crypto_aead_seal(const uint8_t key[CRYPTO_AEAD_KEY_SIZE], struct view aad,
                            struct view plaintext, struct buf *out) QY_MUST_USE;
/* Opens what crypto_aead_seal produced; ERR_CORRUPT when the tag (or the aad) does not match.
 * Appends the plaintext (a secret). */
QY_API int crypto_aead_open(const uint8_t key[CRYPTO_AEAD_KEY_SIZE], struct view aad, struct view sealed,
                            struct buf *out) QY_MUST_USE;

/* RSA-OAEP with SHA-256 (and MGF1-SHA-256), as MarbleRun's recovery data. */
QY_API int crypto_rsa_oaep_encrypt(const struct crypto_key *pub, struct view msg, struct buf *out)
    QY_MUST_USE;
QY_API int crypto_rsa_oaep_decrypt(const struct crypto_key *priv, struct view ct, struct buf *out)
    QY_MUST_USE;

/* X.509 signing support (pki) ------------------------------------------------------------------ */

/* The digest pki passes to X509_sign/X509_REQ_sign for a signing key, as Go's x509 picks it:
 * SHA-256 for RSA, P-224 and P-256, SHA-384 for P-384, SHA-512 for P-521, NULL for Ed25519 (which
 * hashes internally). Borrowed, valid for the life of the process; NULL also for unknown keys (then
 * *ok is false). */
struct evp_md_st;
QY_API const struct evp_md_st *crypto_x509_md(const struct crypto_key *k, bool *ok);

#endif
