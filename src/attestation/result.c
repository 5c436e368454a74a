/* Results: names of steps and statuses, failures, advisory lists, and the JSON form. */
#include <string.h>
#include <strings.h>

#include "att_int.h"

const char *att_step_name(enum att_step s)
{
    switch (s) {
    case ATT_STEP_NONE:
        return "none";
    case ATT_STEP_PARSE:
        return "parse";
    case ATT_STEP_CERT_DATA:
        return "certification_data";
    case ATT_STEP_PCK_CHAIN:
        return "pck_chain";
    case ATT_STEP_PCK_EXTENSION:
        return "pck_extension";
    case ATT_STEP_QE_REPORT_SIGNATURE:
        return "qe_report_signature";
    case ATT_STEP_QE_REPORT_DATA:
        return "qe_report_data";
    case ATT_STEP_QUOTE_SIGNATURE:
        return "quote_signature";
    case ATT_STEP_COLLATERAL:
        return "collateral";
    case ATT_STEP_ROOT_CA_CRL:
        return "root_ca_crl";
    case ATT_STEP_PCK_CRL:
        return "pck_crl";
    case ATT_STEP_TCB_INFO:
        return "tcb_info";
    case ATT_STEP_QE_IDENTITY:
        return "qe_identity";
    case ATT_STEP_TDX_MODULE:
        return "tdx_module";
    case ATT_STEP_TCB_LEVEL:
        return "tcb_level";
    default:
        return "unknown";
    }
}

static const char *const status_names[] = {
    [ATT_TCB_NOT_EVALUATED] = "NotEvaluated",
    [ATT_TCB_UP_TO_DATE] = "UpToDate",
    [ATT_TCB_SW_HARDENING_NEEDED] = "SWHardeningNeeded",
    [ATT_TCB_CONFIGURATION_NEEDED] = "ConfigurationNeeded",
    [ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED] = "ConfigurationAndSWHardeningNeeded",
    [ATT_TCB_OUT_OF_DATE] = "OutOfDate",
    [ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED] = "OutOfDateConfigurationNeeded",
    [ATT_TCB_REVOKED] = "Revoked",
    [ATT_TCB_TD_RELAUNCH_ADVISED] = "TDRelaunchAdvised",
    [ATT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED] = "TDRelaunchAdvisedConfigurationNeeded",
};

const char *att_tcb_status_name(enum att_tcb_status s)
{
    if ((size_t)s >= QY_ARRAY_LEN(status_names))
        return "Unknown";
    return status_names[s];
}

int att_tcb_status_parse(const char *name, enum att_tcb_status *out)
{
    for (size_t i = 0; name != NULL && i < QY_ARRAY_LEN(status_names); i++)
        if (strcmp(name, status_names[i]) == 0) {
            *out = (enum att_tcb_status)i;
            return 0;
        }
    FAIL(ERR_RANGE, "\"%.64s\" is not a TCB status", name ? name : "");
}

void att_result_fail(struct att_result *res, enum att_step step, int code)
{
    res->verified = false;
    res->failed_step = step;
    res->error = code;
    snprintf(res->detail, sizeof(res->detail), "%s", err_detail(code));
}

int att_result_add_advisories(struct att_result *res, const struct att_advisories *a)
{
    for (size_t i = 0; i < a->count; i++) {
        bool dup = false;
        for (size_t k = 0; k < res->advisory_count && !dup; k++)
            dup = strcasecmp(res->advisory_ids[k], a->ids[i]) == 0;
        if (dup)
            continue;
        ENSURE(res->advisory_count < QY_ATT_ADVISORIES_MAX, ERR_COLLATERAL,
               "more than %u advisory IDs", QY_ATT_ADVISORIES_MAX);
        snprintf(res->advisory_ids[res->advisory_count++], sizeof(res->advisory_ids[0]), "%s",
                 a->ids[i]);
    }
    return 0;
}

/* JSON -------------------------------------------------------------------------------------------
 */

static json_t *hex(const void *p, size_t size)
{
    struct buf b = BUF_INIT;
    json_t *j =
        enc_hex(&b, view_of(p, size)) == 0 ? json_stringn((const char *)b.ptr, b.size) : NULL;
    buf_free(&b);
    return j;
}

static int set(json_t *o, const char *key, json_t *v)
{
    ENSURE(v != NULL && json_object_set_new(o, key, v) == 0, ERR_NOMEM, "cannot build JSON");
    return 0;
}

static int add_sgx(json_t *j, const struct att_sgx_report *s)
{
    TRY(set(j, "mrenclave", hex(s->mrenclave, 32)));
    TRY(set(j, "mrsigner", hex(s->mrsigner, 32)));
    TRY(set(j, "isvprodid", json_integer(s->isvprodid)));
    TRY(set(j, "isvsvn", json_integer(s->isvsvn)));
    TRY(set(j, "cpusvn", hex(s->cpusvn, 16)));
    TRY(set(j, "miscselect", json_integer(s->miscselect)));
    TRY(set(j, "attributes", hex(s->attributes, 16)));
    TRY(set(j, "configsvn", json_integer(s->configsvn)));
    TRY(set(j, "isvextprodid", hex(s->isvextprodid, 16)));
    TRY(set(j, "isvfamilyid", hex(s->isvfamilyid, 16)));
    return set(j, "configid", hex(s->configid, 64));
}

