/* pki: marble CSRs and the certificates issued from them (DESIGN.md, Activation; reference §7.3).
 */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <string.h>

#include "pki/pki.h"
#include "qt.h"
#include "qt_ossl.h"

static const char uuid[] = "f0e1d2c3-b4a5-4697-8899-aabbccddeeff";

static struct pki_ca *shared_ca;

static void setup(void)
{
    cr_assert_eq(pki_ca_generate(NULL, &shared_ca), 0);
}

static void teardown(void)
{
    pki_ca_free(shared_ca);
}

static X509 *parse(struct view der)
{
    const unsigned char *p = der.ptr;
    X509 *x = d2i_X509(NULL, &p, (long)der.size);
    cr_assert_not_null(x);
    return x;
}

static void make_csr(enum crypto_key_type t, unsigned bits, const char *const *names, size_t n,
                     struct crypto_key **key, struct buf *der)
{
    cr_assert_eq(crypto_key_generate(t, bits, key), 0);
    int r = pki_csr_build(*key, names, n, der);
    cr_assert_eq(r, 0, "%s", err_detail(r));
}

TestSuite(csr, .init = setup, .fini = teardown);

Test(csr, parses_key_and_sans)
{
    const char *names[] = {"localhost", "*.foobar.net", "*.example.org", "10.0.0.1"};
    struct crypto_key *k = NULL;
    struct buf der = BUF_INIT;
    struct pki_csr *c = NULL;
    make_csr(CRYPTO_KEY_EC_P256, 0, names, 4, &k, &der);
    int r = pki_csr_parse(buf_view(&der), &c);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    cr_assert(crypto_key_public_eq(pki_csr_key(c), k));
    cr_assert_not(crypto_key_has_private(pki_csr_key(c)));
    const struct pki_sans *s = pki_csr_sans(c);
    cr_assert_eq(s->dns_count, 3);
    cr_assert_str_eq(s->dns[0], "localhost");
    cr_assert_str_eq(s->dns[1], "*.foobar.net");
    cr_assert_str_eq(s->dns[2], "*.example.org");
    cr_assert_eq(s->ip_count, 3);
    cr_assert_str_eq(s->ips[0], "127.0.0.1");
    cr_assert_str_eq(s->ips[1], "::1");
    cr_assert_str_eq(s->ips[2], "10.0.0.1");
    pki_csr_free(c);
    crypto_key_free(k);
    buf_free(&der);
}

