/* Private to attestation/: the testkit's PKI helpers (testkit_pki.c) used by testkit.c. */
#ifndef QUARRY_ATTESTATION_TESTKIT_INT_H
#define QUARRY_ATTESTATION_TESTKIT_INT_H

#include "att_int.h"

struct tk_cert_spec {
    const char *cn;
    const struct crypto_key *key;        /* the subject's (public) key */
    X509 *issuer;                        /* NULL: self-signed */
    const struct crypto_key *issuer_key; /* signs */
    int64_t not_before, not_after;
    bool ca;
    const struct buf *sgx_ext; /* DER of the SGX extension, or NULL */
};

int tk_cert_new(const struct tk_cert_spec *s, X509 **out) QY_MUST_USE;
/* A DER CRL by issuer/key listing `revoked`. */
int tk_crl_der(X509 *issuer, const struct crypto_key *key, int64_t this_update, int64_t next_update,
               X509 *const *revoked, size_t revoked_count, struct buf *out) QY_MUST_USE;
int tk_cert_pem(X509 *x, struct buf *out) QY_MUST_USE;
int tk_key_pem(const struct crypto_key *k, struct buf *out) QY_MUST_USE;

/* Files of a kit directory. */
int tk_read(const char *dir, const char *name, size_t max, struct buf *out) QY_MUST_USE;
int tk_write(const char *dir, const char *name, struct view data, bool secret) QY_MUST_USE;
int tk_read_key(const char *dir, const char *name, struct crypto_key **out) QY_MUST_USE;
int tk_read_cert(const char *dir, const char *name, X509 **out) QY_MUST_USE;

#endif
