/*
 * Opening a store, and everything that changes its DEK or sealer: reset, rekey, unlock, rewrap,
 * and the migration of a store written in the previous format (values under the DEK itself, no
 * digest).
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static const char check_v1[] = "quarry-store-v1"; /* the previous format */
static const char check_v2[] = "quarry-store-v2";
static const char dek_aad[] = "quarry-dek-v1";

int kv_backend_open(const char *spec, struct kv_backend **out)
{
    *out = NULL;
    if (strcmp(spec, "memory") == 0)
        return kv_memory_open(out);
    if (strncmp(spec, "sqlite:", 7) == 0 && spec[7] != '\0')
        return kv_sqlite_open(spec + 7, out);
    FAIL(ERR_INVALID_ARG, "unknown store \"%s\" (sqlite:PATH or memory)", spec);
}

/* Which format k's DEK opens (by sys:check): 2 (this one), 1 (the previous one), or ERR_CORRUPT
 * (ERR_NOT_FOUND when there is no check value). */
static int dek_format(struct store *s, const struct store_keys *k)
{
    struct buf sealed = BUF_INIT, plain = BUF_INIT;
    int r = s->kv->get(s->kv, STORE_KEY_CHECK, &sealed, NULL);
    if (r == 0) {
        r = ERR_CORRUPT;
        if (crypto_aead_open(k->value, view_str(STORE_KEY_CHECK), buf_view(&sealed), &plain) == 0)
            r = view_eq(buf_view(&plain), view_str(check_v2)) ? 2 : ERR_CORRUPT;
        buf_reset(&plain);
        if (r < 0 && crypto_aead_open(k->dek, view_str(STORE_KEY_CHECK), buf_view(&sealed), &plain) == 0)
            r = view_eq(buf_view(&plain), view_str(check_v1)) ? 1 : ERR_CORRUPT;
    }
    if (r == ERR_CORRUPT)
        r = err_fail(ERR_CORRUPT, __func__, "the store's check value is wrong");
    buf_free(&sealed);
    buf_free(&plain);
    return r;
}

/* One round of: [wipe], sys:dek (wrapped), sys:sealer, sys:check, [sys:recovery], [writes], all under
 * k, with s->sealer. */