static int add_td(json_t *j, const struct att_td_report *t)
{
    TRY(set(j, "mrtd", hex(t->mrtd, 48)));
    for (int i = 0; i < 4; i++) {
        char key[8];
        snprintf(key, sizeof(key), "rtmr%d", i);
        TRY(set(j, key, hex(t->rtmr[i], 48)));
    }
    TRY(set(j, "mrseam", hex(t->mrseam, 48)));
    TRY(set(j, "mrsignerseam", hex(t->mrsignerseam, 48)));
    TRY(set(j, "seamAttributes", hex(t->seam_attributes, 8)));
    TRY(set(j, "tdAttributes", hex(t->td_attributes, 8)));
    TRY(set(j, "xfam", hex(t->xfam, 8)));
    TRY(set(j, "mrconfigid", hex(t->mrconfigid, 48)));
    TRY(set(j, "mrowner", hex(t->mrowner, 48)));
    TRY(set(j, "mrownerconfig", hex(t->mrownerconfig, 48)));
    TRY(set(j, "teeTcbSvn", hex(t->tee_tcb_svn, 16)));
    if (t->is_v15) {
        TRY(set(j, "teeTcbSvn2", hex(t->tee_tcb_svn2, 16)));
        TRY(set(j, "mrservicetd", hex(t->mrservicetd, 48)));
    }
    return 0;
}

static int build(const struct att_result *r, json_t *j)
{
    TRY(set(j, "verified", json_boolean(r->verified)));
    TRY(set(j, "failedStep",
            r->verified ? json_null() : json_string(att_step_name(r->failed_step))));
    TRY(set(j, "error", r->verified ? json_null() : json_string(err_name(r->error))));
    TRY(set(j, "detail", r->verified ? json_null() : json_string(r->detail)));
    TRY(set(j, "tcbStatus",
            r->verified ? json_string(att_tcb_status_name(r->tcb_status)) : json_null()));
    json_t *adv = json_array();
    TRY(set(j, "advisoryIds", adv));
    for (size_t i = 0; i < r->advisory_count; i++)
        ENSURE(json_array_append_new(adv, json_string(r->advisory_ids[i])) == 0, ERR_NOMEM,
               "cannot build JSON");
    TRY(set(j, "collateralChecked", json_boolean(r->collateral_checked)));
    TRY(set(j, "insecureRoot", json_boolean(r->insecure_root)));
    if (r->collateral_checked) {
        TRY(set(j, "platformTcbStatus", json_string(att_tcb_status_name(r->platform_tcb_status))));
        TRY(set(j, "qeTcbStatus", json_string(att_tcb_status_name(r->qe_tcb_status))));
        TRY(set(j, "rootCaCrlChecked", json_boolean(r->root_ca_crl_checked)));
        char t[32];
        if (qtime_format_rfc3339(r->collateral_expiry, t) == 0)
            TRY(set(j, "collateralExpiry", json_string(t)));
    }
    if (!r->parsed)
        return 0;
    TRY(set(j, "teeType", json_string(r->tee_type == ATT_TEE_TDX ? "TDX" : "SGX")));
    TRY(set(j, "version", json_integer(r->version)));
    TRY(set(j, "debug", json_boolean(r->debug)));
    TRY(set(j, "reportData", hex(r->report_data, 64)));
    TRY(set(j, "qeSvn", json_integer(r->qe_svn)));
    TRY(set(j, "pceSvn", json_integer(r->pce_svn)));
    if (r->body_type == ATT_BODY_SGX)
        TRY(add_sgx(j, &r->sgx));
    else
        TRY(add_td(j, &r->td));
    if (r->has_pck) {
        TRY(set(j, "fmspc", hex(r->pck.fmspc, 6)));
        TRY(set(j, "pceid", hex(r->pck.pceid, 2)));
        TRY(set(j, "pcesvn", json_integer(r->pck.pcesvn)));
        TRY(set(j, "tcbComponents", hex(r->pck.tcb_components, 16)));
        TRY(set(j, "pckCa",
                json_string(r->pck_ca == ATT_PCK_CA_PLATFORM ? "platform" : "processor")));
    }
    return 0;
}

int att_result_to_json(const struct att_result *r, json_t **out)
{
    json_t *j = json_object();
    *out = NULL;
    ENSURE(j != NULL, ERR_NOMEM, "cannot build JSON");
    int rc = build(r, j);
    if (rc < 0) {
        json_decref(j);
        return rc;
    }
    *out = j;
    return 0;
}
