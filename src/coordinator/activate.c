/*
 * Marble activation (docs/mesh-protocol.md; reference/marblerun.md §5.3). Checks in order: state,
 * TLS key = CSR key, marble type, quote (verification and binding to key and session), package
 * policy, MaxActivations, UUID. Then the certificate from the CSR, the marble's secrets, the rendered
 * parameters, and a durable record before the answer - only while the answer can still be delivered
 * (answer_by_ms): a commit whose answer is lost would spend a MaxActivations slot for nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord_int.h"

struct coord_activation_response {
    struct coord_snapshot *snap; /* keeps the manifest (argv) alive */
    const struct mf_marble *marble;
    char uuid[UUID_TEXT_SIZE];
    struct buf chain_pem;
    struct tpl_rendered *rendered;
};

void coord_activation_response_free(struct coord_activation_response *a)
{
    if (a == NULL)
        return;
    tpl_rendered_free(a->rendered);
    buf_free(&a->chain_pem);
    coord_snapshot_put(a->snap);
    free(a);
}

/* The package's policy, with its SecurityVersion as raised by package updates. */
static void policy_of(const struct coord_mf *mf, const struct mf_package *p, struct att_policy *out)
{
    struct mf_opt_u64 svn = coord_mf_svn(mf, p);
    *out = (struct att_policy){p->debug,
                               p->unique_id,
                               p->signer_id,
                               p->product_id.set,
                               p->product_id.value,
                               svn.set,
                               svn.value,
                               p->accepted_tcb_statuses.items,
                               p->accepted_tcb_statuses.count,
                               p->accepted_advisories.items,
                               p->accepted_advisories.count};
}

int coord_activation_binding(struct view spki, const uint8_t exporter[32], uint8_t report_data[64])
{
    uint8_t spki_hash[32];
    TRY(crypto_sha256(&spki, 1, spki_hash));
    struct view parts[3] = {view_str(COORD_BINDING_CONTEXT), view_of(spki_hash, 32), view_of(exporter, 32)};
    memset(report_data, 0, 64);
    return crypto_sha256(parts, 3, report_data);
}

bool coord_marble_type_known(struct coord *c, const char *name)
{
    struct coord_snapshot *s = coord_snapshot_get(c);
    bool known = s != NULL && s->mf != NULL && manifest_marble(s->mf->m, name) != NULL;
    coord_snapshot_put(s);
    return known;
}

/* The quote verifies, is bound to this key and TLS session, and meets the package policy. */
/* Collateral that could not be had, or that the source served wrong, says nothing about the quote:
 * a retryable error (503) rather than a refusal. 0 when the verdict is the quote's own. */
int coord_quote_retry_later(const struct att_result *res, const char *what)
{
    if (res->verified)
        return 0;
    ENSURE(res->failed_step != ATT_STEP_COLLATERAL, res->error, "cannot verify %s yet: %s", what, res->detail);
    ENSURE(!res->collateral_fault, ERR_ATT_NO_COLLATERAL,
           "cannot verify %s yet: the collateral served is not usable: %s: %s", what, att_step_name(res->failed_step),
           res->detail);
    return 0;
}

static int check_quote(struct coord *c, const struct coord_activation_request *req, const struct coord_mf *mf,
                       const struct mf_package *pkg)
{
    if (c->cfg.simulation)
        return 0; /* MarbleRun's simulation mode: quotes are neither required nor checked */
    ENSURE(req->quote.size > 0, ERR_POLICY, "marble verification failed: no quote");
    struct att_result res;
    TRY(att_verify(c->cfg.verifier, req->quote, coord_now(c), &res));
    TRY(coord_quote_retry_later(&res, "the marble"));
    ENSURE(res.verified, ERR_POLICY, "marble verification failed: invalid quote: %s: %s", att_step_name(res.failed_step),
           res.detail);
    uint8_t expect[64];
    TRY(coord_activation_binding(req->peer_spki, req->exporter, expect));
    ENSURE(mem_eq_ct(expect, res.report_data, sizeof(expect)), ERR_POLICY,
           "marble verification failed: the quote is not bound to this TLS connection and key");
    struct att_policy policy;
    struct att_refusal why;
    policy_of(mf, pkg, &policy);
    int r = att_policy_check(&policy, &res, &why);
    ENSURE(r == 0, ERR_POLICY, "marble verification failed: %s", why.reason);
    return 0;
}

/* Whether the TLS client key is the CSR's: the same SubjectPublicKeyInfo bytes (as every premain
 * sends them), or else the same key once decoded (one may encode its point compressed). */
