/*
 * Updates (reference/marblerun.md §9.5, §10). A package update raises packages' SecurityVersion at
 * once; a full manifest update waits until enough users holding UpdateManifest acknowledged it, then
 * replaces the manifest. Both rotate the intermediate CA and regenerate what depends on it, and each
 * step is one store transaction with its update-log entries, under the admin mutex; the new snapshot
 * is published after the commit and the servers' TLS identities follow the new intermediate.
 *
 * The pending update lives only in the store (its state and its manifest bytes), so a restart - or
 * kill -9 - resumes it with the acknowledgements it had. Package updates leave the stored manifest,
 * its fingerprint and its signature as they are (as MarbleRun does): the raised SecurityVersions are
 * kept beside it and applied wherever the package policy is read (coord_mf_svn).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_int.h"

#define KEY_PKG_SVNS "packageSecurityVersions" /* {"<package>": <SecurityVersion>} */
#define KEY_PENDING "pendingUpdate"            /* {"manifestFingerprint", "requiredUsers", "missing..."} */
#define KEY_PENDING_MANIFEST "pendingUpdateManifest"

/* Effective SecurityVersions -------------------------------------------------------------------- */

struct mf_opt_u64 coord_mf_svn(const struct coord_mf *mf, const struct mf_package *p)
{
    for (size_t i = 0; i < mf->svns_count; i++)
        if (strcmp(mf->svns[i].package, p->name) == 0)
            return (struct mf_opt_u64){true, mf->svns[i].value};
    return p->security_version;
}

void coord_svns_free(struct coord_mf *mf)
{
    for (size_t i = 0; i < mf->svns_count; i++)
        free(mf->svns[i].package);
    free(mf->svns);
    mf->svns = NULL;
    mf->svns_count = 0;
}

static int svn_set(struct coord_mf *mf, const char *package, uint64_t value)
{
    for (size_t i = 0; i < mf->svns_count; i++)
        if (strcmp(mf->svns[i].package, package) == 0) {
            mf->svns[i].value = value;
            return 0;
        }
    struct coord_svn *n = realloc(mf->svns, (mf->svns_count + 1) * sizeof(*n));
    ENSURE(n != NULL, ERR_NOMEM, "out of memory");
    mf->svns = n;
    n[mf->svns_count] = (struct coord_svn){strdup(package), value};
    ENSURE(n[mf->svns_count].package != NULL, ERR_NOMEM, "out of memory");
    mf->svns_count++;
    return 0;
}

static int svns_json(const struct coord_mf *mf, struct buf *out)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < mf->svns_count; i++)
        if (json_object_set_new(o, mf->svns[i].package, json_integer((json_int_t)mf->svns[i].value)) != 0) {
            json_decref(o);
            o = NULL;
        }
    ENSURE(o != NULL, ERR_NOMEM, "out of memory");
    int r = js_dump(out, o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return r;
}

int coord_svns_load(struct coord *c, struct coord_mf *mf)
{
    struct buf b = BUF_INIT;
    json_t *j = NULL, *v;
    const char *name;
    int r = store_get(c->cfg.store, KEY_PKG_SVNS, &b, NULL);
    if (r == ERR_NOT_FOUND) {
        buf_free(&b);
        return 0;
    }
    TRY_OUT(r);
    r = js_parse(buf_view(&b), QY_JSON_MAX_SIZE, &j);
    ENSURE_OUT(r == 0 && json_is_object(j), ERR_CORRUPT, "the stored SecurityVersions are malformed");
    json_object_foreach(j, name, v) {
        ENSURE_OUT(json_is_integer(v) && json_integer_value(v) >= 0 && manifest_package(mf->m, name) != NULL,
                   ERR_CORRUPT, "the stored SecurityVersion of \"%s\" is malformed", name);
        TRY_OUT(svn_set(mf, name, (uint64_t)json_integer_value(v)));
    }
    r = 0;
out:
    json_decref(j);
    buf_free(&b);
    return r;
}

