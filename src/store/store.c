/*
 * The encrypted store over a backend: reads, transactions and group commit.
 *
 * Layout in the backend: user keys hold AES-256-GCM(value key, value, aad = key name), the value key
 * derived from the DEK; reserved keys hold the metadata: sys:dek (the DEK wrapped by the sealer),
 * sys:sealer (that sealer's name), sys:recovery (recovery data, in the clear), sys:check (a known
 * plaintext under the value key, to test a DEK offered by recovery) and sys:digest (the state
 * digest, digest.c). Every row carries the revision of the commit that wrote it (round.c).
 *
 * Group commit: a committing thread takes every transaction queued so far and applies them in one
 * round (one backend commit, one fsync); threads arriving meanwhile queue up and one of them leads
 * the next round. Each transaction keeps its own result. Values are encrypted by each committing
 * thread before it queues, so the round itself only reads, MACs and writes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

struct pending {
    const struct kv_op *ops;
    size_t count;
    int result;
    bool done;
    struct pending *next;
};

bool store_key_is_reserved(const char *key)
{
    return strncmp(key, "sys:", 4) == 0;
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    mem_wipe(&s->keys, sizeof(s->keys));
    mem_wipe(&s->digest, sizeof(s->digest));
    if (s->kv != NULL)
        s->kv->free(s->kv);
    sealer_free(s->sealer);
    pthread_rwlock_destroy(&s->lock);
    pthread_mutex_destroy(&s->queue_lock);
    pthread_cond_destroy(&s->queue_cond);
    free(s);
}

enum store_status store_status(const struct store *s)
{
    return s->status;
}

const char *store_sealer_name(const struct store *s)
{
    return s->sealer ? s->sealer->name : "";
}

bool store_sealer_insecure(const struct store *s)
{
    return s->sealer != NULL && s->sealer->insecure;
}

uint64_t store_commit_groups(const struct store *s)
{
    return __atomic_load_n(&s->groups, __ATOMIC_RELAXED);
}

int store_seal_ops(const struct store_keys *k, const struct store_txn *t, struct kv_op *ops, struct buf *sealed)
{
    for (size_t i = 0; i < t->count; i++) {
        const struct txn_op *op = &t->ops[i];
        if (!op->del)
            TRY(crypto_aead_seal(k->value, view_str(op->key), buf_view(&op->value), &sealed[i]));
        ops[i] = (struct kv_op){op->key, buf_view(&sealed[i]), op->del, op->expect_rev, 0};
    }
    return 0;
}

int store_open_value(const struct store_keys *k, const char *key, struct view sealed, struct buf *out)
{
    int r = crypto_aead_open(k->value, view_str(key), sealed, out);
    ENSURE(r != ERR_CORRUPT, ERR_CORRUPT, "stored value \"%s\" failed authentication", key);
    return r;
}

static int check_key(const char *key)
{
    size_t n = strlen(key);
    ENSURE(n > 0 && n <= QY_STORE_KEY_MAX, ERR_INVALID_ARG, "store key of %zu bytes", n);
    ENSURE(!store_key_is_reserved(key), ERR_INVALID_ARG, "\"%s\" is a reserved store key", key);
    return 0;
}

/* Reading ---------------------------------------------------------------------------------------- */

int store_get(struct store *s, const char *key, struct buf *out, uint64_t *rev)
{
    struct buf sealed = BUF_INIT;
    TRY(check_key(key));
    pthread_rwlock_rdlock(&s->lock);
    int r = s->status == STORE_OPEN ? 0 : err_fail(ERR_WRONG_STATE, __func__, "the store is not open");
    if (r == 0)
        r = s->kv->get(s->kv, key, &sealed, rev);
    if (r == 0)
        r = store_open_value(&s->keys, key, buf_view(&sealed), out);
    pthread_rwlock_unlock(&s->lock);
    buf_free(&sealed);
    return r;
}

struct scan_ctx {
    struct store *s;
    kv_scan_fn fn;
    void *ctx;
    struct buf plain;
};

static int scan_one(void *ctx, const char *key, struct view value, uint64_t rev)
{
    struct scan_ctx *c = ctx;
    if (store_key_is_reserved(key))
        return 0;
    buf_reset(&c->plain);
    TRY(store_open_value(&c->s->keys, key, value, &c->plain));
    return c->fn(c->ctx, key, buf_view(&c->plain), rev);
}

int store_scan(struct store *s, const char *prefix, kv_scan_fn fn, void *ctx)
{
    struct scan_ctx c = {s, fn, ctx, BUF_INIT};
    pthread_rwlock_rdlock(&s->lock);
    int r = s->status == STORE_OPEN ? s->kv->scan(s->kv, prefix, scan_one, &c)
                                     : err_fail(ERR_WRONG_STATE, __func__, "the store is not open");
    pthread_rwlock_unlock(&s->lock);
    buf_free(&c.plain);
    return r;
}

/* Transactions ---------------------------------------------------------------------------------- */

