/*
 * Certificates, paths and CRLs for DCAP (reference/dcap.md §5, §6, §8.2, §8.3). OpenSSL parses the
 * ASN.1 (STYLE 16); this file decides what is trusted: a path is built by issuer/subject whatever
 * the stored order, every link is an ecdsa-with-SHA256 signature, and the top is self-signed with a
 * trusted root *key* (Intel re-issued its root certificate with the same key, so pinning the
 * certificate would refuse valid chains, §9.6).
 */
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "att_int.h"

/* Intel SGX Root CA public key (dcap.md §6): X || Y. */
static const uint8_t intel_root_xy[64] = {
    0x0b, 0xa9, 0xc4, 0xc0, 0xc0, 0xc8, 0x61, 0x93, 0xa3, 0xfe, 0x23, 0xd6, 0xb0, 0x2c, 0xda, 0x10,
    0xa8, 0xbb, 0xd4, 0xe8, 0x8e, 0x48, 0xb4, 0x45, 0x85, 0x61, 0xa3, 0x6e, 0x70, 0x55, 0x25, 0xf5,
    0x67, 0x91, 0x8e, 0x2e, 0xdc, 0x88, 0xe4, 0x0d, 0x86, 0x0b, 0xd0, 0xcc, 0x4e, 0xe2, 0x6a, 0xac,
    0xc9, 0x88, 0xe5, 0x05, 0xa9, 0x53, 0x55, 0x8c, 0x45, 0x3f, 0x6b, 0x09, 0x04, 0xae, 0x73, 0x94,
};

void att_obj_init(struct att_obj *o, void (*destroy)(struct att_obj *o))
{
    atomic_init(&o->refs, 1);
    o->destroy = destroy;
}

struct att_obj *att_obj_ref(struct att_obj *o)
{
    atomic_fetch_add(&o->refs, 1);
    return o;
}

void att_obj_unref(struct att_obj *o)
{
    if (o != NULL && atomic_fetch_sub(&o->refs, 1) == 1)
        o->destroy(o);
}

/* Times ---------------------------------------------------------------------------------------- */

int att_asn1_time(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    *out = 0;
    ENSURE(t != NULL && ASN1_TIME_to_tm(t, &tm) == 1, ERR_CERT, "invalid ASN.1 time");
    *out = qtime_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                            tm.tm_sec);
    return 0;
}

const char *att_fmt_time(int64_t t, char buf[32])
{
    if (qtime_format_rfc3339(t, buf) < 0)
        snprintf(buf, 32, "%lld", (long long)t);
    return buf;
}

void att_cert_cn(X509 *x, char *out, size_t size)
{
    out[0] = '\0';
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)size) < 0)
        snprintf(out, size, "(no CN)");
}

/* Trusted roots -------------------------------------------------------------------------------- */

int att_roots_init(struct att_roots *roots, const struct view *extra, size_t extra_count)
{
    int r = ERR_INTERNAL;
    memset(roots, 0, sizeof(*roots));
    ENSURE(extra_count <= QY_ATT_EXTRA_ROOTS_MAX, ERR_INVALID_ARG,
           "%zu extra roots, the limit is %u", extra_count, QY_ATT_EXTRA_ROOTS_MAX);
    TRY_OUT(crypto_key_from_p256_xy(intel_root_xy, &roots->keys[0]));
    roots->count = 1;
    for (size_t i = 0; i < extra_count; i++) {
        X509 *cert = NULL;
        size_t n = 0;
        r = att_certs_parse(extra[i], ATT_CERTS_DER | ATT_CERTS_LENIENT, &cert, 1, &n);
        ENSURE_OUT(r == 0 && n == 1, ERR_CERT, "insecure extra root %zu: %s", i + 1,
                   r < 0 ? err_detail(r) : "expected one certificate");
        struct crypto_key *k = NULL;
        r = crypto_key_wrap_evp(X509_get0_pubkey(cert), &k);
        X509_free(cert);
        TRY_OUT(r);
        roots->keys[roots->count++] = k;
        ENSURE_OUT(crypto_key_type(k) == CRYPTO_KEY_EC_P256, ERR_CERT,
                   "insecure extra root %zu: the key is not P-256", i + 1);
    }
    r = 0;
out:
    if (r < 0)
        att_roots_free(roots);
    return r;
}

