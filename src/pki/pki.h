/*
 * pki - the Coordinator's certificate authority: the CA hierarchy, marble certificates from CSRs,
 * certificates for generated secrets and TLS servers, and signatures with the root key.
 *
 * What it does. A struct pki_ca is MarbleRun's hierarchy (reference/marblerun.md §7.1): a root CA
 * (CN "MarbleRun Coordinator"), an intermediate CA signed by it (CN "MarbleRun Coordinator -
 * Intermediate CA"), and the "marble root": a self-signed certificate with the intermediate's key
 * and subject, so that everything the intermediate key signs verifies with the marble root, the
 * intermediate or the root as trust anchor. Keys are P-256 by default (issuance is on every
 * activation's path, and P-384 signs far slower on OpenSSL 3.0), P-384 by option. Serial numbers
 * are uniformly random in [0, 2^128), validity is "forever" as in MarbleRun (now + 2^63-1 ns).
 *
 * It issues: marble certificates from a marble's CSR (the CSR's own key is certified - the marble's
 * private key never leaves the marble; CN = the marble's UUID; the CSR's DNS and IP SANs; the
 * marble-type extension 1.3.9903.2.1 whose extnValue is the type's raw bytes; key usages of §7.3;
 * chain = leaf + intermediate), certificates for generated cert-* secrets from a template (§7.4),
 * and TLS server certificates for keys the caller generated. It signs bytes with the root key
 * (manifest signatures, Appendix D item 9: SHA-256 + ECDSA, ASN.1 DER) and verifies such signatures
 * with a root certificate.
 *
 * What it does not do. No CA private key ever leaves this component: there is no getter for one;
 * callers ask for verbs ("issue for this public key", "sign these bytes"). It keeps no state beyond
 * the handle, knows nothing of manifests or secrets, and reads no clock unless asked to (every
 * function takes `now`, Unix seconds; 0 means the clock).
 *
 * Persistence. pki_ca_serialize() returns a blob holding the private keys: the caller seals it
 * (store) and wipes it. pki_ca_load() treats its input as hostile: bounded, digest-checked, every
 * certificate and key parsed, every link of the hierarchy and every key pair verified.
 *
 * Ownership and thread-safety. A struct pki_ca is immutable once made and reference-counted:
 * issuance, signing and the getters may run concurrently from any number of threads on one handle
 * without a lock (OpenSSL 3 signs with a shared key safely). Rotation makes a new handle sharing
 * the root; the caller swaps handles and drops the old one when its users are done. Views returned
 * by getters are borrowed from the handle. A struct pki_csr is owned by one thread at a time.
 */
#ifndef QUARRY_PKI_PKI_H
#define QUARRY_PKI_PKI_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "crypto/crypto.h"

#define PKI_ROOT_CN         "MarbleRun Coordinator"
#define PKI_INTERMEDIATE_CN "MarbleRun Coordinator - Intermediate CA"
#define PKI_MARBLE_TYPE_OID "1.3.9903.2.1"
/* "Forever" as MarbleRun says it: NotBefore + math.MaxInt64 nanoseconds, in whole seconds. */
#define PKI_FOREVER_SECONDS INT64_C(9223372036)

enum pki_curve { PKI_CURVE_P256, PKI_CURVE_P384 };

/* CA ------------------------------------------------------------------------------------------ */

struct pki_ca;

struct pki_ca_options {
    enum pki_curve curve;        /* PKI_CURVE_P256 unless set */
    const char *root_cn;         /* NULL: PKI_ROOT_CN */
    const char *intermediate_cn; /* NULL: PKI_INTERMEDIATE_CN */
    /* SANs of the three CA certificates, as EDG_COORDINATOR_DNS_NAMES: entries that parse as IP
     * addresses become IP SANs, the others DNS SANs. NULL/0: "localhost". 127.0.0.1 and ::1 are
     * always included, first. Borrowed for the call. */
    const char *const *names;
    size_t names_count;
    int64_t now; /* NotBefore; 0: the clock */
};

/* A new hierarchy. `o` may be NULL for all defaults. Returns an owned handle (pki_ca_free). */
QY_API int pki_ca_generate(const struct pki_ca_options *o, struct pki_ca **out) QY_MUST_USE;

/* A new handle with the same root (certificate and key) and a new intermediate and marble root on a
 * fresh key of the same curve, with the same subject names and SANs; `ca` is unchanged. Used on
 * package and manifest updates. Returns an owned handle. */
QY_API int pki_ca_rotate_intermediate(const struct pki_ca *ca, int64_t now,
                                      struct pki_ca **out) QY_MUST_USE;

/* The whole CA, private keys included, appended to `out` (a secret: the caller seals it; buf_free
 * wipes it). The format: "QYCA", version, curve, five length-prefixed DER items (root certificate,
 * root PKCS#8 key, intermediate certificate, intermediate key, marble root certificate), and a
 * SHA-256 of everything before it. */
QY_API int pki_ca_serialize(const struct pki_ca *ca, struct buf *out) QY_MUST_USE;

