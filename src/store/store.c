/*
 * The encrypted, sealed store over a backend, and group commit.
 *
 * Layout in the backend: user keys hold AES-256-GCM(DEK, value, aad = key); three reserved keys hold
 * the metadata: sys:dek (the DEK wrapped by the sealer), sys:sealer (that sealer's name),
 * sys:recovery (recovery data, in the clear) and sys:check (a known plaintext under the DEK, to test
 * a DEK offered by recovery).
 *
 * Group commit: a committing thread takes every transaction queued so far and applies them in one
 * backend commit (one fsync); threads arriving meanwhile queue up and one of them leads the next
 * round. Each transaction keeps its own result.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "store_int.h"

#define KEY_DEK "sys:dek"
#define KEY_RECOVERY "sys:recovery"
#define KEY_CHECK "sys:check"
#define KEY_SEALER "sys:sealer"
static const char check_plaintext[] = "quarry-store-v1";
static const char dek_aad[] = "quarry-dek-v1";

struct pending {
    const struct kv_op *ops;
    size_t count;
    int result;
    bool done;
    struct pending *next;
};

struct store {
    pthread_rwlock_t lock; /* write-locked while the DEK, sealer or backend change */
    struct kv_backend *kv;
    struct sealer *sealer;
    enum store_status status;
    uint8_t dek[STORE_DEK_SIZE];

    pthread_mutex_t queue_lock;
    pthread_cond_t queue_cond;
    struct pending *queue, **queue_tail;
    bool committing;
    uint64_t groups;
};

struct txn_op {
    char *key;
    struct buf value;
    bool del;
    uint64_t expect_rev;
};

struct store_txn {
    struct txn_op *ops;
    size_t count, cap;
};

static bool is_reserved(const char *key)
{
    return strncmp(key, "sys:", 4) == 0;
}

static int check_key(const char *key)
{
    size_t n = strlen(key);
    ENSURE(n > 0 && n <= QY_STORE_KEY_MAX, ERR_INVALID_ARG, "store key of %zu bytes", n);
    ENSURE(!is_reserved(key), ERR_INVALID_ARG, "\"%s\" is a reserved store key", key);
    return 0;
}

/* Opening --------------------------------------------------------------------------------------- */

/* 0 when dek decrypts sys:check. */
static int test_dek(struct store *s, const uint8_t dek[STORE_DEK_SIZE])
{
    struct buf sealed = BUF_INIT, plain = BUF_INIT;
    int r = s->kv->get(s->kv, KEY_CHECK, &sealed, NULL);
    if (r == 0)
        r = crypto_aead_open(dek, view_str(KEY_CHECK), buf_view(&sealed), &plain);
    if (r == 0 && !view_eq(buf_view(&plain), view_str(check_plaintext)))
        r = err_fail(ERR_CORRUPT, __func__, "the store's check value is wrong");
    buf_free(&sealed);
    buf_free(&plain);
    return r;
}

static int load_dek(struct store *s, sealer_lookup_fn lookup, void *ctx)
{
    struct buf wrapped = BUF_INIT, dek = BUF_INIT, name = BUF_INIT;
    int r = s->kv->get(s->kv, KEY_DEK, &wrapped, NULL);
    if (r == ERR_NOT_FOUND) {
        s->status = STORE_EMPTY;
        r = 0;
        goto out;
    }
    TRY_OUT(r);
    r = s->kv->get(s->kv, KEY_SEALER, &name, NULL);
    if (r == 0)
        r = buf_terminate(&name);
    if (r == 0 && memchr(name.ptr, 0, name.size) != NULL) /* a name from the disk: not a C string */
        r = err_fail(ERR_CORRUPT, __func__, "the stored sealer name contains a NUL byte");
    if (r == 0)
        r = lookup(ctx, (const char *)name.ptr, &s->sealer);
    if (r == 0)
        r = s->sealer->unseal(s->sealer, buf_view(&wrapped), view_str(dek_aad), &dek);
    if (r == 0 && dek.size != STORE_DEK_SIZE)
        r = err_fail(ERR_CORRUPT, __func__, "unsealed data key has %zu bytes", dek.size);
    if (r == 0)
        r = test_dek(s, dek.ptr);
    if (r < 0 && r != ERR_NOMEM) { /* data we cannot open here: recovery */
        log_warn("store", "cannot unseal the stored data key", LF_ERR(r));
        sealer_free(s->sealer);
        s->sealer = NULL;
        s->status = STORE_SEALED;
        r = 0;
        goto out;
    }
    TRY_OUT(r);
    memcpy(s->dek, dek.ptr, STORE_DEK_SIZE);
    s->status = STORE_OPEN;
out:
    buf_free(&wrapped);
    buf_free(&dek);
    buf_free(&name);
    return r;
}

