/* Private to pki/: the CA handle and the one certificate builder every issuance goes through. */
#ifndef QUARRY_PKI_INT_H
#define QUARRY_PKI_INT_H

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>

#include "pki.h"

/* Subject/authority key identifiers: RFC 7093 method 1 (leftmost 160 bits of the SHA-256 of the
 * subjectPublicKey bits); Go uses SHA-1 of the same bits, either is valid. */
#define PKI_KEYID_SIZE 20

struct pki_ca {
    atomic_int refs;
    enum pki_curve curve;
    X509 *root, *intermediate, *marble_root;
    struct crypto_key *root_key, *intermediate_key;
    struct buf root_der, intermediate_der, marble_root_der;
    uint8_t root_keyid[PKI_KEYID_SIZE], intermediate_keyid[PKI_KEYID_SIZE];
};

/* What one certificate says; pki_build_cert turns it into a signed X509. Everything is borrowed. */
struct pki_spec {
    const X509_NAME *subject;
    const X509_NAME *issuer;         /* NULL: self-issued (= subject) */
    const struct crypto_key *subject_key; /* the certified key (public half used), or: */
    const X509_PUBKEY *subject_spki; /* its SubjectPublicKeyInfo, copied as it is */
    const struct crypto_key *signer;
    const uint8_t *authority_keyid; /* PKI_KEYID_SIZE bytes, or NULL */
    const uint8_t *subject_keyid;   /* PKI_KEYID_SIZE bytes, or NULL */
    const GENERAL_NAMES *sans;      /* NULL or empty: none */
    unsigned key_usage;             /* Go bits; 0: none */
    const EXTENDED_KEY_USAGE *eku;  /* NULL: none */
    bool is_ca;
    int64_t max_path_len; /* < 0: none */
    int64_t not_before, not_after;
    X509_EXTENSION *extra; /* NULL: none */
};

/* Puts a SubjectPublicKeyInfo into dst as it is (algorithm, parameters, key bits): OpenSSL 3.0
 * re-encodes a key given as an EVP_PKEY through its encoder and decoder, which cost several
 * signatures' time on the activation path. */
int pki_spki_copy(X509_PUBKEY *dst, const X509_PUBKEY *src) QY_MUST_USE;
/* The same from its parts: algorithm (with parameters) and key bits, all copied. */
int pki_spki_set(X509_PUBKEY *dst, const X509_ALGOR *alg, const unsigned char *bits, int bits_len) QY_MUST_USE;
/* Builds and signs; *out is an owned X509 (X509_free). A certificate built from subject_spki has no
 * decoded key (X509_get0_pubkey gives NULL): only the CA's own certificates, which are used to
 * verify, are built from subject_key. */
int pki_build_cert(const struct pki_spec *s, X509 **out) QY_MUST_USE;
/* One whole DER certificate of 1..QY_CERT_DER_MAX_SIZE bytes, no trailing bytes; `code` and `what`
 * ("the certificate") make the error. *out is owned (X509_free). */
int pki_x509_parse(struct view der, int code, const char *what, X509 **out) QY_MUST_USE;
/* DER of x appended to out. */
int pki_x509_der(X509 *x, struct buf *out) QY_MUST_USE;
/* The key identifier of a public key. */
int pki_keyid(const struct crypto_key *key, uint8_t out[PKI_KEYID_SIZE]) QY_MUST_USE;
/* ExtKeyUsage from MarbleRun's numbers (Go's x509.ExtKeyUsage: 1 ServerAuth, 2 ClientAuth, ...);
 * owned, pki_free_eku (NULL-safe). ERR_CERT for an unknown number. */
int pki_make_eku(const uint64_t *values, size_t count, EXTENDED_KEY_USAGE **out) QY_MUST_USE;
void pki_free_eku(EXTENDED_KEY_USAGE *eku);
/* Appends SANs for `names` to gens: IP-looking entries as IP addresses, others as DNS names. With
 * loopback true, 127.0.0.1 and ::1 come first. */
int pki_sans_from_names(const char *const *names, size_t count, bool loopback,
                        GENERAL_NAMES *gens) QY_MUST_USE;
/* A subject with only a CN. */
int pki_name_cn(const char *cn, X509_NAME **out) QY_MUST_USE;
/* The DNS and IP SANs of a parsed CSR, as they go into the marble's certificate (csr.c). */
const GENERAL_NAMES *pki_csr_gens(const struct pki_csr *csr);
const X509_PUBKEY *pki_csr_spki(const struct pki_csr *csr);
/* The clock when now == 0. */
int64_t pki_now(int64_t now);

#endif
