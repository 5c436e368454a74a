/*
 * The memory backend: a sorted array of entries. For SealMode Disabled (nothing may reach the disk)
 * and for tests. Values are wiped when replaced or freed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

struct mem_entry {
    char *key;
    struct buf value;
    uint64_t rev;
};

struct kv_memory {
    struct kv_backend base;
    pthread_mutex_t lock;
    struct mem_entry *items;
    size_t count, cap;
};

/* Index of key, or of where it would be inserted (*found false). */
static size_t find(const struct kv_memory *m, const char *key, bool *found)
{
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->items[mid].key, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static int mkv_get(struct kv_backend *b, const char *key, struct buf *out, uint64_t *rev)
{
    struct kv_memory *m = (struct kv_memory *)b;
    bool found;
    int r = ERR_NOT_FOUND;
    pthread_mutex_lock(&m->lock);
    size_t i = find(m, key, &found);
    if (found) {
        r = buf_append_view(out, buf_view(&m->items[i].value));
        if (rev != NULL)
            *rev = m->items[i].rev;
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

static int mkv_scan(struct kv_backend *b, const char *prefix, kv_scan_fn fn, void *ctx)
{
    struct kv_memory *m = (struct kv_memory *)b;
    bool found;
    int r = 0;
    size_t n = strlen(prefix);
    pthread_mutex_lock(&m->lock);
    for (size_t i = find(m, prefix, &found); r >= 0 && i < m->count; i++) {
        if (strncmp(m->items[i].key, prefix, n) != 0)
            break;
        r = fn(ctx, m->items[i].key, buf_view(&m->items[i].value), m->items[i].rev);
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

static void entry_free(struct mem_entry *e)
{
    free(e->key);
    buf_free(&e->value);
}

static void mkv_wipe_locked(struct kv_memory *m)
{
    for (size_t i = 0; i < m->count; i++)
        entry_free(&m->items[i]);
    m->count = 0;
}

static int mkv_apply(struct kv_memory *m, const struct kv_op *op)
{
    bool found;
    if (op->key == NULL) {
        mkv_wipe_locked(m);
        return 0;
    }
    size_t i = find(m, op->key, &found);
    if (op->del) {
        if (found) {
            entry_free(&m->items[i]);
            memmove(&m->items[i], &m->items[i + 1], (m->count - i - 1) * sizeof(*m->items));
            m->count--;
        }
        return 0;
    }
    if (found) {
        TRY(buf_set(&m->items[i].value, op->value));
        m->items[i].rev = op->rev;
        return 0;
    }
    struct mem_entry *items = arr_grow(m->items, &m->cap, m->count, sizeof(*items), 64);
    ENSURE(items != NULL, ERR_NOMEM, "memory store is full");
    m->items = items;
    struct mem_entry e = {strdup(op->key), BUF_INIT, op->rev};
    ENSURE(e.key != NULL && buf_append_view(&e.value, op->value) == 0, ERR_NOMEM, "memory store is full");
    memmove(&m->items[i + 1], &m->items[i], (m->count - i) * sizeof(*m->items));
    m->items[i] = e;
    m->count++;
    return 0;
}

static int mkv_commit(struct kv_backend *b, const struct kv_op *ops, const size_t *start, size_t groups,
                      int *result)
{
    struct kv_memory *m = (struct kv_memory *)b;
    int r = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t g = 0; g < groups; g++) {
        result[g] = 0;
        for (size_t i = start[g]; i < start[g + 1] && result[g] == 0; i++) {
            bool found = false;
            size_t at = ops[i].key ? find(m, ops[i].key, &found) : 0;
            uint64_t rev = found ? m->items[at].rev : STORE_REV_ABSENT;
            if (ops[i].expect_rev != STORE_REV_ANY && ops[i].expect_rev != rev)
                result[g] = err_fail(ERR_CONFLICT, "kv_memory", "\"%s\" changed concurrently", ops[i].key);
        }
        for (size_t i = start[g]; i < start[g + 1] && result[g] == 0; i++)
            result[g] = mkv_apply(m, &ops[i]); /* only allocation can fail here */
        if (result[g] == ERR_NOMEM)
            r = ERR_NOMEM;
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

static int mkv_wipe(struct kv_backend *b)
{
    struct kv_memory *m = (struct kv_memory *)b;
    pthread_mutex_lock(&m->lock);
    mkv_wipe_locked(m);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static void mkv_free(struct kv_backend *b)
{
    struct kv_memory *m = (struct kv_memory *)b;
    if (m == NULL)
        return;
    (void)mkv_wipe(b);
    free(m->items);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

int kv_memory_open(struct kv_backend **out)
{
    struct kv_memory *m = calloc(1, sizeof(*m));
    *out = NULL;
    ENSURE(m != NULL, ERR_NOMEM, "cannot allocate the memory backend");
    m->base = (struct kv_backend){"memory", mkv_get, mkv_scan, mkv_commit, mkv_wipe, mkv_free};
    pthread_mutex_init(&m->lock, NULL);
    *out = &m->base;
    return 0;
}
