/*
 * Administrative operations: set and get the manifest, authenticate users, read and write secrets.
 * Each runs under the admin mutex, validates everything before touching state, commits one store
 * transaction (with its update-log entry), and only then publishes a new snapshot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_int.h"
#include "recovery/recovery.h"

/* Template data: secrets from up to two sets each for current and previous. */
bool coord_tpl_find(void *ctx, bool previous, const char *name, struct tpl_secret *out)
{
    struct coord_tpl_ctx *t = ctx;
    const struct sec_set *const *sets = previous ? t->prev_sets : t->sets;
    const struct sec_value *v = sec_find(sets, 2, name);
    if (v == NULL)
        return false;
    *out = (struct tpl_secret){v->type, buf_view(&v->cert), buf_view(&v->private_key), buf_view(&v->public_key)};
    return true;
}

/* Staging the state of a manifest into a transaction ------------------------------------------- */

int coord_put_secrets(struct store_txn *t, const char *key, const struct sec_set *s)
{
    struct buf json = BUF_INIT;
    int r = sec_set_write_json(s, NULL, 0, &json);
    if (r == 0)
        r = store_txn_put(t, key, buf_view(&json), STORE_REV_ANY);
    buf_free(&json);
    return r;
}

int coord_stage_manifest_state(struct store_txn *t, const struct coord_snapshot *s)
{
    struct buf ca = BUF_INIT;
    int r = ERR_INTERNAL;
    TRY_OUT(store_txn_put(t, KEY_STATE, view_str("3"), STORE_REV_ANY));
    TRY_OUT(store_txn_put(t, KEY_MANIFEST, s->mf->m->raw, STORE_REV_ANY));
    TRY_OUT(store_txn_put(t, KEY_MANIFEST_SIG, buf_view(&s->mf->signature), STORE_REV_ANY));
    TRY_OUT(pki_ca_serialize(s->ca, &ca));
    TRY_OUT(store_txn_put(t, KEY_CA, buf_view(&ca), STORE_REV_ANY));
    TRY_OUT(store_txn_put(t, KEY_ROOT_SECRET, view_of(s->root_secret, ROOT_SECRET_SIZE), STORE_REV_ANY));
    TRY_OUT(store_txn_put(t, KEY_PREV_ROOT_SECRET, view_of(s->previous_root_secret, ROOT_SECRET_SIZE), STORE_REV_ANY));
    TRY_OUT(coord_put_secrets(t, KEY_SECRETS, &s->secrets));
    TRY_OUT(coord_put_secrets(t, KEY_PREV_SECRETS, &s->previous_secrets));
    r = 0;
out:
    buf_free(&ca);
    return r;
}

/* Setting a manifest --------------------------------------------------------------------------------- */

int coord_check_manifest(struct view raw, const char *what, struct manifest **out)
{
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    /* The Coordinator accepts JSON only (YAML is converted by clients, as MarbleRun's CLI does). */
    int r = manifest_parse(raw, MF_FORMAT_JSON, &d, &m);
    if (r == 0) {
        struct manifest_checker checker = tpl_checker();
        r = manifest_check(m, &checker, 1, &d);
    }
    if (r == ERR_MANIFEST) {
        char summary[2048];
        diag_sort(&d);
        coord_diag_summary(&d, summary, sizeof(summary));
        r = err_fail(ERR_MANIFEST, __func__, "%s: %s", what, summary);
    }
    diag_free(&d);
    if (r < 0) {
        manifest_free(m);
        return r;
    }
    *out = m;
    return 0;
}

/* The manifest's recovery keys as RSA keys (checked by manifest_check already). */
static int recovery_keys(const struct manifest *m, struct rec_key *keys, struct crypto_key **owned)
{
    for (size_t i = 0; i < m->recovery_keys.count; i++) {
        int r = crypto_key_from_pem(view_str(m->recovery_keys.items[i].pem), &owned[i]);
        ENSURE(r == 0, r, "recovery key %s: %s", m->recovery_keys.items[i].name, err_detail(r));
        keys[i] = (struct rec_key){m->recovery_keys.items[i].name, owned[i]};
    }
    return 0;
}