/* Staging one change: its writes and log entries, what to publish, how to commit ------------------ */

struct staged {
    struct store_txn *t;
    struct coord_log_stage log;
    struct coord_snapshot *next; /* published after the commit; NULL: the snapshot stays */
    bool rekey;                  /* a new DEK and recovery data: the recovery keys changed */
    uint8_t dek[STORE_DEK_SIZE];
    struct buf recovery;
    struct sealer *sealer; /* with rekey, or alone when only the SealMode changed */
    json_t *recovery_secrets;
};

static int staged_init(struct coord *c, struct staged *s)
{
    memset(s, 0, sizeof(*s));
    s->t = store_txn_new();
    ENSURE(s->t != NULL, ERR_NOMEM, "out of memory");
    coord_log_begin(c, &s->log);
    return 0;
}

static void staged_free(struct staged *s)
{
    store_txn_free(s->t);
    coord_snapshot_put(s->next);
    mem_wipe(s->dek, sizeof(s->dek));
    buf_free(&s->recovery);
    sealer_free(s->sealer);
    json_decref(s->recovery_secrets);
    memset(s, 0, sizeof(*s));
}

/* Commits, then makes the change current: the log head, the snapshot, the servers' identities. */
static int staged_commit(struct coord *c, struct staged *s)
{
    int r;
    if (s->rekey) {
        r = store_rekey(c->cfg.store, s->dek, buf_view(&s->recovery), s->sealer, s->t);
        s->sealer = NULL; /* taken over */
    } else {
        r = store_commit(c->cfg.store, s->t);
    }
    TRY(r);
    coord_log_commit(c, &s->log);
    if (s->sealer != NULL) { /* the DEK stays, sealed with the new SealMode's key */
        r = store_rewrap(c->cfg.store, s->sealer);
        s->sealer = NULL;
        if (r < 0)
            log_error("coordinator", "cannot re-seal the state with the new SealMode", LF_ERR(r));
    }
    if (s->next != NULL) {
        struct pki_ca *ca = pki_ca_ref(s->next->ca);
        coord_snapshot_publish(c, s->next);
        s->next = NULL;
        r = coord_refresh_identity(c, ca);
        if (r < 0) /* the update is durable; the servers keep their previous identities */
            log_error("coordinator", "cannot renew the servers' identities after an update", LF_ERR(r));
        pki_ca_free(ca);
    }
    return 0;
}

/* A snapshot like `cur` with a new intermediate CA and marble root; mf and secrets to fill. */
static int next_snapshot(struct coord *c, const struct coord_snapshot *cur, struct coord_snapshot **out)
{
    struct coord_snapshot *s = coord_snapshot_new();
    ENSURE(s != NULL, ERR_NOMEM, "out of memory");
    int r = pki_ca_rotate_intermediate(cur->ca, coord_now(c), &s->ca);
    if (r < 0) {
        coord_snapshot_put(s);
        return r;
    }
    memcpy(s->root_secret, cur->root_secret, ROOT_SECRET_SIZE);
    memcpy(s->previous_root_secret, cur->previous_root_secret, ROOT_SECRET_SIZE);
    *out = s;
    return 0;
}

/* "[a b]", as Go prints a []string in MarbleRun's messages. */
static void package_list(const struct manifest *u, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "[");
    for (size_t i = 0; i < u->packages.count && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? " " : "", u->packages.items[i].name);
    if (n < size)
        snprintf(out + n, size - n, "]");
}

/* Package updates (§10.1) ------------------------------------------------------------------------- */

/* MarbleRun checks the permission before the update itself. */
static int may_update_packages(const struct manifest *m, const char *user, const struct manifest *u)
{
    const struct mf_user *usr = manifest_user(m, user);
    bool ok = usr != NULL;
    for (size_t i = 0; ok && i < u->packages.count; i++)
        ok = coord_user_may(m, usr, MF_RES_PACKAGES, "UpdateSecurityVersion", u->packages.items[i].name);
    if (!ok) {
        char list[1024];
        package_list(u, list, sizeof(list));
        FAIL(ERR_PERMISSION, "user %s is not allowed to update one or more packages of %s", user, list);
    }
    return 0;
}

