/*
 * MaxActivations, exactly (reference/marblerun.md §5.5): a marble type with a limit has a counter of
 * durable activations and of activations in flight. An activation reserves a slot before its commit
 * and settles it after: committed on success, released on failure. A reservation is refused when
 * committed + reserved reaches the limit, so the limit holds under any concurrency; each counted
 * activation is its own store key ("activations:<type>:<slot>"), written with an absent-guard, so a
 * crash at any moment leaves exactly the durable ones - which is what a restart counts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coord_int.h"

static struct coord_counter *find(struct coord *c, const char *type, bool create)
{
    for (size_t i = 0; i < c->counters_count; i++)
        if (strcmp(c->counters[i].type, type) == 0)
            return &c->counters[i];
    if (!create)
        return NULL;
    struct coord_counter *n = realloc(c->counters, (c->counters_count + 1) * sizeof(*n));
    if (n == NULL)
        return NULL;
    c->counters = n;
    struct coord_counter *e = &c->counters[c->counters_count];
    *e = (struct coord_counter){strdup(type), 0, 0, 0};
    if (e->type == NULL)
        return NULL;
    c->counters_count++;
    return e;
}

void coord_counters_clear(struct coord *c)
{
    pthread_mutex_lock(&c->count_lock);
    for (size_t i = 0; i < c->counters_count; i++)
        free(c->counters[i].type);
    free(c->counters);
    c->counters = NULL;
    c->counters_count = 0;
    pthread_mutex_unlock(&c->count_lock);
}

static int count_one(void *ctx, const char *key, struct view value, uint64_t rev)
{
    (void)value, (void)rev;
    struct coord *c = ctx;
    const char *type = key + strlen(KEY_COUNT_PREFIX), *colon = strrchr(type, ':');
    ENSURE(colon != NULL && colon > type, ERR_CORRUPT, "malformed activation counter key \"%s\"", key);
    char name[QY_NAME_MAX + 1];
    ENSURE((size_t)(colon - type) <= QY_NAME_MAX, ERR_CORRUPT, "activation counter key too long");
    memcpy(name, type, (size_t)(colon - type));
    name[colon - type] = '\0';
    char *end = NULL;
    errno = 0;
    uint64_t slot = strtoull(colon + 1, &end, 16);
    ENSURE(end != colon + 1 && *end == '\0' && errno == 0 && slot < UINT64_MAX, ERR_CORRUPT,
           "malformed activation counter key \"%s\"", key);
    struct coord_counter *e = find(c, name, true);
    ENSURE(e != NULL, ERR_NOMEM, "out of memory");
    e->committed++;
    if (slot + 1 > e->next_slot)
        e->next_slot = slot + 1;
    return 0;
}

int coord_counters_load(struct coord *c)
{
    coord_counters_clear(c);
    pthread_mutex_lock(&c->count_lock);
    int r = store_scan(c->cfg.store, KEY_COUNT_PREFIX, count_one, c);
    pthread_mutex_unlock(&c->count_lock);
    return r;
}

int coord_counter_reserve(struct coord *c, const char *type, uint64_t max, uint64_t *slot)
{
    *slot = 0;
    if (max == 0)
        return 0;
    pthread_mutex_lock(&c->count_lock);
    struct coord_counter *e = find(c, type, true);
    int r = 0;
    if (e == NULL)
        r = err_fail(ERR_NOMEM, __func__, "out of memory");
    else if (e->committed + e->reserved >= max)
        r = err_fail(ERR_EXHAUSTED, __func__, "reached max activations count (%llu) for marble type \"%s\"",
                     (unsigned long long)max, type);
    else {
        e->reserved++;
        *slot = e->next_slot++;
    }
    pthread_mutex_unlock(&c->count_lock);
    return r;
}

void coord_counter_settle(struct coord *c, const char *type, bool committed)
{
    pthread_mutex_lock(&c->count_lock);
    struct coord_counter *e = find(c, type, false);
    if (e != NULL && e->reserved > 0) {
        e->reserved--;
        e->committed += committed;
    }
    pthread_mutex_unlock(&c->count_lock);
}
