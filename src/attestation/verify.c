/*
 * The verifier: reference/dcap.md §8 step by step, with caches that make the warm path one ECDSA
 * verification (the quote signature) plus hashing.
 *
 * Order. The quote's own cryptography comes first - PCK chain to a trusted root, QE report
 * signature, QE binding, quote signature - so a forged quote is refused before any collateral is
 * fetched (a platform only triggers a fetch with a genuine PCK certificate). Then the collateral:
 * Root CA CRL, PCK CRL, TCB Info, QE Identity, the TDX module, the TCB level.
 *
 * Caches (all bounded). PCK chains by SHA-256 of the certification data: the verified path, the
 * parsed SGX extension and the leaf key (validity is still checked at each call's time). QE
 * reports by SHA-256 of chain, QE report, its signature, attestation key and auth data: the
 * imported attestation key, once the report's signature and binding verified. Collateral per item
 * and issuer, admitted only once it passed every check (collateral_cache.c): fetched by one thread
 * while others wanting the same item wait - or, in background mode, are told it is pending - and
 * everyone else carries on.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "att_int.h"

struct att_verifier {
    struct att_collateral_source *source;
    bool no_collateral;
    struct att_roots roots;
    struct att_memo *memo;
    struct att_ccache *colls;
};

int att_verifier_new(const struct att_verifier_config *cfg, struct att_verifier **out)
{
    int r = ERR_INTERNAL;
    *out = NULL;
    struct att_verifier *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        att_collateral_source_free(cfg->collateral);
        FAIL(ERR_NOMEM, "cannot allocate a verifier");
    }
    v->source = cfg->collateral;
    v->no_collateral = cfg->no_collateral;
    ENSURE_OUT(v->source != NULL || v->no_collateral, ERR_INVALID_ARG,
               "a verifier needs a collateral source unless no_collateral is set");
    TRY_OUT(att_roots_init(&v->roots, cfg->insecure_extra_roots, cfg->insecure_extra_root_count));
    TRY_OUT(att_memo_new(QY_ATT_CACHE_MAX_ENTRIES, &v->memo));
    struct att_ccache_config cc = {v->source, &v->roots, cfg->background_fetch && !v->no_collateral &&
                                       att_collateral_source_is_remote(v->source),
                                   cfg->on_fetch, cfg->on_fetch_ctx};
    TRY_OUT(att_ccache_new(&cc, &v->colls));
    *out = v;
    return 0;
out:
    att_verifier_free(v);
    return r;
}

void att_verifier_free(struct att_verifier *v)
{
    if (v == NULL)
        return;
    att_ccache_free(v->colls); /* first: its threads use the source and the roots */
    att_memo_free(v->memo);
    att_roots_free(&v->roots);
    att_collateral_source_free(v->source);
    free(v);
}

/* Steps ------------------------------------------------------------------------------------------
 */

struct qe_memo {
    struct att_obj obj;
    struct crypto_key *key;
};

static void qe_memo_destroy(struct att_obj *o)
{
    struct qe_memo *m = (struct qe_memo *)o;
    crypto_key_free(m->key);
    free(m);
}

static int memo_key(const char *domain, const struct view *parts, size_t count, uint8_t out[32])
{
    struct view all[8];
    ENSURE(count < QY_ARRAY_LEN(all), ERR_INTERNAL, "too many parts");
    all[0] = view_of(domain, strlen(domain) + 1);
    for (size_t i = 0; i < count; i++)
        all[i + 1] = parts[i];
    return crypto_sha256(all, count + 1, out);
}

/* A verification failure: the result says it, the call still ran. Out of memory does not. */
static int fail(struct att_result *res, enum att_step step, int code)
{
    att_result_fail(res, step, code);
    return code == ERR_NOMEM ? code : 0;
}

static void fill_identity(struct att_result *res, const struct att_quote *q)
{
    res->parsed = true;
    res->version = q->version;
    res->tee_type = q->tee_type;
    res->body_type = q->body_type;
    res->qe_svn = q->qe_svn;
    res->pce_svn = q->pce_svn;
    res->qe_isvsvn = q->qe_report.isvsvn;
    if (q->body_type == ATT_BODY_SGX) {
        res->sgx = q->sgx;
        res->debug = (q->sgx.flags & ATT_SGX_FLAG_DEBUG) != 0;
        memcpy(res->report_data, q->sgx.report_data, 64);
    } else {
        res->td = q->td;
        res->debug = (q->td.td_attributes[0] & ATT_TD_ATTR_DEBUG) != 0;
        memcpy(res->report_data, q->td.report_data, 64);
    }
}

