/* secrets: generation at manifest set and at activation; HKDF checked against `openssl kdf`;
 * certificates checked with OpenSSL's parser and `openssl verify`. */
#include <criterion/criterion.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "qt.h"
#include "qt_ossl.h"
#include "secrets/secrets.h"

static struct pki_ca *ca;

static void setup(void)
{
    cr_assert_eq(pki_ca_generate(NULL, &ca), 0);
}

static void teardown(void)
{
    pki_ca_free(ca);
}

TestSuite(generate, .init = setup, .fini = teardown);
TestSuite(marble, .init = setup, .fini = teardown);
TestSuite(hkdf);

static struct manifest *load_text(const char *text)
{
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    int r = manifest_load(view_str(text), MF_FORMAT_JSON, NULL, 0, &d, &m);
    if (r != 0)
        qt_diag_dump(&d);
    cr_assert_eq(r, 0);
    diag_free(&d);
    return m;
}

static struct manifest *load_base(void)
{
    json_t *j = qt_manifest_json("base.json");
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    cr_assert_eq(qt_load_json(j, &d, &m), 0);
    json_decref(j);
    diag_free(&d);
    return m;
}

static X509 *parse(struct view der)
{
    const unsigned char *p = der.ptr;
    X509 *x = d2i_X509(NULL, &p, (long)der.size);
    cr_assert_not_null(x);
    return x;
}

static void check_cert_secret(const struct sec_value *v, enum crypto_key_type t)
{
    cr_assert_gt(v->cert.size, 0, "%s", v->name);
    struct crypto_key *priv = NULL, *pub = NULL, *cpub = NULL;
    cr_assert_eq(crypto_key_from_private_der(buf_view(&v->private_key), &priv), 0);
    cr_assert_eq(crypto_key_from_public_der(buf_view(&v->public_key), &pub), 0);
    cr_assert_eq(pki_cert_public_key(buf_view(&v->cert), &cpub), 0);
    cr_assert_eq(crypto_key_type(priv), t, "%s", v->name);
    cr_assert(crypto_key_public_eq(priv, pub) && crypto_key_public_eq(pub, cpub));
    struct buf out = BUF_INIT;
    cr_assert(qt_openssl_verify(pki_ca_root_der(ca), pki_ca_intermediate_der(ca),
                                buf_view(&v->cert), false, &out),
              "%s: %s", v->name, out.ptr);
    buf_reset(&out);
    cr_assert(
        qt_openssl_verify(pki_ca_marble_root_der(ca), VIEW_EMPTY, buf_view(&v->cert), false, &out),
        "%s: %s", v->name, out.ptr);
    buf_free(&out);
    crypto_key_free(priv), crypto_key_free(pub), crypto_key_free(cpub);
}

static int64_t window_seconds(X509 *x)
{
    int days = 0, secs = 0;
    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x));
    return (int64_t)days * 86400 + secs;
}

