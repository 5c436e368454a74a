/*
 * Starting up: fresh (a new CA, waiting for a manifest), resumed from the sealed store (the state as
 * it was), or in recovery (the store cannot be unsealed here: a temporary CA so the client API can
 * serve /status, /quote and /recover). Only small keys are read: activation records stay on disk, so
 * a restart costs the same with a hundred activations or a hundred thousand.
 */
#include <stdlib.h>
#include <string.h>

#include "coord_int.h"

static int new_ca(struct coord *c, struct pki_ca **out)
{
    struct pki_ca_options o = {PKI_CURVE_P256, NULL, NULL, c->cfg.dns_names, c->cfg.dns_names_count, coord_now(c)};
    return pki_ca_generate(&o, out);
}

static int get_bytes(struct coord *c, const char *key, uint8_t *out, size_t size)
{
    struct buf b = BUF_INIT;
    int r = store_get(c->cfg.store, key, &b, NULL);
    if (r == 0 && b.size != size)
        r = err_fail(ERR_CORRUPT, __func__, "stored %s has %zu bytes, expected %zu", key, b.size, size);
    if (r == 0)
        memcpy(out, b.ptr, size);
    buf_free(&b);
    return r;
}

static int load_manifest(struct coord *c, struct coord_snapshot *s)
{
    struct buf raw = BUF_INIT;
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    int r = ERR_INTERNAL;
    TRY_OUT(store_get(c->cfg.store, KEY_MANIFEST, &raw, NULL));
    r = manifest_parse(buf_view(&raw), MF_FORMAT_JSON, &d, &m);
    if (r == 0)
        r = manifest_check(m, NULL, 0, &d); /* fills the users' certificates */
    ENSURE_OUT(r == 0, ERR_CORRUPT, "the stored manifest does not load");
    s->mf = coord_mf_new(m);
    m = NULL;
    ENSURE_OUT(s->mf != NULL, ERR_NOMEM, "out of memory");
    TRY_OUT(store_get(c->cfg.store, KEY_MANIFEST_SIG, &s->mf->signature, NULL));
out:
    manifest_free(m);
    diag_free(&d);
    buf_free(&raw);
    return r;
}

static int load_secrets(struct coord *c, const char *key, struct sec_set *out)
{
    struct buf json = BUF_INIT;
    int r = store_get(c->cfg.store, key, &json, NULL);
    if (r == 0)
        r = sec_set_parse_json(buf_view(&json), out);
    buf_free(&json);
    ENSURE(r == 0 || r == ERR_NOMEM, ERR_CORRUPT, "stored %s do not load: %s", key, err_detail(r));
    return r;
}

static int load_open(struct coord *c, struct coord_snapshot *s, enum coord_state *state)
{
    struct buf b = BUF_INIT;
    int r = ERR_INTERNAL;
    TRY_OUT(store_get(c->cfg.store, KEY_STATE, &b, NULL));
    ENSURE_OUT(b.size == 1 && b.ptr[0] == '3', ERR_CORRUPT, "stored state is not \"3\"");
    *state = COORD_ACCEPTING_MARBLES;
    buf_reset(&b);
    TRY_OUT(store_get(c->cfg.store, KEY_CA, &b, NULL));
    TRY_OUT(pki_ca_load(buf_view(&b), &s->ca));
    TRY_OUT(load_manifest(c, s));
    TRY_OUT(coord_svns_load(c, s->mf));
    TRY_OUT(get_bytes(c, KEY_ROOT_SECRET, s->root_secret, ROOT_SECRET_SIZE));
    TRY_OUT(get_bytes(c, KEY_PREV_ROOT_SECRET, s->previous_root_secret, ROOT_SECRET_SIZE));
    TRY_OUT(load_secrets(c, KEY_SECRETS, &s->secrets));
    TRY_OUT(load_secrets(c, KEY_PREV_SECRETS, &s->previous_secrets));
    TRY_OUT(coord_log_load(c));
    TRY_OUT(coord_counters_load(c));
    r = 0;
out:
    buf_free(&b);
    return r;
}

int coord_load(struct coord *c)
{
    struct coord_snapshot *s = coord_snapshot_new();
    ENSURE(s != NULL, ERR_NOMEM, "out of memory");
    enum coord_state state = COORD_ACCEPTING_MANIFEST;
    int r = 0;
    switch (store_status(c->cfg.store)) {
    case STORE_OPEN:
        r = load_open(c, s, &state);
        break;
    case STORE_SEALED:
        state = COORD_RECOVERY;
        log_warn("coordinator", "the sealed state cannot be unsealed on this host: recovery mode");
        r = new_ca(c, &s->ca); /* temporary, until recovery or a new manifest */
        break;
    case STORE_EMPTY:
    default:
        r = new_ca(c, &s->ca);
        break;
    }
    if (r == 0)
        r = coord_refresh_identity(c, s->ca);
    if (r < 0) {
        coord_snapshot_put(s);
        return r;
    }
    coord_snapshot_publish(c, s);
    atomic_store(&c->state, state);
    return 0;
}
