/*
 * The feature gates of reference/marblerun.md §11: signing quote verifications with the root key
 * (SignQuoteEndpoint) and monotonic counters for marbles (MonotonicCounter). Both read the current
 * snapshot only; neither takes the admin mutex.
 *
 * Counters are store entries, one per (marble type, UUID, name), changed with compare-and-swap on
 * their revision: concurrent requests on any thread (or any Coordinator sharing the store) serialise
 * at the store, and a value never goes down. A marble's code names its counters, so each marble has
 * a count of them, raised in the transaction that creates one and bounded (counters_per_marble_max);
 * counters made before the count existed are not in it.
 */
#include <stdio.h>
#include <string.h>

#include "coord_int.h"

#define KEY_COUNTER_PREFIX "monotonicCounter:"
#define KEY_COUNT_OF_COUNTERS_PREFIX "monotonicCounterCount:" /* how many counters a marble made */

static int gate(const struct coord_snapshot *s, unsigned feature, const char *name)
{
    ENSURE(s != NULL && s->mf != NULL, ERR_WRONG_STATE, "server is not in expected state");
    ENSURE(s->mf->m->config.features & feature, ERR_FEATURE_DISABLED, "%s feature is not enabled in the manifest",
           name);
    return 0;
}

/* Sign-quote (§11.2) ----------------------------------------------------------------------------------- */

/* EGo's names; a quote verified without collateral has no TCB status ("Unknown"). */
static const char *tcb_status_name(enum att_tcb_status s)
{
    return s == ATT_TCB_NOT_EVALUATED ? "Unknown" : att_tcb_status_name(s);
}

int coord_sign_quote(struct coord *c, struct view quote, const char **tcb_status, struct buf *signature)
{
    struct coord_snapshot *s = coord_snapshot_get(c);
    struct buf msg = BUF_INIT;
    struct att_result res;
    int r = ERR_INTERNAL;
    *tcb_status = NULL;
    TRY_OUT(gate(s, MF_FEATURE_SIGN_QUOTE, "SignQuoteEndpoint"));
    ENSURE_OUT(c->cfg.verifier != NULL, ERR_UNSUPPORTED, "quotes cannot be verified in simulation mode");
    TRY_OUT(att_verify(c->cfg.verifier, quote, coord_now(c), &res));
    TRY_OUT(coord_quote_retry_later(&res, "the quote"));
    ENSURE_OUT(res.verified, ERR_ATTESTATION, "%s: %s", att_step_name(res.failed_step), res.detail);
    /* the signed message: base64 of the quote exactly as received, then the status */
    TRY_OUT(enc_b64(&msg, quote));
    TRY_OUT(buf_append_str(&msg, tcb_status_name(res.tcb_status)));
    TRY_OUT(pki_ca_sign_root(s->ca, buf_view(&msg), signature));
    *tcb_status = tcb_status_name(res.tcb_status);
    r = 0;
out:
    buf_free(&msg);
    coord_snapshot_put(s);
    return r;
}

/* Monotonic counters (§11.1) -------------------------------------------------------------------------- */

/* The marble whose certificate of the current intermediate is the TLS leaf. Marble certificates are
 * not secret (every peer of a marble sees it), so one sent beside another leaf proves nothing. */
static int marble_of(const struct coord_snapshot *s, struct view leaf, int64_t now, struct pki_marble_identity *id,
                     uint8_t uuid[16])
{
    ENSURE(leaf.size > 0, ERR_AUTH, "unauthorized marble: no client certificate provided");
    int r = pki_ca_verify_marble_cert(s->ca, leaf, now, id);
    if (r == 0 && uuid_parse(id->common_name, uuid) < 0)
        r = err_fail(ERR_CERT, __func__, "the common name is not a UUID");
    ENSURE(r == 0, ERR_AUTH, "unauthorized marble: %s", err_detail(r));
    return 0;
}

/* MarbleRun's counter ID is b64(type):b64(uuid bytes):b64(name); its marble part, b64(type):b64(uuid),
 * names the marble's count of counters. Both are hashed into keys of fixed size (names of any length
 * fit; the store's map layout is ours, reference §4.3). */
static int marble_id(const char *type, const uint8_t uuid[16], struct buf *id)
{
    TRY(enc_b64(id, view_str(type)));
    TRY(buf_append_byte(id, ':'));
    return enc_b64(id, view_of(uuid, 16));
}

static int hashed_key(const char *prefix, struct view id, struct buf *key)
{
    uint8_t hash[32];
    TRY(crypto_sha256(&id, 1, hash));
    TRY(buf_append_str(key, prefix));
    TRY(enc_hex(key, view_of(hash, sizeof(hash))));
    return buf_terminate(key);
}

