/* Mutations of golden inputs (STYLE 20): every single-byte change of the signed parts of a quote
 * (header, body, signature, attestation key, QE report, its signature, QE auth data, and every
 * length and type field) fails verification; in the PEM certification data, whose certificates
 * carry their own signatures, a sample of positions does (the fuzzer covers the rest: each change
 * there costs a full X.509 parse, far too slow under ASan for all of them); a change in the
 * trailing bytes does not matter; every truncation fails to parse; changes of a signed collateral
 * value fail its signature. Nothing crashes: these run under ASan in make check. */
#include <string.h>

#include "att_test.h"

/* Where the quote proper ends: header, body, signature data length and signature data. */
static size_t quote_end(struct view q, size_t *cert_start)
{
    struct att_quote p;
    cr_assert_eq(att_quote_parse(q, &p), 0, "%s", err_detail(ERR_QUOTE_FORMAT));
    *cert_start = (size_t)(p.cert_data.ptr - q.ptr);
    return p.signed_region.size + 4 + p.signature_data_size;
}

/* Every position outside the certification data; a sample inside it, always including its end. */
static bool tested(size_t i, size_t cert_start, size_t end)
{
    return i < cert_start || i >= end || i + 8 >= end || (i - cert_start) % 61 == 0;
}

static void mutate(struct att_verifier *v, struct view golden, int64_t at, const char *name)
{
    struct att_result res;
    cr_assert_eq(att_verify(v, golden, at, &res), 0);
    cr_assert(res.verified, "%s: the golden quote does not verify: %s", name, res.detail);
    size_t cert_start, end = quote_end(golden, &cert_start);
    struct buf m = BUF_INIT;
    cr_assert_eq(buf_set(&m, golden), 0);
    size_t failures = 0, want = 0;
    for (size_t i = 0; i < m.size; i++) {
        if (!tested(i, cert_start, end))
            continue;
        want += i < end;
        m.ptr[i] ^= 0x01;
        cr_assert_eq(att_verify(v, buf_view(&m), at, &res), 0,
                     "%s: byte %zu: att_verify did not run", name, i);
        if (i < end) {
            cr_assert(!res.verified, "%s: flipping byte %zu still verifies", name, i);
            failures++;
        } else {
            cr_assert(res.verified, "%s: flipping trailing byte %zu broke verification: %s", name,
                      i, res.detail);
        }
        m.ptr[i] ^= 0x01;
    }
    cr_assert_eq(failures, want);
    cr_assert_geq(want, cert_start, "%s: every byte before the certification data was changed",
                  name);
    for (size_t len = 0; len < end; len++) {
        struct att_quote q;
        cr_assert_neq(att_quote_parse(view_of(golden.ptr, len), &q), 0,
                      "%s: truncated to %zu bytes parses", name, len);
    }
    buf_free(&m);
}

Test(mutation, testkit_quote_every_byte_and_truncation)
{
    struct at_kit k;
    struct buf q = BUF_INIT;
    at_kit_new(NULL, &k);
    at_kit_quote(&k, 0x5a, 0, &q);
    /* Padding after the quote, as callers of get_quote_size() send it. */
    for (int i = 0; i < 16; i++)
        cr_assert_eq(buf_append_byte(&q, (uint8_t)i), 0);
    struct att_verifier *v = NULL;
    cr_assert_eq(att_testkit_verifier_new(k.tk, &v), 0);
    mutate(v, buf_view(&q), qtime_now(), "testkit");
    att_verifier_free(v);
    buf_free(&q);
    at_kit_free(&k);
}

Test(mutation, vectors_every_byte_and_truncation, .timeout = 600)
{
    QT_REQUIRE_SHARED();
    for (const char *const *name = at_vector_names(); *name != NULL; name++) {
        json_t *e = at_expected(*name);
        if (json_object_get(e, "pck_not_before") ==
            NULL) { /* no PCK chain (type 3): parsing only */
            json_decref(e);
            continue;
        }
        char t[32];
        snprintf(t, sizeof(t), "%.10sT00:00:00Z",
                 json_string_value(json_object_get(e, "pck_not_before")));
        struct buf q = BUF_INIT;
        qt_read(at_vector_path(*name, "quote.dat"), &q);
        struct att_verifier *v = at_verifier(NULL, VIEW_EMPTY);
        mutate(v, buf_view(&q), at_time(t) + 2 * 86400, *name);
        att_verifier_free(v);
        buf_free(&q);
        json_decref(e);
    }
}