Test(csr, marble_certificate_fields)
{
    const char *names[] = {"localhost", "*.foobar.net", "*.example.org"};
    struct crypto_key *k = NULL;
    struct buf der = BUF_INIT, leaf = BUF_INIT, out = BUF_INIT;
    struct pki_csr *c = NULL;
    make_csr(CRYPTO_KEY_EC_P256, 0, names, 3, &k, &der);
    cr_assert_eq(pki_csr_parse(buf_view(&der), &c), 0);
    int r = pki_issue_marble_cert(shared_ca, c, uuid, "backendFirst", 0, &leaf);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    X509 *x = parse(buf_view(&leaf)), *in = parse(pki_ca_intermediate_der(shared_ca));
    char cn[256];
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    cr_assert_str_eq(cn, uuid);
    cr_assert_eq(X509_NAME_entry_count(X509_get_subject_name(x)), 1);
    X509_NAME_get_text_by_NID(X509_get_issuer_name(x), NID_commonName, cn, sizeof(cn));
    cr_assert_str_eq(cn, "MarbleRun Coordinator - Intermediate CA");
    /* the CSR's own key is certified */
    struct crypto_key *pub = NULL;
    cr_assert_eq(pki_cert_public_key(buf_view(&leaf), &pub), 0);
    cr_assert(crypto_key_public_eq(pub, k));
    crypto_key_free(pub);
    /* key usage, EKU, not a CA, AKID = intermediate SKID */
    cr_assert_eq(X509_check_ca(x), 0);
    cr_assert_eq(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT);
    cr_assert_eq(X509_get_extended_key_usage(x), XKU_SSL_SERVER | XKU_SSL_CLIENT);
    const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(x),
                            *skid = X509_get0_subject_key_id(in);
    cr_assert(akid != NULL && skid != NULL && ASN1_OCTET_STRING_cmp(akid, skid) == 0);
    /* the marble type extension: OID 1.3.9903.2.1, non-critical, extnValue = raw type bytes */
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.9903.2.1", 1);
    int at = X509_get_ext_by_OBJ(x, oid, -1);
    cr_assert_geq(at, 0);
    X509_EXTENSION *e = X509_get_ext(x, at);
    cr_assert_eq(X509_EXTENSION_get_critical(e), 0);
    ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(e);
    cr_assert_eq(ASN1_STRING_length(v), 12);
    cr_assert_eq(memcmp(ASN1_STRING_get0_data(v), "backendFirst", 12), 0);
    ASN1_OBJECT_free(oid);
    /* SANs exactly as requested */
    GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    cr_assert_eq(sk_GENERAL_NAME_num(g), 5);
    const char *want_dns[] = {"localhost", "*.foobar.net", "*.example.org"};
    for (int i = 0; i < 3; i++) {
        GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
        cr_assert_eq(n->type, GEN_DNS);
        cr_assert_str_eq((const char *)ASN1_STRING_get0_data(n->d.dNSName), want_dns[i]);
    }
    cr_assert_eq(sk_GENERAL_NAME_value(g, 3)->type, GEN_IPADD);
    cr_assert_eq(ASN1_STRING_length(sk_GENERAL_NAME_value(g, 4)->d.iPAddress), 16);
    GENERAL_NAMES_free(g);
    /* chain = leaf + intermediate verifies with the root; the leaf with the marble root alone */
    cr_assert(qt_openssl_verify(pki_ca_root_der(shared_ca), pki_ca_intermediate_der(shared_ca),
                                buf_view(&leaf), false, &out),
              "%s", out.ptr);
    cr_assert(qt_openssl_verify(pki_ca_marble_root_der(shared_ca), VIEW_EMPTY, buf_view(&leaf),
                                false, NULL));
    cr_assert(qt_openssl_verify(pki_ca_intermediate_der(shared_ca), VIEW_EMPTY, buf_view(&leaf),
                                true, NULL));
    X509_free(x), X509_free(in);
    pki_csr_free(c);
    crypto_key_free(k);
    buf_free(&der), buf_free(&leaf), buf_free(&out);
}

Test(csr, supported_key_types)
{
    struct {
        enum crypto_key_type t;
        unsigned bits;
    } ok[] = {{CRYPTO_KEY_EC_P384, 0},
              {CRYPTO_KEY_EC_P521, 0},
              {CRYPTO_KEY_ED25519, 0},
              {CRYPTO_KEY_RSA, 2048}};
    for (size_t i = 0; i < QY_ARRAY_LEN(ok); i++) {
        struct crypto_key *k = NULL;
        struct buf der = BUF_INIT, leaf = BUF_INIT;
        struct pki_csr *c = NULL;
        make_csr(ok[i].t, ok[i].bits, NULL, 0, &k, &der);
        int r = pki_csr_parse(buf_view(&der), &c);
        cr_assert_eq(r, 0, "type %d: %s", ok[i].t, err_detail(r));
        cr_assert_eq(pki_issue_marble_cert(shared_ca, c, uuid, "m", 0, &leaf), 0);
        cr_assert(qt_openssl_verify(pki_ca_marble_root_der(shared_ca), VIEW_EMPTY, buf_view(&leaf),
                                    false, NULL));
        pki_csr_free(c);
        crypto_key_free(k);
        buf_free(&der), buf_free(&leaf);
    }
}