Test(generate, shared_secrets_of_the_base_manifest)
{
    struct manifest *m = load_base();
    struct sec_gen g = {.ca = ca};
    struct sec_set s = SEC_SET_INIT;
    int r = sec_generate_shared(m, &g, NULL, 0, &s);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    cr_assert_eq(s.count, m->secrets.count);
    for (size_t i = 1; i < s.count; i++)
        cr_assert_lt(strcmp(s.items[i - 1].name, s.items[i].name), 0);
    const struct sec_value *k = sec_set_find(&s, "symmetricKeyShared");
    cr_assert(k != NULL && k->shared && k->private_key.size == 16 && k->cert.size == 0);
    cr_assert(view_eq(buf_view(&k->private_key), buf_view(&k->public_key)));
    const struct sec_value *c = sec_set_find(&s, "certShared");
    check_cert_secret(c, CRYPTO_KEY_ED25519);
    cr_assert_eq(c->valid_for, 7);
    X509 *x = parse(buf_view(&c->cert));
    cr_assert_eq(window_seconds(x), 168 * 3600, "ValidFor 7 is a 168 h window");
    char cn[256];
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    cr_assert_str_eq(cn, "Quarry Unit Test");
    X509_NAME_get_text_by_NID(X509_get_issuer_name(x), NID_commonName, cn, sizeof(cn));
    cr_assert_str_eq(cn, "MarbleRun Coordinator - Intermediate CA");
    cr_assert_eq(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN);
    cr_assert_eq(X509_get_extended_key_usage(x), XKU_SSL_SERVER | XKU_SSL_CLIENT);
    cr_assert_eq(X509_check_ca(x), 0);
    X509_free(x);
    /* per-marble and user-defined secrets: definitions only */
    const char *empty[] = {"symmetricKeyPrivate", "certPrivate", "symmetricKeyUnset", "certUnset",
                           "genericSecret"};
    for (size_t i = 0; i < QY_ARRAY_LEN(empty); i++) {
        const struct sec_value *v = sec_set_find(&s, empty[i]);
        cr_assert(v != NULL && v->cert.size == 0 && v->private_key.size == 0 &&
                      v->public_key.size == 0,
                  "%s", empty[i]);
    }
    cr_assert(sec_set_find(&s, "symmetricKeyUnset")->user_defined);
    cr_assert_eq(sec_set_find(&s, "symmetricKeyUnset")->size, 128);
    sec_set_free(&s);
    manifest_free(m);
}

Test(generate, cert_template_defaults_and_fields)
{
    struct manifest *m =
        load_text("{\"Packages\":{\"p\":{\"Debug\":true}},\"Marbles\":{\"m\":{\"Package\":\"p\"}},"
                  "\"Secrets\":{"
                  "\"plain\":{\"Type\":\"cert-ecdsa\",\"Size\":256,\"Shared\":true},"
                  "\"two\":{\"Type\":\"cert-ecdsa\",\"Size\":256,\"Shared\":true,\"Cert\":{"
                  "\"DNSNames\":[\"a.example\",\"b.example\"]}},"
                  "\"until\":{\"Type\":\"cert-ecdsa\",\"Size\":384,\"Shared\":true,\"Cert\":{"
                  "\"NotAfter\":\"2300-01-02T03:04:05Z\"}},"
                  "\"full\":{\"Type\":\"cert-rsa\",\"Size\":2048,\"Shared\":true,\"Cert\":{"
                  "\"Subject\":{\"Country\":[\"DE\"],"
                  "\"Organization\":[\"Quarry\"],\"CommonName\":\"full\"},\"DNSNames\":[\"x."
                  "example\"],\"IPAddresses\":[\"10.0.0.9\"],"
                  "\"EmailAddresses\":[\"a@b.example\"],\"URIs\":[\"https://x.example/"
                  "p\"],\"KeyUsage\":5,\"ExtKeyUsage\":[3],"
                  "\"IsCA\":true,\"MaxPathLen\":2}}}}");
    struct sec_gen g = {.ca = ca, .now = qtime_now()};
    struct sec_set s = SEC_SET_INIT;
    int r = sec_generate_shared(m, &g, NULL, 0, &s);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    struct buf text = BUF_INIT;
    /* defaults: CN = the single default DNS name, loopback IPs, 365 days */
    const struct sec_value *v = sec_set_find(&s, "plain");
    check_cert_secret(v, CRYPTO_KEY_EC_P256);
    cr_assert_eq(v->valid_for, 365);
    qt_openssl_text(buf_view(&v->cert), &text);
    const char *want1[] = {"Subject: CN = localhost",
                           "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
                           "Digital Signature, Certificate Sign",
                           "TLS Web Server Authentication, TLS Web Client Authentication",
                           "CA:FALSE"};
    for (size_t i = 0; i < QY_ARRAY_LEN(want1); i++)
        cr_assert(strstr((char *)text.ptr, want1[i]) != NULL, "missing %s in\n%s", want1[i],
                  text.ptr);
    X509 *x = parse(buf_view(&v->cert));
    cr_assert_eq(window_seconds(x), 365 * 86400);
    X509_free(x);
    /* two DNS names: the generic CN */
    buf_reset(&text);
    qt_openssl_text(buf_view(&sec_set_find(&s, "two")->cert), &text);
    cr_assert(strstr((char *)text.ptr, "Subject: CN = MarbleRun Generated Certificate") != NULL,
              "%s", text.ptr);
    /* NotAfter instead of ValidFor */
    v = sec_set_find(&s, "until");
    check_cert_secret(v, CRYPTO_KEY_EC_P384);
    cr_assert_eq(v->valid_for, 0);
    x = parse(buf_view(&v->cert));
    cr_assert_eq(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), qtime_from_civil(2300, 1, 2, 3, 4, 5)),
                 0);
    X509_free(x);
    /* every field as requested */
    v = sec_set_find(&s, "full");
    check_cert_secret(v, CRYPTO_KEY_RSA);
    buf_reset(&text);
    qt_openssl_text(buf_view(&v->cert), &text);
    const char *want2[] = {
        "Subject: C = DE, O = Quarry, CN = full",
        "Public-Key: (2048 bit)",
        "DNS:x.example, email:a@b.example, IP Address:10.0.0.9, URI:https://x.example/p",
        "Digital Signature, Key Encipherment",
        "Code Signing",
        "CA:TRUE, pathlen:2",
        "Issuer: CN = MarbleRun Coordinator - Intermediate CA"};
    for (size_t i = 0; i < QY_ARRAY_LEN(want2); i++)
        cr_assert(strstr((char *)text.ptr, want2[i]) != NULL, "missing %s in\n%s", want2[i],
                  text.ptr);
    buf_free(&text);
    sec_set_free(&s);
    manifest_free(m);
}