/* Loads what pki_ca_serialize wrote. `blob` is borrowed and untrusted: ERR_CORRUPT (with the reason
 * in the detail) unless it is well-formed, its digest matches, and the hierarchy is consistent
 * (self-signed root, intermediate signed by it, marble root self-signed with the intermediate key
 * and the intermediate's subject, each key the pair of its certificate). Returns an owned handle.
 */
QY_API int pki_ca_load(struct view blob, struct pki_ca **out) QY_MUST_USE;

/* Another reference to the same handle (for threads that keep using it across a rotation). */
QY_API struct pki_ca *pki_ca_ref(struct pki_ca *ca);
/* Drops a reference; the last one frees (wiping keys). NULL-safe. */
QY_API void pki_ca_free(struct pki_ca *ca);

/* DER certificates, borrowed from the handle. "root" is the Coordinator root, "intermediate" the
 * Coordinator intermediate, "marble root" the self-signed sibling of the intermediate (MarbleRun's
 * `.MarbleRun.RootCA`, the mesh API's server certificate chain). */
QY_API struct view pki_ca_root_der(const struct pki_ca *ca);
QY_API struct view pki_ca_intermediate_der(const struct pki_ca *ca);
QY_API struct view pki_ca_marble_root_der(const struct pki_ca *ca);
QY_API enum pki_curve pki_ca_curve(const struct pki_ca *ca);

/* Root signatures ------------------------------------------------------------------------------ */

/* ECDSA over SHA-256(data) with the root key, ASN.1 DER (MarbleRun's manifestSignatureRootECDSA),
 * appended to `sig`. */
QY_API int pki_ca_sign_root(const struct pki_ca *ca, struct view data, struct buf *sig) QY_MUST_USE;
/* 0 when `sig` is such a signature of `data` under the key of `root_cert_der` (borrowed);
 * ERR_BAD_SIGNATURE when it is not; ERR_CERT when the certificate does not parse. */
QY_API int pki_verify_root_signature(struct view root_cert_der, struct view data,
                                     struct view sig) QY_MUST_USE;

/* Marble certificates from CSRs ---------------------------------------------------------------- */

struct pki_csr;

/* The SANs a CSR requests: DNS names and IP addresses (text, "127.0.0.1", "::1"). Borrowed from the
 * CSR. Other SAN types are ignored (MarbleRun copies DNS and IP only). */
struct pki_sans {
    const char **dns;
    size_t dns_count;
    const char **ips;
    size_t ip_count;
};

/* Parses a PKCS#10 CSR in DER (borrowed, untrusted): bounded (QY_CERT_DER_MAX_SIZE), no trailing
 * bytes, signature verified with its own key, key type supported (EC P-256/P-384/P-521, Ed25519,
 * RSA 2048..8192 bits), at most QY_CSR_MAX_SANS SANs, DNS names of at most QY_DNS_NAME_MAX bytes
 * of [A-Za-z0-9.*_-], IP addresses of 4 or 16 bytes. ERR_CSR (bad form, SANs), ERR_BAD_SIGNATURE,
 * ERR_UNSUPPORTED (key type) with the reason. Returns an owned CSR (pki_csr_free). */
QY_API int pki_csr_parse(struct view der, struct pki_csr **out) QY_MUST_USE;
/* The same, given a key the caller already holds (borrowed, may be NULL): when the CSR's
 * SubjectPublicKeyInfo is exactly that key's encoding, the CSR's key is that key and is not decoded
 * again (OpenSSL 3.0's decoder costs more than the signature check, which is still made). The
 * Coordinator passes the TLS client's key. */
QY_API int pki_csr_parse_with(struct view der, const struct crypto_key *known, struct pki_csr **out)
    QY_MUST_USE;
/* The CSR's public key, borrowed from the CSR (crypto_key_ref it to keep it), and its
 * SubjectPublicKeyInfo as the CSR encodes it. */
QY_API const struct crypto_key *pki_csr_key(const struct pki_csr *csr);
QY_API struct view pki_csr_spki_der(const struct pki_csr *csr);
QY_API const struct pki_sans *pki_csr_sans(const struct pki_csr *csr);
QY_API void pki_csr_free(struct pki_csr *csr);

/* A CSR as MarbleRun's premain makes it (no subject; SANs from `names`, IP-looking entries as IP
 * SANs, as EDG_MARBLE_DNS_NAMES) signed by `key` (borrowed, with its private half), appended to
 * `der`. For the premain and tests. */
QY_API int pki_csr_build(const struct crypto_key *key, const char *const *names, size_t names_count,
                         struct buf *der) QY_MUST_USE;

/* The self-signed certificate a premain presents on its activation connection (MarbleRun §5.2): CN
 * "MarbleRun Marble", SANs as pki_csr_build, KeyUsage DigitalSignature|KeyAgreement, ExtKeyUsage
 * ServerAuth+ClientAuth, not a CA, valid from `now` (0: the clock) "forever", signed by `key`
 * (borrowed, with its private half). DER appended to `cert_der`. */
