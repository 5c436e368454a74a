/*
 * Certificate signing requests: parsing a marble's CSR (untrusted: bounded, signature checked, key
 * type and SANs validated) and building one as MarbleRun's premain does.
 */
#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <stdlib.h>
#include <string.h>

#include "pki_int.h"

struct pki_csr {
    X509_REQ *req; /* kept for its SubjectPublicKeyInfo */
    struct crypto_key *key;
    GENERAL_NAMES *gens; /* the DNS and IP SANs, in request order */
    struct pki_sans sans;
    struct arena arena; /* the text forms */
};

void pki_csr_free(struct pki_csr *csr)
{
    if (csr == NULL)
        return;
    X509_REQ_free(csr->req);
    crypto_key_free(csr->key);
    GENERAL_NAMES_free(csr->gens);
    arena_free(&csr->arena);
    free(csr);
}

const struct crypto_key *pki_csr_key(const struct pki_csr *csr)
{
    return csr->key;
}

const struct pki_sans *pki_csr_sans(const struct pki_csr *csr)
{
    return &csr->sans;
}

const GENERAL_NAMES *pki_csr_gens(const struct pki_csr *csr)
{
    return csr->gens;
}

const X509_PUBKEY *pki_csr_spki(const struct pki_csr *csr)
{
    return X509_REQ_get_X509_PUBKEY(csr->req);
}

/* Keys a marble may certify: what premains generate (P-256 by default, P-384 as MarbleRun's), and
 * the other strong kinds a runtime might use. */
static int check_key(const struct crypto_key *k, X509_REQ *req)
{
    enum crypto_key_type t = crypto_key_type(k);
    switch (t) {
    case CRYPTO_KEY_EC_P256:
    case CRYPTO_KEY_EC_P384:
    case CRYPTO_KEY_EC_P521:
    case CRYPTO_KEY_ED25519:
        return 0;
    case CRYPTO_KEY_RSA: {
        int bits = crypto_key_bits(k);
        ENSURE(bits >= (int)QY_RSA_MIN_BITS && bits <= (int)QY_RSA_MAX_BITS, ERR_UNSUPPORTED,
               "CSR key is RSA-%d; RSA keys of %u to %u bits are supported", bits, QY_RSA_MIN_BITS,
               QY_RSA_MAX_BITS);
        return 0;
    }
    case CRYPTO_KEY_EC_P224:
    case CRYPTO_KEY_UNKNOWN:
    default: {
        char alg[64] = "unknown";
        ASN1_OBJECT *oid = NULL;
        if (X509_PUBKEY_get0_param(&oid, NULL, NULL, NULL, X509_REQ_get_X509_PUBKEY(req)) == 1)
            OBJ_obj2txt(alg, sizeof(alg), oid, 0);
        FAIL(ERR_UNSUPPORTED,
             "CSR key type is not supported (%s%s); supported: EC P-256, P-384, P-521, "
             "Ed25519, RSA",
             alg, t == CRYPTO_KEY_EC_P224 ? " on P-224" : "");
    }
    }
}

static int add_dns(struct pki_csr *csr, const ASN1_IA5STRING *s, size_t index)
{
    const unsigned char *p = ASN1_STRING_get0_data(s);
    int len = ASN1_STRING_length(s);
    ENSURE(len > 0 && len <= QY_DNS_NAME_MAX, ERR_CSR, "SAN %zu: DNS name of %d bytes (1..%u)",
           index, len, QY_DNS_NAME_MAX);
    for (int i = 0; i < len; i++) {
        unsigned char c = p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_' || c == '*';
        ENSURE(ok, ERR_CSR, "SAN %zu: DNS name has an invalid character at offset %d", index, i);
    }
    const char *copy = arena_strndup(&csr->arena, (const char *)p, (size_t)len);
    ENSURE(copy != NULL, ERR_NOMEM, "cannot copy a DNS name");
    csr->sans.dns[csr->sans.dns_count++] = copy;
    return 0;
}

static int add_ip(struct pki_csr *csr, const ASN1_OCTET_STRING *s, size_t index)
{
    int len = ASN1_STRING_length(s);
    ENSURE(len == 4 || len == 16, ERR_CSR, "SAN %zu: IP address of %d bytes (4 or 16)", index, len);
    char text[INET6_ADDRSTRLEN];
    ENSURE(inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), text, sizeof(text)) !=
               NULL,
           ERR_CSR, "SAN %zu: cannot format the IP address", index);
    const char *copy = arena_strdup(&csr->arena, text);
    ENSURE(copy != NULL, ERR_NOMEM, "cannot copy an IP address");
    csr->sans.ips[csr->sans.ip_count++] = copy;
    return 0;
}

