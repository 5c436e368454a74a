/* MarbleRun's package rules (reference/marblerun.md §1.2, §5.3): each rule accepts and refuses as
 * MarbleRun does, and a refusal names the rule and says why, exactly. */
#include <string.h>

#include "att_test.h"

/* A verified result for a production enclave with known identity (as att_verify fills it). */
static struct att_result sample(void)
{
    struct att_result r;
    memset(&r, 0, sizeof(r));
    r.verified = true;
    r.parsed = true;
    r.tee_type = ATT_TEE_SGX;
    r.body_type = ATT_BODY_SGX;
    r.tcb_status = ATT_TCB_UP_TO_DATE;
    memset(r.sgx.mrenclave, 0xab, 32);
    r.sgx.mrenclave[0] = 0x00;
    memset(r.sgx.mrsigner, 0xcd, 32);
    r.sgx.isvprodid = 7;
    r.sgx.isvsvn = 2;
    return r;
}

static void expect_refusal(const struct att_policy *p, const struct att_result *r, const char *rule,
                           const char *reason)
{
    struct att_refusal why;
    int e = att_policy_check(p, r, &why);
    cr_assert_eq(e, ERR_POLICY, "accepted, expected a refusal by %s", rule);
    cr_expect_str_eq(why.rule, rule);
    cr_expect_str_eq(why.reason, reason);
    char full[512];
    snprintf(full, sizeof(full), "%s: %s", rule, reason);
    cr_expect_str_eq(err_detail(e), full);
}

static void expect_accept(const struct att_policy *p, const struct att_result *r)
{
    struct att_refusal why;
    int e = att_policy_check(p, r, &why);
    cr_assert_eq(e, 0, "refused by %s: %s", why.rule, why.reason);
}

static const char mre_hex[] = "00ababababababababababababababababababababababababababababababab";
static const char mrs_hex[] = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

Test(policy, empty_policy_accepts_a_production_up_to_date_enclave)
{
    struct att_policy p = {0};
    struct att_result r = sample();
    expect_accept(&p, &r);
    cr_expect_eq(att_policy_check(&p, &r, NULL), 0);
}

Test(policy, unverified_quotes_are_refused)
{
    struct att_policy p = {0};
    struct att_result r = sample();
    r.verified = false;
    r.failed_step = ATT_STEP_QUOTE_SIGNATURE;
    snprintf(r.detail, sizeof(r.detail), "the quote is not signed by its attestation key");
    expect_refusal(&p, &r, "Verified",
                   "the quote did not verify (quote_signature: the quote is not signed by its "
                   "attestation key)");
}

Test(policy, debug_must_match_exactly)
{
    struct att_policy p = {0};
    struct att_result r = sample();
    r.debug = true;
    expect_refusal(&p, &r, "Debug",
                   "the enclave is a debug enclave, the package requires a production enclave");
    p.debug = true;
    expect_accept(&p, &r);
    r.debug = false; /* "Debug": true also refuses production enclaves (MarbleRun's exact match) */
    expect_refusal(&p, &r, "Debug",
                   "the enclave is not a debug enclave, the package requires a debug enclave");
}

Test(policy, unique_id_case_insensitive)
{
    struct att_policy p = {.unique_id =
                               "00ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB"};
    struct att_result r = sample();
    expect_accept(&p, &r);
    p.unique_id = mre_hex;
    expect_accept(&p, &r);
    p.unique_id = "1234";
    expect_refusal(&p, &r, "UniqueID",
                   "MRENCLAVE 00ababababababababababababababababababababababababababababababab "
                   "does not match UniqueID 1234");
    p.unique_id = "";
    expect_accept(&p, &r);
}

Test(policy, signer_id_case_insensitive)
{
    struct att_policy p = {.signer_id =
                               "CDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCD"};
    struct att_result r = sample();
    expect_accept(&p, &r);
    p.signer_id = mre_hex;
    expect_refusal(&p, &r, "SignerID",
                   "MRSIGNER cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd does "
                   "not match SignerID "
                   "00ababababababababababababababababababababababababababababababab");
}