void att_roots_free(struct att_roots *roots)
{
    for (size_t i = 0; i < roots->count; i++)
        crypto_key_free(roots->keys[i]);
    memset(roots, 0, sizeof(*roots));
}

/* The index of the trusted root whose key `x` carries, or -1. */
static int root_index(const struct att_roots *roots, X509 *x)
{
    int found = -1;
    struct crypto_key *k = NULL;
    EVP_PKEY *pk = X509_get0_pubkey(x);
    if (pk == NULL || crypto_key_wrap_evp(pk, &k) < 0) {
        (void)crypto_last_error();
        return -1;
    }
    for (size_t i = 0; i < roots->count && found < 0; i++)
        if (crypto_key_public_eq(k, roots->keys[i]))
            found = (int)i;
    crypto_key_free(k);
    return found;
}

/* PEM ------------------------------------------------------------------------------------------ */

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* What is left in r, without consuming it. */
static struct view rd_peek(const struct rd *r)
{
    struct rd copy = *r;
    return rd_rest(&copy);
}

static void skip_space(struct rd *r)
{
    struct view v = rd_peek(r);
    size_t n = 0;
    while (n < v.size && is_space(v.ptr[n]))
        n++;
    int rc = rd_skip(r, n); /* n <= what is left: cannot fail */
    (void)rc;
}

static bool starts_with(struct view v, const char *s)
{
    size_t n = strlen(s);
    return v.size >= n && memcmp(v.ptr, s, n) == 0;
}

/* The first `s` in v, or NULL; never looks outside v (and never passes memmem a NULL). */
static const uint8_t *find(struct view v, const char *s)
{
    size_t n = strlen(s);
    return v.size >= n ? memmem(v.ptr, v.size, s, n) : NULL;
}

/* Base64 that decodes and re-encodes to the same characters (ignoring line breaks): no spare bits,
 * no stray characters, so different text never means the same certificate. */
static int b64_strict(struct view body, struct buf *der)
{
    int r = ERR_INTERNAL;
    struct buf flat = BUF_INIT, again = BUF_INIT;
    for (size_t i = 0; i < body.size; i++)
        if (body.ptr[i] != '\r' && body.ptr[i] != '\n')
            TRY_OUT(buf_append_byte(&flat, body.ptr[i]));
    TRY_OUT(enc_b64_decode(der, buf_view(&flat)));
    TRY_OUT(enc_b64(&again, buf_view(der)));
    ENSURE_OUT(view_eq(buf_view(&flat), buf_view(&again)), ERR_ENCODING, "base64 is not canonical");
    r = 0;
out:
    buf_free(&flat);
    buf_free(&again);
    return r;
}

/* The next "-----BEGIN label-----" ... "-----END label-----" block of r, decoded. */
static int pem_block(struct rd *r, const char *label, struct buf *der)
{
    char begin[64], end[64];
    snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
    snprintf(end, sizeof(end), "-----END %s-----", label);
    ENSURE(starts_with(rd_peek(r), begin), ERR_ENCODING, "expected \"%s\" at offset %zu", begin,
           rd_offset(r));
    TRY(rd_skip(r, strlen(begin)));
    struct view rest = rd_peek(r);
    const uint8_t *e = find(rest, end);
    ENSURE(e != NULL, ERR_ENCODING, "no \"%s\" after offset %zu", end, rd_offset(r));
    struct view body;
    TRY(rd_bytes(r, (size_t)(e - rest.ptr), &body));
    TRY(rd_skip(r, strlen(end)));
    int rc = b64_strict(body, der);
    ENSURE(rc == 0, ERR_ENCODING, "PEM block ending at offset %zu: %s", rd_offset(r),
           err_detail(rc));
    return 0;
}