Test(csr, unsupported_key_types_are_clear_errors)
{
    struct pki_csr *c = NULL;
    struct crypto_key *k = NULL;
    struct buf der = BUF_INIT;
    make_csr(CRYPTO_KEY_EC_P224, 0, NULL, 0, &k, &der);
    cr_assert_eq(pki_csr_parse(buf_view(&der), &c), ERR_UNSUPPORTED);
    cr_assert(strstr(err_detail(ERR_UNSUPPORTED),
                     "CSR key type is not supported (id-ecPublicKey on P-224)") != NULL,
              "%s", err_detail(ERR_UNSUPPORTED));
    crypto_key_free(k);
    buf_reset(&der);
    make_csr(CRYPTO_KEY_RSA, 1024, NULL, 0, &k, &der);
    cr_assert_eq(pki_csr_parse(buf_view(&der), &c), ERR_UNSUPPORTED);
    cr_assert(strstr(err_detail(ERR_UNSUPPORTED), "CSR key is RSA-1024") != NULL, "%s",
              err_detail(ERR_UNSUPPORTED));
    crypto_key_free(k);
    buf_reset(&der);
    /* secp256k1, built directly with OpenSSL (our builder refuses unknown curves) */
    EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    cr_assert_not_null(p);
    X509_REQ *req = X509_REQ_new();
    X509_REQ_set_pubkey(req, p);
    cr_assert(X509_REQ_sign(req, p, EVP_sha256()) > 0);
    unsigned char *enc = NULL;
    int len = i2d_X509_REQ(req, &enc);
    cr_assert_eq(pki_csr_parse(view_of(enc, (size_t)len), &c), ERR_UNSUPPORTED);
    cr_assert(strstr(err_detail(ERR_UNSUPPORTED), "not supported") != NULL);
    OPENSSL_free(enc);
    X509_REQ_free(req);
    EVP_PKEY_free(p);
    cr_assert_null(c);
    buf_free(&der);
}

Test(csr, bad_signatures_are_clear_errors)
{
    struct pki_csr *c = NULL;
    struct crypto_key *k = NULL, *other = NULL;
    struct buf der = BUF_INIT;
    make_csr(CRYPTO_KEY_EC_P256, 0, NULL, 0, &k, &der);
    /* a flipped bit in the signature value (the last byte of s) */
    size_t at = der.size - 1;
    der.ptr[at] ^= 0x01;
    cr_assert_eq(pki_csr_parse(buf_view(&der), &c), ERR_BAD_SIGNATURE);
    der.ptr[at] ^= 0x01;
    /* a well-formed request for one key signed by another */
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &other), 0);
    X509_REQ *req = X509_REQ_new();
    X509_REQ_set_pubkey(req, crypto_key_evp(k));
    cr_assert(X509_REQ_sign(req, crypto_key_evp(other), EVP_sha256()) > 0);
    unsigned char *enc = NULL;
    int len = i2d_X509_REQ(req, &enc);
    cr_assert_eq(pki_csr_parse(view_of(enc, (size_t)len), &c), ERR_BAD_SIGNATURE);
    cr_assert(strstr(err_detail(ERR_BAD_SIGNATURE), "signature over CSR is invalid") != NULL);
    OPENSSL_free(enc);
    X509_REQ_free(req);
    /* the original still parses */
    cr_assert_eq(pki_csr_parse(buf_view(&der), &c), 0);
    pki_csr_free(c);
    crypto_key_free(k);
    crypto_key_free(other);
    buf_free(&der);
}