Test(generate, every_key_type_and_size)
{
    struct manifest *m =
        load_text("{\"Packages\":{\"p\":{\"Debug\":true}},\"Marbles\":{\"m\":{\"Package\":\"p\"}},"
                  "\"Secrets\":{"
                  "\"rsa\":{\"Type\":\"cert-rsa\",\"Size\":2048,\"Shared\":true},"
                  "\"e224\":{\"Type\":\"cert-ecdsa\",\"Size\":224,\"Shared\":true},"
                  "\"e256\":{\"Type\":\"cert-ecdsa\",\"Size\":256,\"Shared\":true},"
                  "\"e384\":{\"Type\":\"cert-ecdsa\",\"Size\":384,\"Shared\":true},"
                  "\"e521\":{\"Type\":\"cert-ecdsa\",\"Size\":521,\"Shared\":true},"
                  "\"ed\":{\"Type\":\"cert-ed25519\",\"Shared\":true},"
                  "\"k8\":{\"Type\":\"symmetric-key\",\"Size\":8,\"Shared\":true},"
                  "\"k4096\":{\"Type\":\"symmetric-key\",\"Size\":4096,\"Shared\":true},"
                  "\"txt\":{\"Type\":\"plain\",\"Shared\":true}}}");
    struct sec_gen g = {.ca = ca, .threads = 2};
    struct sec_set s = SEC_SET_INIT;
    int r = sec_generate_shared(m, &g, NULL, 0, &s);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    check_cert_secret(sec_set_find(&s, "rsa"), CRYPTO_KEY_RSA);
    check_cert_secret(sec_set_find(&s, "e224"), CRYPTO_KEY_EC_P224);
    check_cert_secret(sec_set_find(&s, "e256"), CRYPTO_KEY_EC_P256);
    check_cert_secret(sec_set_find(&s, "e384"), CRYPTO_KEY_EC_P384);
    check_cert_secret(sec_set_find(&s, "e521"), CRYPTO_KEY_EC_P521);
    check_cert_secret(sec_set_find(&s, "ed"), CRYPTO_KEY_ED25519);
    cr_assert_eq(sec_set_find(&s, "k8")->private_key.size, 1);
    cr_assert_eq(sec_set_find(&s, "k4096")->private_key.size, 512);
    cr_assert_eq(sec_set_find(&s, "txt")->private_key.size, 0);
    sec_set_free(&s);
    manifest_free(m);
}