static int der_cert(struct view der, X509 **out)
{
    const unsigned char *p = der.ptr;
    *out = NULL;
    ENSURE(der.size > 0 && der.size <= QY_PEM_MAX_SIZE, ERR_CERT, "certificate of %zu bytes",
           der.size);
    X509 *x = d2i_X509(NULL, &p, (long)der.size);
    ERR_clear_error();
    ENSURE(x != NULL, ERR_CERT, "not an X.509 certificate");
    if (p != der.ptr + der.size) {
        X509_free(x);
        FAIL(ERR_CERT, "trailing bytes after a DER certificate");
    }
    *out = x;
    return 0;
}

void att_certs_free(X509 **certs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        X509_free(certs[i]);
        certs[i] = NULL;
    }
}

/* Lenient mode: moves r to the next BEGIN line; false when there is none. */
static bool next_block(struct rd *r)
{
    struct view rest = rd_peek(r);
    const uint8_t *b = find(rest, "-----BEGIN CERTIFICATE-----");
    int rc = rd_skip(r, b != NULL ? (size_t)(b - rest.ptr) : rest.size); /* within what is left */
    (void)rc;
    return b != NULL;
}

/* Quote mode follows Intel's chain splitting (QVL CertificateChain::splitChain in
 * SGXDataCenterAttestationPrimitives). Before the first block: it starts at the first BEGIN
 * marker, unless an END marker comes before it (then it finds no certificate). */
static void skip_prefix(struct rd *r)
{
    struct view rest = rd_peek(r);
    const uint8_t *b = find(rest, "-----BEGIN CERTIFICATE-----");
    const uint8_t *e = find(rest, "-----END CERTIFICATE-----");
    if (b != NULL && (e == NULL || b < e)) {
        int rc = rd_skip(r, (size_t)(b - rest.ptr)); /* within what is left */
        (void)rc;
    }
}

/* After a block: bytes other than '-' are skipped. Moves r to the next '-' and returns true, or
 * returns false when no "-----END CERTIFICATE-----" follows: splitChain stops at the last END
 * marker and never looks at what comes after it. A '-' that does not begin a BEGIN line is left
 * for pem_block() to refuse (splitChain would hand the text from it to OpenSSL's PEM reader, which
 * skips whole lines; we do not reproduce that). */
static bool skip_to_block(struct rd *r)
{
    struct view rest = rd_peek(r);
    if (find(rest, "-----END CERTIFICATE-----") == NULL)
        return false;
    size_t n = 0;
    while (n < rest.size && rest.ptr[n] != '-')
        n++;
    int rc = rd_skip(r, n); /* n <= what is left: cannot fail */
    (void)rc;
    return true;
}

/* The text of the certificates: quote mode stops at the first NUL, as Intel's QvE reads the chain
 * as a C string (qve.cpp extract_chain_from_quote, then CertificateChain::parse); otherwise one
 * NUL may end the text. Never longer than `in`. */
static struct view pem_text(struct view in, bool lenient)
{
    const uint8_t *nul = in.size > 0 ? memchr(in.ptr, 0, in.size) : NULL;
    if (!lenient && nul != NULL)
        return view_of(in.ptr, (size_t)(nul - in.ptr));
    if (in.size > 0 && in.ptr[in.size - 1] == 0)
        in.size--;
    return in;
}

int att_certs_parse(struct view in, unsigned flags, X509 **certs, size_t max, size_t *count)
{
    int r = ERR_INTERNAL;
    struct buf der = BUF_INIT;
    bool lenient = flags & ATT_CERTS_LENIENT;
    *count = 0;
    struct rd rd = rd_init(in);
    if ((flags & ATT_CERTS_DER) && in.size > 0 && in.ptr[0] == 0x30) {
        ENSURE(max >= 1, ERR_INVALID_ARG, "no room for a certificate");
        TRY(der_cert(in, &certs[0]));
        *count = 1;
        return 0;
    }
    rd = rd_init(pem_text(in, lenient));
    if (!lenient)
        skip_prefix(&rd);
    while (lenient ? next_block(&rd) : skip_to_block(&rd)) {
        ENSURE_OUT(*count < max, ERR_CERT, "more than %zu certificates", max);
        buf_reset(&der);
        r = pem_block(&rd, "CERTIFICATE", &der);
        ENSURE_OUT(r == 0, ERR_CERT, "%s", err_detail(r));
        TRY_OUT(der_cert(buf_view(&der), &certs[*count]));
        (*count)++;
    }
    ENSURE_OUT(*count > 0, ERR_CERT, "no certificate found");
    r = 0;
out:
    if (r < 0) {
        att_certs_free(certs, *count);
        *count = 0;
    }
    buf_free(&der);
    return r;
}

