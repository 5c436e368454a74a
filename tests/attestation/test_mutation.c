/* Mutations of golden inputs (STYLE 20): every single-byte change of the signed parts of a quote
 * (header, body, signature, attestation key, QE report, its signature, QE auth data, and the type
 * fields) fails verification; in the PEM blocks of the certification data, whose certificates carry
 * their own signatures, a sample of positions does (the fuzzer covers the rest: each change there
 * costs a full X.509 parse, far too slow under ASan for all of them). What Intel's verifier does
 * not read - bytes after the signature data, the signature data's surplus after its certification
 * data, text around the PEM blocks - may change without changing the result at all, and so may the
 * lengths that frame them: such a change either fails or verifies to the identical result. Every
 * truncation fails to parse; changes of a signed collateral value fail its signature. Nothing
 * crashes: these run under ASan in make check. */
#include <string.h>

#include "att_test.h"

/* Where things are in a parsed quote, as offsets into it. */
struct layout {
    size_t cert_start, cert_end; /* the certification data */
    size_t end;                  /* the end of the signature data: the quote proper */
    size_t sizes[3];             /* 4-byte size fields framing the chain: signature data, (v4/v5:
                                    outer certification data,) certification data */
    size_t size_count;
    size_t blocks[8][2]; /* PEM blocks [from, to) inside the certification data */
    size_t block_count;
};

static void find_blocks(struct view q, struct layout *l)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
    size_t at = l->cert_start;
    const uint8_t *nul = memchr(q.ptr + at, 0, l->cert_end - at);
    size_t stop = nul != NULL ? (size_t)(nul - q.ptr) : l->cert_end;
    while (l->block_count < 8) {
        const uint8_t *b = memmem(q.ptr + at, stop - at, begin, strlen(begin));
        if (b == NULL)
            break;
        const uint8_t *e = memmem(b, (size_t)(q.ptr + stop - b), end, strlen(end));
        cr_assert_not_null(e);
        l->blocks[l->block_count][0] = (size_t)(b - q.ptr);
        l->blocks[l->block_count][1] = (size_t)(e - q.ptr) + strlen(end);
        at = l->blocks[l->block_count++][1];
    }
}

static void layout_of(struct view q, struct layout *l)
{
    struct att_quote p;
    memset(l, 0, sizeof(*l));
    cr_assert_eq(att_quote_parse(q, &p), 0, "%s", err_detail(ERR_QUOTE_FORMAT));
    l->cert_start = (size_t)(p.cert_data.ptr - q.ptr);
    l->cert_end = l->cert_start + p.cert_data.size;
    l->end = p.signed_region.size + 4 + p.signature_data_size;
    l->sizes[l->size_count++] = p.signed_region.size;
    if (p.version >= 4)
        l->sizes[l->size_count++] = p.signed_region.size + 4 + 64 + 64 + 2;
    l->sizes[l->size_count++] = l->cert_start - 4;
    find_blocks(q, l);
}

static bool in_block(const struct layout *l, size_t i)
{
    for (size_t b = 0; b < l->block_count; b++)
        if (i >= l->blocks[b][0] && i < l->blocks[b][1])
            return true;
    return false;
}

/* Bytes a change of which may leave the verdict as it was (and then must leave all of it). */
static bool unread(const struct layout *l, size_t i)
{
    for (size_t k = 0; k < l->size_count; k++)
        if (i >= l->sizes[k] && i < l->sizes[k] + 4)
            return true;
    return i >= l->cert_end || (i >= l->cert_start && !in_block(l, i));
}

/* Every position outside the PEM blocks; a sample inside them, always including their first and
 * last bytes (as many chain parses as the sample before the blocks were told apart). */
static bool tested(const struct layout *l, size_t i)
{
    if (!in_block(l, i))
        return true;
    for (size_t b = 0; b < l->block_count; b++)
        if (i == l->blocks[b][0] || i + 1 == l->blocks[b][1])
            return true;
    return (i - l->cert_start) % 61 == 0;
}

static json_t *result_json(const struct att_result *res)
{
    json_t *j = NULL;
    cr_assert_eq(att_result_to_json(res, &j), 0);
    return j;
}

static void mutate(struct att_verifier *v, struct view golden, int64_t at, const char *name)
{
    struct att_result res;
    cr_assert_eq(att_verify(v, golden, at, &res), 0);
    cr_assert(res.verified, "%s: the golden quote does not verify: %s", name, res.detail);
    json_t *want = result_json(&res);
    struct layout l;
    layout_of(golden, &l);
    cr_assert_geq(l.block_count, 3, "%s: the chain has %zu PEM blocks", name, l.block_count);
    struct buf m = BUF_INIT;
    cr_assert_eq(buf_set(&m, golden), 0);
    size_t failures = 0, must_fail = 0, unchanged = 0;
    for (size_t i = 0; i < m.size; i++) {
        if (!tested(&l, i))
            continue;
        m.ptr[i] ^= 0x01;
        cr_assert_eq(att_verify(v, buf_view(&m), at, &res), 0,
                     "%s: byte %zu: att_verify did not run", name, i);
        if (!unread(&l, i)) {
            must_fail++;
            cr_assert(!res.verified, "%s: flipping byte %zu still verifies", name, i);
            failures++;
        } else if (res.verified) {
            json_t *got = result_json(&res);
            cr_assert(json_equal(got, want), "%s: flipping unread byte %zu changed the result",
                      name, i);
            json_decref(got);
            unchanged++;
        } else {
            cr_assert(i < l.cert_end,
                      "%s: flipping byte %zu after the certification data broke "
                      "verification: %s",
                      name, i, res.detail);
        }
        m.ptr[i] ^= 0x01;
    }
    cr_assert_eq(failures, must_fail);
    cr_assert_geq(must_fail, l.cert_start - 12, "%s: every byte before the certification data",
                  name);
    cr_assert_geq(unchanged, m.size - l.cert_end, "%s: every byte after it is unread", name);
    for (size_t len = 0; len < l.end; len++) {
        struct att_quote q;
        cr_assert_neq(att_quote_parse(view_of(golden.ptr, len), &q), 0,
                      "%s: truncated to %zu bytes parses", name, len);
    }
    json_decref(want);
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

/* The same with the text Intel skips around the PEM blocks and 46 bytes of signature data surplus:
 * changing any of those bytes leaves the result exactly as it was. */
Test(mutation, testkit_quote_with_unread_bytes)
{
    struct at_kit k;
    struct buf q = BUF_INIT;
    at_kit_new(NULL, &k);
    at_kit_quote(&k, 0x5a, ATT_TK_FAULT_PEM_STRAY_BYTES | ATT_TK_FAULT_SIG_DATA_SURPLUS, &q);
    struct att_quote p;
    cr_assert_eq(att_quote_parse(buf_view(&q), &p), 0);
    cr_assert_eq(p.signature_data_surplus, 46);
    struct att_verifier *v = NULL;
    cr_assert_eq(att_testkit_verifier_new(k.tk, &v), 0);
    mutate(v, buf_view(&q), qtime_now(), "testkit with unread bytes");
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