int store_open(struct kv_backend *backend, sealer_lookup_fn lookup, void *lookup_ctx, struct store **out)
{
    *out = NULL;
    struct store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        backend->free(backend);
        FAIL(ERR_NOMEM, "cannot allocate a store");
    }
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->queue_lock, NULL);
    pthread_cond_init(&s->queue_cond, NULL);
    s->queue_tail = &s->queue;
    s->kv = backend;
    int r = load_dek(s, lookup, lookup_ctx);
    if (r < 0) {
        store_free(s);
        return r;
    }
    *out = s;
    return 0;
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    mem_wipe(s->dek, sizeof(s->dek));
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

/* Encrypts t's writes under dek into ops (values into sealed[], owned by the caller). */
static int encrypt_ops(const uint8_t dek[STORE_DEK_SIZE], const struct store_txn *t, struct kv_op *ops,
                       struct buf *sealed)
{
    for (size_t i = 0; i < t->count; i++) {
        const struct txn_op *op = &t->ops[i];
        if (!op->del)
            TRY(crypto_aead_seal(dek, view_str(op->key), buf_view(&op->value), &sealed[i]));
        ops[i] = (struct kv_op){op->key, buf_view(&sealed[i]), op->del, op->expect_rev};
    }
    return 0;
}

/* One backend commit of: [wipe], sys:dek (wrapped), sys:sealer, sys:check, [sys:recovery], [initial
 * writes]. */
static int write_metadata(struct store *s, const uint8_t dek[STORE_DEK_SIZE], bool wipe,
                          const struct view *recovery, const struct store_txn *initial)
{
    size_t extra = initial ? initial->count : 0;
    struct buf wrapped = BUF_INIT, check = BUF_INIT;
    struct kv_op *ops = calloc(5 + extra, sizeof(*ops));
    struct buf *sealed = calloc(extra + 1, sizeof(*sealed));
    int r = ERR_INTERNAL, result = 0;
    ENSURE_OUT(ops != NULL && sealed != NULL, ERR_NOMEM, "cannot allocate a commit");
    TRY_OUT(s->sealer->seal(s->sealer, view_of(dek, STORE_DEK_SIZE), view_str(dek_aad), &wrapped));
    TRY_OUT(crypto_aead_seal(dek, view_str(KEY_CHECK), view_str(check_plaintext), &check));
    size_t n = 0;
    if (wipe)
        ops[n++] = (struct kv_op){NULL, VIEW_EMPTY, true, STORE_REV_ANY};
    ops[n++] = (struct kv_op){KEY_DEK, buf_view(&wrapped), false, STORE_REV_ANY};
    ops[n++] = (struct kv_op){KEY_SEALER, view_str(s->sealer->name), false, STORE_REV_ANY};
    ops[n++] = (struct kv_op){KEY_CHECK, buf_view(&check), false, STORE_REV_ANY};
    if (recovery != NULL)
        ops[n++] = (struct kv_op){KEY_RECOVERY, *recovery, false, STORE_REV_ANY};
    if (initial != NULL) {
        TRY_OUT(encrypt_ops(dek, initial, ops + n, sealed));
        n += initial->count;
    }
    size_t start[2] = {0, n};
    TRY_OUT(s->kv->commit(s->kv, ops, start, 1, &result));
    r = result;
out:
    for (size_t i = 0; sealed && i < extra; i++)
        buf_free(&sealed[i]);
    free(sealed);
    free(ops);
    buf_free(&wrapped);
    buf_free(&check);
    return r;
}

/* Replaces the sealer; a sealer that may not persist moves the store to memory, leaving nothing on
 * disk, so a restart finds an empty store (SealMode Disabled). */