int coord_make_recovery(const struct manifest *m, uint8_t dek[STORE_DEK_SIZE], json_t **secrets,
                         struct buf *data)
{
    size_t n = m->recovery_keys.count;
    struct rec_key *keys = calloc(n + 1, sizeof(*keys));
    struct crypto_key **owned = calloc(n + 1, sizeof(*owned));
    int r = keys && owned ? recovery_keys(m, keys, owned) : err_fail(ERR_NOMEM, __func__, "out of memory");
    if (r == 0)
        r = rec_generate(keys, n, (unsigned)m->config.recovery_threshold, dek, secrets, data);
    for (size_t i = 0; owned && i < n; i++)
        crypto_key_free(owned[i]);
    free(owned);
    free(keys);
    return r;
}

/* Anyone may POST a manifest: the warnings about refused ones are rate-limited. */
static void log_takeover_refused(void)
{
    static struct log_limit lines = LOG_LIMIT_INIT(QY_LOG_REFUSALS_BURST, QY_LOG_REFUSALS_PER_MINUTE);
    unsigned long long suppressed;
    unsigned seconds;
    if (log_limit_take(&lines, &suppressed, &seconds))
        log_warn("coordinator", "refused a new manifest in recovery mode (only recovery leaves it)",
                 LF_UINT("suppressed", suppressed), LF_UINT("suppressed_seconds", seconds));
}

static int set_manifest_locked(struct coord *c, struct view raw, json_t **recovery_secrets)
{
    int r = ERR_INTERNAL;
    struct manifest *m = NULL;
    struct coord_snapshot *cur = coord_snapshot_get(c), *next = coord_snapshot_new();
    struct store_txn *t = store_txn_new();
    struct sealer *sealer = NULL;
    struct buf recovery = BUF_INIT;
    uint8_t dek[STORE_DEK_SIZE];
    ENSURE_OUT(next != NULL && t != NULL && cur != NULL, ERR_NOMEM, "out of memory");
    enum coord_state st = coord_state(c);
    ENSURE_OUT(st == COORD_ACCEPTING_MANIFEST || st == COORD_RECOVERY, ERR_WRONG_STATE,
               "server is not in expected state");
    /* MarbleRun lets anyone replace the sealed state in recovery; with recovery_keys_only the
     * recovery keys are the only way out, checked before anything is parsed. */
    if (st == COORD_RECOVERY && c->cfg.recovery_keys_only) {
        log_takeover_refused();
        FAIL_OUT(ERR_WRONG_STATE, "setting a new manifest in recovery mode is disabled on this Coordinator "
                                  "(--recovery-manifest refuse): recover the sealed state with the recovery keys");
    }
    TRY_OUT(coord_check_manifest(raw, "checking manifest", &m));
    next->mf = coord_mf_new(m);
    m = NULL;
    ENSURE_OUT(next->mf != NULL, ERR_NOMEM, "out of memory");
    next->ca = pki_ca_ref(cur->ca); /* the CA made at start (or at the start of recovery) */
    TRY_OUT(pki_ca_sign_root(next->ca, next->mf->m->raw, &next->mf->signature));
    TRY_OUT(crypto_random(next->root_secret, ROOT_SECRET_SIZE));
    memcpy(next->previous_root_secret, next->root_secret, ROOT_SECRET_SIZE);
    struct sec_gen g = {next->ca, coord_now(c), 0};
    TRY_OUT(sec_generate_shared(next->mf->m, &g, NULL, 0, &next->secrets));
    TRY_OUT(sec_set_merge(&next->previous_secrets, &next->secrets)); /* first manifest: previous = current */
    TRY_OUT(coord_make_recovery(next->mf->m, dek, recovery_secrets, &recovery));
    TRY_OUT(c->cfg.make_sealer(c->cfg.sealer_ctx, next->mf->m->config.seal_mode, &sealer));
    struct coord_log_stage log;
    coord_log_reset(c, &log); /* a new manifest starts a new log (MarbleRun replaces it) */
    TRY_OUT(coord_stage_manifest_state(t, next));
    TRY_OUT(coord_log_append(c, t, next->ca, &log, "Initial manifest set", NULL));
    r = store_reset(c->cfg.store, dek, buf_view(&recovery), sealer, t);
    sealer = NULL; /* taken over */
    TRY_OUT(r);
    coord_log_commit(c, &log);
    coord_counters_clear(c); /* a new state: nothing activated yet */
    rec_session_free(c->recovery); /* a new manifest in recovery discards the old state */
    c->recovery = NULL;
    crypto_key_free(c->ephemeral);
    c->ephemeral = NULL;
    coord_snapshot_publish(c, next);
    next = NULL;
    atomic_store(&c->state, COORD_ACCEPTING_MARBLES);
    r = 0;
out:
    if (r < 0) {
        json_decref(*recovery_secrets);
        *recovery_secrets = NULL;
    }
    mem_wipe(dek, sizeof(dek));
    manifest_free(m);
    sealer_free(sealer);
    store_txn_free(t);
    buf_free(&recovery);
    coord_snapshot_put(next);
    coord_snapshot_put(cur);
    return r;
}