/* MarbleRun's CheckUpdate, against the effective SecurityVersions. */
static int check_package_update(const struct coord_mf *cur, const struct manifest *u)
{
#define UPDATE_ENSURE(cond, msg) ENSURE(cond, ERR_MANIFEST, "checking update manifest: %s", msg)
    UPDATE_ENSURE(u->packages.count > 0, "no packages defined");
    for (size_t i = 0; i < u->packages.count; i++) {
        const struct mf_package *p = &u->packages.items[i];
        const struct mf_package *old = manifest_package(cur->m, p->name);
        UPDATE_ENSURE(old != NULL, "update manifest specifies a package which the original manifest does not contain");
        UPDATE_ENSURE(!p->debug && p->unique_id[0] == '\0' && p->signer_id[0] == '\0' && !p->product_id.set,
                      "update manifest contains unupdatable values");
        UPDATE_ENSURE(p->security_version.set, "update manifest does not specify a SecurityVersion to update");
        struct mf_opt_u64 now = coord_mf_svn(cur, old);
        UPDATE_ENSURE(!now.set || p->security_version.value >= now.value,
                      "update manifest tries to downgrade SecurityVersion of the original manifest");
    }
#undef UPDATE_ENSURE
    return 0;
}

/* The current manifest once more, for a snapshot of its own (a manifest belongs to one coord_mf). */
static int mf_copy(const struct coord_mf *cur, struct coord_mf **out)
{
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    int r = manifest_parse(cur->m->raw, MF_FORMAT_JSON, &d, &m);
    if (r == 0)
        r = manifest_check(m, NULL, 0, &d); /* fills the users' certificates */
    diag_free(&d);
    if (r < 0) {
        manifest_free(m);
        FAIL(ERR_INTERNAL, "the current manifest does not load again: %s", err_detail(r));
    }
    *out = coord_mf_new(m);
    ENSURE(*out != NULL, ERR_NOMEM, "out of memory");
    TRY(buf_append_view(&(*out)->signature, buf_view(&cur->signature)));
    for (size_t i = 0; i < cur->svns_count; i++)
        TRY(svn_set(*out, cur->svns[i].package, cur->svns[i].value));
    return 0;
}

static int stage_package_update(struct coord *c, const struct coord_snapshot *cur, const char *user,
                                const struct manifest *u, struct staged *st)
{
    struct buf svns = BUF_INIT;
    int r = ERR_INTERNAL;
    TRY_OUT(may_update_packages(cur->mf->m, user, u));
    TRY_OUT(check_package_update(cur->mf, u));
    TRY_OUT(next_snapshot(c, cur, &st->next));
    struct coord_snapshot *next = st->next;
    TRY_OUT(mf_copy(cur->mf, &next->mf));
    for (size_t i = 0; i < u->packages.count; i++)
        TRY_OUT(svn_set(next->mf, u->packages.items[i].name, u->packages.items[i].security_version.value));
    /* shared certificates are issued anew under the new intermediate; keys and uploads stay (§10.4) */
    struct sec_gen g = {next->ca, coord_now(c), 0};
    TRY_OUT(sec_generate_shared(next->mf->m, &g, &cur->secrets, SEC_KEEP_USER_DEFINED | SEC_KEEP_SYMMETRIC,
                                &next->secrets));
    TRY_OUT(sec_set_merge(&next->previous_secrets, &cur->previous_secrets));
    TRY_OUT(coord_stage_manifest_state(st->t, next)); /* the CA and the secrets changed */
    TRY_OUT(svns_json(next->mf, &svns));
    TRY_OUT(store_txn_put(st->t, KEY_PKG_SVNS, buf_view(&svns), STORE_REV_ANY));
    for (size_t i = 0; i < u->packages.count; i++)
        TRY_OUT(coord_log_append(c, st->t, next->ca, &st->log, "SecurityVersion increased",
                                 json_pack("{s:s,s:s,s:I}", "user", user, "package", u->packages.items[i].name,
                                           "new version", (json_int_t)u->packages.items[i].security_version.value)));
    r = 0;
out:
    buf_free(&svns);
    return r;
}