Test(csr, oversized_and_malformed_san_lists_are_clear_errors)
{
    char storage[70][32];
    const char *names[70];
    for (int i = 0; i < 63; i++) {
        snprintf(storage[i], sizeof(storage[i]), "host%d.example", i);
        names[i] = storage[i];
    }
    struct pki_csr *c = NULL;
    struct crypto_key *k = NULL;
    struct buf der = BUF_INIT;
    make_csr(CRYPTO_KEY_EC_P256, 0, names, 62, &k, &der); /* 62 + 2 loopback = 64: the limit */
    cr_assert_eq(pki_csr_parse(buf_view(&der), &c), 0);
    pki_csr_free(c);
    c = NULL;
    buf_reset(&der);
    cr_assert_eq(pki_csr_build(k, names, 63, &der), 0);
    cr_assert_eq(pki_csr_parse(buf_view(&der), &c), ERR_CSR);
    cr_assert_str_eq(err_detail(ERR_CSR), "the CSR requests 65 SANs, the limit is 64");
    char long_name[300];
    memset(long_name, 'a', 254);
    long_name[254] = '\0';
    const char *bad[][1] = {{long_name}, {"a b.example"}, {"caf\xc3\xa9.example"}};
    const char *why[] = {"DNS name of 254 bytes", "invalid character at offset 1", NULL};
    for (int i = 0; i < 2; i++) {
        buf_reset(&der);
        cr_assert_eq(pki_csr_build(k, bad[i], 1, &der), 0);
        cr_assert_eq(pki_csr_parse(buf_view(&der), &c), ERR_CSR, "%d", i);
        cr_assert(strstr(err_detail(ERR_CSR), why[i]) != NULL, "%s", err_detail(ERR_CSR));
    }
    buf_reset(&der);
    cr_assert_eq(pki_csr_build(k, bad[2], 1, &der), ERR_CERT); /* we refuse to build it too */
    cr_assert_null(c);
    crypto_key_free(k);
    buf_free(&der);
}

Test(csr, malformed_input_never_crashes)
{
    struct crypto_key *k = NULL;
    struct buf der = BUF_INIT, more = BUF_INIT;
    struct pki_csr *c = NULL;
    make_csr(CRYPTO_KEY_EC_P256, 0, NULL, 0, &k, &der);
    cr_assert_eq(pki_csr_parse(VIEW_EMPTY, &c), ERR_CSR);
    cr_assert_eq(pki_csr_parse(view_str("not a csr"), &c), ERR_CSR);
    cr_assert_eq(buf_set(&more, buf_view(&der)), 0);
    cr_assert_eq(buf_append_byte(&more, 0), 0);
    cr_assert_eq(pki_csr_parse(buf_view(&more), &c), ERR_CSR);
    cr_assert_str_eq(err_detail(ERR_CSR), "trailing bytes after the CSR");
    for (size_t n = 0; n < der.size; n++)
        cr_assert_lt(pki_csr_parse(view_of(der.ptr, n), &c), 0, "length %zu", n);
    for (size_t i = 0; i < der.size; i++) {
        der.ptr[i] ^= 0xff;
        int r = pki_csr_parse(buf_view(&der), &c);
        der.ptr[i] ^= 0xff;
        cr_assert_neq(r, 0, "flipped byte %zu still parses", i);
    }
    cr_assert_null(c);
    crypto_key_free(k);
    buf_free(&der), buf_free(&more);
}

/* pki_csr_parse_with: the caller's key stands in for the CSR's only when the SubjectPublicKeyInfo
 * bytes are the same, and the CSR's signature is still checked with it. */
