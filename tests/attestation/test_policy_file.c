/* Policy files (policy_file.c): every member of a MarbleRun package is read, the same policy comes out
 * of an era config and a bare package, and a file that would weaken the check is refused with the
 * exact reason. */
#include <string.h>

#include "att_test.h"

static struct att_policy_file *parse_ok(const char *text)
{
    struct att_policy_file *f = NULL;
    int r = att_policy_file_parse(view_str(text), "policy.json", &f);
    cr_assert_eq(r, 0, "%s: %s", text, err_detail(r));
    return f;
}

static void expect_refused(const char *text, int code, const char *detail)
{
    struct att_policy_file *f = NULL;
    int r = att_policy_file_parse(view_str(text), "policy.json", &f);
    cr_expect_eq(r, code, "%s: %d (%s), want %d", text, r, err_detail(r), code);
    if (detail != NULL) /* NULL: the JSON parser's own words */
        cr_expect_str_eq(err_detail(r), detail, "%s", text);
    cr_expect_null(f);
}

Test(policy_file, every_member_of_a_package)
{
    struct att_policy_file *f = parse_ok(
        "{\"coordinator\":{\"Debug\":true,\"UniqueID\":\"00ab\",\"SignerID\":\"cdcd\",\"ProductID\":7,"
        "\"SecurityVersion\":2,\"AcceptedTCBStatuses\":[\"SWHardeningNeeded\",\"OutOfDate\"],"
        "\"AcceptedAdvisories\":[\"INTEL-SA-00615\",\"INTEL-SA-00657\"],\"Comment\":\"ignored\"}}");
    const struct att_policy *p = att_policy_file_policy(f);
    cr_expect(p->debug);
    cr_expect_str_eq(p->unique_id, "00ab");
    cr_expect_str_eq(p->signer_id, "cdcd");
    cr_expect(p->has_product_id && p->product_id == 7);
    cr_expect(p->has_security_version && p->security_version == 2);
    cr_assert_eq(p->accepted_tcb_status_count, 2);
    cr_expect_str_eq(p->accepted_tcb_statuses[1], "OutOfDate");
    cr_assert_eq(p->accepted_advisory_count, 2);
    cr_expect_str_eq(p->accepted_advisories[0], "INTEL-SA-00615");
    cr_expect_str_eq(p->accepted_advisories[1], "INTEL-SA-00657");
    att_policy_file_free(f);

    /* a bare package, names in any case (Go's decoder), absent members absent */
    f = parse_ok("{\"signerid\":\"cdcd\",\"acceptedadvisories\":[]}");
    p = att_policy_file_policy(f);
    cr_expect_not(p->debug);
    cr_expect_null(p->unique_id);
    cr_expect_not(p->has_product_id);
    cr_expect_not(p->has_security_version);
    cr_expect_eq(p->accepted_tcb_status_count, 0);
    cr_expect_eq(p->accepted_advisory_count, 0);
    att_policy_file_free(f);
}

/* The policy from a file applies its advisories: only the listed ones pass SWHardeningNeeded. */
Test(policy_file, its_advisories_are_checked)
{
    struct att_result r;
    memset(&r, 0, sizeof(r));
    r.verified = r.parsed = true;
    r.tcb_status = ATT_TCB_SW_HARDENING_NEEDED;
    r.advisory_count = 1;
    snprintf(r.advisory_ids[0], sizeof(r.advisory_ids[0]), "INTEL-SA-00615");
    memset(r.sgx.mrsigner, 0xcd, 32);
    static const char signer[] = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
    char text[256];
    struct att_refusal why;
    snprintf(text, sizeof(text), "{\"SignerID\":\"%s\",\"AcceptedAdvisories\":[\"INTEL-SA-99999\"]}", signer);
    struct att_policy_file *f = parse_ok(text);
    cr_expect_eq(att_policy_check(att_policy_file_policy(f), &r, &why), ERR_POLICY);
    cr_expect_str_eq(why.rule, "AcceptedAdvisories");
    cr_expect_str_eq(why.reason, "TCB status SWHardeningNeeded has advisory INTEL-SA-00615, which is not accepted");
    att_policy_file_free(f);
    snprintf(text, sizeof(text), "{\"SignerID\":\"%s\",\"AcceptedAdvisories\":[\"intel-sa-00615\"]}", signer);
    f = parse_ok(text);
    cr_expect_eq(att_policy_check(att_policy_file_policy(f), &r, &why), 0);
    att_policy_file_free(f);
}