/* Keeps the DNS and IP SANs of the request's subjectAltName extension (if any). */
static int take_sans(struct pki_csr *csr, X509_REQ *req)
{
    int r = ERR_INTERNAL;
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    GENERAL_NAMES *gens = NULL;
    (void)crypto_last_error(); /* absent extensions leave a queue entry on some versions */
    csr->gens = sk_GENERAL_NAME_new_null();
    ENSURE_OUT(csr->gens != NULL, ERR_NOMEM, "cannot allocate SANs");
    int found = 0;
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) != NID_subject_alt_name)
            continue;
        ENSURE_OUT(++found == 1, ERR_CSR, "the CSR has more than one subjectAltName extension");
        gens = X509V3_EXT_d2i(e);
        ENSURE_OUT(gens != NULL, ERR_CSR, "the CSR's subjectAltName does not parse: %s",
                   crypto_last_error());
    }
    int n = gens ? sk_GENERAL_NAME_num(gens) : 0;
    ENSURE_OUT(n <= QY_CSR_MAX_SANS, ERR_CSR, "the CSR requests %d SANs, the limit is %u", n,
               QY_CSR_MAX_SANS);
    csr->sans.dns = arena_alloc(&csr->arena, sizeof(char *) * (size_t)(n + 1));
    csr->sans.ips = arena_alloc(&csr->arena, sizeof(char *) * (size_t)(n + 1));
    ENSURE_OUT(csr->sans.dns != NULL && csr->sans.ips != NULL, ERR_NOMEM, "cannot allocate SANs");
    for (int i = 0; i < n; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            TRY_OUT(add_dns(csr, g->d.dNSName, (size_t)i));
        else if (g->type == GEN_IPADD)
            TRY_OUT(add_ip(csr, g->d.iPAddress, (size_t)i));
        else
            continue; /* MarbleRun copies DNS and IP SANs only */
        GENERAL_NAME *copy = GENERAL_NAME_dup(g);
        if (copy == NULL || sk_GENERAL_NAME_push(csr->gens, copy) <= 0) {
            GENERAL_NAME_free(copy);
            FAIL_OUT(ERR_NOMEM, "cannot copy a SAN");
        }
    }
    r = 0;
out:
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return r;
}

int pki_csr_parse(struct view der, struct pki_csr **out)
{
    int r = ERR_INTERNAL;
    X509_REQ *req = NULL;
    struct pki_csr *csr = NULL;
    *out = NULL;
    ENSURE(der.size > 0 && der.size <= QY_CERT_DER_MAX_SIZE, ERR_CSR, "CSR of %zu bytes (1..%u)",
           der.size, QY_CERT_DER_MAX_SIZE);
    const unsigned char *p = der.ptr;
    req = d2i_X509_REQ(NULL, &p, (long)der.size);
    ENSURE(req != NULL, ERR_CSR, "not a PKCS#10 CSR: %s", crypto_last_error());
    ENSURE_OUT(p == der.ptr + der.size, ERR_CSR, "trailing bytes after the CSR");
    csr = calloc(1, sizeof(*csr));
    ENSURE_OUT(csr != NULL, ERR_NOMEM, "cannot allocate a CSR");
    EVP_PKEY *pk = X509_REQ_get0_pubkey(req);
    ENSURE_OUT(pk != NULL, ERR_UNSUPPORTED, "the CSR's public key is not usable: %s",
               crypto_last_error());
    TRY_OUT(crypto_key_wrap_evp(pk, &csr->key));
    TRY_OUT(check_key(csr->key, req));
    ENSURE_OUT(X509_REQ_verify(req, pk) == 1, ERR_BAD_SIGNATURE,
               "signature over CSR is invalid: %s", crypto_last_error());
    TRY_OUT(take_sans(csr, req));
    csr->req = req;
    req = NULL;
    *out = csr;
    csr = NULL;
    r = 0;
out:
    pki_csr_free(csr);
    X509_REQ_free(req);
    return r;
}

int pki_csr_build(const struct crypto_key *key, const char *const *names, size_t names_count,
                  struct buf *der)
{
    int r = ERR_INTERNAL;
    X509_REQ *req = X509_REQ_new();
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *san = NULL;
    unsigned char *enc = NULL;
    ENSURE_OUT(req != NULL && gens != NULL && exts != NULL, ERR_NOMEM, "cannot allocate a CSR");
    ENSURE_OUT(crypto_key_has_private(key), ERR_INVALID_ARG, "the key has no private half");
    bool md_ok = false;
    const EVP_MD *md = crypto_x509_md(key, &md_ok);
    ENSURE_OUT(md_ok, ERR_UNSUPPORTED, "unsupported key type");
    TRY_OUT(pki_sans_from_names(names, names_count, true, gens));
    san = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
    ENSURE_OUT(san != NULL && sk_X509_EXTENSION_push(exts, san) > 0, ERR_CRYPTO,
               "cannot encode SANs: %s", crypto_last_error());
    san = NULL; /* owned by exts */
    bool ok = X509_REQ_set_version(req, X509_REQ_VERSION_1) == 1 &&
              X509_REQ_set_pubkey(req, crypto_key_evp(key)) == 1 &&
              X509_REQ_add_extensions(req, exts) == 1 &&
              X509_REQ_sign(req, crypto_key_evp(key), md) > 0;
    ENSURE_OUT(ok, ERR_CRYPTO, "cannot build the CSR: %s", crypto_last_error());
    int len = i2d_X509_REQ(req, &enc);
    ENSURE_OUT(len > 0, ERR_CRYPTO, "cannot encode the CSR: %s", crypto_last_error());
    TRY_OUT(buf_append(der, enc, (size_t)len));
    r = 0;
out:
    OPENSSL_free(enc);
    X509_EXTENSION_free(san);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(gens);
    X509_REQ_free(req);
    return r;
}
