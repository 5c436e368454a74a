/* secrets: user-defined secret uploads (reference §9.4, TestWriteSecrets_Legacy). */
#include <criterion/criterion.h>
#include <string.h>

#include "qt.h"
#include "secrets/secrets.h"
#include "template/template.h"

static struct manifest *m;
static struct pki_ca *ca;
/* An Ed25519 certificate and key, as MarbleRun's test UserSecrets has, and a P-256 one. */
static struct buf ed_cert, ed_key, ec_cert, ec_key;

static void make_pair(enum crypto_key_type t, struct buf *cert, struct buf *key)
{
    struct crypto_key *k = NULL;
    cr_assert_eq(crypto_key_generate(t, 0, &k), 0);
    static const char *const dns[] = {"localhost"};
    struct pki_cert_template tp = {.subject = {.common_name = "user"},
                                   .not_before = qtime_now(),
                                   .not_after = qtime_now() + 86400,
                                   .dns_names = {dns, 1},
                                   .max_path_len = -1};
    cr_assert_eq(pki_issue_from_template(ca, &tp, k, cert), 0);
    cr_assert_eq(crypto_key_private_der(k, key), 0);
    crypto_key_free(k);
}

static void setup(void)
{
    json_t *j = qt_manifest_json("base.json");
    struct diag d = DIAG_INIT;
    cr_assert_eq(qt_load_json(j, &d, &m), 0);
    json_decref(j);
    diag_free(&d);
    cr_assert_eq(pki_ca_generate(NULL, &ca), 0);
    make_pair(CRYPTO_KEY_ED25519, &ed_cert, &ed_key);
    make_pair(CRYPTO_KEY_EC_P256, &ec_cert, &ec_key);
}

static void teardown(void)
{
    manifest_free(m);
    pki_ca_free(ca);
    buf_free(&ed_cert), buf_free(&ed_key), buf_free(&ec_cert), buf_free(&ec_key);
}

TestSuite(upload, .init = setup, .fini = teardown);

static void b64(struct view v, struct buf *out)
{
    buf_reset(out);
    cr_assert_eq(enc_b64(out, v), 0);
    cr_assert_eq(buf_terminate(out), 0);
}

static int upload(const char *body, struct sec_set *out)
{
    return sec_parse_user_secrets(m, view_str(body), out);
}

Test(upload, marbleruns_user_secrets_are_accepted)
{
    struct buf k = BUF_INIT, c = BUF_INIT, p = BUF_INIT, body = BUF_INIT;
    uint8_t key[16];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)(0xa0 + i);
    b64(view_of(key, 16), &k);
    b64(buf_view(&ed_cert), &c);
    b64(buf_view(&ed_key), &p);
    cr_assert_eq(buf_appendf(&body,
                             "{\"symmetricKeyUnset\":{\"Key\":\"%s\"},\"certUnset\":{\"Cert\":\"%"
                             "s\",\"Private\":\"%s\"}}",
                             (char *)k.ptr, (char *)c.ptr, (char *)p.ptr),
                 0);
    cr_assert_eq(buf_terminate(&body), 0);
    struct sec_set up = SEC_SET_INIT;
    int r = upload((char *)body.ptr, &up);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    cr_assert_eq(up.count, 2);
    const struct sec_value *v = sec_set_find(&up, "symmetricKeyUnset");
    cr_assert(v->user_defined && v->type == MF_SECRET_SYMMETRIC_KEY && v->size == 128);
    cr_assert(view_eq(buf_view(&v->private_key), view_of(key, 16)) &&
              view_eq(buf_view(&v->public_key), view_of(key, 16)));
    v = sec_set_find(&up, "certUnset");
    cr_assert(view_eq(buf_view(&v->cert), buf_view(&ed_cert)));
    cr_assert(view_eq(buf_view(&v->private_key), buf_view(&ed_key)));
    struct crypto_key *pub = NULL, *cpub = NULL;
    cr_assert_eq(crypto_key_from_public_der(buf_view(&v->public_key), &pub), 0);
    cr_assert_eq(pki_cert_public_key(buf_view(&ed_cert), &cpub), 0);
    cr_assert(crypto_key_public_eq(pub, cpub));
    crypto_key_free(pub), crypto_key_free(cpub);
    /* stored: before, the user-defined secrets are empty; after the merge, they hold the upload */
    struct sec_gen g = {.ca = ca};
    struct sec_set stored = SEC_SET_INIT;
    cr_assert_eq(sec_generate_shared(m, &g, NULL, 0, &stored), 0);
    cr_assert_eq(sec_set_find(&stored, "symmetricKeyUnset")->private_key.size, 0);
    cr_assert_eq(sec_set_find(&stored, "certUnset")->cert.size, 0);
    cr_assert_eq(sec_set_merge(&stored, &up), 0);
    cr_assert_eq(sec_set_find(&stored, "symmetricKeyUnset")->private_key.size, 16);
    cr_assert(view_eq(buf_view(&sec_set_find(&stored, "certUnset")->cert), buf_view(&ed_cert)));
    /* keys are matched case-insensitively, as Go's decoder; v2 bodies pass their "secrets" member
     */
    buf_reset(&body);
    cr_assert_eq(
        buf_appendf(&body,
                    "{\"secrets\":{\"genericSecret\":{\"key\":\"TWFyYmxlUnVuIFVuaXQgVGVzdA==\"}}}"),
        0);
    json_t *j = NULL;
    cr_assert_eq(js_parse(buf_view(&body), QY_JSON_MAX_SIZE, &j), 0);
    cr_assert_eq(sec_parse_user_secrets_json(m, json_object_get(j, "secrets"), &up), 0);
    cr_assert(view_eq(buf_view(&sec_set_find(&up, "genericSecret")->public_key),
                      view_str("MarbleRun Unit Test")));
    json_decref(j);
    sec_set_free(&up), sec_set_free(&stored);
    buf_free(&k), buf_free(&c), buf_free(&p), buf_free(&body);
}

