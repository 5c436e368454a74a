/*
 * A bounded map from 32-byte keys (SHA-256 of what was verified) to reference-counted objects,
 * shared by the threads of one verifier. Lookups hold the lock only to find and reference an
 * object; nothing slow ever runs under it. Keys are hashes of the verified bytes, so an entry can
 * only ever answer for exactly those bytes; when the map is full it is emptied (entries are cheap
 * to rebuild, and a bound matters more than a clever eviction policy).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "att_int.h"

struct memo_entry {
    uint8_t key[32];
    struct att_obj *obj;
    struct memo_entry *next;
};

struct att_memo {
    pthread_mutex_t lock;
    size_t max, count, nbuckets;
    struct memo_entry **buckets;
};

int64_t att_mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

int att_memo_new(size_t max, struct att_memo **out)
{
    struct att_memo *m = calloc(1, sizeof(*m));
    ENSURE(m != NULL, ERR_NOMEM, "cannot allocate a cache");
    m->max = max;
    m->nbuckets = 1;
    while (m->nbuckets < max)
        m->nbuckets <<= 1;
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    if (m->buckets == NULL) {
        free(m);
        FAIL(ERR_NOMEM, "cannot allocate a cache");
    }
    pthread_mutex_init(&m->lock, NULL);
    *out = m;
    return 0;
}

static void memo_clear(struct att_memo *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct memo_entry *e = m->buckets[i];
        while (e != NULL) {
            struct memo_entry *next = e->next;
            att_obj_unref(e->obj);
            free(e);
            e = next;
        }
        m->buckets[i] = NULL;
    }
    m->count = 0;
}

void att_memo_free(struct att_memo *m)
{
    if (m == NULL)
        return;
    memo_clear(m);
    pthread_mutex_destroy(&m->lock);
    free(m->buckets);
    free(m);
}

/* The key is a hash already: its first bytes are as good as any bucket index. */
static size_t bucket(const struct att_memo *m, const uint8_t key[32])
{
    size_t h = 0;
    memcpy(&h, key, sizeof(h));
    return h & (m->nbuckets - 1);
}

struct att_obj *att_memo_get(struct att_memo *m, const uint8_t key[32])
{
    struct att_obj *o = NULL;
    pthread_mutex_lock(&m->lock);
    for (struct memo_entry *e = m->buckets[bucket(m, key)]; e != NULL; e = e->next)
        if (memcmp(e->key, key, 32) == 0) {
            o = att_obj_ref(e->obj);
            break;
        }
    pthread_mutex_unlock(&m->lock);
    return o;
}

int att_memo_put(struct att_memo *m, const uint8_t key[32], struct att_obj *o)
{
    struct memo_entry *fresh = malloc(sizeof(*fresh));
    ENSURE(fresh != NULL, ERR_NOMEM, "cannot allocate a cache entry");
    memcpy(fresh->key, key, 32);
    fresh->obj = att_obj_ref(o);
    pthread_mutex_lock(&m->lock);
    struct memo_entry **slot = &m->buckets[bucket(m, key)];
    for (struct memo_entry **p = slot; *p != NULL; p = &(*p)->next)
        if (memcmp((*p)->key, key, 32) == 0) {
            struct memo_entry *old = *p;
            fresh->next = old->next;
            *p = fresh;
            pthread_mutex_unlock(&m->lock);
            att_obj_unref(old->obj);
            free(old);
            return 0;
        }
    if (m->count >= m->max) {
        memo_clear(m);
        slot = &m->buckets[bucket(m, key)];
    }
    fresh->next = *slot;
    *slot = fresh;
    m->count++;
    pthread_mutex_unlock(&m->lock);
    return 0;
}