int coord_set_manifest(struct coord *c, struct view raw, json_t **recovery_secrets)
{
    *recovery_secrets = NULL;
    pthread_mutex_lock(&c->admin);
    int r = set_manifest_locked(c, raw, recovery_secrets);
    pthread_mutex_unlock(&c->admin);
    if (r == 0) {
        struct coord_snapshot *s = coord_snapshot_get(c);
        char fp[65];
        manifest_fingerprint_hex(s->mf->m, fp);
        log_info("coordinator", "manifest set", LF_STR("fingerprint", fp), LF_UINT("marbles", s->mf->m->marbles.count),
                 LF_UINT("secrets", s->mf->m->secrets.count), LF_STR("sealer", store_sealer_name(c->cfg.store)));
        coord_snapshot_put(s);
    }
    return r;
}

int coord_get_manifest(struct coord *c, struct coord_manifest_info *out)
{
    memset(out, 0, sizeof(*out));
    struct coord_snapshot *s = coord_snapshot_get(c);
    int r = ERR_INTERNAL;
    ENSURE_OUT(s != NULL && s->mf != NULL, ERR_NOT_FOUND, "requested value not set");
    TRY_OUT(buf_append_view(&out->raw, s->mf->m->raw));
    TRY_OUT(buf_append_view(&out->signature, buf_view(&s->mf->signature)));
    manifest_fingerprint_hex(s->mf->m, out->fingerprint);
    r = 0;
out:
    coord_snapshot_put(s);
    return r;
}

void coord_manifest_info_free(struct coord_manifest_info *info)
{
    buf_free(&info->raw);
    buf_free(&info->signature);
}

/* Users and secrets ------------------------------------------------------------------------------- */

int coord_authenticate(struct coord *c, struct view leaf, char **user)
{
    *user = NULL;
    struct coord_snapshot *s = coord_snapshot_get(c);
    const struct mf_user *u = s && s->mf && leaf.size > 0 ? coord_user_by_cert(s->mf->m, leaf) : NULL;
    int r = u ? 0 : err_fail(ERR_AUTH, __func__, "unauthorized user: client certificate did not match any users");
    if (u != NULL && (*user = strdup(u->name)) == NULL)
        r = err_fail(ERR_NOMEM, __func__, "out of memory");
    coord_snapshot_put(s);
    return r;
}

/* "[a b c]" as Go prints a []string, for MarbleRun's messages. */
static void name_list(const char *const *names, size_t count, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "[");
    for (size_t i = 0; i < count && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? " " : "", names[i]);
    if (n < size)
        snprintf(out + n, size - n, "]");
}

int coord_get_secrets(struct coord *c, const char *user, const char *const *names, size_t count, json_t **out)
{
    struct buf json = BUF_INIT;
    *out = NULL;
    struct coord_snapshot *s = coord_snapshot_get(c);
    int r = ERR_INTERNAL;
    ENSURE_OUT(s != NULL && s->mf != NULL, ERR_WRONG_STATE, "server is not in expected state");
    const struct mf_user *u = manifest_user(s->mf->m, user);
    bool ok = u != NULL;
    for (size_t i = 0; i < count && ok; i++)
        ok = coord_user_may(s->mf->m, u, MF_RES_SECRETS, "ReadSecret", names[i]);
    if (!ok) {
        char list[1024];
        name_list(names, count, list, sizeof(list));
        FAIL_OUT(ERR_PERMISSION, "user %s is not allowed to read one or more secrets of: %s", user, list);
    }
    TRY_OUT(sec_set_write_json(&s->secrets, names, count, &json));
    r = js_parse(buf_view(&json), QY_API_RESPONSE_MAX, out);
out:
    buf_free(&json);
    coord_snapshot_put(s);
    return r;
}