Test(policy, product_id_exact)
{
    struct att_policy p = {.has_product_id = true, .product_id = 7};
    struct att_result r = sample();
    expect_accept(&p, &r);
    p.product_id = 8;
    expect_refusal(&p, &r, "ProductID", "ISVPRODID 7 does not match ProductID 8");
    p.product_id = 0; /* set to 0 is not "absent" */
    expect_refusal(&p, &r, "ProductID", "ISVPRODID 7 does not match ProductID 0");
}

Test(policy, security_version_is_a_minimum)
{
    struct att_policy p = {.has_security_version = true, .security_version = 2};
    struct att_result r = sample();
    expect_accept(&p, &r);
    p.security_version = 1;
    expect_accept(&p, &r);
    p.security_version = 3;
    expect_refusal(&p, &r, "SecurityVersion", "ISVSVN 2 is below SecurityVersion 3");
}

Test(policy, tcb_statuses_default_and_list)
{
    struct att_policy p = {0};
    struct att_result r = sample();
    r.tcb_status = ATT_TCB_SW_HARDENING_NEEDED;
    expect_accept(&p, &r); /* default: UpToDate and SWHardeningNeeded */
    r.tcb_status = ATT_TCB_OUT_OF_DATE;
    expect_refusal(&p, &r, "AcceptedTCBStatuses", "TCB status OutOfDate is not accepted");
    const char *list[] = {"OutOfDate", "ConfigurationNeeded"};
    p.accepted_tcb_statuses = list;
    p.accepted_tcb_status_count = 2;
    expect_accept(&p, &r);
    r.tcb_status = ATT_TCB_CONFIGURATION_NEEDED;
    expect_accept(&p, &r);
    r.tcb_status = ATT_TCB_SW_HARDENING_NEEDED; /* a non-empty list replaces the default */
    expect_refusal(&p, &r, "AcceptedTCBStatuses", "TCB status SWHardeningNeeded is not accepted");
    r.tcb_status = ATT_TCB_UP_TO_DATE; /* always accepted */
    expect_accept(&p, &r);
    r.tcb_status = ATT_TCB_REVOKED;
    expect_refusal(&p, &r, "AcceptedTCBStatuses",
                   "TCB status Revoked is never accepted, even when listed");
    r.tcb_status = ATT_TCB_NOT_EVALUATED; /* verified without collateral */
    expect_refusal(&p, &r, "AcceptedTCBStatuses", "TCB status NotEvaluated is not accepted");
}

/* Intel's QvE fails Revoked; listing it must not make a result that says Revoked pass. */
Test(policy, revoked_is_never_accepted_even_when_listed)
{
    const char *list[] = {"Revoked", "UpToDate", "OutOfDate"};
    struct att_policy p = {.accepted_tcb_statuses = list, .accepted_tcb_status_count = 3};
    struct att_result r = sample();
    r.tcb_status = ATT_TCB_REVOKED;
    expect_refusal(&p, &r, "AcceptedTCBStatuses",
                   "TCB status Revoked is never accepted, even when listed");
    r.tcb_status = ATT_TCB_OUT_OF_DATE; /* the rest of the list still works */
    expect_accept(&p, &r);
}

/* Through the real path: a platform (or QE) whose TCB level is Revoked does not verify, so the
 * policy sees an unverified result whatever its AcceptedTCBStatuses. */
Test(policy, revoked_platform_or_qe_refused_end_to_end)
{
    const char *list[] = {"Revoked"};
    struct att_policy p = {.accepted_tcb_statuses = list, .accepted_tcb_status_count = 1};
    for (int qe = 0; qe < 2; qe++) {
        struct att_testkit_options o;
        struct at_kit k;
        struct buf q = BUF_INIT;
        struct att_result res;
        att_testkit_options_init(&o);
        if (qe)
            o.qe_tcb_status = ATT_TCB_REVOKED;
        else
            o.tcb_status = ATT_TCB_REVOKED;
        at_kit_new(&o, &k);
        at_kit_quote(&k, 1, 0, &q);
        at_kit_verify(&k, buf_view(&q), &res);
        cr_expect(!res.verified, "a Revoked %s verified", qe ? "QE" : "platform");
        struct att_refusal why;
        cr_expect_eq(att_policy_check(&p, &res, &why), ERR_POLICY);
        cr_expect_str_eq(why.rule, "Verified");
        cr_expect(strstr(why.reason, qe ? "(qe_identity: the QE's TCB level"
                                        : "(tcb_level: the platform's TCB level") != NULL,
                  "%s", why.reason);
        buf_free(&q);
        at_kit_free(&k);
    }
}