/* Paths ---------------------------------------------------------------------------------------- */

void att_path_free(struct att_path *p)
{
    att_certs_free(p->certs, p->len);
    p->len = 0;
}

static bool self_issued(X509 *x)
{
    return X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
}

static int check_link(X509 *child, X509 *parent, size_t depth)
{
    char cn[128];
    att_cert_cn(child, cn, sizeof(cn));
    ENSURE(X509_get_signature_nid(child) == NID_ecdsa_with_SHA256, ERR_ATT_UNTRUSTED,
           "\"%s\" is not signed with ecdsa-with-SHA256", cn);
    int ok = X509_verify(child, X509_get0_pubkey(parent));
    ERR_clear_error();
    ENSURE(ok == 1, ERR_ATT_UNTRUSTED,
           "the signature of \"%s\" does not verify with its issuer's key", cn);
    if (child != parent) {
        ENSURE(X509_check_ca(parent) >= 1, ERR_ATT_UNTRUSTED, "the issuer of \"%s\" is not a CA",
               cn);
    }
    (void)depth;
    return 0;
}

int att_path_build(X509 **certs, size_t count, size_t len, const char *const *cn,
                   const struct att_roots *roots, struct att_path *out)
{
    int r = ERR_INTERNAL;
    memset(out, 0, sizeof(*out));
    ENSURE_OUT(count == len, ERR_ATT_UNTRUSTED, "the chain has %zu certificates, expected %zu",
               count, len);
    bool used[QY_ATT_CHAIN_MAX_CERTS] = {false};
    /* The top: a self-issued certificate carrying a trusted root key. */
    int top = -1, idx = -1;
    for (size_t i = 0; i < count && top < 0; i++)
        if (self_issued(certs[i]) && (idx = root_index(roots, certs[i])) >= 0)
            top = (int)i;
    ENSURE_OUT(top >= 0, ERR_ATT_UNTRUSTED, "no certificate of the chain is a trusted root");
    out->root_index = (size_t)idx;
    X509 *path[3] = {NULL};
    path[len - 1] = certs[top];
    used[top] = true;
    /* Downwards by issuer == subject of the one above. */
    for (size_t level = len - 1; level > 0; level--) {
        X509 *above = path[level];
        int found = -1;
        for (size_t i = 0; i < count; i++)
            if (!used[i] && !self_issued(certs[i]) &&
                X509_NAME_cmp(X509_get_issuer_name(certs[i]), X509_get_subject_name(above)) == 0)
                found = found < 0 ? (int)i : -2;
        ENSURE_OUT(found != -2, ERR_ATT_UNTRUSTED, "two certificates claim the same issuer");
        ENSURE_OUT(found >= 0, ERR_ATT_UNTRUSTED, "the chain is broken below level %zu",
                   len - level);
        used[found] = true;
        path[level - 1] = certs[found];
    }
    int64_t nb = INT64_MIN, na = INT64_MAX;
    for (size_t i = 0; i < len; i++) {
        char name[128];
        att_cert_cn(path[i], name, sizeof(name));
        ENSURE_OUT(strstr(name, cn[i]) != NULL, ERR_ATT_UNTRUSTED,
                   "certificate \"%s\" is not a \"%s\"", name, cn[i]);
        TRY_OUT(check_link(path[i], path[i + 1 < len ? i + 1 : i], i));
        int64_t b, a;
        TRY_OUT(att_asn1_time(X509_get0_notBefore(path[i]), &b));
        TRY_OUT(att_asn1_time(X509_get0_notAfter(path[i]), &a));
        nb = b > nb ? b : nb;
        na = a < na ? a : na;
    }
    for (size_t i = 0; i < len; i++)
        out->certs[i] = path[i];
    for (size_t i = 0; i < count; i++)
        certs[i] = NULL; /* the path owns them now */
    out->len = len;
    out->not_before = nb;
    out->not_after = na;
    return 0;
out:
    att_certs_free(certs, count);
    return r;
}

