/*
 * TCB evaluation (reference/dcap.md §8.4-8.5, Intel QVL TcbLevelCheck, TdxModuleCheck,
 * TDRelaunchCheck). The platform's TCB is the PCK certificate's 16 component SVNs and PCESVN (never
 * the report's CPUSVN), compared component-wise with each level in the order Intel publishes and
 * signs them (highest first); for TDX, the TEE_TCB_SVN of the TD report is compared as well. The
 * QE's and the TDX module's own levels then lower the status as QVL's convergence tables say.
 */
#include <string.h>
#include <strings.h>

#include "att_int.h"

static const struct {
    const char *name;
    enum att_tcb_status status;
} json_statuses[] = {
    {"UpToDate", ATT_TCB_UP_TO_DATE},
    {"SWHardeningNeeded", ATT_TCB_SW_HARDENING_NEEDED},
    {"ConfigurationNeeded", ATT_TCB_CONFIGURATION_NEEDED},
    {"ConfigurationAndSWHardeningNeeded", ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED},
    {"OutOfDate", ATT_TCB_OUT_OF_DATE},
    {"OutOfDateConfigurationNeeded", ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED},
    {"Revoked", ATT_TCB_REVOKED},
};

int att_status_from_json(const char *s, enum att_tcb_status *out)
{
    for (size_t i = 0; s != NULL && i < QY_ARRAY_LEN(json_statuses); i++)
        if (strcmp(s, json_statuses[i].name) == 0) {
            *out = json_statuses[i].status;
            return 0;
        }
    FAIL(ERR_RANGE, "\"%.40s\" is not a TCB status", s ? s : "");
}

int att_qe_match(const struct att_qe_identity *id, const struct att_sgx_report *qe,
                 const struct att_svn_level **out)
{
    *out = NULL;
    ENSURE((qe->miscselect & id->miscselect_mask) == id->miscselect, ERR_ATT_QE_IDENTITY,
           "QE MISCSELECT 0x%08x under mask 0x%08x is not 0x%08x", qe->miscselect,
           id->miscselect_mask, id->miscselect);
    for (int i = 0; i < 16; i++)
        ENSURE((qe->attributes[i] & id->attributes_mask[i]) == id->attributes[i],
               ERR_ATT_QE_IDENTITY,
               "QE ATTRIBUTES byte %d is 0x%02x under mask 0x%02x, expected 0x%02x", i,
               qe->attributes[i], id->attributes_mask[i], id->attributes[i]);
    ENSURE(memcmp(qe->mrsigner, id->mrsigner, 32) == 0, ERR_ATT_QE_IDENTITY,
           "QE MRSIGNER is not the one of the QE Identity");
    ENSURE(qe->isvprodid == id->isvprodid, ERR_ATT_QE_IDENTITY, "QE ISVPRODID %u is not %u",
           qe->isvprodid, id->isvprodid);
    for (size_t i = 0; i < id->level_count; i++)
        if (id->levels[i].isvsvn <= qe->isvsvn) {
            *out = &id->levels[i];
            return 0;
        }
    FAIL(ERR_ATT_TCB_NOT_SUPPORTED, "QE ISVSVN %u is below every QE Identity TCB level",
         qe->isvsvn);
}

static const struct att_module_identity *find_module(const struct att_tcb_info *ti, uint8_t major)
{
    char want[16];
    snprintf(want, sizeof(want), "TDX_%02X", major);
    for (size_t i = 0; i < ti->module_count; i++)
        if (strcasecmp(ti->modules[i].id, want) == 0)
            return &ti->modules[i];
    return NULL;
}