Test(csr, a_known_key_is_used_only_for_the_same_bytes_and_still_checked)
{
    struct crypto_key *k = NULL, *other = NULL;
    struct buf der = BUF_INIT, spki = BUF_INIT, other_spki = BUF_INIT;
    struct pki_csr *c = NULL;
    make_csr(CRYPTO_KEY_EC_P256, 0, NULL, 0, &k, &der);
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &other), 0);
    cr_assert_eq(crypto_key_public_der(k, &spki), 0);
    cr_assert_eq(crypto_key_public_der(other, &other_spki), 0);

    cr_assert_eq(pki_csr_parse_with(buf_view(&der), k, &c), 0);
    cr_assert_eq(pki_csr_key(c), k, "the same bytes: the caller's key, not decoded again");
    cr_assert(view_eq(pki_csr_spki_der(c), buf_view(&spki)));
    pki_csr_free(c);

    cr_assert_eq(pki_csr_parse_with(buf_view(&der), other, &c), 0);
    cr_assert_neq(pki_csr_key(c), other);
    cr_assert(crypto_key_public_eq(pki_csr_key(c), k), "another key: the CSR's own, decoded");
    cr_assert(view_eq(pki_csr_spki_der(c), buf_view(&spki)));
    cr_assert_not(view_eq(pki_csr_spki_der(c), buf_view(&other_spki)));
    pki_csr_free(c);
    c = NULL;

    /* k's SubjectPublicKeyInfo signed by another key: refused although k is the known key */
    X509_REQ *req = X509_REQ_new();
    X509_REQ_set_pubkey(req, crypto_key_evp(k));
    cr_assert(X509_REQ_sign(req, crypto_key_evp(other), EVP_sha256()) > 0);
    unsigned char *enc = NULL;
    int len = i2d_X509_REQ(req, &enc);
    cr_assert_eq(pki_csr_parse_with(view_of(enc, (size_t)len), k, &c), ERR_BAD_SIGNATURE);
    cr_assert_null(c);
    OPENSSL_free(enc);
    X509_REQ_free(req);
    crypto_key_free(k), crypto_key_free(other);
    buf_free(&der), buf_free(&spki), buf_free(&other_spki);
}

/* Replaces the first occurrence of `from` in der by `to` (same length). */
static void patch(struct buf *der, const char *from, const char *to, size_t n)
{
    uint8_t *at = memmem(der->ptr, der->size, from, n);
    cr_assert_not_null(at, "pattern not found");
    memcpy(at, to, n);
}

Test(csr, malformed_request_info_is_a_clear_error)
{
    struct crypto_key *k = NULL;
    struct buf der = BUF_INIT, copy = BUF_INIT;
    struct pki_csr *c = NULL;
    make_csr(CRYPTO_KEY_EC_P256, 0, NULL, 0, &k, &der);
    cr_assert_eq(buf_set(&copy, buf_view(&der)), 0);
    patch(&copy, "\x02\x01\x00", "\x02\x01\x01", 3); /* version 2 */
    cr_assert_eq(pki_csr_parse(buf_view(&copy), &c), ERR_CSR);
    cr_assert_str_eq(err_detail(ERR_CSR), "the CSR is not a version 1 request");
    cr_assert_eq(buf_set(&copy, buf_view(&der)), 0);
    patch(&copy, "\x03\x42\x00\x04", "\x03\x42\x01\x04", 4); /* one unused bit in the key */
    cr_assert_eq(pki_csr_parse(buf_view(&copy), &c), ERR_CSR);
    cr_assert_str_eq(err_detail(ERR_CSR), "the CSR's public key is not a whole number of bytes");
    /* an extension request that is a string, not a list of extensions */
    X509_REQ *req = X509_REQ_new();
    X509_REQ_set_pubkey(req, crypto_key_evp(k));
    cr_assert_eq(X509_REQ_add1_attr_by_NID(req, NID_ext_req, V_ASN1_UTF8STRING, (const unsigned char *)"x", 1), 1);
    cr_assert(X509_REQ_sign(req, crypto_key_evp(k), EVP_sha256()) > 0);
    unsigned char *enc = NULL;
    int len = i2d_X509_REQ(req, &enc);
    cr_assert_eq(pki_csr_parse(view_of(enc, (size_t)len), &c), ERR_CSR);
    cr_assert_str_eq(err_detail(ERR_CSR), "the CSR's extension request is not a list of extensions");
    cr_assert_null(c);
    OPENSSL_free(enc);
    X509_REQ_free(req);
    crypto_key_free(k);
    buf_free(&der), buf_free(&copy);
}