Test(generate, size_errors_as_marblerun)
{
    struct {
        const char *secret;
        const char *detail;
    } cases[] = {
        {"{\"Type\":\"symmetric-key\",\"Size\":0,\"Shared\":true}",
         "invalid secret size: s (0 bits"},
        {"{\"Type\":\"symmetric-key\",\"Size\":12}", "invalid secret size: s (12 bits"},
        {"{\"Type\":\"cert-ed25519\",\"Size\":256,\"Shared\":true}",
         "invalid secret size for cert-ed25519 secret s: none is expected, got: 256"},
        {"{\"Type\":\"cert-ecdsa\",\"Size\":512,\"Shared\":true}",
         "unsupported size 512: does not map to a supported curve"},
        {"{\"Type\":\"cert-rsa\",\"Size\":0}", "invalid secret size for cert-rsa secret s: 0"},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(cases); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "{\"Packages\":{\"p\":{\"Debug\":true}},\"Marbles\":{\"m\":{\"Package\":\"p\"}},"
                 "\"Secrets\":{\"s\":%s}}",
                 cases[i].secret);
        struct diag d = DIAG_INIT;
        struct manifest *m = NULL;
        cr_assert_eq(manifest_parse(view_str(text), MF_FORMAT_JSON, &d, &m),
                     0); /* no checker: reach generation */
        struct sec_gen g = {.ca = ca};
        struct sec_set s = SEC_SET_INIT;
        int r = sec_generate_shared(m, &g, NULL, 0, &s);
        cr_assert_eq(r, ERR_SECRET, "%zu: %s", i, err_name(r));
        cr_assert(strstr(err_detail(r), cases[i].detail) != NULL, "%zu: %s", i, err_detail(r));
        cr_assert_eq(s.count, 0);
        manifest_free(m);
        diag_free(&d);
    }
}

Test(generate, keep_carries_over_only_what_it_should)
{
    struct manifest *m = load_base();
    struct sec_gen g = {.ca = ca};
    struct sec_set a = SEC_SET_INIT, b = SEC_SET_INIT, c = SEC_SET_INIT;
    cr_assert_eq(sec_generate_shared(m, &g, NULL, 0, &a), 0);
    /* an "uploaded" value */
    struct sec_value up = {.name = "genericSecret", .type = MF_SECRET_PLAIN, .user_defined = true};
    cr_assert_eq(buf_set(&up.private_key, view_str("hello")), 0);
    cr_assert_eq(buf_set(&up.public_key, view_str("hello")), 0);
    cr_assert_eq(sec_set_put(&a, &up), 0);
    buf_free(&up.private_key), buf_free(&up.public_key);
    cr_assert_eq(sec_generate_shared(m, &g, &a, SEC_KEEP_SYMMETRIC | SEC_KEEP_USER_DEFINED, &b), 0);
    cr_assert(view_eq(buf_view(&sec_set_find(&a, "symmetricKeyShared")->private_key),
                      buf_view(&sec_set_find(&b, "symmetricKeyShared")->private_key)));
    cr_assert(view_eq(buf_view(&sec_set_find(&b, "genericSecret")->public_key), view_str("hello")));
    cr_assert_not(view_eq(buf_view(&sec_set_find(&a, "certShared")->cert),
                          buf_view(&sec_set_find(&b, "certShared")->cert)));
    cr_assert_eq(sec_generate_shared(m, &g, &a, 0, &c), 0);
    cr_assert_not(view_eq(buf_view(&sec_set_find(&a, "symmetricKeyShared")->private_key),
                          buf_view(&sec_set_find(&c, "symmetricKeyShared")->private_key)));
    cr_assert_eq(sec_set_find(&c, "genericSecret")->public_key.size, 0);
    sec_set_free(&a), sec_set_free(&b), sec_set_free(&c);
    manifest_free(m);
}

/* HKDF against `openssl kdf` ---------------------------------------------------------------------
 */