static const char *cert_type_name(uint16_t t)
{
    switch (t) {
    case ATT_CERT_PPID_CLEARTEXT:
        return "PPID in clear text";
    case ATT_CERT_PPID_RSA2048:
        return "PPID RSA-2048 encrypted";
    case ATT_CERT_PPID_RSA3072:
        return "PPID RSA-3072 encrypted";
    case ATT_CERT_PCK_CLEARTEXT:
        return "PCK leaf certificate only";
    default:
        return "unknown";
    }
}

/* The PCK chain, verified or from the cache. */
static int step_pck(struct att_verifier *v, const struct att_quote *q, uint8_t key[32],
                    struct att_pck **out, enum att_step *step)
{
    *step = ATT_STEP_PCK_CHAIN;
    TRY(memo_key("pck", &q->cert_data, 1, key));
    struct att_obj *o = att_memo_get(v->memo, key);
    if (o != NULL) {
        *out = (struct att_pck *)o;
        return 0;
    }
    TRY(att_pck_new(q->cert_data, &v->roots, out, step));
    return att_memo_put(v->memo, key, &(*out)->obj);
}

/* QE report signature, QE binding (§8.4 steps 2-3) and the attestation key, or from the cache. */
static int step_qe(struct att_verifier *v, const struct att_quote *q, const uint8_t chain_key[32],
                   const struct att_pck *pck, struct crypto_key **att_key, enum att_step *step)
{
    uint8_t key[32], hash[32];
    struct view parts[] = {view_of(chain_key, 32), q->qe_report_raw,
                           view_of(q->qe_report_signature, 64), view_of(q->attestation_key, 64),
                           q->qe_auth_data};
    *step = ATT_STEP_QE_REPORT_SIGNATURE;
    TRY(memo_key("qe", parts, QY_ARRAY_LEN(parts), key));
    struct qe_memo *m = (struct qe_memo *)att_memo_get(v->memo, key);
    if (m != NULL) {
        *att_key = crypto_key_ref(m->key);
        att_obj_unref(&m->obj);
        return 0;
    }
    int r = crypto_verify(pck->leaf_key, CRYPTO_SIG_ECDSA_SHA256_RAW, q->qe_report_raw,
                          view_of(q->qe_report_signature, 64));
    ENSURE(r == 0, r == ERR_NOMEM ? r : ERR_BAD_SIGNATURE,
           "the QE report is not signed by the PCK key");
    *step = ATT_STEP_QE_REPORT_DATA;
    struct view bound[] = {view_of(q->attestation_key, 64), q->qe_auth_data};
    TRY(crypto_sha256(bound, 2, hash));
    static const uint8_t zero[32] = {0};
    ENSURE(memcmp(hash, q->qe_report.report_data, 32) == 0, ERR_ATT_QE_BINDING,
           "QE report data is not SHA-256(attestation key || QE auth data)");
    ENSURE(memcmp(q->qe_report.report_data + 32, zero, 32) == 0, ERR_ATT_QE_BINDING,
           "the second half of the QE report data is not zero");
    *step = ATT_STEP_QUOTE_SIGNATURE;
    m = calloc(1, sizeof(*m));
    ENSURE(m != NULL, ERR_NOMEM, "out of memory");
    att_obj_init(&m->obj, qe_memo_destroy);
    r = crypto_key_from_p256_xy(q->attestation_key, &m->key);
    if (r < 0) {
        att_obj_unref(&m->obj);
        FAIL(ERR_BAD_SIGNATURE, "the attestation key is not a P-256 point");
    }
    r = att_memo_put(v->memo, key, &m->obj);
    *att_key = crypto_key_ref(m->key);
    att_obj_unref(&m->obj);
    return r;
}