Test(policy, advisories_only_for_sw_hardening_needed)
{
    const char *accepted[] = {"intel-sa-00615"};
    struct att_policy p = {.accepted_advisories = accepted, .accepted_advisory_count = 1};
    struct att_result r = sample();
    r.tcb_status = ATT_TCB_SW_HARDENING_NEEDED;
    r.advisory_count = 1;
    snprintf(r.advisory_ids[0], sizeof(r.advisory_ids[0]), "INTEL-SA-00615");
    expect_accept(&p, &r);
    r.advisory_count = 2;
    snprintf(r.advisory_ids[1], sizeof(r.advisory_ids[1]), "INTEL-SA-00334");
    expect_refusal(
        &p, &r, "AcceptedAdvisories",
        "TCB status SWHardeningNeeded has advisory INTEL-SA-00334, which is not accepted");
    p.accepted_advisory_count = 0; /* empty list: every advisory accepted */
    expect_accept(&p, &r);
    /* Other statuses are judged by AcceptedTCBStatuses only. */
    const char *list[] = {"OutOfDate"};
    p.accepted_advisory_count = 1;
    p.accepted_tcb_statuses = list;
    p.accepted_tcb_status_count = 1;
    r.tcb_status = ATT_TCB_OUT_OF_DATE;
    expect_accept(&p, &r);
}

Test(policy, rules_run_in_marblerun_order)
{
    struct att_policy p = {
        .unique_id = "1234", .has_security_version = true, .security_version = 9};
    struct att_result r = sample();
    r.tcb_status = ATT_TCB_OUT_OF_DATE;
    r.debug = true;
    expect_refusal(&p, &r, "AcceptedTCBStatuses", "TCB status OutOfDate is not accepted");
    r.tcb_status = ATT_TCB_UP_TO_DATE;
    expect_refusal(&p, &r, "Debug",
                   "the enclave is a debug enclave, the package requires a production enclave");
    r.debug = false;
    expect_refusal(&p, &r, "UniqueID",
                   "MRENCLAVE 00ababababababababababababababababababababababababababababababab "
                   "does not match UniqueID 1234");
}

Test(policy, tdx_quotes)
{
    struct att_policy p = {0};
    struct att_result r = sample();
    r.tee_type = ATT_TEE_TDX;
    r.body_type = ATT_BODY_TD10;
    memset(r.td.mrtd, 0x11, 48);
    expect_accept(&p, &r);
    p.unique_id = "11111111111111111111111111111111111111111111111111111111111111111111111111111111"
                  "1111111111111111";
    expect_accept(&p, &r);
    p.signer_id = mrs_hex;
    expect_refusal(&p, &r, "SignerID", "SignerID does not apply to TDX quotes");
}

Test(policy, end_to_end_with_a_testkit_quote)
{
    struct at_kit k;
    struct buf q = BUF_INIT;
    struct att_result res;
    at_kit_new(NULL, &k);
    at_kit_quote(&k, 1, 0, &q);
    at_kit_verify(&k, buf_view(&q), &res);
    cr_assert(res.verified, "%s", res.detail);
    char mre[65];
    snprintf(mre, sizeof(mre), "%s", at_hex(k.id.mrenclave, 32));
    struct att_policy p = {.unique_id = mre,
                           .has_product_id = true,
                           .product_id = k.id.isvprodid,
                           .has_security_version = true,
                           .security_version = k.id.isvsvn};
    expect_accept(&p, &res);
    p.security_version = k.id.isvsvn + 1u;
    struct att_refusal why;
    cr_expect_eq(att_policy_check(&p, &res, &why), ERR_POLICY);
    cr_expect_str_eq(why.rule, "SecurityVersion");
    buf_free(&q);
    at_kit_free(&k);
}
