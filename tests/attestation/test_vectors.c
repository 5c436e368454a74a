/* Real quotes from ../shared/vectors: every one decodes to its expected.json and gets its expected
 * verdict at its verification time; the negative inputs fail at the right step. The expected
 * values come from an independent decoder (vectors/README.md), not from Quarry. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "att_test.h"

static const char *jstr(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_string(v), "expected.json: %s is not a string", key);
    return json_string_value(v);
}

static long long jint(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_integer(v), "expected.json: %s is not an integer", key);
    return json_integer_value(v);
}

#define EXPECT_HEX(name, obj, key, ptr, size)                                                      \
    cr_expect_str_eq(at_hex(ptr, size), jstr(obj, key), "%s: %s", name, key)

/* A big-endian rendering of a little-endian u32 ("00000081" for TEE type TDX). */
static const char *be32(uint32_t v)
{
    static _Thread_local char s[9];
    snprintf(s, sizeof(s), "%08x", v);
    return s;
}

static void check_sgx_body(const char *name, const json_t *b, const struct att_sgx_report *s)
{
    EXPECT_HEX(name, b, "cpusvn", s->cpusvn, 16);
    cr_expect_str_eq(be32(s->miscselect), jstr(b, "miscselect"), "%s: miscselect", name);
    EXPECT_HEX(name, b, "isvextprodid", s->isvextprodid, 16);
    EXPECT_HEX(name, b, "attributes", s->attributes, 16);
    EXPECT_HEX(name, b, "mrenclave", s->mrenclave, 32);
    EXPECT_HEX(name, b, "mrsigner", s->mrsigner, 32);
    EXPECT_HEX(name, b, "configid", s->configid, 64);
    EXPECT_HEX(name, b, "isvfamilyid", s->isvfamilyid, 16);
    EXPECT_HEX(name, b, "reportdata", s->report_data, 64);
    cr_expect_eq(s->isvprodid, jint(b, "isvprodid"), "%s: isvprodid", name);
    cr_expect_eq(s->isvsvn, jint(b, "isvsvn"), "%s: isvsvn", name);
    cr_expect_eq(s->configsvn, jint(b, "configsvn"), "%s: configsvn", name);
    cr_expect_eq((s->flags & ATT_SGX_FLAG_DEBUG) != 0, json_is_true(json_object_get(b, "debug")),
                 "%s: debug", name);
}

static void check_td_body(const char *name, const json_t *b, const struct att_td_report *t)
{
    EXPECT_HEX(name, b, "tee_tcb_svn", t->tee_tcb_svn, 16);
    EXPECT_HEX(name, b, "mrseam", t->mrseam, 48);
    EXPECT_HEX(name, b, "mrsignerseam", t->mrsignerseam, 48);
    EXPECT_HEX(name, b, "seamattributes", t->seam_attributes, 8);
    EXPECT_HEX(name, b, "tdattributes", t->td_attributes, 8);
    EXPECT_HEX(name, b, "xfam", t->xfam, 8);
    EXPECT_HEX(name, b, "mrtd", t->mrtd, 48);
    EXPECT_HEX(name, b, "mrconfigid", t->mrconfigid, 48);
    EXPECT_HEX(name, b, "mrowner", t->mrowner, 48);
    EXPECT_HEX(name, b, "mrownerconfig", t->mrownerconfig, 48);
    char key[8];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "rtmr%d", i);
        EXPECT_HEX(name, b, key, t->rtmr[i], 48);
    }
    EXPECT_HEX(name, b, "reportdata", t->report_data, 64);
    cr_expect_eq((t->td_attributes[0] & 1) != 0, json_is_true(json_object_get(b, "td_debug")),
                 "%s: td_debug", name);
    if (json_object_get(b, "tee_tcb_svn2") != NULL) {
        cr_expect(t->is_v15, "%s: TD report 1.5 expected", name);
        EXPECT_HEX(name, b, "tee_tcb_svn2", t->tee_tcb_svn2, 16);
        EXPECT_HEX(name, b, "mrservicetd", t->mrservicetd, 48);
    }
}

