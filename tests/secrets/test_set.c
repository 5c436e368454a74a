/* secrets: the set, and its JSON in MarbleRun's shapes (GET /secrets, the sealed store). */
#include <criterion/criterion.h>
#include <string.h>

#include "qt.h"
#include "secrets/secrets.h"

static void put(struct sec_set *s, const char *name, enum mf_secret_type t, uint64_t size,
                bool shared, bool ud, struct view cert, struct view priv, struct view pub)
{
    struct sec_value v = {
        .name = (char *)name, .type = t, .size = size, .shared = shared, .user_defined = ud};
    cr_assert_eq(buf_set(&v.cert, cert), 0);
    cr_assert_eq(buf_set(&v.private_key, priv), 0);
    cr_assert_eq(buf_set(&v.public_key, pub), 0);
    cr_assert_eq(sec_set_put(s, &v), 0);
    buf_free(&v.cert), buf_free(&v.private_key), buf_free(&v.public_key);
}

static const uint8_t key[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

Test(set, json_has_marbleruns_shape)
{
    struct sec_set s = SEC_SET_INIT;
    put(&s, "zeta", MF_SECRET_PLAIN, 0, false, true, VIEW_EMPTY, VIEW_EMPTY, VIEW_EMPTY);
    put(&s, "key", MF_SECRET_SYMMETRIC_KEY, 128, true, false, VIEW_EMPTY, view_of(key, 16),
        view_of(key, 16));
    struct buf out = BUF_INIT;
    cr_assert_eq(sec_set_write_json(&s, NULL, 0, &out), 0);
    const char *want = "{\"key\":{\"Type\":\"symmetric-key\",\"Size\":128,\"Shared\":true,"
                       "\"UserDefined\":false,\"Cert\":null,"
                       "\"ValidFor\":0,\"Private\":\"AAECAwQFBgcICQoLDA0ODw==\",\"Public\":"
                       "\"AAECAwQFBgcICQoLDA0ODw==\"},"
                       "\"zeta\":{\"Type\":\"plain\",\"Size\":0,\"Shared\":false,\"UserDefined\":"
                       "true,\"Cert\":null,\"ValidFor\":0,"
                       "\"Private\":null,\"Public\":null}}";
    cr_assert(view_eq(buf_view(&out), view_str(want)), "%.*s", (int)out.size, out.ptr);
    /* a selection, in name order; unknown names are an error */
    buf_reset(&out);
    const char *names[] = {"zeta"};
    cr_assert_eq(sec_set_write_json(&s, names, 1, &out), 0);
    cr_assert(strncmp((char *)out.ptr, "{\"zeta\":", 8) == 0 &&
              strstr((char *)out.ptr, "\"key\"") == NULL);
    const char *unknown[] = {"key", "nope"};
    buf_reset(&out);
    cr_assert_eq(sec_set_write_json(&s, unknown, 2, &out), ERR_NOT_FOUND);
    cr_assert_eq(out.size, 0);
    buf_free(&out);
    sec_set_free(&s);
}

Test(set, json_round_trip_with_certificates)
{
    struct pki_ca *ca = NULL;
    cr_assert_eq(pki_ca_generate(NULL, &ca), 0);
    json_t *j = qt_manifest_json("base.json");
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    cr_assert_eq(qt_load_json(j, &d, &m), 0);
    json_decref(j);
    struct sec_gen g = {.ca = ca};
    struct sec_set s = SEC_SET_INIT, back = SEC_SET_INIT;
    cr_assert_eq(sec_generate_shared(m, &g, NULL, 0, &s), 0);
    struct buf a = BUF_INIT, b = BUF_INIT;
    cr_assert_eq(sec_set_write_json(&s, NULL, 0, &a), 0);
    int r = sec_set_parse_json(buf_view(&a), &back);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    cr_assert_eq(back.count, s.count);
    cr_assert_eq(sec_set_write_json(&back, NULL, 0, &b), 0);
    cr_assert(view_eq(buf_view(&a), buf_view(&b)));
    const struct sec_value *c = sec_set_find(&back, "certShared");
    cr_assert(c->shared && c->valid_for == 7 && c->type == MF_SECRET_CERT_ED25519);
    cr_assert(view_eq(buf_view(&c->cert), buf_view(&sec_set_find(&s, "certShared")->cert)));
    buf_free(&a), buf_free(&b);
    sec_set_free(&s), sec_set_free(&back);
    manifest_free(m);
    diag_free(&d);
    pki_ca_free(ca);
}

Test(set, parse_is_go_like_but_typed)
{
    struct sec_set s = SEC_SET_INIT;
    /* keys match case-insensitively and unknown members are ignored, as Go's decoder */
    int r = sec_set_parse_json(
        view_str("{\"k\":{\"type\":\"plain\",\"private\":\"aGk=\",\"public\":\"aGk=\",\"x\":1}}"),
        &s);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    cr_assert(view_eq(buf_view(&sec_set_find(&s, "k")->private_key), view_str("hi")));
    struct {
        const char *json;
        int code;
        const char *detail;
    } bad[] = {
        {"[]", ERR_SECRET, "a secret set must be a JSON object, got array"},
        {"{\"k\":1}", ERR_SECRET, "secret \"k\" must be an object, got number"},
        {"{\"k\":{}}", ERR_SECRET, "secret \"k\": Type must be a string"},
        {"{\"k\":{\"Type\":\"cert-dsa\"}}", ERR_SECRET, "secret \"k\": unknown type"},
        {"{\"k\":{\"Type\":\"plain\",\"Size\":-1}}", ERR_SECRET,
         "secret \"k\": Size must be a non-negative integer"},
        {"{\"k\":{\"Type\":\"plain\",\"Shared\":\"yes\"}}", ERR_SECRET,
         "secret \"k\": Shared must be a boolean"},
        {"{\"k\":{\"Type\":\"plain\",\"Private\":\"!!\"}}", ERR_SECRET,
         "secret \"k\": Private is not valid base64"},
        {"{\"k\":{\"Type\":\"plain\",\"Public\":[1,2]}}", ERR_SECRET,
         "secret \"k\": Public must be a base64 string, got array"},
        {"{\"k\":{\"Type\":\"cert-rsa\",\"Cert\":{\"Subject\":{}}}}", ERR_SECRET,
         "secret \"k\": Cert must be base64 DER or null"},
        {"{\"k\":{\"Type\":\"cert-rsa\",\"Cert\":\"AAEC\"}}", ERR_SECRET,
         "secret \"k\": Cert is not a certificate"},
        {"{\"\":{\"Type\":\"plain\"}}", ERR_SECRET, "secret name of 0 bytes"},
        {"{\"k\":{\"Type\":\"plain\"},\"k\":{\"Type\":\"plain\"}}", ERR_DUPLICATE, NULL},
        {"{\"k\":", ERR_TRUNCATED, NULL},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(bad); i++) {
        r = sec_set_parse_json(view_str(bad[i].json), &s);
        cr_assert_eq(r, bad[i].code, "%s: %s", bad[i].json, err_name(r));
        if (bad[i].detail)
            cr_assert(strstr(err_detail(r), bad[i].detail) != NULL, "%s: %s", bad[i].json,
                      err_detail(r));
        cr_assert_eq(s.count, 0);
    }
    sec_set_free(&s);
}

Test(set, truncations_and_flips_never_crash)
{
    struct sec_set s = SEC_SET_INIT, back = SEC_SET_INIT;
    put(&s, "key", MF_SECRET_SYMMETRIC_KEY, 128, true, false, VIEW_EMPTY, view_of(key, 16),
        view_of(key, 16));
    put(&s, "p", MF_SECRET_PLAIN, 0, false, true, VIEW_EMPTY, view_str("x"), view_str("x"));
    struct buf j = BUF_INIT;
    cr_assert_eq(sec_set_write_json(&s, NULL, 0, &j), 0);
    for (size_t n = 0; n < j.size; n++)
        cr_assert_lt(sec_set_parse_json(view_of(j.ptr, n), &back), 0, "length %zu", n);
    for (size_t i = 0; i < j.size; i++) {
        uint8_t save = j.ptr[i];
        j.ptr[i] ^= 0x20;
        int r = sec_set_parse_json(buf_view(&j), &back);
        cr_assert(r <= 0);
        j.ptr[i] = save;
    }
    sec_set_free(&back);
    buf_free(&j);
    sec_set_free(&s);
}

Test(set, put_replaces_and_merge_overlays)
{
    struct sec_set a = SEC_SET_INIT, b = SEC_SET_INIT;
    const char *names[] = {"m", "c", "x", "a", "q"};
    for (int i = 0; i < 5; i++)
        put(&a, names[i], MF_SECRET_PLAIN, 0, false, true, VIEW_EMPTY, VIEW_EMPTY, VIEW_EMPTY);
    cr_assert_eq(a.count, 5);
    for (size_t i = 1; i < a.count; i++)
        cr_assert_lt(strcmp(a.items[i - 1].name, a.items[i].name), 0);
    put(&b, "c", MF_SECRET_PLAIN, 0, false, true, VIEW_EMPTY, view_str("new"), view_str("new"));
    put(&b, "d", MF_SECRET_PLAIN, 0, false, true, VIEW_EMPTY, view_str("d"), view_str("d"));
    cr_assert_eq(sec_set_merge(&a, &b), 0);
    cr_assert_eq(a.count, 6);
    cr_assert(view_eq(buf_view(&sec_set_find(&a, "c")->public_key), view_str("new")));
    cr_assert_not_null(sec_set_find(&a, "d"));
    sec_set_free(&a), sec_set_free(&b);
    sec_set_free(&a); /* twice is fine */
}