int att_check_window(int64_t from, int64_t to, int64_t t, const char *what)
{
    char a[32], b[32], c[32];
    ENSURE(t >= from && t <= to, ERR_EXPIRED, "%s is valid from %s to %s, not at %s", what, att_fmt_time(from, a),
           att_fmt_time(to, b), att_fmt_time(t, c));
    return 0;
}

int att_path_check_time(const struct att_path *p, int64_t t, const char *what)
{
    return att_check_window(p->not_before, p->not_after, t, what);
}

/* CRLs ----------------------------------------------------------------------------------------- */

int att_crl_parse(struct view in, struct att_crl *out)
{
    int r = ERR_INTERNAL;
    struct buf der = BUF_INIT;
    memset(out, 0, sizeof(*out));
    ENSURE(in.size <= QY_ATT_CRL_MAX_SIZE, ERR_TOO_LARGE, "CRL is %zu bytes, the limit is %u",
           in.size, QY_ATT_CRL_MAX_SIZE);
    /* Text forms may end with whitespace or a NUL (C-string collateral). */
    struct view text = in;
    while (text.size > 0 && (is_space(text.ptr[text.size - 1]) || text.ptr[text.size - 1] == 0))
        text.size--;
    struct rd rd = rd_init(text);
    skip_space(&rd);
    if (starts_with(rd_peek(&rd), "-----BEGIN X509 CRL-----")) {
        TRY_OUT(pem_block(&rd, "X509 CRL", &der));
        skip_space(&rd);
        ENSURE_OUT(rd_remaining(&rd) == 0, ERR_COLLATERAL, "data after the PEM CRL");
    } else if (rd_remaining(&rd) == 0 || enc_hex_decode(&der, rd_peek(&rd)) < 0) { /* not hex: DER */
        TRY_OUT(buf_set(&der, in));
    }
    const unsigned char *p = der.ptr;
    out->crl = d2i_X509_CRL(NULL, &p, (long)der.size);
    ERR_clear_error();
    ENSURE_OUT(out->crl != NULL, ERR_COLLATERAL, "not a CRL (PEM, DER or hex-encoded DER)");
    ENSURE_OUT(p == der.ptr + der.size, ERR_COLLATERAL, "trailing bytes after the CRL");
    ENSURE_OUT(X509_CRL_get_signature_nid(out->crl) == NID_ecdsa_with_SHA256, ERR_COLLATERAL,
               "the CRL is not signed with ecdsa-with-SHA256");
    TRY_OUT(att_asn1_time(X509_CRL_get0_lastUpdate(out->crl), &out->this_update));
    ENSURE_OUT(X509_CRL_get0_nextUpdate(out->crl) != NULL, ERR_COLLATERAL,
               "the CRL has no nextUpdate");
    TRY_OUT(att_asn1_time(X509_CRL_get0_nextUpdate(out->crl), &out->next_update));
    r = 0;
out:
    if (r < 0)
        att_crl_free(out);
    buf_free(&der);
    return r;
}

void att_crl_free(struct att_crl *c)
{
    X509_CRL_free(c->crl);
    c->crl = NULL;
}

int att_crl_check_issuer(const struct att_crl *c, X509 *issuer)
{
    char cn[128];
    att_cert_cn(issuer, cn, sizeof(cn));
    ENSURE(X509_NAME_cmp(X509_CRL_get_issuer(c->crl), X509_get_subject_name(issuer)) == 0,
           ERR_ATT_MISMATCH, "the CRL is not issued by \"%s\"", cn);
    int ok = X509_CRL_verify(c->crl, X509_get0_pubkey(issuer));
    ERR_clear_error();
    ENSURE(ok == 1, ERR_BAD_SIGNATURE, "the CRL's signature does not verify with the key of \"%s\"",
           cn);
    return 0;
}

int att_crl_check_time(const struct att_crl *c, int64_t t, const char *what)
{
    return att_check_window(c->this_update, c->next_update, t, what);
}