/* The decode of one vector against expected.json. */
static void check_decode(const char *name)
{
    struct buf quote = BUF_INIT;
    json_t *e = at_expected(name);
    qt_read(at_vector_path(name, "quote.dat"), &quote);
    cr_expect_eq((long long)quote.size, jint(e, "length"), "%s: length", name);
    struct att_quote q;
    int r = att_quote_parse(buf_view(&quote), &q);
    cr_assert_eq(r, 0, "%s: %s", name, err_detail(r));
    json_t *h = json_object_get(e, "header");
    cr_expect_eq(q.version, jint(h, "version"), "%s: version", name);
    cr_expect_eq(q.att_key_type, jint(h, "att_key_type"), "%s: key type", name);
    cr_expect_str_eq(be32(q.tee_type), jstr(h, "tee_type"), "%s: tee type", name);
    cr_expect_eq(q.qe_svn, jint(h, "qe_svn"), "%s: qe_svn", name);
    cr_expect_eq(q.pce_svn, jint(h, "pce_svn"), "%s: pce_svn", name);
    EXPECT_HEX(name, h, "qe_vendor_id", q.qe_vendor_id, 16);
    EXPECT_HEX(name, h, "user_data", q.user_data, 20);
    const char *body_type = jstr(e, "body_type");
    json_t *b = json_object_get(e, "body");
    if (strcmp(body_type, "sgx") == 0) {
        cr_expect_eq(q.body_type, ATT_BODY_SGX, "%s: body type", name);
        check_sgx_body(name, b, &q.sgx);
    } else {
        cr_expect_eq(q.body_type, strcmp(body_type, "td15") == 0 ? ATT_BODY_TD15 : ATT_BODY_TD10,
                     "%s", name);
        check_td_body(name, b, &q.td);
    }
    cr_expect_eq((long long)q.signed_region.size, jint(e, "signed_region_len"), "%s: signed region",
                 name);
    cr_expect_eq(q.signature_data_size, jint(e, "sig_data_len"), "%s: signature data", name);
    cr_expect_eq((long long)q.trailing_size, jint(e, "trailing_bytes"), "%s: trailing bytes", name);
    json_t *qe = json_object_get(e, "qe_report");
    EXPECT_HEX(name, qe, "mrenclave", q.qe_report.mrenclave, 32);
    EXPECT_HEX(name, qe, "mrsigner", q.qe_report.mrsigner, 32);
    EXPECT_HEX(name, qe, "attributes", q.qe_report.attributes, 16);
    EXPECT_HEX(name, qe, "cpusvn", q.qe_report.cpusvn, 16);
    EXPECT_HEX(name, qe, "reportdata", q.qe_report.report_data, 64);
    cr_expect_eq(q.qe_report.isvprodid, jint(qe, "isvprodid"), "%s: QE isvprodid", name);
    cr_expect_eq(q.qe_report.isvsvn, jint(qe, "isvsvn"), "%s: QE isvsvn", name);
    cr_expect_str_eq(at_hex(q.qe_auth_data.ptr, q.qe_auth_data.size), jstr(e, "qe_auth_data"),
                     "%s: auth", name);
    cr_expect_eq(q.cert_type, jint(e, "cert_type"), "%s: cert type", name);
    cr_expect_eq((long long)q.cert_data.size, jint(e, "cert_size"), "%s: cert size", name);
    json_decref(e);
    buf_free(&quote);
}

/* The PCK extension, through a verification without collateral at a time inside the PCK's life. */
static void check_pck(const char *name, const json_t *e, const struct att_result *res)
{
    json_t *x = json_object_get(e, "pck_ext");
    cr_assert(res->has_pck, "%s: no PCK decoded", name);
    EXPECT_HEX(name, x, "ppid", res->pck.ppid, 16);
    EXPECT_HEX(name, x, "cpusvn", res->pck.cpusvn, 16);
    EXPECT_HEX(name, x, "pceid", res->pck.pceid, 2);
    EXPECT_HEX(name, x, "fmspc", res->pck.fmspc, 6);
    cr_expect_eq(res->pck.pcesvn, jint(x, "pcesvn"), "%s: pcesvn", name);
    cr_expect_eq(res->pck.sgx_type, jint(x, "sgx_type"), "%s: sgx type", name);
    json_t *comps = json_object_get(x, "tcb_comp_svn");
    for (size_t i = 0; i < 16; i++)
        cr_expect_eq(res->pck.tcb_components[i], json_integer_value(json_array_get(comps, i)),
                     "%s: comp %zu", name, i);
    if (json_object_get(x, "platform_instance_id") != NULL) {
        cr_expect(res->pck.has_platform_instance_id, "%s", name);
        EXPECT_HEX(name, x, "platform_instance_id", res->pck.platform_instance_id, 16);
    }
}