static int counter_keys(const char *type, const uint8_t uuid[16], struct view name, struct buf *key,
                        struct buf *count_key)
{
    struct buf id = BUF_INIT;
    int r = ERR_INTERNAL;
    TRY_OUT(marble_id(type, uuid, &id));
    TRY_OUT(hashed_key(KEY_COUNT_OF_COUNTERS_PREFIX, buf_view(&id), count_key));
    TRY_OUT(buf_append_byte(&id, ':'));
    TRY_OUT(enc_b64(&id, name));
    r = hashed_key(KEY_COUNTER_PREFIX, buf_view(&id), key);
out:
    buf_free(&id);
    return r;
}

/* A stored u64 (little-endian) and its revision; absent is 0 at STORE_REV_ABSENT. */
static int read_u64(struct coord *c, const char *key, uint64_t *value, uint64_t *rev)
{
    struct buf b = BUF_INIT;
    *value = 0;
    int r = store_get(c->cfg.store, key, &b, rev);
    if (r == ERR_NOT_FOUND) {
        *rev = STORE_REV_ABSENT;
        r = 0;
    } else if (r == 0) {
        struct rd in = rd_init(buf_view(&b));
        if (rd_u64le(&in, value) < 0 || rd_end(&in) < 0)
            r = err_fail(ERR_CORRUPT, __func__, "stored counter of %zu bytes", b.size);
    }
    buf_free(&b);
    return r;
}

static int put_u64(struct store_txn *t, const char *key, uint64_t value, uint64_t rev)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(value >> (8 * i));
    return store_txn_put(t, key, view_of(le, 8), rev);
}

/* A new counter of a marble: its count goes up in the same transaction, under the bound. */
static int count_new_counter(struct coord *c, struct store_txn *t, const char *count_key)
{
    uint64_t n, rev;
    TRY(read_u64(c, count_key, &n, &rev));
    ENSURE(n < c->cfg.counters_per_marble_max, ERR_EXHAUSTED,
           "this marble has reached its limit of %llu monotonic counters (--max-counters-per-marble)",
           (unsigned long long)c->cfg.counters_per_marble_max);
    return put_u64(t, count_key, n + 1, rev);
}

/* Stores max(current, value) with compare-and-swap; *previous is the value before. */
static int counter_raise(struct coord *c, const char *key, const char *count_key, uint64_t value, uint64_t *previous)
{
    for (unsigned attempt = 0; attempt < QY_COUNTER_RETRIES; attempt++) {
        uint64_t rev, cur;
        TRY(read_u64(c, key, &cur, &rev));
        *previous = cur;
        if (value <= cur)
            return 0;
        struct store_txn *t = store_txn_new();
        int r = t ? put_u64(t, key, value, rev) : err_fail(ERR_NOMEM, __func__, "out of memory");
        if (r == 0 && rev == STORE_REV_ABSENT)
            r = count_new_counter(c, t, count_key);
        if (r == 0)
            r = store_commit(c->cfg.store, t);
        store_txn_free(t);
        if (r != ERR_CONFLICT)
            return r; /* stored, or failed; on a conflict another request got there first: read again */
    }
    FAIL(ERR_CONFLICT, "the counter changed concurrently %u times in a row", QY_COUNTER_RETRIES);
}

int coord_monotonic_counter(struct coord *c, struct view leaf, struct view name,
                            uint64_t value, uint64_t *previous)
{
    struct coord_snapshot *s = coord_snapshot_get(c);
    struct pki_marble_identity id;
    uint8_t uuid[16];
    struct buf key = BUF_INIT, count_key = BUF_INIT;
    int r = ERR_INTERNAL;
    *previous = 0;
    TRY_OUT(gate(s, MF_FEATURE_MONOTONIC_COUNTER, "MonotonicCounter"));
    ENSURE_OUT(coord_state(c) == COORD_ACCEPTING_MARBLES, ERR_WRONG_STATE, "server is not in expected state");
    TRY_OUT(marble_of(s, leaf, coord_now(c), &id, uuid));
    ENSURE_OUT(name.size <= QY_COUNTER_NAME_MAX, ERR_TOO_LARGE, "counter name of %zu bytes, the limit is %u",
               name.size, QY_COUNTER_NAME_MAX);
    TRY_OUT(counter_keys(id.marble_type, uuid, name, &key, &count_key));
    TRY_OUT(counter_raise(c, (const char *)key.ptr, (const char *)count_key.ptr, value, previous));
    r = 0;
out:
    buf_free(&key);
    buf_free(&count_key);
    coord_snapshot_put(s);
    return r;
}