static int write_metadata(struct store *s, const struct store_keys *k, bool wipe, const struct view *recovery,
                          const struct store_txn *writes)
{
    size_t extra = writes ? writes->count : 0;
    struct buf wrapped = BUF_INIT, check = BUF_INIT;
    struct kv_op *ops = calloc(5 + extra, sizeof(*ops));
    struct buf *sealed = calloc(extra + 1, sizeof(*sealed));
    int r = ERR_INTERNAL, result = 0;
    ENSURE_OUT(ops != NULL && sealed != NULL, ERR_NOMEM, "cannot allocate a commit");
    TRY_OUT(s->sealer->seal(s->sealer, view_of(k->dek, STORE_DEK_SIZE), view_str(dek_aad), &wrapped));
    TRY_OUT(crypto_aead_seal(k->value, view_str(STORE_KEY_CHECK), view_str(check_v2), &check));
    size_t n = 0;
    if (wipe)
        ops[n++] = (struct kv_op){NULL, VIEW_EMPTY, true, STORE_REV_ANY, 0};
    ops[n++] = (struct kv_op){STORE_KEY_DEK, buf_view(&wrapped), false, STORE_REV_ANY, 0};
    ops[n++] = (struct kv_op){STORE_KEY_SEALER, view_str(s->sealer->name), false, STORE_REV_ANY, 0};
    ops[n++] = (struct kv_op){STORE_KEY_CHECK, buf_view(&check), false, STORE_REV_ANY, 0};
    if (recovery != NULL)
        ops[n++] = (struct kv_op){STORE_KEY_RECOVERY, *recovery, false, STORE_REV_ANY, 0};
    if (writes != NULL) {
        TRY_OUT(store_seal_ops(k, writes, ops + n, sealed));
        n += writes->count;
    }
    size_t start[2] = {0, n};
    TRY_OUT(store_round(s, k, ops, start, 1, &result));
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

/* Every user entry's plaintext, decrypted under `k`, as one transaction (rekey, migration). */
struct collect {
    const struct store_keys *k;
    struct store_txn *all;
    struct buf plain;
    uint64_t max_rev;
    char failed[QY_STORE_KEY_MAX + 1]; /* the row that did not authenticate */
};

static int collect_plain(void *ctx, const char *key, struct view sealed, uint64_t rev)
{
    struct collect *c = ctx;
    c->max_rev = rev > c->max_rev ? rev : c->max_rev;
    if (store_key_is_reserved(key))
        return 0;
    buf_reset(&c->plain);
    int r = store_open_value(c->k, key, sealed, &c->plain);
    if (r == ERR_CORRUPT)
        snprintf(c->failed, sizeof(c->failed), "%s", key);
    TRY(r);
    return store_txn_push(c->all, key, buf_view(&c->plain), false, STORE_REV_ANY);
}

static void collect_free(struct collect *c)
{
    store_txn_free(c->all);
    buf_free(&c->plain);
}

/* A store of the previous format, which authenticated each row but not the whole: every value must
 * still open under its name; all of it is then written again under the value key with a digest, in
 * one commit, recovery data kept. A host can thus present an old copy of the previous format (as
 * it always could); rows written since the migration do not open in it. */
static int migrate(struct store *s, const struct store_keys *k)
{
    struct store_keys old = *k;
    memcpy(old.value, k->dek, sizeof(old.value)); /* the previous format sealed values under the DEK */
    struct collect c = {&old, store_txn_new(), BUF_INIT, 0, ""};
    struct buf recovery = BUF_INIT;
    int r = ERR_INTERNAL;
    ENSURE_OUT(c.all != NULL, ERR_NOMEM, "out of memory");
    r = s->kv->scan(s->kv, "", collect_plain, &c);
    ENSURE_OUT(r != ERR_CORRUPT, ERR_TAMPERED,
               "the state was tampered with: row \"%.100s\" of the previous format fails authentication", c.failed);
    TRY_OUT(r);
    r = s->kv->get(s->kv, STORE_KEY_RECOVERY, &recovery, NULL);
    ENSURE_OUT(r == 0 || r == ERR_NOT_FOUND, r, "cannot read the recovery data: %s", err_detail(r));
    s->digest = (struct store_digest){c.max_rev, 0, {0}}; /* new revisions above the old ones */
    struct view rv = buf_view(&recovery);
    TRY_OUT(write_metadata(s, k, true, &rv, c.all));
    log_warn("store", "migrated the state to the authenticated format (a digest over every row)",
             LF_UINT("entries", c.all->count));
    r = 0;
out:
    collect_free(&c);
    buf_free(&recovery);
    mem_wipe(&old, sizeof(old));
    return r;
}

/* Checks (or migrates) the state under k and makes k the store's keys. */
static int adopt(struct store *s, const struct store_keys *k, int format)
{
    TRY(format == 1 ? migrate(s, k) : store_digest_verify(s, k));
    s->digest_stored = true;
    s->keys = *k;
    s->status = STORE_OPEN;
    return 0;
}

/* The DEK the recorded sealer unwraps, and the format it opens. */
static int unwrap(struct store *s, struct view wrapped, sealer_lookup_fn lookup, void *ctx, struct store_keys *k)
{
    struct buf dek = BUF_INIT, name = BUF_INIT;
    int r = s->kv->get(s->kv, STORE_KEY_SEALER, &name, NULL);
    if (r == 0)
        r = buf_terminate(&name);
    if (r == 0 && memchr(name.ptr, 0, name.size) != NULL) /* a name from the disk: not a C string */
        r = err_fail(ERR_CORRUPT, __func__, "the stored sealer name contains a NUL byte");
    if (r == 0)
        r = lookup(ctx, (const char *)name.ptr, &s->sealer);
    if (r == 0)
        r = s->sealer->unseal(s->sealer, wrapped, view_str(dek_aad), &dek);
    if (r == 0 && dek.size != STORE_DEK_SIZE)
        r = err_fail(ERR_CORRUPT, __func__, "unsealed data key has %zu bytes", dek.size);
    if (r == 0)
        r = store_keys_derive(dek.ptr, k);
    if (r == 0)
        r = dek_format(s, k);
    buf_free(&dek);
    buf_free(&name);
    return r;
}

static int load_dek(struct store *s, sealer_lookup_fn lookup, void *ctx)
{
    struct buf wrapped = BUF_INIT;
    struct store_keys k;
    int r = s->kv->get(s->kv, STORE_KEY_DEK, &wrapped, NULL);
    if (r == ERR_NOT_FOUND) {
        s->status = STORE_EMPTY;
        r = 0;
        goto out;
    }
    TRY_OUT(r);
    r = unwrap(s, buf_view(&wrapped), lookup, ctx, &k);
    if (r < 0 && r != ERR_NOMEM) { /* data we cannot open here: recovery */
        log_warn("store", "cannot unseal the stored data key", LF_ERR(r));
        sealer_free(s->sealer);
        s->sealer = NULL;
        s->status = STORE_SEALED;
        r = 0;
        goto out;
    }
    TRY_OUT(r);
    TRY_OUT(adopt(s, &k, r));
out:
    mem_wipe(&k, sizeof(k));
    buf_free(&wrapped);
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
        s->digest = (struct store_digest){s->digest.counter, 0, {0}}; /* of the empty memory backend */
        s->digest_stored = false;
    }
    sealer_free(s->sealer); /* NULL-safe: a sealed store has none */
    s->sealer = sealer;
    return 0;
}