static int same_key(struct view spki, const struct pki_csr *csr, bool *same)
{
    const struct crypto_key *csr_key = pki_csr_key(csr);
    *same = view_eq(spki, pki_csr_spki_der(csr));
    if (*same)
        return 0;
    struct crypto_key *peer = NULL;
    int r = crypto_key_from_public_der(spki, &peer);
    ENSURE(r == 0, ERR_BAD_REQUEST, "the TLS client key does not parse: %s", err_detail(r));
    *same = crypto_key_public_eq(peer, csr_key);
    crypto_key_free(peer);
    return 0;
}

static int check_request(struct coord *c, const struct coord_snapshot *s, const struct coord_activation_request *req,
                         struct pki_csr **csr, const struct mf_marble **marble)
{
    bool same = false;
    int r = pki_csr_parse_with(req->csr, req->peer_key, csr);
    ENSURE(r == 0, ERR_BAD_REQUEST, "invalid CSR: %s", err_detail(r));
    TRY(same_key(req->peer_spki, *csr, &same));
    ENSURE(same, ERR_POLICY, "marble verification failed: the TLS client certificate's key differs from the CSR's");
    *marble = manifest_marble(s->mf->m, req->marble_type);
    ENSURE(*marble != NULL, ERR_POLICY, "marble verification failed: unknown marble type requested");
    const struct mf_package *pkg = manifest_package(s->mf->m, (*marble)->package);
    ENSURE(pkg != NULL, ERR_POLICY, "marble verification failed: undefined package \"%s\"", (*marble)->package);
    return check_quote(c, req, s->mf, pkg);
}

/* Certificate, secrets, parameters. */
static int provision(struct coord *c, const struct coord_snapshot *s, const struct pki_csr *csr,
                     struct coord_activation_response *a, const struct view spki)
{
    struct sec_set mine = SEC_SET_INIT, mine_prev = SEC_SET_INIT;
    struct buf leaf = BUF_INIT;
    int r = ERR_INTERNAL;
    int64_t now = coord_now(c);
    TRY_OUT(pki_issue_marble_cert(s->ca, csr, a->uuid, a->marble->name, now, &leaf));
    TRY_OUT(enc_pem(&a->chain_pem, "CERTIFICATE", buf_view(&leaf)));
    TRY_OUT(enc_pem(&a->chain_pem, "CERTIFICATE", pki_ca_intermediate_der(s->ca)));
    struct sec_gen g = {s->ca, now, 1};
    struct sec_marble sm = {a->uuid, a->marble, s->root_secret, s->previous_root_secret};
    r = sec_generate_marble(s->mf->m, &g, &sm, &mine, &mine_prev);
    ENSURE_OUT(r == 0, r, "generating marble secrets: %s", err_detail(r));
    struct coord_tpl_ctx t = {{&mine, &s->secrets}, {&mine_prev, &s->previous_secrets}};
    struct tpl_data data = {coord_tpl_find, &t,
                            {pki_ca_marble_root_der(s->ca), buf_view(&leaf), spki, pki_ca_root_der(s->ca),
                             pki_ca_intermediate_der(s->ca)}};
    r = tpl_render_marble(a->marble, &data, TPL_PREDEFINED_ENV, &a->rendered);
    ENSURE_OUT(r == 0, r, "customizing marble parameters: %s", err_detail(r));
out:
    sec_set_free(&mine);
    sec_set_free(&mine_prev);
    buf_free(&leaf);
    return r;
}

/* The durable record, and the counted slot for limited types. */
static int record(struct coord *c, const struct coord_activation_response *a, bool counted, uint64_t slot)
{
    char key[QY_STORE_KEY_MAX + 1], when[32];
    struct store_txn *t = store_txn_new();
    struct buf value = BUF_INIT;
    int r = ERR_INTERNAL;
    ENSURE_OUT(t != NULL, ERR_NOMEM, "out of memory");
    if (qtime_format_rfc3339(coord_now(c), when) < 0)
        snprintf(when, sizeof(when), "unknown");
    json_t *rec = json_pack("{s:s,s:s,s:s}", "time", when, "marbleType", a->marble->name, "uuid", a->uuid);
    r = rec ? js_dump(&value, rec, JSON_COMPACT) : ERR_NOMEM;
    json_decref(rec);
    TRY_OUT(r);
    snprintf(key, sizeof(key), KEY_RECORD_PREFIX "%016llx:%016llx", (unsigned long long)c->epoch,
             (unsigned long long)atomic_fetch_add(&c->seq, 1));
    TRY_OUT(store_txn_put(t, key, buf_view(&value), STORE_REV_ABSENT));
    if (counted) {
        snprintf(key, sizeof(key), KEY_COUNT_PREFIX "%s:%016llx", a->marble->name, (unsigned long long)slot);
        TRY_OUT(store_txn_put(t, key, view_str(a->uuid), STORE_REV_ABSENT));
    }
    r = store_commit(c->cfg.store, t);
out:
    store_txn_free(t);
    buf_free(&value);
    return r;
}