/* Full manifest updates (§10.2) ---------------------------------------------------------------------- */

static bool same_definition(const struct sec_value *a, const struct sec_value *b)
{
    return a->type == b->type && a->size == b->size && a->shared == b->shared && a->user_defined == b->user_defined &&
           a->valid_for == b->valid_for;
}

/* .Previous.Secrets after an update (§10.3): each secret as it was before it, or as it is now when it
 * is new or its definition changed. Secrets the new manifest dropped vanish from both sets. */
static int previous_after(const struct sec_set *before, const struct sec_set *after, struct sec_set *out)
{
    for (size_t i = 0; i < after->count; i++) {
        const struct sec_value *old = sec_set_find(before, after->items[i].name);
        TRY(sec_set_put(out, old != NULL && same_definition(old, &after->items[i]) ? old : &after->items[i]));
    }
    return 0;
}

static uint64_t recovery_threshold(const struct manifest *m)
{
    return m->config.recovery_threshold ? m->config.recovery_threshold : m->recovery_keys.count;
}

/* §8.5: keys compared as a name -> PEM map; thresholds with 0 meaning all. */
static bool recovery_changed(const struct manifest *a, const struct manifest *b)
{
    if (a->recovery_keys.count != b->recovery_keys.count || recovery_threshold(a) != recovery_threshold(b))
        return true;
    for (size_t i = 0; i < a->recovery_keys.count; i++) /* both sorted by name */
        if (strcmp(a->recovery_keys.items[i].name, b->recovery_keys.items[i].name) != 0 ||
            strcmp(a->recovery_keys.items[i].pem, b->recovery_keys.items[i].pem) != 0)
            return true;
    return false;
}

static json_t *fingerprint_field(const char *fingerprint)
{
    return json_pack("{s:s}", "manifestFingerprint", fingerprint);
}

static int stage_full_apply(struct coord *c, const struct coord_snapshot *cur, struct view raw, struct staged *st)
{
    struct manifest *m = NULL;
    char fp[65];
    TRY(coord_check_manifest(raw, "invalid manifest", &m));
    int r = next_snapshot(c, cur, &st->next);
    if (r < 0) {
        manifest_free(m);
        return r;
    }
    struct coord_snapshot *next = st->next;
    next->mf = coord_mf_new(m); /* takes m over, also on failure */
    ENSURE(next->mf != NULL, ERR_NOMEM, "out of memory");
    m = next->mf->m;
    TRY(pki_ca_sign_root(next->ca, m->raw, &next->mf->signature));
    bool rotate = m->config.rotate_root_secret;
    if (rotate) {
        memcpy(next->previous_root_secret, cur->root_secret, ROOT_SECRET_SIZE);
        TRY(crypto_random(next->root_secret, ROOT_SECRET_SIZE));
    }
    struct sec_gen g = {next->ca, coord_now(c), 0};
    TRY(sec_generate_shared(m, &g, &cur->secrets, SEC_KEEP_USER_DEFINED | (rotate ? 0 : SEC_KEEP_SYMMETRIC),
                            &next->secrets));
    TRY(previous_after(&cur->secrets, &next->secrets, &next->previous_secrets));
    TRY(coord_stage_manifest_state(st->t, next));
    TRY(store_txn_del(st->t, KEY_PKG_SVNS, STORE_REV_ANY)); /* the new manifest says which versions */
    TRY(store_txn_del(st->t, KEY_PENDING, STORE_REV_ANY));
    TRY(store_txn_del(st->t, KEY_PENDING_MANIFEST, STORE_REV_ANY));
    if (recovery_changed(cur->mf->m, m)) {
        st->rekey = true;
        TRY(coord_make_recovery(m, st->dek, &st->recovery_secrets, &st->recovery));
    }
    if (st->rekey || m->config.seal_mode != cur->mf->m->config.seal_mode)
        TRY(c->cfg.make_sealer(c->cfg.sealer_ctx, m->config.seal_mode, &st->sealer));
    manifest_fingerprint_hex(m, fp);
    return coord_log_append(c, st->t, next->ca, &st->log, "Complete Manifest updated", fingerprint_field(fp));
}