/* The cache key of item k for this quote: the request and who must have signed the item. */
static void coll_key(int k, const struct att_quote *q, const struct att_pck *pck,
                     struct att_coll_key *key)
{
    memset(key, 0, sizeof(*key));
    key->req.kind = (enum att_collateral_kind)k;
    key->root_index = pck->path.root_index;
    if (k == ATT_COLLATERAL_TCB_INFO || k == ATT_COLLATERAL_QE_IDENTITY)
        key->req.tee_type = q->tee_type;
    if (k == ATT_COLLATERAL_TCB_INFO)
        memcpy(key->req.fmspc, pck->ext.fmspc, 6);
    if (k == ATT_COLLATERAL_PCK_CRL) {
        key->req.ca = pck->ca;
        memcpy(key->issuer, pck->ca_hash, 32);
    }
}

/* Asks for every item (so that in background mode all missing ones are fetched at once); a source
 * failure, then a pending fetch, is the COLLATERAL step's. */
static int get_all(struct att_verifier *v, const struct att_quote *q, const struct att_pck *pck,
                   int64_t at, struct att_coll *c[4], struct att_result *res)
{
    static const char *const names[] = {"TCB Info", "QE Identity", "PCK CRL", "Root CA CRL"};
    char pending[ATT_DETAIL_MAX] = "";
    for (int k = 0; k < 4; k++) {
        struct att_coll_key key;
        coll_key(k, q, pck, &key);
        int e = att_ccache_get(v->colls, &key, pck, at, &c[k]);
        if (e == ERR_ATT_COLLATERAL_PENDING && pending[0] == '\0')
            snprintf(pending, sizeof(pending), "%s", err_detail(e));
        else if (e < 0 && e != ERR_ATT_COLLATERAL_PENDING)
            return fail(res, ATT_STEP_COLLATERAL, e);
    }
    for (int k = 0; k < 4; k++)
        if (c[k] != NULL && c[k]->fetch_failed)
            return fail(res, ATT_STEP_COLLATERAL,
                        err_fail(ERR_ATT_NO_COLLATERAL, __func__, "%s from %s: %s", names[k],
                                 att_collateral_source_name(v->source), c[k]->detail));
    if (pending[0] != '\0')
        return fail(res, ATT_STEP_COLLATERAL,
                    err_fail(ERR_ATT_COLLATERAL_PENDING, __func__, "%s", pending));
    return 1;
}

/* Whether a failure lies with what the collateral source served rather than with the quote: each
 * collateral step starts with its item's admission verdict, and its validity windows are the
 * source's to keep fresh. A caller serving many platforms retries such a failure later. */
static bool collateral_at_fault(const struct att_result *res, struct att_coll *const c[4])
{
    int kind;
    switch (res->failed_step) {
    case ATT_STEP_TCB_INFO:
        kind = ATT_COLLATERAL_TCB_INFO;
        break;
    case ATT_STEP_QE_IDENTITY:
        kind = ATT_COLLATERAL_QE_IDENTITY;
        break;
    case ATT_STEP_PCK_CRL:
        kind = ATT_COLLATERAL_PCK_CRL;
        break;
    case ATT_STEP_ROOT_CA_CRL:
        kind = ATT_COLLATERAL_ROOT_CA_CRL;
        break;
    default:
        return false;
    }
    return c[kind] != NULL && (c[kind]->error != 0 || res->error == ERR_EXPIRED);
}