static void openssl_hkdf(const uint8_t root[32], const char *uuid, const char *name,
                         const char *info, size_t len, struct buf *out)
{
    struct buf hroot = BUF_INIT, salt = BUF_INIT, hsalt = BUF_INIT, hinfo = BUF_INIT,
               text = BUF_INIT;
    cr_assert_eq(enc_hex(&hroot, view_of(root, 32)), 0);
    cr_assert_eq(buf_append_str(&salt, uuid), 0);
    cr_assert_eq(buf_append_str(&salt, name), 0);
    cr_assert_eq(enc_hex(&hsalt, buf_view(&salt)), 0);
    cr_assert_eq(enc_hex(&hinfo, view_str(info)), 0);
    cr_assert_eq(buf_terminate(&hroot), 0);
    cr_assert_eq(buf_terminate(&hsalt), 0);
    cr_assert_eq(buf_terminate(&hinfo), 0);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "openssl kdf -keylen %zu -kdfopt digest:SHA256 -kdfopt hexkey:%s -kdfopt hexsalt:%s "
             "%s%s HKDF",
             len, (char *)hroot.ptr, (char *)hsalt.ptr, info[0] ? "-kdfopt hexinfo:" : "",
             info[0] ? (char *)hinfo.ptr : "");
    cr_assert_eq(qt_run(cmd, &text), 0, "%s", cmd);
    for (size_t i = 0; i < text.size; i++) {
        char c = (char)text.ptr[i];
        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))
            cr_assert_eq(buf_append_byte(out, (uint8_t)(c >= 'A' ? c - 'A' + 'a' : c)), 0);
    }
    buf_free(&hroot), buf_free(&salt), buf_free(&hsalt), buf_free(&hinfo), buf_free(&text);
}

Test(hkdf, derivation_matches_openssl_kdf)
{
    uint8_t root[32];
    for (int i = 0; i < 32; i++)
        root[i] = (uint8_t)(i * 7 + 3);
    struct {
        const char *uuid, *name, *type;
        size_t len;
    } cases[] = {
        {"f0e1d2c3-b4a5-4697-8899-aabbccddeeff", "symmetricKeyPrivate", "frontend", 32},
        {"f0e1d2c3-b4a5-4697-8899-aabbccddeeff", "symmetricKeyPrivate", "",
         32}, /* DisableSecretBinding */
        {"00000000-0000-4000-8000-000000000000", "k", "backendFirst", 16},
        {"123e4567-e89b-42d3-a456-426614174000", "db-key/with:odd chars", "web", 64},
        {"123e4567-e89b-42d3-a456-426614174000", "db-key/with:odd chars", "", 1},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(cases); i++) {
        uint8_t ours[64];
        struct buf want = BUF_INIT, got = BUF_INIT;
        cr_assert_eq(
            sec_derive_key(root, cases[i].uuid, cases[i].name, cases[i].type, ours, cases[i].len),
            0);
        openssl_hkdf(root, cases[i].uuid, cases[i].name, cases[i].type, cases[i].len, &want);
        cr_assert_eq(enc_hex(&got, view_of(ours, cases[i].len)), 0);
        cr_assert(view_eq(buf_view(&got), buf_view(&want)), "case %zu: ours %.*s, openssl %.*s", i,
                  (int)got.size, got.ptr, (int)want.size, want.ptr);
        buf_free(&want), buf_free(&got);
    }
}

/* Per-marble secrets ------------------------------------------------------------------------------
 */