/* The pending update, as stored ----------------------------------------------------------------------- */

struct pending {
    struct buf raw; /* the manifest as submitted */
    char fingerprint[65];
    json_t *required; /* user -> acknowledged, in the manifest's user order */
    uint64_t missing;
};

static void pending_free(struct pending *p)
{
    buf_free(&p->raw);
    json_decref(p->required);
    memset(p, 0, sizeof(*p));
}

static int pending_load(struct coord *c, struct pending *p)
{
    struct buf b = BUF_INIT;
    json_t *j = NULL, *v;
    const char *fp = NULL, *name;
    memset(p, 0, sizeof(*p));
    int r = store_get(c->cfg.store, KEY_PENDING, &b, NULL);
    if (r == ERR_NOT_FOUND)
        FAIL_OUT(ERR_NOT_FOUND, "no update in progress");
    TRY_OUT(r);
    r = js_parse(buf_view(&b), QY_JSON_MAX_SIZE, &j);
    if (r == 0)
        r = js_get_string(j, "manifestFingerprint", true, &fp);
    if (r == 0)
        r = js_get_u64(j, "missingAcknowledgments", true, &p->missing);
    p->required = json_incref(json_object_get(j, "requiredUsers"));
    ENSURE_OUT(r == 0 && json_is_object(p->required) && strlen(fp) == 64, ERR_CORRUPT,
               "the stored pending update is malformed");
    json_object_foreach(p->required, name, v)
        ENSURE_OUT(json_is_boolean(v), ERR_CORRUPT, "the stored pending update is malformed");
    snprintf(p->fingerprint, sizeof(p->fingerprint), "%s", fp);
    /* the bytes as sent: a legacy document's fingerprint is its conversion's, so no hash compare */
    TRY_OUT(store_get(c->cfg.store, KEY_PENDING_MANIFEST, &p->raw, NULL));
    r = 0;
out:
    if (r < 0)
        pending_free(p);
    json_decref(j);
    buf_free(&b);
    return r;
}

static int pending_stage(struct store_txn *t, const struct pending *p, bool with_manifest)
{
    struct buf b = BUF_INIT;
    json_t *j = json_pack("{s:s,s:O,s:I}", "manifestFingerprint", p->fingerprint, "requiredUsers", p->required,
                          "missingAcknowledgments", (json_int_t)p->missing);
    int r = j ? js_dump(&b, j, JSON_COMPACT) : err_fail(ERR_NOMEM, __func__, "out of memory");
    json_decref(j);
    if (r == 0)
        r = store_txn_put(t, KEY_PENDING, buf_view(&b), STORE_REV_ANY);
    if (r == 0 && with_manifest)
        r = store_txn_put(t, KEY_PENDING_MANIFEST, buf_view(&p->raw), STORE_REV_ANY);
    buf_free(&b);
    return r;
}