int att_crl_check_cert(const struct att_crl *c, X509 *x, const char *what)
{
    X509_REVOKED *rev = NULL;
    int found = X509_CRL_get0_by_serial(c->crl, &rev, X509_get0_serialNumber(x));
    ENSURE(found != 1, ERR_REVOKED, "%s is revoked", what);
    return 0;
}

/* PCK chains ----------------------------------------------------------------------------------- */

static void pck_destroy(struct att_obj *o)
{
    struct att_pck *p = (struct att_pck *)o;
    att_path_free(&p->path);
    crypto_key_free(p->leaf_key);
    free(p);
}

/* The SGX extension of the leaf: exactly one, parsed. */
static int pck_extension(X509 *leaf, struct att_pck_ext *ext)
{
    ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    ENSURE(oid != NULL, ERR_CRYPTO, "cannot build the SGX extension OID");
    int i = X509_get_ext_by_OBJ(leaf, oid, -1);
    int again = i >= 0 ? X509_get_ext_by_OBJ(leaf, oid, i) : -1;
    ASN1_OBJECT_free(oid);
    ENSURE(i >= 0, ERR_CERT, "the PCK certificate has no SGX extension");
    ENSURE(again < 0, ERR_CERT, "the PCK certificate has two SGX extensions");
    ASN1_OCTET_STRING *data = X509_EXTENSION_get_data(X509_get_ext(leaf, i));
    return att_pck_ext_parse(view_of(ASN1_STRING_get0_data(data), (size_t)ASN1_STRING_length(data)),
                             ext);
}

int att_pck_new(struct view cert_data, const struct att_roots *roots, struct att_pck **out,
                enum att_step *step)
{
    static const char *const roles[] = {"SGX PCK Certificate", "SGX PCK ", "SGX Root CA"};
    int r = ERR_INTERNAL;
    X509 *certs[QY_ATT_CHAIN_MAX_CERTS] = {NULL};
    size_t n = 0;
    *out = NULL;
    *step = ATT_STEP_PCK_CHAIN;
    struct att_pck *p = calloc(1, sizeof(*p));
    ENSURE(p != NULL, ERR_NOMEM, "cannot allocate a PCK chain");
    att_obj_init(&p->obj, pck_destroy);
    r = att_certs_parse(cert_data, ATT_CERTS_STRICT, certs, QY_ARRAY_LEN(certs), &n);
    ENSURE_OUT(r == 0, ERR_CERT, "PCK chain: %s", err_detail(r));
    TRY_OUT(att_path_build(certs, n, 3, roles, roots, &p->path));
    char ca[128];
    att_cert_cn(p->path.certs[1], ca, sizeof(ca));
    if (strstr(ca, "Processor CA") != NULL)
        p->ca = ATT_PCK_CA_PROCESSOR;
    else if (strstr(ca, "Platform CA") != NULL)
        p->ca = ATT_PCK_CA_PLATFORM;
    else
        FAIL_OUT(ERR_ATT_UNTRUSTED, "the PCK CA \"%s\" is neither a Processor nor a Platform CA",
                 ca);
    TRY_OUT(crypto_key_wrap_evp(X509_get0_pubkey(p->path.certs[0]), &p->leaf_key));
    ENSURE_OUT(crypto_key_type(p->leaf_key) == CRYPTO_KEY_EC_P256, ERR_CERT,
               "the PCK key is not P-256");
    unsigned char *d = NULL;
    int len = i2d_X509(p->path.certs[1], &d);
    ENSURE_OUT(len > 0, ERR_CRYPTO, "cannot encode the PCK CA");
    r = crypto_sha256(&(struct view){d, (size_t)len}, 1, p->ca_hash);
    OPENSSL_free(d);
    TRY_OUT(r);
    *step = ATT_STEP_PCK_EXTENSION;
    TRY_OUT(pck_extension(p->path.certs[0], &p->ext));
    *step = ATT_STEP_NONE;
    *out = p;
    p = NULL;
    r = 0;
out:
    if (p != NULL)
        att_obj_unref(&p->obj);
    return r;
}