/* Under the write lock: `sealer` (taken over) wraps k's DEK, which becomes the store's key, with the
 * metadata (and recovery data and `writes`, when `replace`) written in one round. */
static int install_key(struct store *s, const struct store_keys *k, struct sealer *sealer, bool replace,
                       const struct view *recovery_data, const struct store_txn *writes)
{
    TRY(swap_sealer(s, sealer));
    TRY(write_metadata(s, k, replace, recovery_data, writes));
    s->keys = *k;
    s->status = STORE_OPEN;
    return 0;
}

int store_reset(struct store *s, const uint8_t dek[STORE_DEK_SIZE], struct view recovery_data,
                struct sealer *sealer, const struct store_txn *initial)
{
    struct store_keys k;
    int r = store_keys_derive(dek, &k);
    if (r < 0) {
        mem_wipe(&k, sizeof(k));
        sealer_free(sealer);
        return r;
    }
    pthread_rwlock_wrlock(&s->lock);
    TRY_OUT(swap_sealer(s, sealer));
    s->status = STORE_EMPTY; /* the old contents are gone */
    TRY_OUT(write_metadata(s, &k, true, &recovery_data, initial));
    s->keys = k;
    s->status = STORE_OPEN;
    r = 0;
out:
    pthread_rwlock_unlock(&s->lock);
    mem_wipe(&k, sizeof(k));
    return r;
}

