/*
 * One round of writes with the state digest kept in step (store.h's essay).
 *
 * A round reads what each key it writes holds now (the digest needs the MAC of the entry a write
 * replaces), evaluates the groups' guards in order against that, folds the writes of the groups that
 * hold into the digest, and hands the backend one transaction: those writes, each key's first write
 * guarded by the revision read, and sys:digest guarded by its own revision. So the read and the
 * write cannot be split by another writer: if one got in between, the backend refuses the whole
 * transaction and the round starts again from fresh reads, on the digest as that writer left it. Keys a transaction expects to be absent
 * (new activation records) are not read: the backend's guard checks them, and a refusal makes the
 * next attempt read everything. Cost: O(the round's writes), whatever the size of the state.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

struct slot {
    const char *key;
    bool present;       /* as the round has it so far */
    uint64_t rev;
    struct view value;  /* into `read`, or an op's value */
    struct buf read;    /* the row as the backend had it */
    uint64_t guard;     /* what the backend must still hold: the revision read, absent, or any */
    bool seen, emitted; /* touched by an op / by a write of an accepted group */
};

struct round {
    struct crypto_hmac *mac; /* keyed with the mac key */
    struct slot *slots;
    size_t count;
    struct store_digest d;
    uint64_t rev; /* this round's revision: the digest's counter + 1 */
};

static int slot_cmp(const void *a, const void *b)
{
    return strcmp(((const struct slot *)a)->key, ((const struct slot *)b)->key);
}

static struct slot *slot_of(struct round *rd, const char *key)
{
    struct slot probe = {.key = key};
    return bsearch(&probe, rd->slots, rd->count, sizeof(*rd->slots), slot_cmp);
}

/* The distinct keys of ops, sorted. */
static int collect(struct round *rd, const struct kv_op *ops, size_t n)
{
    rd->slots = calloc(n ? n : 1, sizeof(*rd->slots));
    ENSURE(rd->slots != NULL, ERR_NOMEM, "cannot allocate a commit");
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i].key != NULL)
            rd->slots[m++] = (struct slot){.key = ops[i].key, .read = BUF_INIT};
    qsort(rd->slots, m, sizeof(*rd->slots), slot_cmp);
    rd->count = 0;
    for (size_t i = 0; i < m; i++)
        if (rd->count == 0 || strcmp(rd->slots[rd->count - 1].key, rd->slots[i].key) != 0)
            rd->slots[rd->count++] = rd->slots[i];
    return 0;
}

/* What each key holds before the round. */
static int load(struct round *rd, struct kv_backend *kv, const struct kv_op *ops, size_t n, bool wiped, bool exact)
{
    for (size_t i = 0; i < n; i++) {
        struct slot *sl = ops[i].key ? slot_of(rd, ops[i].key) : NULL;
        if (sl != NULL && !sl->seen) { /* its first write decides whether it is read */
            sl->seen = true;
            sl->guard = !exact && ops[i].expect_rev == STORE_REV_ABSENT ? STORE_REV_ABSENT : STORE_REV_ANY;
        }
    }
    for (size_t i = 0; i < rd->count; i++) {
        struct slot *sl = &rd->slots[i];
        if (wiped)
            sl->guard = STORE_REV_ANY; /* absent after the wipe, whatever the backend held */
        if (wiped || sl->guard == STORE_REV_ABSENT)
            continue; /* absent: wiped, or taken to be (the backend checks it) */
        int r = kv->get(kv, sl->key, &sl->read, &sl->rev);
        if (r == ERR_NOT_FOUND) {
            sl->guard = STORE_REV_ABSENT;
            continue;
        }
        TRY(r);
        sl->present = true;
        sl->value = buf_view(&sl->read);
        sl->guard = sl->rev;
    }
    return 0;
}

static int group_guards(struct round *rd, const struct kv_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ops[i].key == NULL || ops[i].expect_rev == STORE_REV_ANY)
            continue;
        const struct slot *sl = slot_of(rd, ops[i].key);
        uint64_t rev = sl->present ? sl->rev : STORE_REV_ABSENT;
        ENSURE(ops[i].expect_rev == rev, ERR_CONFLICT, "\"%s\" changed concurrently", ops[i].key);
    }
    return 0;
}

