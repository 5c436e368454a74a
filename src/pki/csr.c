/*
 * Certificate signing requests: parsing a marble's CSR (untrusted: bounded, signature checked, key
 * type and SANs validated) and building one as MarbleRun's premain does.
 */
#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/objects.h>
#include <stdlib.h>
#include <string.h>

#include "pki_int.h"

/* PKCS#10 (RFC 2986) read through templates of our own, built from OpenSSL's ASN.1 primitives:
 * d2i_X509_REQ decodes the public key through OpenSSL 3.0's decoder (~100 us, more than verifying
 * the signature) even when the caller already holds that key from the TLS handshake. Here the
 * CertificationRequestInfo and the SubjectPublicKeyInfo stay as their exact encodings (ASN1_ANY):
 * the first is what the signature covers, the second is compared byte for byte with the caller's. */
typedef struct {
    ASN1_TYPE *info; /* CertificationRequestInfo, as received */
    X509_ALGOR *sig_alg;
    ASN1_BIT_STRING *signature;
} QY_CSR;

typedef struct {
    ASN1_INTEGER *version;
    X509_NAME *subject;
    ASN1_TYPE *spki; /* SubjectPublicKeyInfo, as received */
    STACK_OF(X509_ATTRIBUTE) *attributes;
} QY_CSR_INFO;

typedef struct {
    X509_ALGOR *alg;
    ASN1_BIT_STRING *key;
} QY_SPKI;

