/* The coordinator's life cycle, state, snapshots, identities and quote. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "coord_int.h"

int64_t coord_now(const struct coord *c)
{
    return c->cfg.now ? c->cfg.now(c->cfg.now_ctx) : qtime_now();
}

enum coord_state coord_state(const struct coord *c)
{
    return (enum coord_state)atomic_load(&((struct coord *)c)->state);
}

void coord_status(const struct coord *c, int *code, const char **message)
{
    *code = (int)coord_state(c);
    switch (coord_state(c)) {
    case COORD_RECOVERY:
        *message = "Coordinator is in recovery mode. Either upload a key to unseal the saved state, or set a new "
                   "manifest. For more information on how to proceed, consult the documentation.";
        break;
    case COORD_ACCEPTING_MANIFEST:
        *message = "Coordinator is ready to accept a manifest.";
        break;
    case COORD_ACCEPTING_MARBLES:
        *message = "Coordinator is running correctly and ready to accept marbles.";
        break;
    case COORD_UNINITIALIZED:
    default:
        *message = "Coordinator is starting.";
        break;
    }
}

/* Insecure modes --------------------------------------------------------------------------------- */

static const char *const insecure_names[] = {"simulation", "emulated", "extra-root"};

const char *coord_insecure_name(unsigned bit)
{
    for (size_t i = 0; i < QY_ARRAY_LEN(insecure_names); i++)
        if (bit == 1u << i)
            return insecure_names[i];
    return NULL;
}

void coord_insecure_text(unsigned insecure, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < QY_ARRAY_LEN(insecure_names); i++) {
        if (!(insecure & (1u << i)))
            continue;
        int w = snprintf(out + n, size - n, "%s%s", n ? "," : "", insecure_names[i]);
        if (w < 0 || (size_t)w >= size - n)
            break;
        n += (size_t)w;
    }
}

const char *coord_mode_of(const struct att_source *source)
{
    return att_source_is_simulation(source) ? "simulation" : att_source_is_emulated(source) ? "emulated" : "sgx";
}

/* An extra root counts whatever the quote source: with it, quotes nobody's hardware made verify. */
unsigned coord_insecure_of(const struct att_source *source, bool extra_root)
{
    return (att_source_is_simulation(source) ? COORD_INSECURE_SIMULATION : 0u) |
           (att_source_is_emulated(source) ? COORD_INSECURE_EMULATED : 0u) |
           (extra_root ? COORD_INSECURE_EXTRA_ROOT : 0u);
}

const char *coord_mode(const struct coord *c)
{
    return c->cfg.simulation ? "simulation" : coord_mode_of(c->cfg.quote_source);
}

unsigned coord_insecure(const struct coord *c)
{
    return c->insecure;
}

/* Snapshots ------------------------------------------------------------------------------------ */

struct coord_snapshot *coord_snapshot_new(void)
{
    struct coord_snapshot *s = calloc(1, sizeof(*s));
    if (s != NULL)
        atomic_init(&s->refs, 1);
    return s;
}

void coord_snapshot_put(struct coord_snapshot *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    coord_mf_put(s->mf);
    pki_ca_free(s->ca);
    sec_set_free(&s->secrets);
    sec_set_free(&s->previous_secrets);
    mem_wipe(s->root_secret, sizeof(s->root_secret));
    mem_wipe(s->previous_root_secret, sizeof(s->previous_root_secret));
    free(s);
}

struct coord_snapshot *coord_snapshot_get(struct coord *c)
{
    pthread_mutex_lock(&c->snap_lock);
    struct coord_snapshot *s = c->snap;
    if (s != NULL)
        atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&c->snap_lock);
    return s;
}

void coord_snapshot_publish(struct coord *c, struct coord_snapshot *s)
{
    pthread_mutex_lock(&c->snap_lock);
    struct coord_snapshot *old = c->snap;
    c->snap = s;
    pthread_mutex_unlock(&c->snap_lock);
    coord_snapshot_put(old);
}