int att_tdx_module_match(const struct att_tcb_info *ti, const struct att_td_report *td,
                         const struct att_svn_level **out)
{
    static const uint8_t zero[8] = {0};
    uint8_t major = td->tee_tcb_svn[1], isvsvn = td->tee_tcb_svn[0];
    const uint8_t *mrsigner, *attributes;
    const struct att_module_identity *m = NULL;
    *out = NULL;
    if (major > 0) {
        m = find_module(ti, major);
        ENSURE(m != NULL, ERR_ATT_TDX_MODULE, "TCB Info has no module identity TDX_%02X", major);
        mrsigner = m->mrsigner;
        attributes = m->attributes;
    } else {
        ENSURE(ti->has_tdx_module, ERR_ATT_TDX_MODULE, "TCB Info has no tdxModule");
        mrsigner = ti->module_mrsigner;
        attributes = ti->module_attributes;
    }
    ENSURE(memcmp(td->mrsignerseam, mrsigner, 48) == 0, ERR_ATT_TDX_MODULE,
           "MRSIGNERSEAM is not the TDX module signer of the TCB Info");
    /* QVL requires all-zero SEAMATTRIBUTES and compares them without the mask. */
    ENSURE(memcmp(td->seam_attributes, zero, 8) == 0 && memcmp(attributes, zero, 8) == 0,
           ERR_ATT_TDX_MODULE, "SEAMATTRIBUTES are not zero");
    if (m == NULL)
        return 0;
    for (size_t i = 0; i < m->level_count; i++)
        if (m->levels[i].isvsvn <= isvsvn) {
            *out = &m->levels[i];
            return 0;
        }
    FAIL(ERR_ATT_TCB_NOT_SUPPORTED, "TDX module %s ISVSVN %u is below every module TCB level",
         m->id, isvsvn);
}