/* Uploaded secrets must keep every template working (reference §9.4: the dry run runs with them). */
static int dry_run_with(const struct manifest *m, const struct sec_set *uploaded)
{
    struct coord_tpl_ctx t = {{uploaded, NULL}, {uploaded, NULL}};
    struct tpl_data data = {coord_tpl_find, &t, {VIEW_EMPTY, VIEW_EMPTY, VIEW_EMPTY, VIEW_EMPTY, VIEW_EMPTY}};
    struct diag d = DIAG_INIT;
    size_t errors = tpl_dry_run(m, &data, &d);
    int r = 0;
    if (errors > 0) {
        char summary[1024];
        coord_diag_summary(&d, summary, sizeof(summary));
        r = err_fail(ERR_TEMPLATE, __func__, "running manifest template dry run: %s", summary);
    }
    diag_free(&d);
    return r;
}

static int set_secrets_locked(struct coord *c, const char *user, const json_t *body)
{
    struct sec_set uploaded = SEC_SET_INIT;
    struct coord_snapshot *cur = coord_snapshot_get(c), *next = coord_snapshot_new();
    struct store_txn *t = store_txn_new();
    int r = ERR_INTERNAL;
    ENSURE_OUT(cur && next && t, ERR_NOMEM, "out of memory");
    ENSURE_OUT(coord_state(c) == COORD_ACCEPTING_MARBLES && cur->mf, ERR_WRONG_STATE, "server is not in expected state");
    const struct manifest *m = cur->mf->m;
    TRY_OUT(sec_parse_user_secrets_json(m, body, &uploaded));
    TRY_OUT(dry_run_with(m, &uploaded));
    const struct mf_user *u = manifest_user(m, user);
    for (size_t i = 0; i < uploaded.count; i++)
        ENSURE_OUT(u != NULL && coord_user_may(m, u, MF_RES_SECRETS, "WriteSecret", uploaded.items[i].name),
                   ERR_PERMISSION, "user %s is not allowed to set secret %s", user, uploaded.items[i].name);
    next->mf = coord_mf_ref(cur->mf);
    next->ca = pki_ca_ref(cur->ca);
    memcpy(next->root_secret, cur->root_secret, ROOT_SECRET_SIZE);
    memcpy(next->previous_root_secret, cur->previous_root_secret, ROOT_SECRET_SIZE);
    TRY_OUT(sec_set_merge(&next->secrets, &cur->secrets));
    TRY_OUT(sec_set_merge(&next->secrets, &uploaded));
    TRY_OUT(sec_set_merge(&next->previous_secrets, &cur->previous_secrets));
    TRY_OUT(coord_put_secrets(t, KEY_SECRETS, &next->secrets));
    struct coord_log_stage log;
    coord_log_begin(c, &log);
    for (size_t i = 0; i < uploaded.count; i++)
        TRY_OUT(coord_log_append(c, t, cur->ca, &log, "Secret set",
                                 json_pack("{s:s,s:s,s:s}", "user", user, "secret", uploaded.items[i].name, "type",
                                           mf_secret_type_name(uploaded.items[i].type))));
    TRY_OUT(store_commit(c->cfg.store, t));
    coord_log_commit(c, &log);
    coord_snapshot_publish(c, next);
    next = NULL;
    r = 0;
out:
    sec_set_free(&uploaded);
    store_txn_free(t);
    coord_snapshot_put(next);
    coord_snapshot_put(cur);
    return r;
}

int coord_set_secrets(struct coord *c, const char *user, const json_t *secrets)
{
    pthread_mutex_lock(&c->admin);
    int r = set_secrets_locked(c, user, secrets);
    pthread_mutex_unlock(&c->admin);
    return r;
}