struct coord_mf *coord_mf_new(struct manifest *m)
{
    struct coord_mf *mf = calloc(1, sizeof(*mf));
    if (mf == NULL) {
        manifest_free(m);
        return NULL;
    }
    atomic_init(&mf->refs, 1);
    mf->m = m;
    return mf;
}

struct coord_mf *coord_mf_ref(struct coord_mf *mf)
{
    atomic_fetch_add(&mf->refs, 1);
    return mf;
}

void coord_mf_put(struct coord_mf *mf)
{
    if (mf == NULL || atomic_fetch_sub(&mf->refs, 1) != 1)
        return;
    manifest_free(mf->m);
    buf_free(&mf->signature);
    coord_svns_free(mf);
    free(mf);
}

void coord_diag_summary(const struct diag *d, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < d->count && n + 1 < size; i++) {
        if (d->items[i].level != DIAG_ERROR)
            continue;
        int w = snprintf(out + n, size - n, "%s%s%s%s", n ? "; " : "", d->items[i].path, d->items[i].path[0] ? ": " : "",
                         d->items[i].message);
        if (w < 0)
            break;
        n += (size_t)w < size - n ? (size_t)w : size - n - 1;
    }
}

/* Identities and the quote ------------------------------------------------------------------------ */

/* A fresh key and a server certificate from the CA for one of our servers. */
static int issue_identity(struct coord *c, const struct pki_ca *ca, enum coord_server which)
{
    struct crypto_key *key = NULL;
    struct buf leaf = BUF_INIT;
    int r = ERR_INTERNAL;
    const char *names[QY_DNS_NAMES_MAX + 2];
    size_t n = 0;
    /* The configured names, and always the loopback addresses, as MarbleRun's certificate has them:
     * a client on the Coordinator's own host connects to 127.0.0.1 whatever the public name is. */
    for (size_t i = 0; i < c->cfg.dns_names_count && n < QY_DNS_NAMES_MAX; i++)
        names[n++] = c->cfg.dns_names[i];
    if (n > 0) {
        names[n++] = "127.0.0.1";
        names[n++] = "::1";
    }
    TRY_OUT(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &key));
    /* The leaf's own name: with the root's subject, verifiers would take it for self-signed. */
    struct pki_server_options o = {which == COORD_SERVER_CLIENT_API ? "Quarry Coordinator client API"
                                                                    : "Quarry Coordinator mesh API",
                                   n ? names : NULL, n, coord_now(c), 0};
    /* Both servers' certificates are issued by the root itself: a marble that pins the Coordinator
     * root accepts only a certificate the root issued directly, which no marble or secret
     * certificate (all under the intermediate) is (docs/mesh-protocol.md). */
    TRY_OUT(pki_issue_server_cert(ca, PKI_SIGNER_ROOT, key, &o, &leaf));
    /* The client API sends the root along for clients that fetch it from the handshake. The mesh
     * sends its leaf alone: a marble that verifies holds the root, and every certificate sent is
     * decoded by every marble at every activation. */
    struct view chain[2] = {buf_view(&leaf), pki_ca_root_der(ca)};
    if (c->cfg.on_identity != NULL)
        c->cfg.on_identity(c->cfg.identity_ctx, which, chain, which == COORD_SERVER_CLIENT_API ? 2 : 1, key);
    r = 0;
out:
    crypto_key_free(key);
    buf_free(&leaf);
    return r;
}

/* The OpenEnclave remote-report envelope MarbleRun's clients expect around a DCAP quote:
 * u32 version 1, u32 type 2 (SGX remote), u64 quote size, all little-endian. */