/* A time the PCK chain is valid at: one day after the PCK certificate's notBefore. */
static int64_t pck_time(const json_t *e)
{
    char t[32];
    snprintf(t, sizeof(t), "%.10sT00:00:00Z", jstr(e, "pck_not_before"));
    return at_time(t) + 2 * 86400;
}

/* The verdicts of expected.json for `quote`: vector `name` itself or a variant of it. */
static void check_verdict_of(const char *name, struct view quote)
{
    json_t *e = at_expected(name);
    struct att_result res;
    const char *verdict = jstr(e, "expected_verdict");
    json_t *t = json_object_get(e, "verification_time_used");

    if (json_object_get(e, "pck_ext") != NULL) {
        struct att_verifier *v = at_verifier(NULL, VIEW_EMPTY);
        cr_assert_eq(att_verify(v, quote, pck_time(e), &res), 0);
        cr_expect(res.verified, "%s without collateral: %s: %s", name,
                  att_step_name(res.failed_step), res.detail);
        cr_expect_eq(res.tcb_status, ATT_TCB_NOT_EVALUATED, "%s", name);
        check_pck(name, e, &res);
        att_verifier_free(v);
    } else {
        /* Certification data type 3: parsed, refused as unsupported. */
        struct att_verifier *v = at_verifier(NULL, VIEW_EMPTY);
        cr_assert_eq(att_verify(v, quote, qtime_now(), &res), 0);
        cr_expect(!res.verified, "%s", name);
        cr_expect_eq(res.failed_step, ATT_STEP_CERT_DATA, "%s: %s", name,
                     att_step_name(res.failed_step));
        cr_expect_eq(res.error, ERR_ATT_CERT_TYPE, "%s", name);
        cr_expect(strstr(res.detail, "type 3") != NULL, "%s: %s", name, res.detail);
        att_verifier_free(v);
    }

    if (json_is_string(t)) {
        struct att_verifier *v = at_verifier(at_vector_path(name, NULL), VIEW_EMPTY);
        int r = att_verify(v, quote, at_time(json_string_value(t)), &res);
        cr_assert_eq(r, 0, "%s", name);
        if (strcmp(verdict, "TCB_NOT_SUPPORTED") == 0 ||
            strncmp(verdict, "TCB_NOT_SUPPORTED", 17) == 0) {
            cr_expect(!res.verified, "%s: a platform matching no TCB level must not verify", name);
            cr_expect_eq(res.failed_step, ATT_STEP_TCB_LEVEL, "%s: %s: %s", name,
                         att_step_name(res.failed_step), res.detail);
            cr_expect_eq(res.error, ERR_ATT_TCB_NOT_SUPPORTED, "%s", name);
        } else {
            cr_expect(res.verified, "%s: %s: %s", name, att_step_name(res.failed_step), res.detail);
            cr_expect_str_eq(att_tcb_status_name(res.tcb_status), verdict, "%s", name);
            json_t *adv = json_object_get(e, "expected_advisory_ids");
            cr_expect_eq(res.advisory_count, json_array_size(adv), "%s: advisories", name);
            for (size_t i = 0; i < res.advisory_count && i < json_array_size(adv); i++)
                cr_expect_str_eq(res.advisory_ids[i], json_string_value(json_array_get(adv, i)),
                                 "%s", name);
            cr_expect(!res.insecure_root, "%s", name);
            cr_expect(res.collateral_checked, "%s", name);
        }
        /* A year later every piece of collateral has expired. */
        r = att_verify(v, quote, at_time(json_string_value(t)) + 365 * 86400, &res);
        cr_assert_eq(r, 0);
        cr_expect(!res.verified, "%s verified with expired collateral", name);
        cr_expect_eq(res.error, ERR_EXPIRED, "%s: %s: %s", name, err_name(res.error), res.detail);
        att_verifier_free(v);
    }
    json_decref(e);
}

static void check_verdict(const char *name)
{
    struct buf quote = BUF_INIT;
    qt_read(at_vector_path(name, "quote.dat"), &quote);
    check_verdict_of(name, buf_view(&quote));
    buf_free(&quote);
}