struct store_txn *store_txn_new(void)
{
    return calloc(1, sizeof(struct store_txn));
}

int store_txn_push(struct store_txn *t, const char *key, struct view value, bool del, uint64_t expect_rev)
{
    struct txn_op *ops = arr_grow(t->ops, &t->cap, t->count, sizeof(*ops), 8);
    ENSURE(ops != NULL, ERR_NOMEM, "cannot grow a transaction");
    t->ops = ops;
    struct txn_op *op = &t->ops[t->count];
    *op = (struct txn_op){strdup(key), BUF_INIT, del, expect_rev};
    if (op->key == NULL || (!del && buf_append_view(&op->value, value) < 0)) {
        free(op->key);
        buf_free(&op->value);
        FAIL(ERR_NOMEM, "cannot copy a transaction write");
    }
    t->count++;
    return 0;
}

static int txn_add(struct store_txn *t, const char *key, struct view value, bool del, uint64_t expect_rev)
{
    TRY(check_key(key));
    ENSURE(value.size <= QY_STORE_VALUE_MAX, ERR_TOO_LARGE, "value of \"%s\" is %zu bytes", key, value.size);
    ENSURE(t->count < QY_STORE_TXN_MAX, ERR_TOO_LARGE, "transaction has too many writes");
    return store_txn_push(t, key, value, del, expect_rev);
}

int store_txn_put(struct store_txn *t, const char *key, struct view value, uint64_t expect_rev)
{
    return txn_add(t, key, value, false, expect_rev);
}

int store_txn_del(struct store_txn *t, const char *key, uint64_t expect_rev)
{
    return txn_add(t, key, VIEW_EMPTY, true, expect_rev);
}

size_t store_txn_count(const struct store_txn *t)
{
    return t->count;
}

void store_txn_free(struct store_txn *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->count; i++) {
        free(t->ops[i].key);
        buf_free(&t->ops[i].value);
    }
    free(t->ops);
    free(t);
}

/* Leads one round: commits everything queued, as one backend commit. Called with queue_lock held,
 * returns with it held. */
static void lead_round(struct store *s)
{
    struct pending *batch = s->queue;
    s->queue = NULL;
    s->queue_tail = &s->queue;
    s->committing = true;
    pthread_mutex_unlock(&s->queue_lock);

    size_t groups = 0, ops = 0;
    for (struct pending *p = batch; p; p = p->next)
        groups++, ops += p->count;
    struct kv_op *all = malloc((ops ? ops : 1) * sizeof(*all));
    size_t *start = malloc((groups + 1) * sizeof(*start));
    int *result = malloc(groups * sizeof(*result));
    int r = all && start && result ? 0 : err_fail(ERR_NOMEM, __func__, "cannot assemble a commit");
    if (r == 0) {
        size_t g = 0, n = 0;
        for (struct pending *p = batch; p; p = p->next, g++) {
            start[g] = n;
            memcpy(all + n, p->ops, p->count * sizeof(*all));
            n += p->count;
        }
        start[groups] = n;
        r = store_round(s, &s->keys, all, start, groups, result);
    }
    pthread_mutex_lock(&s->queue_lock);
    size_t g = 0;
    for (struct pending *p = batch; p; p = p->next, g++) {
        p->result = r < 0 ? r : result[g];
        p->done = true;
    }
    s->groups++;
    s->committing = false;
    pthread_cond_broadcast(&s->queue_cond);
    free(all);
    free(start);
    free(result);
}

int store_commit(struct store *s, const struct store_txn *t)
{
    int r = ERR_INTERNAL;
    struct kv_op *ops = calloc(t->count ? t->count : 1, sizeof(*ops));
    struct buf *sealed = calloc(t->count ? t->count : 1, sizeof(*sealed));
    ENSURE_OUT(ops != NULL && sealed != NULL, ERR_NOMEM, "cannot allocate a commit");
    pthread_rwlock_rdlock(&s->lock);
    if (s->status != STORE_OPEN) {
        pthread_rwlock_unlock(&s->lock);
        FAIL_OUT(ERR_WRONG_STATE, "the store is not open");
    }
    if ((r = store_seal_ops(&s->keys, t, ops, sealed)) < 0) {
        pthread_rwlock_unlock(&s->lock);
        goto out;
    }
    struct pending p = {ops, t->count, 0, false, NULL};
    pthread_mutex_lock(&s->queue_lock);
    *s->queue_tail = &p;
    s->queue_tail = &p.next;
    while (!p.done) {
        if (!s->committing)
            lead_round(s);
        else
            pthread_cond_wait(&s->queue_cond, &s->queue_lock);
    }
    pthread_mutex_unlock(&s->queue_lock);
    pthread_rwlock_unlock(&s->lock);
    r = p.result;
out:
    for (size_t i = 0; sealed && i < t->count; i++)
        buf_free(&sealed[i]);
    free(sealed);
    free(ops);
    return r;
}