Test(marble, derivation_binding_and_fresh_certificates)
{
    struct manifest *m = load_base();
    uint8_t root[32], prev[32];
    memset(root, 0x11, 32);
    memset(prev, 0x22, 32);
    const char *uuid = "123e4567-e89b-42d3-a456-426614174000";
    struct sec_gen g = {.ca = ca, .threads = 1};
    struct sec_set cur = SEC_SET_INIT, old = SEC_SET_INIT, again = SEC_SET_INIT;
    /* frontend: bound to its type */
    struct sec_marble mb = {uuid, manifest_marble(m, "frontend"), root, prev};
    int r = sec_generate_marble(m, &g, &mb, &cur, &old);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    cr_assert_eq(cur.count, 2); /* symmetricKeyPrivate, certPrivate */
    const struct sec_value *k = sec_set_find(&cur, "symmetricKeyPrivate");
    uint8_t want[32];
    cr_assert_eq(sec_derive_key(root, uuid, "symmetricKeyPrivate", "frontend", want, 32), 0);
    cr_assert(view_eq(buf_view(&k->private_key), view_of(want, 32)));
    cr_assert(view_eq(buf_view(&k->public_key), view_of(want, 32)));
    cr_assert_eq(sec_derive_key(prev, uuid, "symmetricKeyPrivate", "frontend", want, 32), 0);
    cr_assert(view_eq(buf_view(&sec_set_find(&old, "symmetricKeyPrivate")->private_key),
                      view_of(want, 32)));
    const struct sec_value *c = sec_set_find(&cur, "certPrivate");
    check_cert_secret(c, CRYPTO_KEY_RSA);
    X509 *x = parse(buf_view(&c->cert));
    cr_assert_eq(window_seconds(x), 168 * 3600);
    X509_free(x);
    cr_assert(view_eq(buf_view(&c->cert), buf_view(&sec_set_find(&old, "certPrivate")->cert)));
    /* the same UUID again: the same key, a new certificate */
    cr_assert_eq(sec_generate_marble(m, &g, &mb, &again, NULL), 0);
    cr_assert(view_eq(buf_view(&sec_set_find(&again, "symmetricKeyPrivate")->private_key),
                      buf_view(&k->private_key)));
    cr_assert_not(
        view_eq(buf_view(&sec_set_find(&again, "certPrivate")->cert), buf_view(&c->cert)));
    /* DisableSecretBinding: backendFirst and backendOther share keys, derived with an empty info */
    struct sec_set a = SEC_SET_INIT, b = SEC_SET_INIT;
    struct sec_marble ma = {uuid, manifest_marble(m, "backendFirst"), root, NULL};
    struct sec_marble mo = {uuid, manifest_marble(m, "backendOther"), root, NULL};
    cr_assert_eq(sec_generate_marble(m, &g, &ma, &a, NULL), 0);
    cr_assert_eq(sec_generate_marble(m, &g, &mo, &b, NULL), 0);
    cr_assert(view_eq(buf_view(&sec_set_find(&a, "symmetricKeyPrivate")->private_key),
                      buf_view(&sec_set_find(&b, "symmetricKeyPrivate")->private_key)));
    cr_assert_not(view_eq(buf_view(&sec_set_find(&a, "symmetricKeyPrivate")->private_key),
                          buf_view(&k->private_key)));
    cr_assert_eq(sec_derive_key(root, uuid, "symmetricKeyPrivate", "", want, 32), 0);
    cr_assert(view_eq(buf_view(&sec_set_find(&a, "symmetricKeyPrivate")->private_key),
                      view_of(want, 32)));
    /* another UUID: another key */
    struct sec_set o = SEC_SET_INIT;
    struct sec_marble mu = {"223e4567-e89b-42d3-a456-426614174000", manifest_marble(m, "frontend"),
                            root, NULL};
    cr_assert_eq(sec_generate_marble(m, &g, &mu, &o, NULL), 0);
    cr_assert_not(view_eq(buf_view(&sec_set_find(&o, "symmetricKeyPrivate")->private_key),
                          buf_view(&k->private_key)));
    /* a non-canonical UUID is a caller bug */
    struct sec_marble bad = {"123E4567-E89B-42D3-A456-426614174000", manifest_marble(m, "frontend"),
                             root, NULL};
    cr_assert_eq(sec_generate_marble(m, &g, &bad, &o, NULL), ERR_INVALID_ARG);
    cr_assert_eq(o.count, 0);
    sec_set_free(&cur), sec_set_free(&old), sec_set_free(&again), sec_set_free(&a),
        sec_set_free(&b), sec_set_free(&o);
    manifest_free(m);
}