QY_API int pki_bootstrap_cert(const struct crypto_key *key, const char *const *names,
                              size_t names_count, int64_t now, struct buf *cert_der) QY_MUST_USE;

/* The marble's certificate: the CSR's key, subject CN = `uuid` (the canonical lowercase
 * 36-character form, checked), the CSR's DNS and IP SANs, the marble-type extension with
 * `marble_type`'s bytes, KeyUsage DigitalSignature|KeyAgreement, ExtKeyUsage ServerAuth+ClientAuth,
 * not a CA, issued by the intermediate key under the marble root's subject, valid from `now`
 * "forever". Appends the DER to `cert_der`; the chain to deliver is that certificate followed by
 * pki_ca_intermediate_der(). */
QY_API int pki_issue_marble_cert(const struct pki_ca *ca, const struct pki_csr *csr,
                                 const char *uuid, const char *marble_type, int64_t now,
                                 struct buf *cert_der) QY_MUST_USE;

/* Certificates from a template (generated secrets, §7.4) -----------------------------------------
 */

struct pki_strings {
    const char *const *items;
    size_t count;
};

struct pki_subject {
    struct pki_strings country, organization, organizational_unit, locality, province,
        street_address, postal_code;
    const char *serial_number; /* NULL or "" for none */
    const char *common_name;   /* NULL or "" for none */
};

/* Go's x509.KeyUsage bits and ExtKeyUsage values (reference §1.5.1). The caller applies defaults;
 * this is what goes into the certificate. */
struct pki_cert_template {
    struct pki_subject subject;
    int64_t not_before, not_after; /* Unix seconds */
    unsigned key_usage;            /* 0: no KeyUsage extension */
    const uint64_t *ext_key_usage; /* 0..13 */
    size_t ext_key_usage_count;    /* 0: no ExtKeyUsage extension */
    struct pki_strings dns_names, email_addresses, ip_addresses, uris;
    bool is_ca;
    int64_t max_path_len; /* < 0: none */
};

/* A certificate for `key` (borrowed; only its public half is used) issued by the intermediate key
 * under the marble root's subject (CN "MarbleRun Coordinator - Intermediate CA"), BasicConstraints
 * always present (critical), DER appended to `cert_der`. ERR_CERT for template values X.509 cannot
 * carry (an unparsable IP, a two-letter country that is not two letters...). */
QY_API int pki_issue_from_template(const struct pki_ca *ca, const struct pki_cert_template *t,
                                   const struct crypto_key *key, struct buf *cert_der) QY_MUST_USE;

/* TLS server certificates for the Coordinator's own servers -------------------------------------
 */

enum pki_signer {
    PKI_SIGNER_ROOT,         /* the Coordinator's servers: verify with the root certificate */
    PKI_SIGNER_INTERMEDIATE, /* verifies with the marble root or the intermediate */
};

struct pki_server_options {
    const char *common_name; /* NULL: PKI_ROOT_CN */
    /* SANs: IP-looking entries become IP SANs; NULL/0: "localhost", 127.0.0.1, ::1. Borrowed. */
    const char *const *names;
    size_t names_count;
    int64_t now;           /* 0: the clock */
    int64_t valid_seconds; /* 0: PKI_FOREVER_SECONDS */
};

/* A server certificate (ServerAuth, DigitalSignature; KeyEncipherment too for RSA) for `key`
 * (borrowed, generated by the caller; only its public half is used), signed by the chosen CA key.
 * DER appended to `cert_der`. */
QY_API int pki_issue_server_cert(const struct pki_ca *ca, enum pki_signer signer,
                                 const struct crypto_key *key, const struct pki_server_options *o,
                                 struct buf *cert_der) QY_MUST_USE;

/* Certificates from outside ------------------------------------------------------------------- */

/* Who a marble certificate names (pki_ca_verify_marble_cert). */
struct pki_marble_identity {
    char common_name[65];               /* the marble's UUID as issued */
    char marble_type[QY_NAME_MAX + 1];  /* extension PKI_MARBLE_TYPE_OID */
};

/* Checks a certificate a marble presents (DER, borrowed, untrusted): issued by `ca`'s current
 * intermediate key under the marble root's name, valid at `now` (0: the clock), not a CA, with
 * the marble type extension; fills `out` from its CN and that extension (both non-empty, without
 * NUL bytes), and leaves it empty on any refusal. ERR_BAD_SIGNATURE for a certificate of another
 * issuer or an earlier intermediate, ERR_EXPIRED, ERR_CERT otherwise. */
QY_API int pki_ca_verify_marble_cert(const struct pki_ca *ca, struct view cert_der, int64_t now,
                                     struct pki_marble_identity *out) QY_MUST_USE;

/* Parses one DER certificate (borrowed, untrusted, bounded, no trailing bytes) and returns its
 * public key (owned, crypto_key_free). ERR_CERT with the reason. */
QY_API int pki_cert_public_key(struct view cert_der, struct crypto_key **out) QY_MUST_USE;

#endif