static int check_deadline(const struct coord_activation_request *req)
{
    struct timespec ts;
    if (req->answer_by_ms == 0)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    ENSURE(now < req->answer_by_ms, ERR_TOO_LATE,
           "the activation took %lld ms too long to be answered in time; nothing was recorded, try again",
           (long long)(now - req->answer_by_ms));
    return 0;
}

static int activate(struct coord *c, struct coord_snapshot *s, const struct coord_activation_request *req,
                    struct coord_activation_response *a)
{
    struct pki_csr *csr = NULL;
    uint64_t slot = 0;
    bool reserved = false;
    int r = ERR_INTERNAL;
    ENSURE_OUT(coord_state(c) == COORD_ACCEPTING_MARBLES && s->mf != NULL, ERR_WRONG_STATE,
               "cannot accept marbles in current state");
    TRY_OUT(check_request(c, s, req, &csr, &a->marble));
    TRY_OUT(coord_counter_reserve(c, a->marble->name, a->marble->max_activations, &slot));
    reserved = a->marble->max_activations > 0;
    r = uuid_canonical(req->uuid, a->uuid);
    ENSURE_OUT(r == 0, ERR_BAD_REQUEST, "invalid UUID: %s", err_detail(r));
    TRY_OUT(provision(c, s, csr, a, req->peer_spki));
    TRY_OUT(check_deadline(req));
    TRY_OUT(record(c, a, reserved, slot));
    r = 0;
out:
    if (reserved)
        coord_counter_settle(c, a->marble->name, r == 0);
    pki_csr_free(csr);
    return r;
}

/* Anyone with a self-signed certificate can be refused, as often as they like: the lines are
 * rate-limited, and the next one written says how many were left out. */
static struct log_limit refusal_lines = LOG_LIMIT_INIT(QY_LOG_REFUSALS_BURST, QY_LOG_REFUSALS_PER_MINUTE);

static void log_refusal(const struct coord_activation_request *req, int r)
{
    unsigned long long suppressed;
    unsigned seconds;
    if (!log_enabled(LOG_INFO) || !log_limit_take(&refusal_lines, &suppressed, &seconds))
        return;
    if (suppressed > 0)
        log_info("mesh", "similar refusals suppressed", LF_UINT("count", suppressed), LF_UINT("seconds", seconds));
    log_info("mesh", "marble refused", LF_STR("type", req->marble_type), LF_STR("uuid", req->uuid),
             LF_STR("reason", err_detail(r)));
}

int coord_activate(struct coord *c, const struct coord_activation_request *req, struct coord_activation_response **out)
{
    *out = NULL;
    struct coord_activation_response *a = calloc(1, sizeof(*a));
    ENSURE(a != NULL, ERR_NOMEM, "out of memory");
    a->snap = coord_snapshot_get(c);
    int r = a->snap ? activate(c, a->snap, req, a) : err_fail(ERR_WRONG_STATE, __func__, "not started");
    if (r < 0) {
        log_refusal(req, r);
        coord_activation_response_free(a);
        return r;
    }
    log_debug("mesh", "marble activated", LF_STR("type", req->marble_type), LF_STR("uuid", a->uuid));
    *out = a;
    return 0;
}

/* The wire form ------------------------------------------------------------------------------------ */

static json_t *segments_json(const struct tpl_value *v)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < v->count; i++) {
        const struct tpl_segment *seg = &v->segments[i];
        json_t *e = NULL;
        if (seg->kind == TPL_SEG_PRIVATE_KEY) {
            e = json_pack("{s:s}", "privateKey", tpl_key_encoding_name(seg->encoding));
        } else {
            struct buf b64 = BUF_INIT;
            if (enc_b64(&b64, seg->bytes) == 0)
                e = json_pack("{s:s%}", "data", b64.ptr ? (const char *)b64.ptr : "", b64.size);
            buf_free(&b64);
        }
        if (e == NULL || json_array_append_new(list, e) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

static json_t *values_json(const struct tpl_value *v, size_t count)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < count; i++) {
        json_t *segs = segments_json(&v[i]);
        if (segs == NULL || json_object_set_new(o, v[i].name, segs) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

json_t *coord_activation_json(const struct coord_activation_response *a)
{
    json_t *argv = json_array();
    const struct mf_strings *av = &a->marble->params.argv;
    for (size_t i = 0; argv && i < av->count; i++)
        json_array_append_new(argv, json_string(av->items[i]));
    return json_pack("{s:s,s:s%,s:{s:o,s:o,s:o}}", "uuid", a->uuid, "certificateChain", (const char *)a->chain_pem.ptr,
                     a->chain_pem.size, "parameters", "files", values_json(a->rendered->files, a->rendered->files_count),
                     "env", values_json(a->rendered->env, a->rendered->env_count), "argv", argv);
}