/* QVL's convergence of a level's status with the QE's or the module's (identical tables). */
static enum att_tcb_status converge(enum att_tcb_status s, enum att_tcb_status other)
{
    if (other == ATT_TCB_OUT_OF_DATE) {
        if (s == ATT_TCB_UP_TO_DATE || s == ATT_TCB_SW_HARDENING_NEEDED)
            return ATT_TCB_OUT_OF_DATE;
        if (s == ATT_TCB_CONFIGURATION_NEEDED || s == ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
            return ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
    }
    if (other == ATT_TCB_REVOKED)
        return ATT_TCB_REVOKED;
    return s;
}

static bool sgx_ok(const struct att_tcb_level *l, const struct att_pck_ext *pck)
{
    for (int i = 0; i < 16; i++)
        if (pck->tcb_components[i] < l->sgx[i])
            return false;
    return pck->pcesvn >= l->pcesvn;
}

static bool tdx_ok(const struct att_tcb_level *l, const uint8_t tee_tcb_svn[16])
{
    for (int i = tee_tcb_svn[1] > 0 ? 2 : 0; i < 16; i++)
        if (tee_tcb_svn[i] < l->tdx[i])
            return false;
    return true;
}

static bool needs_configuration(enum att_tcb_status s)
{
    return s == ATT_TCB_CONFIGURATION_NEEDED || s == ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED ||
           s == ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED ||
           s == ATT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED;
}

/* TDX 1.5 TD-preserving updates (QVL TDRelaunchCheck): the TD runs on an out-of-date module but the
 * currently loaded one (TEE_TCB_SVN2) is current, so relaunching the TD would fix it. */
static int relaunch(const struct att_tcb_info *ti, const uint8_t svn2[16], enum att_tcb_status sgx,
                    enum att_tcb_status tdx, enum att_tcb_status module, enum att_tcb_status qe,
                    enum att_tcb_status *out)
{
    *out = tdx;
    if (qe == ATT_TCB_OUT_OF_DATE || qe == ATT_TCB_REVOKED)
        return 0;
    if (!(sgx == ATT_TCB_UP_TO_DATE || sgx == ATT_TCB_SW_HARDENING_NEEDED ||
          sgx == ATT_TCB_CONFIGURATION_NEEDED ||
          sgx == ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED))
        return 0;
    if (!(tdx == ATT_TCB_OUT_OF_DATE || tdx == ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED) ||
        module != ATT_TCB_OUT_OF_DATE)
        return 0;
    const struct att_tcb_level *latest = &ti->levels[0];
    bool current;
    if (svn2[1] == 0) {
        current = svn2[0] >= latest->tdx[0] && svn2[2] >= latest->tdx[2];
    } else {
        const struct att_module_identity *m = find_module(ti, svn2[1]);
        ENSURE(m != NULL, ERR_ATT_TDX_MODULE,
               "TCB Info has no module identity TDX_%02X (TEE_TCB_SVN2)", svn2[1]);
        current = svn2[0] >= m->levels[0].isvsvn && svn2[2] >= latest->tdx[2];
    }
    if (current)
        *out = needs_configuration(sgx) || needs_configuration(tdx)
                   ? ATT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED
                   : ATT_TCB_TD_RELAUNCH_ADVISED;
    return 0;
}

int att_tcb_evaluate(const struct att_tcb_info *ti, const struct att_pck_ext *pck,
                     const struct att_quote *q, const struct att_svn_level *qe_level,
                     const struct att_svn_level *module_level, struct att_tcb_eval *out)
{
    memset(out, 0, sizeof(*out));
    bool tdx = q->tee_type == ATT_TEE_TDX;
    const struct att_tcb_level *sgx_level = NULL, *level = NULL;
    for (size_t i = 0; i < ti->level_count && level == NULL; i++) {
        const struct att_tcb_level *l = &ti->levels[i];
        if (!sgx_ok(l, pck))
            continue;
        if (sgx_level == NULL)
            sgx_level = l;
        if (!tdx || tdx_ok(l, q->td.tee_tcb_svn))
            level = l;
    }
    ENSURE(sgx_level != NULL, ERR_ATT_TCB_NOT_SUPPORTED,
           "the platform's TCB (PCK components and PCESVN %u) is below every TCB level",
           pck->pcesvn);
    ENSURE(level != NULL, ERR_ATT_TCB_NOT_SUPPORTED,
           "the TD's TEE_TCB_SVN is below every TDX TCB level");
    out->level = level;
    out->qe_level = qe_level;
    out->module_level = module_level;
    out->qe = qe_level->status;
    out->module = module_level != NULL ? module_level->status : ATT_TCB_UP_TO_DATE;
    out->platform = level->status;
    enum att_tcb_status s = level->status;
    if (tdx) {
        s = converge(s, out->module);
        if (s != ATT_TCB_REVOKED && q->body_type == ATT_BODY_TD15)
            TRY(relaunch(ti, q->td.tee_tcb_svn2, sgx_level->status, s, out->module, out->qe, &s));
    }
    out->status = converge(s, out->qe);
    return 0;
}

/* Intel's QvE returns STATUS_TCB_REVOKED as an error, not as a result to weigh (qve.cpp
 * is_nonterminal_error lists every other status): a Revoked level ends the verification. */
int att_tcb_check_revoked(const struct att_tcb_eval *ev, bool tdx, enum att_step *step)
{
    char date[32];
    *step = ATT_STEP_NONE;
    if (ev->platform == ATT_TCB_REVOKED) {
        *step = ATT_STEP_TCB_LEVEL;
        FAIL(ERR_ATT_TCB_REVOKED,
             "the platform's TCB level (pcesvn %u, tcbDate %s) in the TCB Info is Revoked",
             ev->level->pcesvn, att_fmt_time(ev->level->date, date));
    }
    if (tdx && ev->module == ATT_TCB_REVOKED && ev->module_level != NULL) {
        *step = ATT_STEP_TDX_MODULE;
        FAIL(ERR_ATT_TCB_REVOKED, "the TDX module's TCB level (isvsvn %u, tcbDate %s) is Revoked",
             ev->module_level->isvsvn, att_fmt_time(ev->module_level->date, date));
    }
    if (ev->qe == ATT_TCB_REVOKED) {
        *step = ATT_STEP_QE_IDENTITY;
        FAIL(ERR_ATT_TCB_REVOKED,
             "the QE's TCB level (isvsvn %u, tcbDate %s) in the QE Identity is Revoked",
             ev->qe_level->isvsvn, att_fmt_time(ev->qe_level->date, date));
    }
    /* Convergence only yields Revoked from one of the three. */
    ENSURE(ev->status != ATT_TCB_REVOKED, ERR_INTERNAL, "a Revoked status without a Revoked level");
    return 0;
}