int store_rekey(struct store *s, const uint8_t dek[STORE_DEK_SIZE], struct view recovery_data,
                struct sealer *sealer, const struct store_txn *t)
{
    int r = ERR_INTERNAL;
    struct store_keys k;
    struct collect c = {&s->keys, store_txn_new(), BUF_INIT, 0, ""};
    pthread_rwlock_wrlock(&s->lock); /* no commit runs meanwhile: nothing written now is lost */
    if (c.all == NULL || s->status != STORE_OPEN) {
        sealer_free(sealer);
        FAIL_OUT(c.all ? ERR_WRONG_STATE : ERR_NOMEM, "the store is not open");
    }
    /* The rows are written again under a new digest: they must be the ones the current digest
     * covers, or a change made to the files while the Coordinator runs would become permanent. */
    r = store_digest_verify(s, &s->keys);
    if (r == 0)
        r = store_keys_derive(dek, &k);
    if (r == 0)
        r = s->kv->scan(s->kv, "", collect_plain, &c);
    for (size_t i = 0; r == 0 && i < t->count; i++) /* t's writes come last: they win */
        r = store_txn_push(c.all, t->ops[i].key, buf_view(&t->ops[i].value), t->ops[i].del, t->ops[i].expect_rev);
    if (r < 0) {
        sealer_free(sealer);
        goto out;
    }
    TRY_OUT(install_key(s, &k, sealer, true, &recovery_data, c.all));
    r = 0;
out:
    pthread_rwlock_unlock(&s->lock);
    collect_free(&c);
    mem_wipe(&k, sizeof(k));
    return r;
}

int store_recovery_data(struct store *s, struct buf *out)
{
    pthread_rwlock_rdlock(&s->lock);
    int r = s->kv->get(s->kv, STORE_KEY_RECOVERY, out, NULL);
    pthread_rwlock_unlock(&s->lock);
    return r == ERR_NOT_FOUND ? 0 : r;
}

int store_check_dek(struct store *s, const uint8_t dek[STORE_DEK_SIZE])
{
    struct store_keys k;
    int r = store_keys_derive(dek, &k);
    pthread_rwlock_rdlock(&s->lock);
    if (r == 0)
        r = dek_format(s, &k);
    pthread_rwlock_unlock(&s->lock);
    mem_wipe(&k, sizeof(k));
    if (r == ERR_NOT_FOUND)
        return err_fail(ERR_CORRUPT, __func__, "the store holds no sealed data");
    return r < 0 ? r : 0;
}

/* The digest is checked (or the store migrated) before anything is written: a tampered store stays
 * sealed. */
int store_unlock(struct store *s, const uint8_t dek[STORE_DEK_SIZE], struct sealer *sealer)
{
    int r = ERR_INTERNAL;
    struct store_keys k;
    pthread_rwlock_wrlock(&s->lock);
    if (s->status != STORE_SEALED) {
        sealer_free(sealer);
        FAIL_OUT(ERR_WRONG_STATE, "the store is not sealed");
    }
    int format = store_keys_derive(dek, &k);
    if (format == 0)
        format = dek_format(s, &k);
    r = format == 2 ? store_digest_verify(s, &k) : format;
    if (r < 0) {
        sealer_free(sealer);
        goto out;
    }
    s->digest_stored = format == 2;
    if (format == 1) {
        TRY_OUT(swap_sealer(s, sealer));
        TRY_OUT(adopt(s, &k, format)); /* migrate: re-wrapped with the rest */
    } else {
        TRY_OUT(install_key(s, &k, sealer, false, NULL, NULL)); /* re-wrapped here; recovery data kept */
    }
    r = 0;
out:
    pthread_rwlock_unlock(&s->lock);
    mem_wipe(&k, sizeof(k));
    return r;
}

struct copy_ctx {
    struct kv_backend *to;
    int r;
};

static int copy_one(void *ctx, const char *key, struct view value, uint64_t rev)
{
    struct copy_ctx *c = ctx;
    struct kv_op op = {key, value, false, STORE_REV_ANY, rev}; /* as it is: the digest still holds */
    size_t start[2] = {0, 1};
    int result = 0;
    TRY(c->to->commit(c->to, &op, start, 1, &result));
    return result;
}

/* Moves everything (rows as they are) to a memory backend and wipes the disk. */
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
    r = !sealer->persistent && strcmp(s->kv->name, "memory") != 0 ? copy_to_memory(s) : 0;
    if (r < 0) {
        sealer_free(sealer);
        goto out;
    }
    TRY_OUT(swap_sealer(s, sealer));
    r = write_metadata(s, &s->keys, false, NULL, NULL);
out:
    pthread_rwlock_unlock(&s->lock);
    return r;
}