static int oe_envelope(struct view quote, struct buf *out)
{
    uint8_t h[16] = {1, 0, 0, 0, 2, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        h[8 + i] = (uint8_t)((uint64_t)quote.size >> (8 * i));
    TRY(buf_append(out, h, sizeof(h)));
    return buf_append_view(out, quote);
}

static int make_quote(struct coord *c, const struct pki_ca *ca, struct view nonce, struct buf *out)
{
    uint8_t report_data[64] = {0};
    struct view parts[2] = {pki_ca_root_der(ca), nonce};
    struct buf raw = BUF_INIT;
    TRY(crypto_sha256(parts, nonce.size ? 2 : 1, report_data));
    if (c->cfg.simulation)
        return 0; /* simulation: no quote at all */
    int r = att_source_quote(c->cfg.quote_source, report_data, &raw);
    if (r == 0)
        r = oe_envelope(buf_view(&raw), out);
    buf_free(&raw);
    return r;
}

int coord_refresh_identity(struct coord *c, const struct pki_ca *ca)
{
    struct buf q = BUF_INIT;
    TRY(issue_identity(c, ca, COORD_SERVER_CLIENT_API));
    TRY(issue_identity(c, ca, COORD_SERVER_MESH_API));
    int r = make_quote(c, ca, VIEW_EMPTY, &q);
    if (r < 0) {
        buf_free(&q);
        return r;
    }
    pthread_mutex_lock(&c->quote_lock);
    buf_free(&c->quote);
    c->quote = q;
    pthread_mutex_unlock(&c->quote_lock);
    return 0;
}

int coord_quote(struct coord *c, struct view nonce, struct buf *quote, struct buf *chain_pem)
{
    ENSURE(coord_state(c) != COORD_UNINITIALIZED, ERR_WRONG_STATE, "server is not in expected state");
    struct coord_snapshot *s = coord_snapshot_get(c);
    int r = ERR_INTERNAL;
    ENSURE_OUT(s != NULL, ERR_WRONG_STATE, "server is not in expected state");
    if (nonce.size > 0) {
        TRY_OUT(make_quote(c, s->ca, nonce, quote));
    } else {
        pthread_mutex_lock(&c->quote_lock);
        r = buf_append_view(quote, buf_view(&c->quote));
        pthread_mutex_unlock(&c->quote_lock);
        TRY_OUT(r);
    }
    TRY_OUT(enc_pem(chain_pem, "CERTIFICATE", pki_ca_intermediate_der(s->ca)));
    TRY_OUT(enc_pem(chain_pem, "CERTIFICATE", pki_ca_root_der(s->ca)));
    r = 0;
out:
    coord_snapshot_put(s);
    return r;
}

/* Life cycle ------------------------------------------------------------------------------------- */

int coord_new(const struct coord_config *cfg, struct coord **out)
{
    *out = NULL;
    ENSURE(cfg->store != NULL && (cfg->simulation || (cfg->verifier != NULL && cfg->quote_source != NULL)),
           ERR_INVALID_ARG, "the coordinator needs a store, a quote source and a verifier");
    struct coord *c = calloc(1, sizeof(*c));
    ENSURE(c != NULL, ERR_NOMEM, "cannot allocate the coordinator");
    c->cfg = *cfg;
    if (c->cfg.counters_per_marble_max == 0)
        c->cfg.counters_per_marble_max = QY_COUNTERS_PER_MARBLE_DEFAULT;
    c->insecure = (cfg->simulation ? COORD_INSECURE_SIMULATION : 0u) |
                  (cfg->quote_source ? coord_insecure_of(cfg->quote_source, cfg->insecure_extra_root)
                                     : cfg->insecure_extra_root ? COORD_INSECURE_EXTRA_ROOT : 0u);
    pthread_mutex_init(&c->admin, NULL);
    pthread_mutex_init(&c->snap_lock, NULL);
    pthread_mutex_init(&c->quote_lock, NULL);
    pthread_mutex_init(&c->count_lock, NULL);
    atomic_init(&c->state, COORD_UNINITIALIZED);
    int r = crypto_random(&c->epoch, sizeof(c->epoch));
    if (r == 0)
        r = coord_load(c);
    if (r < 0) {
        coord_free(c);
        return r;
    }
    *out = c;
    return 0;
}

void coord_free(struct coord *c)
{
    if (c == NULL)
        return;
    coord_snapshot_put(c->snap);
    rec_session_free(c->recovery);
    crypto_key_free(c->ephemeral);
    buf_free(&c->quote);
    coord_counters_clear(c);
    pthread_mutex_destroy(&c->admin);
    pthread_mutex_destroy(&c->snap_lock);
    pthread_mutex_destroy(&c->quote_lock);
    pthread_mutex_destroy(&c->count_lock);
    free(c);
}