static int swap_sealer(struct store *s, struct sealer *sealer)
{
    if (!sealer->persistent && strcmp(s->kv->name, "memory") != 0) {
        struct kv_backend *mem = NULL;
        int r = kv_memory_open(&mem);
        if (r == 0)
            r = s->kv->wipe(s->kv);
        if (r < 0) {
            if (mem)
                mem->free(mem);
            sealer_free(sealer);
            return r;
        }
        s->kv->free(s->kv);
        s->kv = mem;
    }
    sealer_free(s->sealer); /* NULL-safe: a sealed store has none */
    s->sealer = sealer;
    return 0;
}

/* Under the write lock, in an open or sealed store: `sealer` (taken over) wraps `dek`, which becomes
 * the store's key, with the metadata (and recovery data and `writes`, when `replace`) written in one
 * transaction. */
static int install_key(struct store *s, const uint8_t dek[STORE_DEK_SIZE], struct sealer *sealer, bool replace,
                       const struct view *recovery_data, const struct store_txn *writes)
{
    TRY(swap_sealer(s, sealer));
    TRY(write_metadata(s, dek, replace, recovery_data, writes));
    memcpy(s->dek, dek, STORE_DEK_SIZE);
    s->status = STORE_OPEN;
    return 0;
}

int store_reset(struct store *s, const uint8_t dek[STORE_DEK_SIZE], struct view recovery_data,
                struct sealer *sealer, const struct store_txn *initial)
{
    int r = ERR_INTERNAL;
    pthread_rwlock_wrlock(&s->lock);
    TRY_OUT(swap_sealer(s, sealer));
    s->status = STORE_EMPTY; /* the old contents are gone */
    TRY_OUT(write_metadata(s, dek, true, &recovery_data, initial));
    memcpy(s->dek, dek, STORE_DEK_SIZE);
    s->status = STORE_OPEN;
    r = 0;
out:
    pthread_rwlock_unlock(&s->lock);
    return r;
}

static int txn_push(struct store_txn *t, const char *key, struct view value, bool del, uint64_t expect_rev);

static int decrypt_value(struct store *s, const char *key, struct view sealed, struct buf *out)
{
    int r = crypto_aead_open(s->dek, view_str(key), sealed, out);
    ENSURE(r != ERR_CORRUPT, ERR_CORRUPT, "stored value \"%s\" failed authentication", key);
    return r;
}


/* Collects every user entry's plaintext into a transaction (for store_rekey). */
struct rekey_ctx {
    struct store *s;
    struct store_txn *all;
    struct buf plain;
};

static int collect_plain(void *ctx, const char *key, struct view sealed, uint64_t rev)
{
    (void)rev;
    struct rekey_ctx *c = ctx;
    if (is_reserved(key))
        return 0;
    buf_reset(&c->plain);
    TRY(decrypt_value(c->s, key, sealed, &c->plain));
    return txn_push(c->all, key, buf_view(&c->plain), false, STORE_REV_ANY);
}

int store_rekey(struct store *s, const uint8_t dek[STORE_DEK_SIZE], struct view recovery_data,
                struct sealer *sealer, const struct store_txn *t)
{
    int r = ERR_INTERNAL;
    struct rekey_ctx c = {s, store_txn_new(), BUF_INIT};
    pthread_rwlock_wrlock(&s->lock); /* no commit runs meanwhile: nothing written now is lost */
    if (c.all == NULL || s->status != STORE_OPEN) {
        sealer_free(sealer);
        FAIL_OUT(c.all ? ERR_WRONG_STATE : ERR_NOMEM, "the store is not open");
    }
    r = s->kv->scan(s->kv, "", collect_plain, &c);
    for (size_t i = 0; r == 0 && i < t->count; i++) /* t's writes come last: they win */
        r = txn_push(c.all, t->ops[i].key, buf_view(&t->ops[i].value), t->ops[i].del, t->ops[i].expect_rev);
    if (r < 0) {
        sealer_free(sealer);
        goto out;
    }
    TRY_OUT(install_key(s, dek, sealer, true, &recovery_data, c.all));
    r = 0;
out:
    pthread_rwlock_unlock(&s->lock);
    store_txn_free(c.all);
    buf_free(&c.plain);
    return r;
}