/* The upload is dry-run against the manifest's templates with the uploaded values (§2.4):
 * base.json's backendFirst uses {{ string .Secrets.genericSecret }} in Env, so a plain secret with
 * NUL fails. */
static bool from_upload(void *ctx, bool previous, const char *name, struct tpl_secret *out)
{
    (void)previous;
    const struct sec_value *v = sec_set_find(ctx, name);
    if (v == NULL)
        return false;
    *out = (struct tpl_secret){v->type, buf_view(&v->cert), buf_view(&v->private_key),
                               buf_view(&v->public_key)};
    return true;
}

Test(upload, plain_with_nul_fails_the_dry_run)
{
    struct sec_set up = SEC_SET_INIT;
    struct diag d = DIAG_INIT;
    cr_assert_eq(upload("{\"genericSecret\":{\"Key\":\"TWFyYmxlUnVuIFVuaXQgVGVzdA==\"}}", &up), 0);
    struct tpl_data values = {.find = from_upload, .ctx = &up};
    cr_assert_eq(tpl_dry_run(m, &values, &d), 0);
    cr_assert_eq(upload("{\"genericSecret\":{\"Key\":\"TWFyYmxlAFJ1bg==\"}}", &up),
                 0); /* "Marble\0Run" */
    cr_assert_eq(tpl_dry_run(m, &values, &d), 1);
    cr_assert(qt_diag_has(&d, DIAG_ERROR, "Marbles.backendFirst.Parameters.Env.GENERIC",
                          "1:4: error calling string: secret contains null bytes"));
    sec_set_free(&up);
    diag_free(&d);
}