ASN1_SEQUENCE(QY_CSR) = {
    ASN1_SIMPLE(QY_CSR, info, ASN1_ANY),
    ASN1_SIMPLE(QY_CSR, sig_alg, X509_ALGOR),
    ASN1_SIMPLE(QY_CSR, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(QY_CSR)

ASN1_SEQUENCE(QY_CSR_INFO) = {
    ASN1_SIMPLE(QY_CSR_INFO, version, ASN1_INTEGER),
    ASN1_SIMPLE(QY_CSR_INFO, subject, X509_NAME),
    ASN1_SIMPLE(QY_CSR_INFO, spki, ASN1_ANY),
    ASN1_IMP_SET_OF_OPT(QY_CSR_INFO, attributes, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END(QY_CSR_INFO)

ASN1_SEQUENCE(QY_SPKI) = {
    ASN1_SIMPLE(QY_SPKI, alg, X509_ALGOR),
    ASN1_SIMPLE(QY_SPKI, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(QY_SPKI)

/* d2i through a template; `it` says which. NULL when it does not parse or leaves bytes over. */
static void *d2i_exact(struct view der, const ASN1_ITEM *it)
{
    const unsigned char *p = der.ptr;
    ASN1_VALUE *v = ASN1_item_d2i(NULL, &p, (long)der.size, it);
    if (v != NULL && p != der.ptr + der.size) {
        ASN1_item_free(v, it);
        v = NULL;
    }
    return v;
}

struct pki_csr {
    X509_PUBKEY *spki; /* for the certificate: algorithm and key bits, no decoded key */
    struct buf spki_der;
    struct crypto_key *key;
    GENERAL_NAMES *gens; /* the DNS and IP SANs, in request order */
    struct pki_sans sans;
    struct arena arena; /* the text forms */
};

void pki_csr_free(struct pki_csr *csr)
{
    if (csr == NULL)
        return;
    X509_PUBKEY_free(csr->spki);
    buf_free(&csr->spki_der);
    crypto_key_free(csr->key);
    GENERAL_NAMES_free(csr->gens);
    arena_free(&csr->arena);
    free(csr);
}

const struct crypto_key *pki_csr_key(const struct pki_csr *csr)
{
    return csr->key;
}

struct view pki_csr_spki_der(const struct pki_csr *csr)
{
    return buf_view(&csr->spki_der);
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
    return csr->spki;
}

/* Keys a marble may certify: what premains generate (P-256 by default, P-384 as MarbleRun's), and
 * the other strong kinds a runtime might use. */
static int check_key(const struct crypto_key *k, const X509_PUBKEY *spki)
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
        if (X509_PUBKEY_get0_param(&oid, NULL, NULL, NULL, spki) == 1)
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

/* The requested extensions: the first extensionRequest attribute (PKCS#9, or Microsoft's), as
 * X509_REQ_get_extensions takes it. NULL when there is none. */
static int requested_extensions(const STACK_OF(X509_ATTRIBUTE) *attrs, STACK_OF(X509_EXTENSION) **out)
{
    *out = NULL;
    static const int nids[] = {NID_ext_req, NID_ms_ext_req};
    for (size_t n = 0; n < QY_ARRAY_LEN(nids); n++) {
        for (int i = 0; i < sk_X509_ATTRIBUTE_num(attrs); i++) {
            X509_ATTRIBUTE *a = sk_X509_ATTRIBUTE_value(attrs, i);
            if (OBJ_obj2nid(X509_ATTRIBUTE_get0_object(a)) != nids[n])
                continue;
            ASN1_TYPE *v = X509_ATTRIBUTE_get0_type(a, 0);
            ENSURE(v != NULL && v->type == V_ASN1_SEQUENCE, ERR_CSR,
                   "the CSR's extension request is not a list of extensions");
            const unsigned char *p = v->value.sequence->data;
            long len = v->value.sequence->length;
            *out = d2i_X509_EXTENSIONS(NULL, &p, len);
            ENSURE(*out != NULL, ERR_CSR, "the CSR's extension request does not parse: %s",
                   crypto_last_error());
            return 0;
        }
    }
    return 0;
}

/* Keeps the DNS and IP SANs of the request's subjectAltName extension (if any). */
static int take_sans(struct pki_csr *csr, const STACK_OF(X509_ATTRIBUTE) *attrs)
{
    int r = ERR_INTERNAL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    GENERAL_NAMES *gens = NULL;
    TRY(requested_extensions(attrs, &exts));
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

/* An ASN1_ANY holding a whole SEQUENCE: its exact encoding. */
static int any_sequence(const ASN1_TYPE *t, const char *what, struct view *out)
{
    ENSURE(t != NULL && t->type == V_ASN1_SEQUENCE && t->value.sequence->length > 0, ERR_CSR,
           "the CSR's %s is not a SEQUENCE", what);
    *out = view_of(t->value.sequence->data, (size_t)t->value.sequence->length);
    return 0;
}

/* The SubjectPublicKeyInfo: its bytes, its parts (for the certificate) and the key - the caller's
 * when the bytes are the same, else decoded. */
static int take_key(struct pki_csr *csr, struct view spki, const struct crypto_key *known)
{
    QY_SPKI *parts = d2i_exact(spki, ASN1_ITEM_rptr(QY_SPKI));
    ENSURE(parts != NULL, ERR_CSR, "the CSR's SubjectPublicKeyInfo does not parse: %s", crypto_last_error());
    int r = ERR_INTERNAL;
    struct buf known_spki = BUF_INIT;
    X509_PUBKEY *tmp = X509_PUBKEY_new();
    ENSURE_OUT(tmp != NULL, ERR_NOMEM, "cannot allocate a public key");
    ENSURE_OUT(parts->key->length > 0, ERR_CSR, "the CSR's public key is empty");
    ENSURE_OUT((parts->key->flags & 0x07) == 0, ERR_CSR, "the CSR's public key is not a whole number of bytes");
    TRY_OUT(pki_spki_set(tmp, parts->alg, parts->key->data, parts->key->length));
    TRY_OUT(buf_append_view(&csr->spki_der, spki));
    csr->spki = tmp;
    tmp = NULL;
    if (known != NULL) {
        r = crypto_key_public_der(known, &known_spki);
        ENSURE_OUT(r != ERR_NOMEM, ERR_NOMEM, "out of memory");
        (void)crypto_last_error(); /* a key we cannot encode is merely not used */
    }
    if (known != NULL && r == 0 && view_eq(spki, buf_view(&known_spki))) {
        csr->key = crypto_key_ref((struct crypto_key *)known); /* only its atomic count changes */
    } else {
        r = crypto_key_from_public_der(spki, &csr->key);
        ENSURE_OUT(r != ERR_NOMEM, ERR_NOMEM, "out of memory");
        ENSURE_OUT(r == 0, ERR_UNSUPPORTED, "the CSR's public key is not usable: %s", err_detail(r));
    }
    r = 0;
out:
    buf_free(&known_spki);
    X509_PUBKEY_free(tmp);
    ASN1_item_free((ASN1_VALUE *)parts, ASN1_ITEM_rptr(QY_SPKI));
    return r;
}

/* The CertificationRequestInfo: version 1 (0) and the key; the subject is parsed but not used. */
static int take_info(struct pki_csr *csr, QY_CSR_INFO *ri, const struct crypto_key *known)
{
    struct view spki;
    ENSURE(ASN1_INTEGER_get(ri->version) == 0, ERR_CSR, "the CSR is not a version 1 request");
    TRY(any_sequence(ri->spki, "SubjectPublicKeyInfo", &spki));
    TRY(take_key(csr, spki, known));
    return check_key(csr->key, csr->spki);
}

int pki_csr_parse_with(struct view der, const struct crypto_key *known, struct pki_csr **out)
{
    int r = ERR_INTERNAL;
    struct pki_csr *csr = NULL;
    QY_CSR_INFO *ri = NULL;
    struct view info;
    *out = NULL;
    ENSURE(der.size > 0 && der.size <= QY_CERT_DER_MAX_SIZE, ERR_CSR, "CSR of %zu bytes (1..%u)",
           der.size, QY_CERT_DER_MAX_SIZE);
    const unsigned char *p = der.ptr;
    QY_CSR *req = (QY_CSR *)ASN1_item_d2i(NULL, &p, (long)der.size, ASN1_ITEM_rptr(QY_CSR));
    ENSURE(req != NULL, ERR_CSR, "not a PKCS#10 CSR: %s", crypto_last_error());
    ENSURE_OUT(p == der.ptr + der.size, ERR_CSR, "trailing bytes after the CSR");
    TRY_OUT(any_sequence(req->info, "request info", &info));
    csr = calloc(1, sizeof(*csr));
    ENSURE_OUT(csr != NULL, ERR_NOMEM, "cannot allocate a CSR");
    ri = d2i_exact(info, ASN1_ITEM_rptr(QY_CSR_INFO));
    ENSURE_OUT(ri != NULL, ERR_CSR, "the CSR's request info does not parse: %s", crypto_last_error());
    TRY_OUT(take_info(csr, ri, known));
    /* the signature over the request info exactly as received (ASN1_ANY re-encodes it as it came),
     * before its extensions are read (only the key, needed to check it, is read first) */
    ENSURE_OUT(ASN1_item_verify_ex(ASN1_ITEM_rptr(ASN1_ANY), req->sig_alg, req->signature, req->info, NULL,
                                   crypto_key_evp(csr->key), NULL, NULL) == 1,
               ERR_BAD_SIGNATURE, "signature over CSR is invalid: %s", crypto_last_error());
    TRY_OUT(take_sans(csr, ri->attributes));
    *out = csr;
    csr = NULL;
    r = 0;
out:
    pki_csr_free(csr);
    ASN1_item_free((ASN1_VALUE *)ri, ASN1_ITEM_rptr(QY_CSR_INFO));
    ASN1_item_free((ASN1_VALUE *)req, ASN1_ITEM_rptr(QY_CSR));
    return r;
}

int pki_csr_parse(struct view der, struct pki_csr **out)
{
    return pki_csr_parse_with(der, NULL, out);
}

int pki_csr_build(const struct crypto_key *key, const char *const *names, size_t names_count,
                  struct buf *der)
{
    int r = ERR_INTERNAL;
    X509_REQ *req = X509_REQ_new();
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *san = NULL;
    X509_PUBKEY *spki = NULL;
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
    TRY_OUT(crypto_key_x509_pubkey(key, &spki));
    TRY_OUT(pki_spki_copy(X509_REQ_get_X509_PUBKEY(req), spki));
    bool ok = X509_REQ_set_version(req, X509_REQ_VERSION_1) == 1 &&
              X509_REQ_add_extensions(req, exts) == 1 &&
              X509_REQ_sign(req, crypto_key_evp(key), md) > 0;
    ENSURE_OUT(ok, ERR_CRYPTO, "cannot build the CSR: %s", crypto_last_error());
    int len = i2d_X509_REQ(req, &enc);
    ENSURE_OUT(len > 0, ERR_CRYPTO, "cannot encode the CSR: %s", crypto_last_error());
    TRY_OUT(buf_append(der, enc, (size_t)len));
    r = 0;
out:
    OPENSSL_free(enc);
    X509_PUBKEY_free(spki);
    X509_EXTENSION_free(san);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(gens);
    X509_REQ_free(req);
    return r;
}