static void put32(struct buf *b, size_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b->ptr[off + i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const struct buf *b, size_t off)
{
    return (uint32_t)b->ptr[off] | (uint32_t)b->ptr[off + 1] << 8 |
           (uint32_t)b->ptr[off + 2] << 16 | (uint32_t)b->ptr[off + 3] << 24;
}

/* `q` with its certification data replaced by `cert` and `surplus` bytes after it inside the
 * signature data (every enclosing size fixed up), its padding kept. */
static void rebuild(const struct buf *q, struct view cert, size_t surplus, struct buf *out)
{
    struct att_quote p;
    cr_assert_eq(att_quote_parse(buf_view(q), &p), 0);
    size_t start = (size_t)(p.cert_data.ptr - q->ptr), end = start + p.cert_data.size;
    size_t sig_at = p.signed_region.size;
    uint32_t delta = (uint32_t)(cert.size - p.cert_data.size);
    cr_assert_eq(p.signature_data_surplus, 0, "real quotes have none");
    buf_reset(out);
    cr_assert_eq(buf_append(out, q->ptr, start), 0);
    cr_assert_eq(buf_append_view(out, cert), 0);
    cr_assert_eq(buf_append(out, q->ptr + end, q->size - end), 0);
    for (size_t i = 0; i < surplus && out->size < start + cert.size + surplus; i++)
        cr_assert_eq(buf_append_byte(out, 0), 0); /* more padding when there is not enough */
    put32(out, start - 4, (uint32_t)cert.size);
    put32(out, sig_at, get32(out, sig_at) + delta + (uint32_t)surplus);
    if (p.version >= 4) /* the type-6 wrapper: QE report .. certification data */
        put32(out, sig_at + 4 + 130, get32(out, sig_at + 4 + 130) + delta);
}

/* The PEM blocks of `cert` with text Intel's splitting skips around them and after a NUL. */
static void stray_chain(struct view cert, struct buf *out)
{
    static const char end[] = "-----END CERTIFICATE-----";
    const uint8_t *p = cert.ptr, *stop = cert.ptr + cert.size, *e;
    buf_reset(out);
    cr_assert_eq(buf_append_str(out, "PCK chain, as Intel splits it\r\n"), 0);
    while ((e = memmem(p, (size_t)(stop - p), end, strlen(end))) != NULL) {
        const uint8_t *b = memmem(p, (size_t)(stop - p), "-----BEGIN", 10);
        cr_assert_not_null(b);
        cr_assert_eq(buf_append(out, b, (size_t)(e - b) + strlen(end)), 0);
        cr_assert_eq(buf_append_str(out, " \t# skipped: no dash\r\n"), 0);
        p = e + strlen(end);
    }
    cr_assert_eq(buf_append_byte(out, 0), 0);
    cr_assert_eq(buf_append_str(out, "after the NUL -----END CERTIFICATE-----"), 0);
}

Test(vectors, every_vector_decodes_to_its_expected_values)
{
    QT_REQUIRE_SHARED();
    size_t n = 0;
    for (const char *const *name = at_vector_names(); *name != NULL; name++, n++)
        check_decode(*name);
    cr_assert_geq(n, 10, "only %zu vectors found", n);
}

Test(vectors, every_vector_gets_its_expected_verdict)
{
    QT_REQUIRE_SHARED();
    for (const char *const *name = at_vector_names(); *name != NULL; name++)
        check_verdict(*name);
}

/* Framing Intel's verifier does not read (QVL CertificateChain::splitChain and QvE's C-string
 * chain; QVL Quote::parse and the AuthData inserts for the signature data surplus) changes no
 * vector's decode or verdict: the verdicts still come from expected.json. */
Test(vectors, verdicts_survive_framing_intel_ignores)
{
    QT_REQUIRE_SHARED();
    size_t n = 0;
    for (const char *const *name = at_vector_names(); *name != NULL; name++) {
        json_t *e = at_expected(*name);
        bool chain = json_object_get(e, "pck_ext") != NULL;
        json_decref(e);
        if (!chain)
            continue;
        struct buf q = BUF_INIT, cert = BUF_INIT, v = BUF_INIT;
        struct att_quote p;
        qt_read(at_vector_path(*name, "quote.dat"), &q);
        cr_assert_eq(att_quote_parse(buf_view(&q), &p), 0);
        size_t padding = p.trailing_size;
        stray_chain(p.cert_data, &cert);
        rebuild(&q, buf_view(&cert), 0, &v);
        cr_assert_eq(att_quote_parse(buf_view(&v), &p), 0, "%s", *name);
        cr_expect_eq(p.trailing_size, padding, "%s", *name);
        check_verdict_of(*name, buf_view(&v));
        /* The padding (or 46 zero bytes when there is none) counted in the signature data. */
        cr_assert_eq(att_quote_parse(buf_view(&q), &p), 0);
        size_t surplus = padding > 0 ? padding : 46;
        rebuild(&q, p.cert_data, surplus, &v);
        cr_assert_eq(att_quote_parse(buf_view(&v), &p), 0, "%s", *name);
        cr_expect_eq(p.signature_data_surplus, surplus, "%s", *name);
        cr_expect_eq(p.trailing_size, 0, "%s", *name);
        check_verdict_of(*name, buf_view(&v));
        buf_free(&q);
        buf_free(&cert);
        buf_free(&v);
        n++;
    }
    cr_assert_geq(n, 8, "only %zu vectors with a PCK chain", n);
}

/* A collateral directory that is `vector` with one file replaced. */
static void variant_dir(const char *vector, const char *file, const char *replacement, char dir[64])
{
    at_tmpdir(dir);
    const char *files[] = {"tcb_info.json",
                           "qe_identity.json",
                           "tcb_info_issuer_chain.pem",
                           "qe_identity_issuer_chain.pem",
                           "pck_crl.der",
                           "pck_crl.pem",
                           "root_ca_crl.der"};
    for (size_t i = 0; i < QY_ARRAY_LEN(files); i++) {
        char link[256];
        snprintf(link, sizeof(link), "%s/%s", dir, files[i]);
        const char *target =
            at_vector_path(vector, strcmp(files[i], file) == 0 ? replacement : files[i]);
        if (access(target, F_OK) == 0)
            cr_assert_eq(symlink(target, link), 0);
    }
}

static void expect_failure(const char *vector, const char *quote_file, const char *coll_dir,
                           const char *time, enum att_step step, int error, const char *needle)
{
    struct buf quote = BUF_INIT;
    struct att_result res;
    qt_read(at_vector_path(vector, quote_file), &quote);
    struct att_verifier *v = at_verifier(coll_dir, VIEW_EMPTY);
    cr_assert_eq(att_verify(v, buf_view(&quote), at_time(time), &res), 0);
    cr_expect(!res.verified, "%s/%s verified", vector, quote_file);
    cr_expect_eq(res.failed_step, step, "failed at %s: %s", att_step_name(res.failed_step),
                 res.detail);
    cr_expect_eq(res.error, error, "%s: %s", err_name(res.error), res.detail);
    cr_expect(strstr(res.detail, needle) != NULL, "detail \"%s\" lacks \"%s\"", res.detail, needle);
    cr_expect(res.parsed, "the identity is reported even on failure");
    att_verifier_free(v);
    buf_free(&quote);
}

Test(vectors, corrupted_quote_fails_at_the_quote_signature)
{
    QT_REQUIRE_SHARED();
    expect_failure("fortanix-sgx-v3-chainorder", "quote_corrupted.dat",
                   at_vector_path("fortanix-sgx-v3-chainorder", NULL), "2020-05-20T00:00:00Z",
                   ATT_STEP_QUOTE_SIGNATURE, ERR_BAD_SIGNATURE,
                   "not signed by its attestation key");
}

Test(vectors, tampered_qe_identity_fails_at_its_signature)
{
    QT_REQUIRE_SHARED();
    char dir[64];
    variant_dir("fortanix-sgx-v3-chainorder", "qe_identity.json", "qe_identity_tampered.json", dir);
    expect_failure("fortanix-sgx-v3-chainorder", "quote.dat", dir, "2020-05-20T00:00:00Z",
                   ATT_STEP_QE_IDENTITY, ERR_BAD_SIGNATURE, "signature does not verify");
    at_rmdir(dir);
}

Test(vectors, expired_tcb_signing_chain_fails_at_tcb_info)
{
    QT_REQUIRE_SHARED();
    char dir[64];
    variant_dir("gotdx-tdx-v5", "tcb_info_issuer_chain.pem", "tcb_info_issuer_chain.gotdx-2018.pem",
                dir);
    /* The QE Identity has its own (valid) chain file; only the TCB Info's is the expired one. */
    expect_failure("gotdx-tdx-v5", "quote.dat", dir, "2026-02-20T00:00:00Z", ATT_STEP_TCB_INFO,
                   ERR_EXPIRED,
                   "TCB Signing chain is valid from 2018-05-21T10:50:10Z to 2025-05-21T10:50:10Z");
    at_rmdir(dir);
}

Test(vectors, sgx_tcb_info_for_a_tdx_quote_is_refused)
{
    QT_REQUIRE_SHARED();
    char dir[64];
    variant_dir("phala-tdx-v4", "tcb_info.json", "../phala-sgx-v3/tcb_info.json", dir);
    expect_failure("phala-tdx-v4", "quote.dat", dir, "2025-07-01T00:00:00Z", ATT_STEP_TCB_INFO,
                   ERR_ATT_MISMATCH, "TDX quote needs a TDX TCB Info");
    at_rmdir(dir);
}

Test(vectors, intel_root_is_not_an_insecure_root_and_legacy_root_is_accepted)
{
    QT_REQUIRE_SHARED();
    /* The chain-order vector carries the legacy 2033 root certificate: same key, accepted. */
    struct buf quote = BUF_INIT;
    struct att_result res;
    qt_read(at_vector_path("fortanix-sgx-v3-chainorder", "quote.dat"), &quote);
    struct att_verifier *v = at_verifier(NULL, VIEW_EMPTY);
    cr_assert_eq(att_verify(v, buf_view(&quote), at_time("2021-01-01T00:00:00Z"), &res), 0);
    cr_expect(res.verified && !res.insecure_root, "%s", res.detail);
    /* After the legacy root expired (2033-05-21), its chain no longer verifies. */
    cr_assert_eq(att_verify(v, buf_view(&quote), at_time("2033-06-01T00:00:00Z"), &res), 0);
    cr_expect(!res.verified && res.failed_step == ATT_STEP_PCK_CHAIN && res.error == ERR_EXPIRED,
              "%s", res.detail);
    att_verifier_free(v);
    buf_free(&quote);
}

Test(vectors, collateral_check_api_verifies_each_item)
{
    QT_REQUIRE_SHARED();
    struct att_collateral_item it = {BUF_INIT, BUF_INIT};
    qt_read(at_vector_path("phala-sgx-v3", "tcb_info.json"), &it.body);
    qt_read(at_vector_path("phala-sgx-v3", "tcb_info_issuer_chain.pem"), &it.issuer_chain);
    cr_expect_eq(att_collateral_check(ATT_COLLATERAL_TCB_INFO, &it, NULL, 0), 0, "%s",
                 err_detail(-1));
    cr_expect_eq(att_collateral_check(ATT_COLLATERAL_QE_IDENTITY, &it, NULL, 0), ERR_COLLATERAL);
    att_collateral_item_free(&it);
    qt_read(at_vector_path("phala-sgx-v3", "root_ca_crl.der"), &it.body);
    cr_expect_eq(att_collateral_check(ATT_COLLATERAL_ROOT_CA_CRL, &it, NULL, 0), 0);
    att_collateral_item_free(&it);
    /* PEM and hex forms of the same CRL parse too. */
    qt_read(at_vector_path("fortanix-sgx-v3-2020", "pck_crl.pem"), &it.body);
    cr_expect_eq(att_collateral_check(ATT_COLLATERAL_PCK_CRL, &it, NULL, 0), 0, "%s",
                 err_detail(ERR_COLLATERAL));
    att_collateral_item_free(&it);
    struct buf der = BUF_INIT;
    qt_read(at_vector_path("phala-sgx-v3", "pck_crl.der"), &der);
    cr_assert_eq(enc_hex(&it.body, buf_view(&der)), 0);
    cr_assert_eq(buf_append_str(&it.body, "\n"), 0);
    cr_expect_eq(att_collateral_check(ATT_COLLATERAL_PCK_CRL, &it, NULL, 0), 0, "%s",
                 err_detail(ERR_COLLATERAL));
    buf_free(&der);
    att_collateral_item_free(&it);
}
