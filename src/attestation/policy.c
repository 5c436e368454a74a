/*
 * MarbleRun's package rules (reference/marblerun.md §1.2 "IsCompliant" and §5.3 b-c), applied to a
 * verified result, in MarbleRun's order: TCB status, advisories, then Debug, UniqueID, SignerID,
 * ProductID, SecurityVersion. Each refusal names the rule and shows both values.
 */
#include <string.h>
#include <strings.h>

#include "att_int.h"

static int refuse(struct att_refusal *out, const char *rule, const char *fmt, ...) QY_PRINTF(3, 4);
static int refuse(struct att_refusal *out, const char *rule, const char *fmt, ...)
{
    char reason[ATT_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (out != NULL) {
        out->rule = rule;
        snprintf(out->reason, sizeof(out->reason), "%s", reason);
    }
    return err_fail(ERR_POLICY, "att_policy_check", "%s: %s", rule, reason);
}

static bool listed(const char *const *list, size_t count, const char *s, bool ci)
{
    for (size_t i = 0; i < count; i++)
        if (list[i] != NULL && (ci ? strcasecmp(list[i], s) : strcmp(list[i], s)) == 0)
            return true;
    return false;
}

static void to_hex(const uint8_t *p, size_t size, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * size] = '\0';
}

static int check_tcb(const struct att_policy *p, const struct att_result *r,
                     struct att_refusal *out)
{
    const char *status = att_tcb_status_name(r->tcb_status);
    if (r->tcb_status == ATT_TCB_UP_TO_DATE)
        return 0;
    /* att_verify() never verifies Revoked (Intel's QvE fails it); a result made elsewhere that says
     * so is refused whatever AcceptedTCBStatuses lists. */
    if (r->tcb_status == ATT_TCB_REVOKED)
        return refuse(out, "AcceptedTCBStatuses",
                      "TCB status Revoked is never accepted, even when listed");
    bool ok = p->accepted_tcb_status_count == 0
                  ? r->tcb_status == ATT_TCB_SW_HARDENING_NEEDED
                  : listed(p->accepted_tcb_statuses, p->accepted_tcb_status_count, status, false);
    if (!ok)
        return refuse(out, "AcceptedTCBStatuses", "TCB status %s is not accepted", status);
    if (r->tcb_status != ATT_TCB_SW_HARDENING_NEEDED || p->accepted_advisory_count == 0)
        return 0;
    for (size_t i = 0; i < r->advisory_count; i++)
        if (!listed(p->accepted_advisories, p->accepted_advisory_count, r->advisory_ids[i], true))
            return refuse(out, "AcceptedAdvisories",
                          "TCB status SWHardeningNeeded has advisory %s, which is not accepted",
                          r->advisory_ids[i]);
    return 0;
}

/* Non-empty `want` must equal hex(have) ignoring case, as MarbleRun compares the strings. */
static int check_hex(struct att_refusal *out, const char *rule, const char *field, const char *want,
                     const uint8_t *have, size_t size)
{
    char h[2 * 48 + 1];
    if (want == NULL || want[0] == '\0')
        return 0;
    to_hex(have, size, h);
    if (strcasecmp(want, h) != 0)
        return refuse(out, rule, "%s %s does not match %s %s", field, h, rule, want);
    return 0;
}

int att_policy_check(const struct att_policy *p, const struct att_result *r,
                     struct att_refusal *out)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (!r->verified)
        return refuse(out, "Verified", "the quote did not verify (%s: %s)",
                      att_step_name(r->failed_step), r->detail);
    TRY(check_tcb(p, r, out));
    if (p->debug != r->debug)
        return refuse(out, "Debug", "the enclave is %s, the package requires %s",
                      r->debug ? "a debug enclave" : "not a debug enclave",
                      p->debug ? "a debug enclave" : "a production enclave");
    if (r->tee_type == ATT_TEE_TDX) {
        TRY(check_hex(out, "UniqueID", "MRTD", p->unique_id, r->td.mrtd, 48));
        if (p->signer_id != NULL && p->signer_id[0] != '\0')
            return refuse(out, "SignerID", "SignerID does not apply to TDX quotes");
        if (p->has_product_id)
            return refuse(out, "ProductID", "ProductID does not apply to TDX quotes");
        if (p->has_security_version)
            return refuse(out, "SecurityVersion", "SecurityVersion does not apply to TDX quotes");
        return 0;
    }
    TRY(check_hex(out, "UniqueID", "MRENCLAVE", p->unique_id, r->sgx.mrenclave, 32));
    TRY(check_hex(out, "SignerID", "MRSIGNER", p->signer_id, r->sgx.mrsigner, 32));
    if (p->has_product_id && p->product_id != r->sgx.isvprodid)
        return refuse(out, "ProductID", "ISVPRODID %u does not match ProductID %llu",
                      r->sgx.isvprodid, (unsigned long long)p->product_id);
    if (p->has_security_version && r->sgx.isvsvn < p->security_version)
        return refuse(out, "SecurityVersion", "ISVSVN %u is below SecurityVersion %llu",
                      r->sgx.isvsvn, (unsigned long long)p->security_version);
    return 0;
}