Test(csr, marble_cert_argument_checks)
{
    struct crypto_key *k = NULL;
    struct buf der = BUF_INIT, leaf = BUF_INIT;
    struct pki_csr *c = NULL;
    make_csr(CRYPTO_KEY_EC_P256, 0, NULL, 0, &k, &der);
    cr_assert_eq(pki_csr_parse(buf_view(&der), &c), 0);
    cr_assert_eq(
        pki_issue_marble_cert(shared_ca, c, "F0E1D2C3-B4A5-4697-8899-AABBCCDDEEFF", "m", 0, &leaf),
        ERR_INVALID_ARG);
    cr_assert_eq(pki_issue_marble_cert(shared_ca, c, uuid, "", 0, &leaf), ERR_INVALID_ARG);
    cr_assert(uuid_is_canonical(uuid));
    cr_assert_not(uuid_is_canonical("f0e1d2c3b4a546978899aabbccddeeff"));
    cr_assert_not(uuid_is_canonical("f0e1d2c3-b4a5-4697-8899-aabbccddeefg"));
    cr_assert_eq(leaf.size, 0);
    pki_csr_free(c);
    crypto_key_free(k);
    buf_free(&der);
}

/* Issuance from many threads on one CA handle, no lock. */
struct worker {
    struct pki_csr *csr;
    int issued;
};

static void *issue_many(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 25; i++) {
        struct buf leaf = BUF_INIT;
        if (pki_issue_marble_cert(shared_ca, w->csr, uuid, "concurrent", 0, &leaf) == 0) {
            const unsigned char *p = leaf.ptr;
            X509 *x = d2i_X509(NULL, &p, (long)leaf.size);
            const unsigned char *q = pki_ca_intermediate_der(shared_ca).ptr;
            X509 *in = d2i_X509(NULL, &q, (long)pki_ca_intermediate_der(shared_ca).size);
            if (x && in && X509_verify(x, X509_get0_pubkey(in)) == 1)
                w->issued++;
            X509_free(x);
            X509_free(in);
        }
        buf_free(&leaf);
    }
    return NULL;
}

Test(csr, concurrent_issuance_on_one_handle)
{
    enum { N = 4 };
    struct worker w[N];
    pthread_t t[N];
    struct crypto_key *keys[N];
    for (int i = 0; i < N; i++) {
        struct buf der = BUF_INIT;
        make_csr(CRYPTO_KEY_EC_P256, 0, NULL, 0, &keys[i], &der);
        w[i].issued = 0;
        cr_assert_eq(pki_csr_parse(buf_view(&der), &w[i].csr), 0);
        buf_free(&der);
    }
    for (int i = 0; i < N; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, issue_many, &w[i]), 0);
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].issued, 25);
        pki_csr_free(w[i].csr);
        crypto_key_free(keys[i]);
    }
}

Test(csr, bootstrap_certificate_as_marbleruns_premain)
{
    struct crypto_key *k = NULL;
    struct buf der = BUF_INIT, text = BUF_INIT;
    const char *names[] = {"web", "10.1.1.1"};
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k), 0);
    cr_assert_eq(pki_bootstrap_cert(k, names, 2, 0, &der), 0);
    cr_assert(qt_openssl_verify(buf_view(&der), VIEW_EMPTY, buf_view(&der), false, NULL));
    qt_openssl_text(buf_view(&der), &text);
    const char *want[] = {
        "Subject: CN = MarbleRun Marble", "Issuer: CN = MarbleRun Marble",
        "DNS:web, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.1.1.1",
        "Digital Signature, Key Agreement", "CA:FALSE"};
    for (size_t i = 0; i < QY_ARRAY_LEN(want); i++)
        cr_assert(strstr((char *)text.ptr, want[i]) != NULL, "missing %s in\n%s", want[i],
                  text.ptr);
    struct crypto_key *pub = NULL;
    cr_assert_eq(pki_cert_public_key(buf_view(&der), &pub), 0);
    cr_assert(crypto_key_public_eq(pub, k));
    crypto_key_free(pub);
    crypto_key_free(k);
    buf_free(&der), buf_free(&text);
}