Test(upload, refusals_are_precise)
{
    struct buf c = BUF_INIT, p = BUF_INIT, ecc = BUF_INIT, body = BUF_INIT;
    b64(buf_view(&ed_cert), &c);
    b64(buf_view(&ec_key), &p);
    b64(buf_view(&ec_cert), &ecc);
    struct {
        const char *body;
        int code;
        const char *detail;
    } cases[] = {
        {"{}", ERR_BAD_REQUEST, "no new secrets defined"},
        {"[]", ERR_BAD_REQUEST, "expected an object of secrets, got array"},
        {"{\"x\":", ERR_BAD_REQUEST, NULL},
        {"{\"nope\":{\"Key\":\"AA==\"}}", ERR_SECRET,
         "secret manifest specifies a secret which the original manifest does not contain: nope"},
        {"{\"symmetricKeyShared\":{\"Key\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}}", ERR_SECRET_READONLY,
         "secret symmetricKeyShared is not writeable"},
        {"{\"symmetricKeyUnset\":{\"Key\":\"AAAAAAAAAAA=\"}}", ERR_SECRET,
         "declared size and actual size don't match: symmetricKeyUnset (64 bits given, 128 "
         "declared)"},
        {"{\"symmetricKeyUnset\":{}}", ERR_SECRET,
         "declared size and actual size don't match: symmetricKeyUnset (0 bits"},
        {"{\"symmetricKeyUnset\":{\"Key\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"Private\":\"AA==\"}}",
         ERR_SECRET, "secret symmetricKeyUnset: only Key may be set for a symmetric-key secret"},
        {"{\"genericSecret\":{\"Key\":\"AA==\",\"Cert\":\"@C\"}}", ERR_SECRET,
         "secret genericSecret: only Key may be set for a plain secret"},
        {"{\"certUnset\":{\"Key\":\"AA==\",\"Cert\":\"@C\"}}", ERR_SECRET,
         "secret certUnset: Key may not be set for a cert-ed25519 secret (use Cert and Private)"},
        {"{\"certUnset\":{\"Private\":\"@P\"}}", ERR_SECRET,
         "secret certUnset: Cert is required for a cert-ed25519 secret"},
        {"{\"certUnset\":{\"Cert\":\"AAEC\"}}", ERR_SECRET,
         "secret certUnset: Cert is not a DER certificate"},
        {"{\"certUnset\":{\"Cert\":{\"Subject\":{}}}}", ERR_SECRET,
         "secret certUnset: Cert must be a base64 DER certificate"},
        {"{\"certUnset\":{\"Cert\":\"@E\"}}", ERR_SECRET,
         "secret certUnset: the certificate's key does not fit a cert-ed25519 secret"},
        {"{\"certUnset\":{\"Cert\":\"@C\",\"Private\":\"@P\"}}", ERR_SECRET,
         "secret certUnset: Private is not the key of the certificate"},
        {"{\"certUnset\":{\"Cert\":\"@C\",\"Private\":\"AAEC\"}}", ERR_SECRET,
         "secret certUnset: Private is not a PKCS#8 private key"},
        {"{\"certUnset\":\"x\"}", ERR_BAD_REQUEST,
         "secret certUnset: expected an object with Cert, Private or Key, got string"},
        {"{\"genericSecret\":{\"Key\":\"not base64!\"}}", ERR_SECRET,
         "secret \"genericSecret\": Key is not valid base64"},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(cases); i++) {
        buf_reset(&body);
        for (const char *s = cases[i].body; *s; s++) {
            if (s[0] == '@' && (s[1] == 'C' || s[1] == 'P' || s[1] == 'E')) {
                const struct buf *b = s[1] == 'C' ? &c : s[1] == 'P' ? &p : &ecc;
                cr_assert_eq(buf_append(&body, b->ptr, b->size), 0);
                s++;
            } else {
                cr_assert_eq(buf_append_byte(&body, (uint8_t)*s), 0);
            }
        }
        struct sec_set up = SEC_SET_INIT;
        int r = sec_parse_user_secrets(m, buf_view(&body), &up);
        cr_assert_eq(r, cases[i].code, "%zu %s: %s (%s)", i, cases[i].body, err_name(r),
                     err_detail(r));
        if (cases[i].detail)
            cr_assert(strstr(err_detail(r), cases[i].detail) != NULL, "%zu: %s", i, err_detail(r));
        cr_assert_eq(up.count, 0);
    }
    /* an empty plain secret is allowed, as in MarbleRun */
    struct sec_set up = SEC_SET_INIT;
    cr_assert_eq(upload("{\"genericSecret\":{\"Key\":\"\"}}", &up), 0);
    cr_assert_eq(sec_set_find(&up, "genericSecret")->public_key.size, 0);
    sec_set_free(&up);
    buf_free(&c), buf_free(&p), buf_free(&ecc), buf_free(&body);
}