/* Folds a group that holds into the digest and appends its writes to out. */
static int group_apply(struct round *rd, const struct kv_op *ops, size_t n, struct kv_op *out, size_t *nout)
{
    for (size_t i = 0; i < n; i++) {
        const struct kv_op *op = &ops[i];
        if (op->key == NULL) { /* the wipe: store_round checked it comes first */
            out[(*nout)++] = *op;
            continue;
        }
        struct slot *sl = slot_of(rd, op->key);
        if (store_digest_counts(op->key) && sl->present)
            TRY(store_digest_entry(&rd->d, rd->mac, op->key, sl->rev, sl->value, -1));
        if (store_digest_counts(op->key) && !op->del)
            TRY(store_digest_entry(&rd->d, rd->mac, op->key, rd->rev, op->value, +1));
        out[(*nout)++] = (struct kv_op){op->key, op->value, op->del, sl->emitted ? STORE_REV_ANY : sl->guard, rd->rev};
        *sl = (struct slot){sl->key, !op->del, rd->rev, op->value, sl->read, sl->guard, true, true};
    }
    return 0;
}

#define ROUND_AGAIN 1

/* One attempt: 0 when done (result[] filled), ROUND_AGAIN when the backend saw a change since the
 * reads, or an error. */
static int attempt(struct store *s, const struct store_keys *k, const struct kv_op *ops, const size_t *start,
                   size_t groups, int *result, bool exact)
{
    size_t n = start[groups], nout = 0;
    bool wiped = n > 0 && ops[0].key == NULL, any = false;
    struct round rd = {NULL, NULL, 0, s->digest, s->digest.counter + 1};
    if (wiped)
        rd.d = (struct store_digest){s->digest.counter, 0, {0}};
    struct kv_op *out = calloc(n + 1, sizeof(*out));
    struct buf row = BUF_INIT;
    int r = ERR_INTERNAL, res = 0;
    ENSURE_OUT(out != NULL, ERR_NOMEM, "cannot allocate a commit");
    TRY_OUT(crypto_hmac_new(view_of(k->mac, sizeof(k->mac)), &rd.mac));
    TRY_OUT(collect(&rd, ops, n));
    TRY_OUT(load(&rd, s->kv, ops, n, wiped, exact));
    for (size_t g = 0; g < groups; g++) {
        result[g] = group_guards(&rd, ops + start[g], start[g + 1] - start[g]);
        if (result[g] == 0)
            TRY_OUT(group_apply(&rd, ops + start[g], start[g + 1] - start[g], out, &nout));
        any |= result[g] == 0;
    }
    r = 0;
    if (!any)
        goto out; /* every group refused: nothing changes, the digest neither */
    rd.d.counter = rd.rev;
    TRY_OUT(store_digest_seal(k, &rd.d, &row));
    uint64_t guard = wiped ? STORE_REV_ANY : s->digest_stored ? s->digest.counter : STORE_REV_ABSENT;
    out[nout++] = (struct kv_op){STORE_KEY_DIGEST, buf_view(&row), false, guard, rd.rev};
    size_t one[2] = {0, nout};
    TRY_OUT(s->kv->commit(s->kv, out, one, 1, &res));
    r = res == ERR_CONFLICT ? ROUND_AGAIN : res;
    if (r == 0) {
        s->digest = rd.d;
        s->digest_stored = true;
    }
out:
    for (size_t i = 0; rd.slots && i < rd.count; i++)
        buf_free(&rd.slots[i].read);
    free(rd.slots);
    crypto_hmac_free(rd.mac);
    free(out);
    buf_free(&row);
    mem_wipe(&rd.d, sizeof(rd.d));
    return r;
}

int store_round(struct store *s, const struct store_keys *k, const struct kv_op *ops, const size_t *start,
                size_t groups, int *result)
{
    for (size_t i = 1; i < start[groups]; i++)
        ENSURE(ops[i].key != NULL, ERR_INTERNAL, "a wipe that is not the first write");
    for (unsigned i = 0; i < QY_STORE_ROUND_RETRIES; i++) {
        int r = attempt(s, k, ops, start, groups, result, i > 0);
        if (r <= 0)
            return r;
        if (s->digest_stored) /* another writer got in first: build on its digest */
            TRY(store_digest_reload(s, k));
    }
    FAIL(ERR_CONFLICT, "the store changed under %u attempts to commit (another writer?)", QY_STORE_ROUND_RETRIES);
}