static json_t *missing_users(const struct pending *p)
{
    json_t *list = json_array(), *v;
    const char *name;
    json_object_foreach(p->required, name, v) {
        if (list != NULL && !json_is_true(v) && json_array_append_new(list, json_string(name)) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    return list;
}

static json_t *progress_fields(const char *user, const struct pending *p)
{
    return json_pack("{s:s,s:I,s:o,s:s}", "user", user, "missingAcknowledgments", (json_int_t)p->missing,
                     "missingUsers", missing_users(p), "manifestFingerprint", p->fingerprint);
}

static int status_of(const struct pending *p, struct coord_update_status *out)
{
    out->missing = p->missing;
    out->missing_users = missing_users(p);
    ENSURE(out->missing_users != NULL, ERR_NOMEM, "out of memory");
    return 0;
}

/* MarbleRun deletes an update whose application failed, and says so in the log. */
static const char initiated_at_once[] =
    "Complete Manifest update initiated by user. No further acknowledgements required";

/* After applying failed (its transaction discarded), logs it as MarbleRun does, in a transaction of
 * its own: an update that waited for acknowledgements is cancelled (its pending state removed); one
 * applied at once (initiated_by its user) gets the line of its start first, then the same ending. */
static void cancel_after_failure(struct coord *c, const struct coord_snapshot *cur, const struct pending *p,
                                 const char *initiated_by)
{
    struct staged st;
    int r = staged_init(c, &st);
    if (r == 0 && initiated_by != NULL)
        r = coord_log_append(c, st.t, cur->ca, &st.log, initiated_at_once,
                             json_pack("{s:s,s:s}", "user", initiated_by, "manifestFingerprint", p->fingerprint));
    if (r == 0 && initiated_by == NULL)
        r = store_txn_del(st.t, KEY_PENDING, STORE_REV_ANY);
    if (r == 0 && initiated_by == NULL)
        r = store_txn_del(st.t, KEY_PENDING_MANIFEST, STORE_REV_ANY);
    if (r == 0)
        r = coord_log_append(c, st.t, cur->ca, &st.log, "Complete Manifest update cancelled due to error during apply",
                             fingerprint_field(p->fingerprint));
    if (r == 0)
        r = staged_commit(c, &st);
    if (r < 0)
        log_error("coordinator", "cannot cancel the failed manifest update", LF_ERR(r));
    staged_free(&st);
}

/* The operations -------------------------------------------------------------------------------------- */

/* Whether the user named `user` holds UpdateManifest in m (and so may start, acknowledge or cancel). */
static bool may_update_manifest(const struct manifest *m, const char *user)
{
    const struct mf_user *u = manifest_user(m, user);
    return u != NULL && coord_user_may(m, u, MF_RES_MANIFEST, "UpdateManifest", NULL);
}

static int start_full_update(struct coord *c, const struct coord_snapshot *cur, const char *user, struct view raw,
                             struct staged *st, struct coord_update_status *out)
{
    const struct manifest *m = cur->mf->m;
    struct manifest *checked = NULL;
    struct pending p = {BUF_INIT, "", NULL, 0};
    int r = ERR_INTERNAL;
    ENSURE(may_update_manifest(m, user), ERR_PERMISSION, "user %s is not allowed to update the manifest", user);
    TRY(coord_check_manifest(raw, "invalid manifest", &checked));
    manifest_fingerprint_hex(checked, p.fingerprint);
    manifest_free(checked);
    /* required: the users holding UpdateManifest now; threshold: the current manifest's (§9.5) */
    p.required = json_object();
    ENSURE_OUT(p.required != NULL, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m->users.count; i++)
        if (coord_user_may(m, &m->users.items[i], MF_RES_MANIFEST, "UpdateManifest", NULL))
            ENSURE_OUT(json_object_set_new(p.required, m->users.items[i].name,
                                           json_boolean(strcmp(m->users.items[i].name, user) == 0)) == 0,
                       ERR_NOMEM, "out of memory");
    uint64_t threshold = m->config.update_threshold ? m->config.update_threshold : json_object_size(p.required);
    p.missing = threshold > 1 ? threshold - 1 : 0;
    TRY_OUT(buf_append_view(&p.raw, raw));
    TRY_OUT(status_of(&p, out));
    if (p.missing == 0) {
        TRY_OUT(coord_log_append(c, st->t, cur->ca, &st->log, initiated_at_once,
                                 json_pack("{s:s,s:s}", "user", user, "manifestFingerprint", p.fingerprint)));
        r = stage_full_apply(c, cur, raw, st);
        if (r < 0) {
            int why = r;
            cancel_after_failure(c, cur, &p, user);
            FAIL_OUT(why, "applying the manifest update: %s", err_detail(why));
        }
    } else {
        TRY_OUT(pending_stage(st->t, &p, true));
        TRY_OUT(coord_log_append(c, st->t, cur->ca, &st->log,
                                 "Complete Manifest update initiated by user. Waiting for acknowledgments to apply "
                                 "the update",
                                 progress_fields(user, &p)));
    }
    r = 0;
out:
    pending_free(&p);
    return r;
}

static int check_state(struct coord *c, const struct coord_snapshot *cur)
{
    ENSURE(coord_state(c) == COORD_ACCEPTING_MARBLES && cur != NULL && cur->mf != NULL, ERR_WRONG_STATE,
           "server is not in expected state");
    return 0;
}

static int update_locked(struct coord *c, const char *user, struct view raw, struct coord_update_status *out)
{
    struct coord_snapshot *cur = coord_snapshot_get(c);
    struct manifest *u = NULL;
    struct diag d = DIAG_INIT;
    struct staged st = {0};
    struct buf b = BUF_INIT;
    int r = ERR_INTERNAL;
    TRY_OUT(check_state(c, cur));
    r = store_get(c->cfg.store, KEY_PENDING, &b, NULL);
    if (r == 0)
        FAIL_OUT(ERR_CONFLICT,
                 "update already in progress. Acknowledge the update to apply it, or cancel it to start a new one");
    if (r != ERR_NOT_FOUND)
        TRY_OUT(r);
    r = manifest_parse(raw, MF_FORMAT_JSON, &d, &u);
    if (r == ERR_MANIFEST) {
        char summary[1024];
        coord_diag_summary(&d, summary, sizeof(summary));
        FAIL_OUT(ERR_MANIFEST, "unmarshaling manifest: %s", summary);
    }
    TRY_OUT(r);
    TRY_OUT(staged_init(c, &st));
    if (manifest_is_update(u))
        TRY_OUT(stage_package_update(c, cur, user, u, &st));
    else
        TRY_OUT(start_full_update(c, cur, user, raw, &st, out));
    TRY_OUT(staged_commit(c, &st));
    out->recovery_secrets = st.recovery_secrets;
    st.recovery_secrets = NULL;
    r = 0;
out:
    staged_free(&st);
    manifest_free(u);
    diag_free(&d);
    buf_free(&b);
    coord_snapshot_put(cur);
    return r;
}

static int ack_locked(struct coord *c, const char *user, struct view raw, struct coord_update_status *out)
{
    struct coord_snapshot *cur = coord_snapshot_get(c);
    struct pending p = {BUF_INIT, "", NULL, 0};
    struct staged st = {0};
    int r = ERR_INTERNAL;
    TRY_OUT(check_state(c, cur));
    TRY_OUT(pending_load(c, &p));
    ENSURE_OUT(view_eq(raw, buf_view(&p.raw)), ERR_MANIFEST, "provided manifest does not match the pending manifest");
    json_t *acked = json_object_get(p.required, user);
    ENSURE_OUT(acked != NULL, ERR_PERMISSION, "user %s is not allowed to acknowledge manifest updates", user);
    if (json_is_true(acked)) { /* a second acknowledgement by the same user counts once */
        r = status_of(&p, out);
        goto out;
    }
    ENSURE_OUT(json_object_set_new(p.required, user, json_true()) == 0, ERR_NOMEM, "out of memory");
    if (p.missing > 0)
        p.missing--;
    TRY_OUT(status_of(&p, out));
    TRY_OUT(staged_init(c, &st));
    TRY_OUT(coord_log_append(c, st.t, cur->ca, &st.log, "Complete Manifest update acknowledged by user",
                             progress_fields(user, &p)));
    if (p.missing > 0) {
        TRY_OUT(pending_stage(st.t, &p, false));
    } else {
        r = stage_full_apply(c, cur, raw, &st);
        if (r < 0) {
            int why = r;
            cancel_after_failure(c, cur, &p, NULL);
            r = err_fail(why, __func__, "applying the manifest update: %s", err_detail(why));
            goto out;
        }
    }
    TRY_OUT(staged_commit(c, &st));
    out->recovery_secrets = st.recovery_secrets;
    st.recovery_secrets = NULL;
    r = 0;
out:
    staged_free(&st);
    pending_free(&p);
    coord_snapshot_put(cur);
    return r;
}

static int cancel_locked(struct coord *c, const char *user)
{
    struct coord_snapshot *cur = coord_snapshot_get(c);
    struct pending p = {BUF_INIT, "", NULL, 0};
    struct staged st = {0};
    int r = ERR_INTERNAL;
    TRY_OUT(check_state(c, cur));
    TRY_OUT(pending_load(c, &p));
    ENSURE_OUT(may_update_manifest(cur->mf->m, user), ERR_PERMISSION,
               "user %s is not allowed to cancel the manifest update", user);
    TRY_OUT(staged_init(c, &st));
    TRY_OUT(store_txn_del(st.t, KEY_PENDING, STORE_REV_ANY));
    TRY_OUT(store_txn_del(st.t, KEY_PENDING_MANIFEST, STORE_REV_ANY));
    TRY_OUT(coord_log_append(c, st.t, cur->ca, &st.log, "Complete Manifest update cancelled by user",
                             json_pack("{s:s,s:s}", "user", user, "manifestFingerprint", p.fingerprint)));
    TRY_OUT(staged_commit(c, &st));
    r = 0;
out:
    staged_free(&st);
    pending_free(&p);
    coord_snapshot_put(cur);
    return r;
}

static int pending_locked(struct coord *c, struct coord_update_status *out)
{
    struct pending p;
    TRY(pending_load(c, &p));
    int r = status_of(&p, out);
    buf_free(&out->manifest);
    out->manifest = p.raw; /* moved */
    p.raw = (struct buf)BUF_INIT;
    pending_free(&p);
    return r;
}

/* The API: each under the admin mutex ------------------------------------------------------------------ */

void coord_update_status_free(struct coord_update_status *s)
{
    json_decref(s->missing_users);
    json_decref(s->recovery_secrets);
    buf_free(&s->manifest);
    memset(s, 0, sizeof(*s));
}

typedef int (*update_step)(struct coord *c, const char *user, struct view raw, struct coord_update_status *out);

static int run_step(struct coord *c, update_step step, const char *user, struct view raw,
                    struct coord_update_status *out, const char *pending_msg, const char *done_msg)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&c->admin);
    int r = step(c, user, raw, out);
    pthread_mutex_unlock(&c->admin);
    if (r < 0)
        coord_update_status_free(out);
    else
        log_info("coordinator", out->missing ? pending_msg : done_msg, LF_STR("user", user),
                 LF_UINT("missing", out->missing));
    return r;
}

int coord_update(struct coord *c, const char *user, struct view raw, struct coord_update_status *out)
{
    return run_step(c, update_locked, user, raw, out, "manifest update started", "update applied");
}

int coord_update_ack(struct coord *c, const char *user, struct view raw, struct coord_update_status *out)
{
    return run_step(c, ack_locked, user, raw, out, "manifest update acknowledged", "manifest update applied");
}

int coord_update_cancel(struct coord *c, const char *user)
{
    pthread_mutex_lock(&c->admin);
    int r = cancel_locked(c, user);
    pthread_mutex_unlock(&c->admin);
    if (r == 0)
        log_info("coordinator", "manifest update cancelled", LF_STR("user", user));
    return r;
}

int coord_update_pending(struct coord *c, struct coord_update_status *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&c->admin);
    int r = coord_state(c) == COORD_ACCEPTING_MARBLES ? pending_locked(c, out)
                                                      : err_fail(ERR_WRONG_STATE, __func__, "server is not in expected state");
    pthread_mutex_unlock(&c->admin);
    if (r < 0)
        coord_update_status_free(out);
    return r;
}