Test(marble, lookups_layer_per_marble_over_shared)
{
    struct manifest *m = load_base();
    uint8_t root[32] = {1};
    struct sec_gen g = {.ca = ca};
    struct sec_set shared = SEC_SET_INIT, mine = SEC_SET_INIT;
    cr_assert_eq(sec_generate_shared(m, &g, NULL, 0, &shared), 0);
    struct sec_marble mb = {"123e4567-e89b-42d3-a456-426614174000", manifest_marble(m, "frontend"),
                            root, NULL};
    cr_assert_eq(sec_generate_marble(m, &g, &mb, &mine, NULL), 0);
    const struct sec_set *layers[] = {&mine, &shared};
    cr_assert_eq(sec_find(layers, 2, "symmetricKeyPrivate"),
                 sec_set_find(&mine, "symmetricKeyPrivate"));
    cr_assert_eq(sec_find(layers, 2, "symmetricKeyShared"),
                 sec_set_find(&shared, "symmetricKeyShared"));
    cr_assert_null(sec_find(layers, 2, "nope"));
    sec_set_free(&shared), sec_set_free(&mine);
    manifest_free(m);
}

/* A key source (a pool the Coordinator may keep): its keys are used when they fit, ignored when
 * not. */
struct pool {
    struct crypto_key *key;
    int calls;
};

static int from_pool(void *ctx, enum crypto_key_type type, unsigned rsa_bits,
                     struct crypto_key **out)
{
    struct pool *p = ctx;
    (void)rsa_bits;
    p->calls++;
    *out = NULL;
    if (p->key == NULL || type == CRYPTO_KEY_ED25519)
        return ERR_EXHAUSTED;
    *out = p->key; /* any type: the generator checks */
    p->key = NULL;
    return 0;
}

Test(generate, key_source_is_used_when_it_fits)
{
    struct manifest *m =
        load_text("{\"Packages\":{\"p\":{\"Debug\":true}},\"Marbles\":{\"m\":{\"Package\":\"p\"}},"
                  "\"Secrets\":{\"a\":{\"Type\":\"cert-ecdsa\",\"Size\":256,\"Shared\":true},"
                  "\"b\":{\"Type\":\"cert-ecdsa\",\"Size\":384,\"Shared\":true},"
                  "\"c\":{\"Type\":\"cert-ed25519\",\"Shared\":true}}}");
    struct pool p = {0};
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &p.key), 0);
    struct crypto_key *given = crypto_key_ref(p.key);
    struct sec_gen g = {.ca = ca, .threads = 1, .key_source = from_pool, .key_ctx = &p};
    struct sec_set s = SEC_SET_INIT;
    cr_assert_eq(sec_generate_shared(m, &g, NULL, 0, &s), 0);
    cr_assert_eq(p.calls, 3);
    struct crypto_key *a = NULL;
    cr_assert_eq(crypto_key_from_public_der(buf_view(&sec_set_find(&s, "a")->public_key), &a), 0);
    cr_assert(crypto_key_public_eq(a, given));
    check_cert_secret(sec_set_find(&s, "b"), CRYPTO_KEY_EC_P384);
    check_cert_secret(sec_set_find(&s, "c"), CRYPTO_KEY_ED25519);
    /* a source handing out the wrong kind of key is ignored */
    sec_set_free(&s);
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &p.key), 0);
    struct crypto_key *wrong = crypto_key_ref(p.key);
    struct manifest *m2 =
        load_text("{\"Packages\":{\"p\":{\"Debug\":true}},\"Marbles\":{\"m\":{\"Package\":\"p\"}},"
                  "\"Secrets\":{\"b\":{\"Type\":\"cert-ecdsa\",\"Size\":384,\"Shared\":true}}}");
    cr_assert_eq(sec_generate_shared(m2, &g, NULL, 0, &s), 0);
    check_cert_secret(sec_set_find(&s, "b"), CRYPTO_KEY_EC_P384);
    crypto_key_free(wrong), crypto_key_free(given), crypto_key_free(a);
    sec_set_free(&s);
    manifest_free(m), manifest_free(m2);
}