int store_recovery_data(struct store *s, struct buf *out)
{
    pthread_rwlock_rdlock(&s->lock);
    int r = s->kv->get(s->kv, KEY_RECOVERY, out, NULL);
    pthread_rwlock_unlock(&s->lock);
    return r == ERR_NOT_FOUND ? 0 : r;
}

int store_check_dek(struct store *s, const uint8_t dek[STORE_DEK_SIZE])
{
    pthread_rwlock_rdlock(&s->lock);
    int r = test_dek(s, dek);
    pthread_rwlock_unlock(&s->lock);
    return r == ERR_NOT_FOUND ? err_fail(ERR_CORRUPT, __func__, "the store holds no sealed data") : r;
}

int store_unlock(struct store *s, const uint8_t dek[STORE_DEK_SIZE], struct sealer *sealer)
{
    int r = ERR_INTERNAL;
    pthread_rwlock_wrlock(&s->lock);
    if (s->status != STORE_SEALED) {
        sealer_free(sealer);
        FAIL_OUT(ERR_WRONG_STATE, "the store is not sealed");
    }
    r = test_dek(s, dek);
    if (r < 0) {
        sealer_free(sealer);
        goto out;
    }
    TRY_OUT(install_key(s, dek, sealer, false, NULL, NULL)); /* re-wrapped here; recovery data kept */
    r = 0;
out:
    pthread_rwlock_unlock(&s->lock);
    return r;
}

struct copy_ctx {
    struct kv_backend *to;
    int r;
};

static int copy_one(void *ctx, const char *key, struct view value, uint64_t rev)
{
    (void)rev;
    struct copy_ctx *c = ctx;
    struct kv_op op = {key, value, false, STORE_REV_ANY};
    size_t start[2] = {0, 1};
    int result = 0;
    TRY(c->to->commit(c->to, &op, start, 1, &result));
    return result;
}

/* Moves everything (ciphertexts as they are) to a memory backend and wipes the disk. */
static int copy_to_memory(struct store *s)
{
    struct kv_backend *mem = NULL;
    TRY(kv_memory_open(&mem));
    struct copy_ctx c = {mem, 0};
    int r = s->kv->scan(s->kv, "", copy_one, &c);
    if (r == 0)
        r = s->kv->wipe(s->kv);
    if (r < 0) {
        mem->free(mem);
        return r;
    }
    s->kv->free(s->kv);
    s->kv = mem;
    return 0;
}

int store_rewrap(struct store *s, struct sealer *sealer)
{
    int r = ERR_INTERNAL;
    pthread_rwlock_wrlock(&s->lock);
    if (s->status != STORE_OPEN) {
        sealer_free(sealer);
        FAIL_OUT(ERR_WRONG_STATE, "the store is not open");
    }
    bool to_memory = !sealer->persistent && strcmp(s->kv->name, "memory") != 0;
    struct buf recovery = BUF_INIT;
    if (to_memory) /* the memory backend starts empty: carry the recovery data over */
        (void)s->kv->get(s->kv, KEY_RECOVERY, &recovery, NULL);
    r = to_memory ? copy_to_memory(s) : 0;
    if (r < 0) {
        sealer_free(sealer);
        buf_free(&recovery);
        goto out;
    }
    TRY_OUT(swap_sealer(s, sealer));
    struct view rv = buf_view(&recovery);
    r = write_metadata(s, s->dek, false, to_memory ? &rv : NULL, NULL);
    buf_free(&recovery);
out:
    pthread_rwlock_unlock(&s->lock);
    return r;
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
        r = decrypt_value(s, key, buf_view(&sealed), out);
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
    if (is_reserved(key))
        return 0;
    buf_reset(&c->plain);
    TRY(decrypt_value(c->s, key, value, &c->plain));
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

/* Appends one write, unchecked (the store's own copies of what it holds). */
static int txn_push(struct store_txn *t, const char *key, struct view value, bool del, uint64_t expect_rev)
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
    return txn_push(t, key, value, del, expect_rev);
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
        r = s->kv->commit(s->kv, all, start, groups, result);
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
    if ((r = encrypt_ops(s->dek, t, ops, sealed)) < 0) {
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
