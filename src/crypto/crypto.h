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

#endif