#define STEP(step, expr)                                                                           \
    do {                                                                                           \
        int step_r_ = (expr);                                                                      \
        if (step_r_ < 0) {                                                                         \
            r = fail(res, (step), step_r_);                                                        \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static int item_ok(const struct att_coll *c, const char *what)
{
    ENSURE(c->error == 0, c->error, "%s%s%s", c->not_admitted ? "" : what,
           c->not_admitted ? "" : ": ", c->detail);
    return 0;
}

/* The signer's root was matched to the PCK chain's when the item was admitted. */
static int check_signed(const struct att_coll *c, int64_t at, int64_t issue, const char *what)
{
    int r = att_path_check_time(&c->signer, at, "the TCB Signing chain");
    ENSURE(r == 0, r, "%s: %s", what, err_detail(r));
    return att_check_window(issue, c->next_update, at, what);
}

static int check_root_crl(const struct att_coll *c, const struct att_coll *tcb,
                          const struct att_coll *qe, const struct att_pck *pck, int64_t at)
{
    /* Its signer and issuer were matched to the PCK chain's root when it was admitted. */
    TRY(att_crl_check_time(&c->crl, at, "the Root CA CRL"));
    TRY(att_crl_check_cert(&c->crl, pck->path.certs[1], "the PCK CA"));
    if (tcb->error == 0)
        TRY(att_crl_check_cert(&c->crl, tcb->signer.certs[0], "the TCB Signing certificate"));
    if (qe->error == 0)
        TRY(att_crl_check_cert(&c->crl, qe->signer.certs[0], "the TCB Signing certificate"));
    return 0;
}

/* Its signature by this PCK CA was checked when it was admitted (it is cached per PCK CA). */
static int check_pck_crl(const struct att_coll *c, const struct att_pck *pck, int64_t at)
{
    TRY(item_ok(c, "PCK CRL"));
    TRY(att_crl_check_time(&c->crl, at, "the PCK CRL"));
    return att_crl_check_cert(&c->crl, pck->path.certs[0], "the PCK certificate");
}

static int check_tcb_info(const struct att_coll *c, const struct att_pck *pck, int64_t at)
{
    TRY(item_ok(c, "TCB Info"));
    const struct att_tcb_info *ti = &c->tcb;
    /* TEE type and FMSPC were matched when it was admitted (it is cached under them). */
    TRY(check_signed(c, at, ti->issue_date, "the TCB Info"));
    ENSURE(memcmp(ti->pceid, pck->ext.pceid, 2) == 0, ERR_ATT_MISMATCH,
           "the TCB Info is for PCE-ID %02X%02X, the platform's is %02X%02X", ti->pceid[0],
           ti->pceid[1], pck->ext.pceid[0], pck->ext.pceid[1]);
    return 0;
}

static int check_qe_identity(const struct att_coll *c, const struct att_quote *q, int64_t at,
                             const struct att_svn_level **level)
{
    TRY(item_ok(c, "QE Identity"));
    TRY(check_signed(c, at, c->qe.issue_date, "the QE Identity")); /* TEE: matched at admission */
    return att_qe_match(&c->qe, &q->qe_report, level);
}

static int64_t earliest(int64_t a, int64_t b)
{
    return a == 0 || (b != 0 && b < a) ? b : a;
}

int att_verify(struct att_verifier *v, struct view quote, int64_t at, struct att_result *res)
{
    int r = 0;
    struct att_quote q;
    struct att_pck *pck = NULL;
    struct crypto_key *att_key = NULL;
    struct att_coll *c[4] = {NULL};
    uint8_t chain_key[32];
    enum att_step step;
    memset(res, 0, sizeof(*res));

    quote = att_strip_oe_envelope(quote);
    STEP(ATT_STEP_PARSE, att_quote_parse(quote, &q));
    fill_identity(res, &q);
    if (q.cert_type != ATT_CERT_PCK_CHAIN) {
        r = fail(
            res, ATT_STEP_CERT_DATA,
            err_fail(
                ERR_ATT_CERT_TYPE, __func__,
                "certification data type %u (%s) is not supported: the quote must carry its PCK "
                "certificate chain (type 5)",
                q.cert_type, cert_type_name(q.cert_type)));
        goto out;
    }
    int e = step_pck(v, &q, chain_key, &pck, &step);
    if (e < 0) {
        r = fail(res, step, e);
        goto out;
    }
    res->has_pck = true;
    res->pck = pck->ext;
    res->pck_ca = pck->ca;
    res->insecure_root = pck->path.root_index != 0;
    STEP(ATT_STEP_PCK_CHAIN, att_path_check_time(&pck->path, at, "the PCK certificate chain"));
    e = step_qe(v, &q, chain_key, pck, &att_key, &step);
    if (e < 0) {
        r = fail(res, step, e);
        goto out;
    }
    e = crypto_verify(att_key, CRYPTO_SIG_ECDSA_SHA256_RAW, q.signed_region,
                      view_of(q.signature, 64));
    if (e < 0) {
        r = fail(res, ATT_STEP_QUOTE_SIGNATURE,
                 e == ERR_NOMEM ? e
                                : err_fail(ERR_BAD_SIGNATURE, __func__,
                                           "the quote is not signed by its attestation key"));
        goto out;
    }
    if (v->no_collateral) {
        res->verified = true;
        res->tcb_status = ATT_TCB_NOT_EVALUATED;
        goto out;
    }

    e = get_all(v, &q, pck, at, c, res);
    if (e <= 0) {
        r = e;
        goto out;
    }
    res->collateral_checked = true;
    struct att_coll *tcb = c[ATT_COLLATERAL_TCB_INFO], *qe = c[ATT_COLLATERAL_QE_IDENTITY];
    struct att_coll *root_crl = c[ATT_COLLATERAL_ROOT_CA_CRL];
    if (!root_crl->absent) {
        STEP(ATT_STEP_ROOT_CA_CRL, item_ok(root_crl, "Root CA CRL"));
        STEP(ATT_STEP_ROOT_CA_CRL, check_root_crl(root_crl, tcb, qe, pck, at));
        res->root_ca_crl_checked = true;
        res->collateral_expiry = earliest(res->collateral_expiry, root_crl->next_update);
    }
    STEP(ATT_STEP_PCK_CRL, check_pck_crl(c[ATT_COLLATERAL_PCK_CRL], pck, at));
    STEP(ATT_STEP_TCB_INFO, check_tcb_info(tcb, pck, at));
    const struct att_svn_level *qe_level = NULL, *module_level = NULL;
    e = check_qe_identity(qe, &q, at, &qe_level);
    if (e < 0) { /* a QE below every level makes the TCB "not supported", as in QVL */
        r = fail(res, e == ERR_ATT_TCB_NOT_SUPPORTED ? ATT_STEP_TCB_LEVEL : ATT_STEP_QE_IDENTITY,
                 e);
        goto out;
    }
    if (q.tee_type == ATT_TEE_TDX) {
        e = att_tdx_module_match(&tcb->tcb, &q.td, &module_level);
        if (e < 0) {
            r = fail(res, e == ERR_ATT_TCB_NOT_SUPPORTED ? ATT_STEP_TCB_LEVEL : ATT_STEP_TDX_MODULE,
                     e);
            goto out;
        }
    }
    struct att_tcb_eval ev;
    e = att_tcb_evaluate(&tcb->tcb, &pck->ext, &q, qe_level, module_level, &ev);
    if (e < 0) {
        r = fail(res, e == ERR_ATT_TDX_MODULE ? ATT_STEP_TDX_MODULE : ATT_STEP_TCB_LEVEL, e);
        goto out;
    }
    res->tcb_status = ev.status;
    res->platform_tcb_status = ev.platform;
    res->qe_tcb_status = ev.qe;
    res->tdx_module_tcb_status = q.tee_type == ATT_TEE_TDX ? ev.module : ATT_TCB_NOT_EVALUATED;
    STEP(ATT_STEP_TCB_LEVEL, att_result_add_advisories(res, &ev.level->advisories));
    if (ev.module_level != NULL)
        STEP(ATT_STEP_TCB_LEVEL, att_result_add_advisories(res, &ev.module_level->advisories));
    STEP(ATT_STEP_TCB_LEVEL, att_result_add_advisories(res, &ev.qe_level->advisories));
    res->collateral_expiry = earliest(res->collateral_expiry, tcb->next_update);
    res->collateral_expiry = earliest(res->collateral_expiry, qe->next_update);
    res->collateral_expiry =
        earliest(res->collateral_expiry, c[ATT_COLLATERAL_PCK_CRL]->next_update);
    e = att_tcb_check_revoked(&ev, q.tee_type == ATT_TEE_TDX, &step);
    if (e < 0) { /* terminal, as in Intel's QvE; the statuses above stay to say why */
        r = fail(res, step, e);
        goto out;
    }
    res->verified = true;
out:
    res->collateral_fault = !res->verified && collateral_at_fault(res, c);
    for (int k = 0; k < 4; k++)
        if (c[k] != NULL)
            att_obj_unref(&c[k]->obj);
    crypto_key_free(att_key);
    if (pck != NULL)
        att_obj_unref(&pck->obj);
    return r;
}