Test(policy_file, what_would_weaken_the_check_is_refused)
{
    expect_refused("[1]", ERR_TYPE, "policy.json: expected a JSON object");
    expect_refused("{\"coordinator\":[]}", ERR_TYPE, "policy.json: expected a JSON object");
    expect_refused("{\"ProductID\":1}", ERR_INVALID_ARG,
                   "policy.json names neither UniqueID nor SignerID of the Coordinator");
    expect_refused("{\"SignerID\":\"\",\"UniqueID\":\"\"}", ERR_INVALID_ARG,
                   "policy.json names neither UniqueID nor SignerID of the Coordinator");
    expect_refused("{\"SignerID\":\"cd\",\"Debug\":0}", ERR_TYPE, "the policy's Debug must be a boolean, got number");
    expect_refused("{\"SignerID\":\"cd\",\"SecurityVersion\":-1}", ERR_TYPE,
                   "the policy's SecurityVersion must be an unsigned integer, got number");
    expect_refused("{\"SignerID\":\"cd\",\"ProductID\":1.0}", ERR_TYPE,
                   "the policy's ProductID must be an unsigned integer, got number");
    expect_refused("{\"SignerID\":\"cd\",\"AcceptedAdvisories\":null}", ERR_TYPE,
                   "the policy's AcceptedAdvisories must be an array, got null");
    expect_refused("{\"SignerID\":\"cd\",\"AcceptedAdvisories\":[\"a\",{}]}", ERR_TYPE,
                   "the policy's AcceptedAdvisories must be strings");
    expect_refused("{\"SignerID\":\"cd\",\"AcceptedTCBStatuses\":[true]}", ERR_TYPE,
                   "the policy's AcceptedTCBStatuses must be strings");
    expect_refused("{\"SignerID\":\"cd\",\"SIGNERID\":\"ef\"}", ERR_DUPLICATE,
                   "the policy names SignerID twice (\"SignerID\" and \"SIGNERID\"; names are case-insensitive)");
    expect_refused("{\"coordinator\":{\"SignerID\":\"cd\"},\"Coordinator\":{}}", ERR_DUPLICATE,
                   "the policy names coordinator twice (\"coordinator\" and \"Coordinator\"; names are "
                   "case-insensitive)");
    expect_refused("{\"SignerID\":\"cd\",\"SignerID\":\"ef\"}", ERR_DUPLICATE, NULL);
    expect_refused("{\"SignerID\":\"cd\",\"AcceptedAdvisories\":[\"INTEL-SA-0000000000000000000000000001\"]}",
                   ERR_TOO_LARGE, "the policy's AcceptedAdvisories has an entry of 37 bytes, the limit is 32");
    expect_refused("{\"SignerID\":", ERR_TRUNCATED, "JSON line 1, column 12: unexpected token near end of file");
    expect_refused("{\"SignerID\":\"cd\"} x", ERR_TRAILING, "JSON line 1, column 19: end of file expected near 'x'");
}

Test(policy_file, list_bounds)
{
    struct buf text = BUF_INIT;
    cr_assert_eq(buf_append_str(&text, "{\"SignerID\":\"cd\",\"AcceptedAdvisories\":["), 0);
    for (unsigned i = 0; i <= QY_ATT_ACCEPTED_ADVISORIES_MAX; i++)
        cr_assert_eq(buf_appendf(&text, "%s\"INTEL-SA-%05u\"", i ? "," : "", i), 0);
    cr_assert_eq(buf_append_str(&text, "]}"), 0);
    cr_assert_eq(buf_terminate(&text), 0);
    char want[128];
    snprintf(want, sizeof(want), "the policy's AcceptedAdvisories lists %u entries, the limit is %u",
             QY_ATT_ACCEPTED_ADVISORIES_MAX + 1, QY_ATT_ACCEPTED_ADVISORIES_MAX);
    expect_refused((const char *)text.ptr, ERR_TOO_LARGE, want);
    buf_free(&text);
}

Test(policy_file, load_names_the_file)
{
    struct att_policy_file *f = NULL;
    int r = att_policy_file_load("/nonexistent/policy.json", &f);
    cr_expect_eq(r, ERR_NOT_FOUND, "%s", err_detail(r));
    cr_expect(strstr(err_detail(r), "/nonexistent/policy.json") != NULL, "%s", err_detail(r));
    cr_expect_null(f);
}
