/* The testkit round trip: every knob gives the TCB status it promises, every fault fails at its
 * step, and nothing from the kit is trusted without its root. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "att_test.h"

static void round_trip(const struct att_testkit_options *o, unsigned quote_faults,
                       struct att_result *res)
{
    struct at_kit k;
    struct buf q = BUF_INIT;
    at_kit_new(o, &k);
    at_kit_quote(&k, 0x42, quote_faults, &q);
    at_kit_verify(&k, buf_view(&q), res);
    buf_free(&q);
    at_kit_free(&k);
}

/* A kit whose platform and QE TCB levels have the given statuses, one quote verified. */
static void round_trip_statuses(enum att_tcb_status platform, enum att_tcb_status qe,
                                struct att_result *res)
{
    struct att_testkit_options o;
    att_testkit_options_init(&o);
    o.tcb_status = platform;
    o.qe_tcb_status = qe;
    round_trip(&o, 0, res);
}

Test(testkit, default_kit_verifies_up_to_date_under_its_root_only)
{
    struct at_kit k;
    struct buf q = BUF_INIT;
    struct att_result res;
    at_kit_new(NULL, &k);
    at_kit_quote(&k, 0x42, 0, &q);
    at_kit_verify(&k, buf_view(&q), &res);
    cr_assert(res.verified, "%s: %s", att_step_name(res.failed_step), res.detail);
    cr_expect_eq(res.tcb_status, ATT_TCB_UP_TO_DATE);
    cr_expect(res.insecure_root && res.collateral_checked && res.root_ca_crl_checked);
    cr_expect_eq(res.advisory_count, 0);
    cr_expect_eq(res.version, 3);
    cr_expect_eq(res.tee_type, ATT_TEE_SGX);
    cr_expect(!res.debug);
    cr_expect_eq(memcmp(res.sgx.mrenclave, k.id.mrenclave, 32), 0);
    cr_expect_eq(memcmp(res.sgx.mrsigner, k.id.mrsigner, 32), 0);
    cr_expect_eq(res.sgx.isvprodid, 1);
    cr_expect_eq(res.sgx.isvsvn, 1);
    cr_expect_eq(res.report_data[63], 0x42);
    cr_expect_str_eq(at_hex(res.pck.fmspc, 6), "00906ed50000");
    cr_expect_eq(res.pck.pcesvn, 13);
    cr_expect_eq(res.pck_ca, ATT_PCK_CA_PROCESSOR);
    cr_expect_gt(res.collateral_expiry, qtime_now());

    /* Without the root: the chain is not trusted, whatever the collateral. */
    struct att_verifier *v = at_verifier(k.dir, VIEW_EMPTY);
    cr_assert_eq(att_verify(v, buf_view(&q), qtime_now(), &res), 0);
    cr_expect(!res.verified);
    cr_expect_eq(res.failed_step, ATT_STEP_PCK_CHAIN);
    cr_expect_eq(res.error, ERR_ATT_UNTRUSTED);
    cr_expect_str_eq(res.detail, "no certificate of the chain is a trusted root");
    att_verifier_free(v);
    buf_free(&q);
    at_kit_free(&k);
}

