/*
 * Recovery (reference/marblerun.md §8): a Coordinator that cannot unseal its state (another host,
 * another enclave identity, a lost seal key) serves a temporary CA and waits here for the owners of
 * the manifest's recovery keys. Each uploads their secret with a signature; the recovery session
 * checks each at once (recovery/), and the last one yields the data key. That key must open the
 * sealed store; then the store is re-sealed to this host with the seal key the manifest asks for,
 * the state is loaded - same root CA, secrets, counters - and the Coordinator serves again.
 */
#include <stdlib.h>
#include <string.h>

#include "coord_int.h"

/* MarbleRun's rule: a secret of 16, 32 or 33 bytes is plain; anything else was encrypted to the
 * ephemeral key. */
static bool plain_size(size_t n)
{
    return n == 16 || n == REC_DEK_SIZE || n == REC_SHAMIR_SHARE_SIZE;
}

int coord_recovery_public_key(struct coord *c, struct buf *spki_der)
{
    int r = ERR_INTERNAL;
    pthread_mutex_lock(&c->admin);
    ENSURE_OUT(coord_state(c) == COORD_RECOVERY, ERR_WRONG_STATE, "server is not in expected state");
    if (c->ephemeral == NULL)
        TRY_OUT(crypto_key_generate(CRYPTO_KEY_RSA, 4096, &c->ephemeral));
    r = crypto_key_public_der(c->ephemeral, spki_der);
out:
    pthread_mutex_unlock(&c->admin);
    return r;
}

static int open_session(struct coord *c)
{
    if (c->recovery != NULL)
        return 0;
    struct buf data = BUF_INIT;
    int r = store_recovery_data(c->cfg.store, &data);
    if (r == 0)
        r = rec_session_new(buf_view(&data), &c->recovery);
    buf_free(&data);
    return r;
}

/* Unseals with the recovered key, re-seals for this host, and loads the state. */
static int finish(struct coord *c, const uint8_t dek[REC_DEK_SIZE])
{
    struct sealer *sealer = NULL;
    int r = store_check_dek(c->cfg.store, dek);
    ENSURE(r == 0, ERR_CORRUPT, "the recovered key does not open the sealed state: %s", err_detail(r));
    TRY(c->cfg.make_sealer(c->cfg.sealer_ctx, MF_SEAL_PRODUCT_KEY, &sealer));
    TRY(store_unlock(c->cfg.store, dek, sealer));
    TRY(coord_load(c)); /* the restored root CA, identities, quote, counters */
    struct coord_snapshot *s = coord_snapshot_get(c);
    enum mf_seal_mode mode = s && s->mf ? s->mf->m->config.seal_mode : MF_SEAL_PRODUCT_KEY;
    coord_snapshot_put(s);
    if (mode != MF_SEAL_PRODUCT_KEY) { /* re-seal the way the manifest asks */
        r = c->cfg.make_sealer(c->cfg.sealer_ctx, mode, &sealer);
        if (r == 0)
            r = store_rewrap(c->cfg.store, sealer);
        if (r < 0) /* as MarbleRun: the state is recovered; only the next start needs recovery again */
            log_warn("coordinator", "cannot re-seal the recovered state; a restart will need recovery again",
                     LF_ERR(r));
    }
    return 0;
}

static int recover_locked(struct coord *c, struct view secret, struct view signature, unsigned *remaining)
{
    struct buf plain = BUF_INIT;
    uint8_t dek[REC_DEK_SIZE];
    int r = ERR_INTERNAL;
    ENSURE_OUT(coord_state(c) == COORD_RECOVERY, ERR_WRONG_STATE, "server is not in expected state");
    TRY_OUT(open_session(c));
    if (!plain_size(secret.size)) {
        ENSURE_OUT(c->ephemeral != NULL, ERR_BAD_REQUEST,
                   "failed to decrypt recovery secret: no ephemeral key was requested (GET /api/v2/recover/public-key)");
        r = crypto_rsa_oaep_decrypt(c->ephemeral, secret, &plain);
        ENSURE_OUT(r == 0, ERR_BAD_REQUEST, "failed to decrypt recovery secret: %s", err_detail(r));
        secret = buf_view(&plain);
    }
    r = rec_session_add(c->recovery, secret, signature, remaining, dek);
    ENSURE_OUT(r == 0, r, "setting recovery key: %s", err_detail(r));
    if (*remaining == 0) {
        r = finish(c, dek);
        if (r < 0) { /* start over: the uploads were consistent but did not open the state */
            rec_session_reset(c->recovery);
            *remaining = rec_session_remaining(c->recovery);
            goto out;
        }
        rec_session_free(c->recovery);
        c->recovery = NULL;
        crypto_key_free(c->ephemeral);
        c->ephemeral = NULL;
        log_info("coordinator", "recovered the sealed state");
    }
    r = 0;
out:
    mem_wipe(dek, sizeof(dek));
    buf_free(&plain);
    return r;
}

int coord_recover(struct coord *c, struct view secret, struct view signature, unsigned *remaining)
{
    *remaining = 0;
    pthread_mutex_lock(&c->admin);
    int r = recover_locked(c, secret, signature, remaining);
    pthread_mutex_unlock(&c->admin);
    return r;
}