Test(mutation, type3_quote_truncations_fail_to_parse)
{
    QT_REQUIRE_SHARED();
    struct buf q = BUF_INIT;
    struct att_quote p;
    qt_read(at_vector_path("fortanix-sgx-v3-ppid-rsa3072", "quote.dat"), &q);
    cr_assert_eq(att_quote_parse(buf_view(&q), &p), 0);
    cr_expect_eq(p.cert_type, ATT_CERT_PPID_RSA3072);
    cr_expect_eq(p.ppid.size, 384);
    cr_expect_eq(p.ppid_pcesvn, 6);
    cr_expect_str_eq(at_hex(p.ppid_cpusvn, 16), "05050205ff8001000000000000000000");
    for (size_t len = 0; len < q.size; len++)
        cr_assert_neq(att_quote_parse(view_of(q.ptr, len), &p), 0, "truncated to %zu parses", len);
    buf_free(&q);
}

/* Bytes of the signed value of a TCB Info / QE Identity document, every `step`-th (each check
 * parses the issuer chain again). */
static void mutate_signed_json(enum att_collateral_kind kind, struct att_collateral_item *it,
                               const char *key, const struct view *roots, size_t nroots,
                               size_t step)
{
    cr_assert_eq(att_collateral_check(kind, it, roots, nroots), 0, "golden: %s",
                 err_detail(ERR_COLLATERAL));
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "{\"%s\":", key);
    const uint8_t *sig = memmem(it->body.ptr, it->body.size, ",\"signature\"", 12);
    cr_assert(it->body.size > strlen(prefix) && memcmp(it->body.ptr, prefix, strlen(prefix)) == 0 &&
              sig != NULL);
    size_t start = strlen(prefix), end = (size_t)(sig - it->body.ptr);
    for (size_t i = start; i < end; i += step) {
        it->body.ptr[i] ^= 0x01;
        int r = att_collateral_check(kind, it, roots, nroots);
        cr_assert_neq(r, 0, "flipping byte %zu of the %s value still verifies", i, key);
        it->body.ptr[i] ^= 0x01;
    }
}

Test(mutation, signed_collateral_values)
{
    struct at_kit k;
    at_kit_new(NULL, &k);
    struct view root = att_testkit_root_pem(k.tk);
    struct att_collateral_item it = {BUF_INIT, BUF_INIT};
    char path[128];
    snprintf(path, sizeof(path), "%s/qe_identity.json", k.dir);
    qt_read(path, &it.body);
    snprintf(path, sizeof(path), "%s/qe_identity_issuer_chain.pem", k.dir);
    qt_read(path, &it.issuer_chain);
    mutate_signed_json(ATT_COLLATERAL_QE_IDENTITY, &it, "enclaveIdentity", &root, 1, 5);
    /* Without the emulated root the same document is not trusted. */
    cr_expect_eq(att_collateral_check(ATT_COLLATERAL_QE_IDENTITY, &it, NULL, 0), ERR_ATT_UNTRUSTED);
    att_collateral_item_free(&it);
    at_kit_free(&k);
}

Test(mutation, signed_collateral_values_intel)
{
    QT_REQUIRE_SHARED();
    struct att_collateral_item it = {BUF_INIT, BUF_INIT};
    qt_read(at_vector_path("gotdx-tdx-v5", "tcb_info.json"), &it.body);
    qt_read(at_vector_path("gotdx-tdx-v5", "tcb_info_issuer_chain.pem"), &it.issuer_chain);
    mutate_signed_json(ATT_COLLATERAL_TCB_INFO, &it, "tcbInfo", NULL, 0, 61);
    att_collateral_item_free(&it);
}