/* att_verify takes a quote in MarbleRun's OpenEnclave envelope as it takes a bare one. */
Test(testkit, a_quote_in_the_oe_envelope_verifies)
{
    struct at_kit k;
    struct buf q = BUF_INIT, wrapped = BUF_INIT;
    struct att_result res;
    at_kit_new(NULL, &k);
    at_kit_quote(&k, 0x42, 0, &q);
    uint8_t h[16] = {1, 0, 0, 0, 2, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        h[8 + i] = (uint8_t)((uint64_t)q.size >> (8 * i));
    cr_assert_eq(buf_append(&wrapped, h, sizeof(h)), 0);
    cr_assert_eq(buf_append_view(&wrapped, buf_view(&q)), 0);
    at_kit_verify(&k, buf_view(&wrapped), &res);
    cr_assert(res.verified, "%s: %s", att_step_name(res.failed_step), res.detail);
    cr_expect_eq(res.report_data[63], 0x42);
    wrapped.ptr[0] = 2; /* not an envelope: the quote parser refuses it */
    at_kit_verify(&k, buf_view(&wrapped), &res);
    cr_expect(!res.verified);
    cr_expect_eq(res.failed_step, ATT_STEP_PARSE);
    buf_free(&q), buf_free(&wrapped);
    at_kit_free(&k);
}

Test(testkit, identity_params_reach_the_result)
{
    struct at_kit k;
    struct buf q = BUF_INIT;
    struct att_result res;
    at_kit_new(NULL, &k);
    struct att_testkit_quote_params p = {.isvprodid = 3, .isvsvn = 9, .debug = true};
    memset(p.mrenclave, 0x11, 32);
    memset(p.mrsigner, 0x22, 32);
    memset(p.report_data, 0x33, 64);
    cr_assert_eq(att_testkit_quote(k.tk, &p, &q), 0);
    at_kit_verify(&k, buf_view(&q), &res);
    cr_assert(res.verified, "%s", res.detail);
    cr_expect(res.debug);
    cr_expect_eq(res.sgx.isvprodid, 3);
    cr_expect_eq(res.sgx.isvsvn, 9);
    cr_expect_eq(res.sgx.mrenclave[31], 0x11);
    cr_expect_eq(res.sgx.mrsigner[0], 0x22);
    cr_expect_eq(res.report_data[0], 0x33);
    buf_free(&q);
    at_kit_free(&k);
}

Test(testkit, platform_tcb_statuses)
{
    static const enum att_tcb_status statuses[] = {
        ATT_TCB_UP_TO_DATE,
        ATT_TCB_SW_HARDENING_NEEDED,
        ATT_TCB_CONFIGURATION_NEEDED,
        ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
        ATT_TCB_OUT_OF_DATE,
        ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(statuses); i++) {
        struct att_testkit_options o;
        struct att_result res;
        att_testkit_options_init(&o);
        o.tcb_status = statuses[i];
        round_trip(&o, 0, &res);
        cr_expect(res.verified, "%s: %s", att_tcb_status_name(statuses[i]), res.detail);
        cr_expect_eq(res.tcb_status, statuses[i], "got %s", att_tcb_status_name(res.tcb_status));
        cr_expect_eq(res.advisory_count, statuses[i] == ATT_TCB_UP_TO_DATE ? 0 : 1);
        if (res.advisory_count == 1)
            cr_expect_str_eq(res.advisory_ids[0], "INTEL-SA-00615");
    }
}

Test(testkit, qe_status_converges_with_the_platform)
{
    static const struct {
        enum att_tcb_status platform, qe, want;
    } cases[] = {
        {ATT_TCB_UP_TO_DATE, ATT_TCB_OUT_OF_DATE, ATT_TCB_OUT_OF_DATE},
        {ATT_TCB_SW_HARDENING_NEEDED, ATT_TCB_OUT_OF_DATE, ATT_TCB_OUT_OF_DATE},
        {ATT_TCB_CONFIGURATION_NEEDED, ATT_TCB_OUT_OF_DATE,
         ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED},
        {ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED, ATT_TCB_OUT_OF_DATE,
         ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED},
        {ATT_TCB_OUT_OF_DATE, ATT_TCB_OUT_OF_DATE, ATT_TCB_OUT_OF_DATE},
        {ATT_TCB_CONFIGURATION_NEEDED, ATT_TCB_UP_TO_DATE, ATT_TCB_CONFIGURATION_NEEDED},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(cases); i++) {
        struct att_result res;
        round_trip_statuses(cases[i].platform, cases[i].qe, &res);
        cr_expect(res.verified, "%s", res.detail);
        cr_expect_eq(res.tcb_status, cases[i].want, "case %zu: got %s", i,
                     att_tcb_status_name(res.tcb_status));
        cr_expect_eq(res.platform_tcb_status, cases[i].platform);
        cr_expect_eq(res.qe_tcb_status, cases[i].qe);
    }
}

/* Intel's QvE treats a Revoked TCB as a failure (qve.cpp is_nonterminal_error): so does
 * att_verify, naming the level that was revoked; the statuses stay in the result to say why. */
Test(testkit, revoked_platform_or_qe_level_does_not_verify)
{
    static const struct {
        enum att_tcb_status platform, qe;
        enum att_step step;
        const char *detail;
    } cases[] = {
        {ATT_TCB_REVOKED, ATT_TCB_UP_TO_DATE, ATT_STEP_TCB_LEVEL,
         "the platform's TCB level (pcesvn 13, tcbDate "},
        {ATT_TCB_UP_TO_DATE, ATT_TCB_REVOKED, ATT_STEP_QE_IDENTITY,
         "the QE's TCB level (isvsvn 8, tcbDate "},
        {ATT_TCB_CONFIGURATION_NEEDED, ATT_TCB_REVOKED, ATT_STEP_QE_IDENTITY,
         "the QE's TCB level (isvsvn 8, tcbDate "},
        /* both: the platform's level is named first */
        {ATT_TCB_REVOKED, ATT_TCB_REVOKED, ATT_STEP_TCB_LEVEL, "the platform's TCB level"},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(cases); i++) {
        struct att_result res;
        round_trip_statuses(cases[i].platform, cases[i].qe, &res);
        cr_expect(!res.verified, "case %zu verified", i);
        cr_expect_eq(res.failed_step, cases[i].step, "case %zu: %s", i,
                     att_step_name(res.failed_step));
        cr_expect(!res.collateral_fault, "case %zu: a revoked level is the platform's, not the source's", i);
        cr_expect_eq(res.error, ERR_ATT_TCB_REVOKED, "case %zu: %s", i, err_name(res.error));
        cr_expect(strncmp(res.detail, cases[i].detail, strlen(cases[i].detail)) == 0,
                  "case %zu: \"%s\"", i, res.detail);
        cr_expect(strstr(res.detail, cases[i].step == ATT_STEP_TCB_LEVEL
                                         ? ") in the TCB Info is Revoked"
                                         : ") in the QE Identity is Revoked") != NULL,
                  "case %zu: \"%s\"", i, res.detail);
        cr_expect_eq(res.platform_tcb_status, cases[i].platform);
        cr_expect_eq(res.qe_tcb_status, cases[i].qe);
        cr_expect_eq(res.tcb_status, ATT_TCB_REVOKED);
        cr_expect(res.collateral_checked && res.has_pck && res.parsed);
    }
}

Test(testkit, advisories_knob)
{
    const char *adv[] = {"INTEL-SA-00289", "INTEL-SA-00615"};
    struct att_testkit_options o;
    struct att_result res;
    att_testkit_options_init(&o);
    o.tcb_status = ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED;
    o.advisories = adv;
    o.advisory_count = 2;
    round_trip(&o, 0, &res);
    cr_assert(res.verified, "%s", res.detail);
    cr_expect_eq(res.tcb_status, ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED);
    cr_assert_eq(res.advisory_count, 2);
    cr_expect_str_eq(res.advisory_ids[0], "INTEL-SA-00289");
    cr_expect_str_eq(res.advisory_ids[1], "INTEL-SA-00615");
}

Test(testkit, no_matching_level_does_not_verify)
{
    struct att_testkit_options o;
    struct att_result res;
    att_testkit_options_init(&o);
    o.tcb_no_match = true;
    round_trip(&o, 0, &res);
    cr_expect(!res.verified);
    cr_expect_eq(res.failed_step, ATT_STEP_TCB_LEVEL);
    cr_expect_eq(res.error, ERR_ATT_TCB_NOT_SUPPORTED);
    cr_expect_str_eq(res.detail,
                     "the platform's TCB (PCK components and PCESVN 13) is below every TCB level");
}

Test(testkit, platform_ca_fmspc_and_svns)
{
    static const uint8_t fmspc[6] = {0x30, 0x60, 0x6a, 0x00, 0x00, 0x00};
    static const uint8_t comps[16] = {12, 12, 3, 3, 255, 255, 1, 0, 0, 0, 0, 0, 0, 0, 0, 255};
    struct att_testkit_options o;
    struct att_result res;
    att_testkit_options_init(&o);
    o.ca = ATT_PCK_CA_PLATFORM;
    memcpy(o.fmspc, fmspc, 6);
    memcpy(o.tcb_components, comps, 16);
    o.pcesvn = 65535;
    o.qe_isvsvn = 0;
    o.tcb_status = ATT_TCB_SW_HARDENING_NEEDED;
    round_trip(&o, 0, &res);
    cr_assert(res.verified, "%s", res.detail);
    cr_expect_eq(res.tcb_status, ATT_TCB_SW_HARDENING_NEEDED);
    cr_expect_eq(res.pck_ca, ATT_PCK_CA_PLATFORM);
    cr_expect_eq(res.pck.sgx_type, 1);
    cr_expect_eq(memcmp(res.pck.fmspc, fmspc, 6), 0);
    cr_expect_eq(memcmp(res.pck.tcb_components, comps, 16), 0);
    cr_expect_eq(res.pck.pcesvn, 65535);
    cr_expect_eq(res.qe_svn, 0);
}

Test(testkit, faults_fail_at_their_steps)
{
    static const struct {
        const char *name;
        bool at_init;
        enum att_step step;
        int error;
        const char *detail;
    } cases[] = {
        {"revoked-pck", true, ATT_STEP_PCK_CRL, ERR_REVOKED, "the PCK certificate is revoked"},
        {"revoked-pck-ca", true, ATT_STEP_ROOT_CA_CRL, ERR_REVOKED, "the PCK CA is revoked"},
        {"expired-collateral", true, ATT_STEP_TCB_INFO, ERR_EXPIRED, "the TCB Info is valid from "},
        {"bad-tcb-info-signature", true, ATT_STEP_TCB_INFO, ERR_BAD_SIGNATURE,
         "TCB Info: the signature does not verify with the TCB Signing key"},
        {"bad-qe-identity-signature", true, ATT_STEP_QE_IDENTITY, ERR_BAD_SIGNATURE,
         "QE Identity: the signature does not verify with the TCB Signing key"},
        {"bad-qe-binding", false, ATT_STEP_QE_REPORT_DATA, ERR_ATT_QE_BINDING,
         "QE report data is not SHA-256(attestation key || QE auth data)"},
        {"bad-qe-report-signature", false, ATT_STEP_QE_REPORT_SIGNATURE, ERR_BAD_SIGNATURE,
         "the QE report is not signed by the PCK key"},
        {"bad-signature", false, ATT_STEP_QUOTE_SIGNATURE, ERR_BAD_SIGNATURE,
         "the quote is not signed by its attestation key"},
        /* Quote faults baked in at init apply to every quote of the kit. */
        {"bad-signature", true, ATT_STEP_QUOTE_SIGNATURE, ERR_BAD_SIGNATURE,
         "the quote is not signed by its attestation key"},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(cases); i++) {
        unsigned f = 0;
        cr_assert_eq(att_testkit_fault_parse(cases[i].name, &f), 0);
        struct att_testkit_options o;
        struct att_result res;
        att_testkit_options_init(&o);
        if (cases[i].at_init)
            o.faults = f;
        round_trip(&o, cases[i].at_init ? 0 : f, &res);
        cr_expect(!res.verified, "%s verified", cases[i].name);
        cr_expect_eq(res.failed_step, cases[i].step, "%s: failed at %s: %s", cases[i].name,
                     att_step_name(res.failed_step), res.detail);
        cr_expect_eq(res.error, cases[i].error, "%s: %s", cases[i].name, err_name(res.error));
        cr_expect(strncmp(res.detail, cases[i].detail, strlen(cases[i].detail)) == 0, "%s: \"%s\"",
                  cases[i].name, res.detail);
    }
    unsigned f = 0;
    cr_expect_eq(att_testkit_fault_parse("frobnicate", &f), ERR_INVALID_ARG);
}

/* The quirks Intel's verifier tolerates change the bytes, never the verdict. */
Test(testkit, tolerated_quirks_verify_as_without_them)
{
    struct at_kit k;
    struct buf plain = BUF_INIT;
    struct att_result want, res;
    at_kit_new(NULL, &k);
    at_kit_quote(&k, 0x42, 0, &plain);
    at_kit_verify(&k, buf_view(&plain), &want);
    cr_assert(want.verified, "%s", want.detail);
    json_t *want_json = NULL;
    cr_assert_eq(att_result_to_json(&want, &want_json), 0);
    const char *names[] = {"pem-stray-bytes", "sig-data-surplus", "pem-stray-bytes"};
    unsigned all = 0;
    for (size_t i = 0; i < QY_ARRAY_LEN(names); i++) {
        unsigned f = 0;
        cr_assert_eq(att_testkit_fault_parse(names[i], &f), 0);
        all |= f;
        unsigned faults = i == 2 ? all : f; /* the last time both at once */
        struct buf q = BUF_INIT;
        at_kit_quote(&k, 0x42, faults, &q);
        cr_assert(!view_eq(buf_view(&q), buf_view(&plain)), "%s changed nothing", names[i]);
        struct att_quote parsed;
        cr_assert_eq(att_quote_parse(buf_view(&q), &parsed), 0, "%s", names[i]);
        cr_expect_eq(parsed.signature_data_surplus,
                     faults & ATT_TK_FAULT_SIG_DATA_SURPLUS ? 46 : 0);
        at_kit_verify(&k, buf_view(&q), &res);
        cr_expect(res.verified, "%s: %s: %s", names[i], att_step_name(res.failed_step), res.detail);
        json_t *j = NULL;
        cr_assert_eq(att_result_to_json(&res, &j), 0);
        cr_expect(json_equal(j, want_json), "%s: the result differs", names[i]);
        json_decref(j);
        buf_free(&q);
    }
    json_decref(want_json);
    buf_free(&plain);
    at_kit_free(&k);
}

Test(testkit, kits_sharing_a_pki_and_fmspc_mismatch)
{
    struct at_kit a, b;
    struct att_testkit_options o;
    at_kit_new(NULL, &a);
    att_testkit_options_init(&o);
    o.pki_from = a.dir;
    o.fmspc[5] = 0x42;
    at_kit_new(&o, &b);
    cr_expect(view_eq(att_testkit_root_pem(a.tk), att_testkit_root_pem(b.tk)), "same root");
    struct buf q = BUF_INIT;
    struct att_result res;
    at_kit_quote(&b, 7, 0, &q);
    /* b's quote with a's collateral (same root, same CAs): the TCB Info is for another FMSPC. */
    struct att_verifier *v = at_verifier(a.dir, att_testkit_root_pem(a.tk));
    cr_assert_eq(att_verify(v, buf_view(&q), qtime_now(), &res), 0);
    cr_expect(!res.verified);
    cr_expect_eq(res.failed_step, ATT_STEP_TCB_INFO);
    cr_expect_eq(res.error, ERR_ATT_MISMATCH);
    cr_expect_str_eq(res.detail,
                     "the TCB Info is for FMSPC 00906ED50000, the platform's is 00906ED50042");
    att_verifier_free(v);
    /* With its own collateral it verifies. */
    at_kit_verify(&b, buf_view(&q), &res);
    cr_expect(res.verified, "%s", res.detail);
    buf_free(&q);
    at_kit_free(&b);
    at_kit_free(&a);
}

Test(testkit, times_outside_the_windows)
{
    struct at_kit k;
    struct buf q = BUF_INIT;
    struct att_result res;
    struct att_testkit_options o;
    att_testkit_options_init(&o);
    o.now = at_time("2030-01-01T00:00:00Z");
    at_kit_new(&o, &k);
    at_kit_quote(&k, 1, 0, &q);
    struct att_verifier *v = NULL;
    cr_assert_eq(att_testkit_verifier_new(k.tk, &v), 0);
    cr_assert_eq(att_verify(v, buf_view(&q), at_time("2030-01-02T00:00:00Z"), &res), 0);
    cr_expect(res.verified, "%s", res.detail);
    cr_assert_eq(att_verify(v, buf_view(&q), at_time("2029-12-30T00:00:00Z"), &res), 0);
    cr_expect(!res.verified && res.failed_step == ATT_STEP_PCK_CHAIN && res.error == ERR_EXPIRED,
              "%s", res.detail);
    cr_assert_eq(att_verify(v, buf_view(&q), at_time("2030-03-01T00:00:00Z"), &res), 0);
    cr_expect(!res.verified && res.failed_step == ATT_STEP_PCK_CRL && res.error == ERR_EXPIRED,
              "%s", res.detail);
    att_verifier_free(v);
    buf_free(&q);
    at_kit_free(&k);
}

Test(testkit, missing_collateral_fails_at_the_collateral_step)
{
    struct at_kit k;
    struct buf q = BUF_INIT;
    struct att_result res;
    char path[128];
    at_kit_new(NULL, &k);
    at_kit_quote(&k, 1, 0, &q);
    /* No Root CA CRL: verified, and the result says it was not checked. */
    snprintf(path, sizeof(path), "%s/root_ca_crl.der", k.dir);
    cr_assert_eq(unlink(path), 0);
    at_kit_verify(&k, buf_view(&q), &res);
    cr_expect(res.verified && !res.root_ca_crl_checked, "%s", res.detail);
    /* No TCB Info: the collateral step, a system error (try again later). */
    snprintf(path, sizeof(path), "%s/tcb_info.json", k.dir);
    cr_assert_eq(unlink(path), 0);
    at_kit_verify(&k, buf_view(&q), &res);
    cr_expect(!res.verified);
    cr_expect_eq(res.failed_step, ATT_STEP_COLLATERAL);
    cr_expect_eq(res.error, ERR_ATT_NO_COLLATERAL);
    cr_expect_eq(err_category(res.error), ERRC_SYSTEM);
    cr_expect(strstr(res.detail, "TCB Info from directory") != NULL, "%s", res.detail);
    buf_free(&q);
    at_kit_free(&k);
}

Test(testkit, result_json)
{
    struct at_kit k;
    struct buf q = BUF_INIT;
    struct att_result res;
    json_t *j = NULL;
    at_kit_new(NULL, &k);
    at_kit_quote(&k, 0, 0, &q);
    at_kit_verify(&k, buf_view(&q), &res);
    cr_assert_eq(att_result_to_json(&res, &j), 0);
    cr_expect(json_is_true(json_object_get(j, "verified")));
    cr_expect(json_is_null(json_object_get(j, "failedStep")));
    cr_expect_str_eq(json_string_value(json_object_get(j, "tcbStatus")), "UpToDate");
    cr_expect_str_eq(json_string_value(json_object_get(j, "teeType")), "SGX");
    cr_expect_str_eq(json_string_value(json_object_get(j, "mrenclave")),
                     at_hex(k.id.mrenclave, 32));
    cr_expect_str_eq(json_string_value(json_object_get(j, "fmspc")), "00906ed50000");
    cr_expect_eq(json_integer_value(json_object_get(j, "isvsvn")), 1);
    cr_expect(json_is_false(json_object_get(j, "debug")));
    cr_expect(json_is_true(json_object_get(j, "insecureRoot")));
    cr_expect(json_is_array(json_object_get(j, "advisoryIds")));
    json_decref(j);
    buf_free(&q);
    at_kit_free(&k);
}

Test(testkit, bad_options_and_directories)
{
    struct att_testkit_options o;
    att_testkit_options_init(&o);
    o.qe_tcb_status = ATT_TCB_CONFIGURATION_NEEDED;
    cr_expect_eq(att_testkit_init("/tmp/quarry-never-created", &o), ERR_INVALID_ARG);
    struct att_testkit *tk = NULL;
    cr_expect_lt(att_testkit_open("/tmp/quarry-no-such-kit", &tk), 0);
    cr_expect_null(tk);
}

Test(testkit, qe_below_every_level_is_not_supported)
{
    struct at_kit a, b;
    struct att_testkit_options o;
    at_kit_new(NULL, &a); /* QE Identity: ISVSVN 8 UpToDate */
    att_testkit_options_init(&o);
    o.pki_from = a.dir;
    o.qe_isvsvn = 2;
    at_kit_new(&o, &b);
    char src[128], dst[128];
    snprintf(src, sizeof(src), "%s/qe_identity.json", a.dir);
    snprintf(dst, sizeof(dst), "%s/qe_identity.json", b.dir);
    struct buf doc = BUF_INIT, q = BUF_INIT;
    qt_read(src, &doc);
    cr_assert_eq(file_write_atomic(dst, buf_view(&doc), 0644), 0);
    struct att_result res;
    at_kit_quote(&b, 1, 0, &q);
    at_kit_verify(&b, buf_view(&q), &res);
    cr_expect(!res.verified);
    cr_expect_eq(res.failed_step, ATT_STEP_TCB_LEVEL, "%s", att_step_name(res.failed_step));
    cr_expect_eq(res.error, ERR_ATT_TCB_NOT_SUPPORTED);
    cr_expect_str_eq(res.detail, "QE ISVSVN 2 is below every QE Identity TCB level");
    buf_free(&doc);
    buf_free(&q);
    at_kit_free(&b);
    at_kit_free(&a);
}

Test(testkit, issuer_chain_files_may_carry_text)
{
    struct at_kit k;
    struct buf chain = BUF_INIT, doc = BUF_INIT, q = BUF_INIT;
    struct att_result res;
    char path[128];
    at_kit_new(NULL, &k);
    snprintf(path, sizeof(path), "%s/tcb_info_issuer_chain.pem", k.dir);
    qt_read(path, &chain);
    cr_assert_eq(buf_append_str(&doc, "# TCB Signing, then the root\r\n"), 0);
    cr_assert_eq(buf_append_view(&doc, buf_view(&chain)), 0);
    cr_assert_eq(buf_append_str(&doc, "# end\n"), 0);
    cr_assert_eq(file_write_atomic(path, buf_view(&doc), 0644), 0);
    at_kit_quote(&k, 1, 0, &q);
    at_kit_verify(&k, buf_view(&q), &res);
    cr_expect(res.verified, "%s", res.detail);
    buf_free(&chain);
    buf_free(&doc);
    buf_free(&q);
    at_kit_free(&k);
}

struct worker {
    struct att_verifier *v;
    const struct buf *quotes;
    size_t count;
    size_t verified;
};

static void *worker_main(void *p)
{
    struct worker *w = p;
    for (size_t i = 0; i < 40; i++) {
        struct att_result res;
        if (att_verify(w->v, buf_view(&w->quotes[i % w->count]), qtime_now(), &res) == 0 && res.verified)
            w->verified++;
    }
    return NULL;
}

Test(testkit, one_verifier_many_threads)
{
    struct at_kit a, b;
    struct att_testkit_options o;
    at_kit_new(NULL, &a);
    att_testkit_options_init(&o);
    o.pki_from = a.dir;
    o.fmspc[5] = 9;
    at_kit_new(&o, &b);
    /* One collateral directory serving both platforms (tcb_info_<fmspc>.json). */
    char src[128], dst[128];
    struct buf doc = BUF_INIT;
    snprintf(src, sizeof(src), "%s/tcb_info.json", b.dir);
    snprintf(dst, sizeof(dst), "%s/tcb_info_00906ed50009.json", a.dir);
    qt_read(src, &doc);
    cr_assert_eq(file_write_atomic(dst, buf_view(&doc), 0644), 0);
    buf_free(&doc);
    struct buf quotes[6] = {BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT};
    for (int i = 0; i < 6; i++)
        at_kit_quote(i % 2 ? &b : &a, (uint8_t)i, 0, &quotes[i]);
    struct att_verifier *v = at_verifier(a.dir, att_testkit_root_pem(a.tk));
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){v, quotes, 6, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(w[i].verified, 40, "thread %d verified %zu of 40", i, w[i].verified);
    }
    att_verifier_free(v);
    for (int i = 0; i < 6; i++)
        buf_free(&quotes[i]);
    at_kit_free(&b);
    at_kit_free(&a);
}
