#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p != NULL)
        memcpy(p, s, n + 1);
    return p;
}

void diag_vadd(struct diag *d, enum diag_level level, const char *path, const char *fmt, va_list ap)
{
    if (level == DIAG_ERROR)
        d->errors++;
    else
        d->warnings++;
    if (d->count >= QY_DIAG_MAX)
        goto drop;
    struct diag_entry *items = arr_grow(d->items, &d->cap, d->count, sizeof(*items), 16);
    if (items == NULL)
        goto drop;
    d->items = items;
    char msg[QY_DIAG_MSG_MAX];
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        msg[0] = '\0';
    struct diag_entry e = {level, dup_str(path ? path : ""), dup_str(msg)};
    if (e.path == NULL || e.message == NULL) {
        free(e.path);
        free(e.message);
        goto drop;
    }
    d->items[d->count++] = e;
    return;
drop:
    d->dropped++;
}

void diag_add(struct diag *d, enum diag_level level, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(d, level, path, fmt, ap);
    va_end(ap);
}

static int diag_cmp(const struct diag_entry *a, const struct diag_entry *b)
{
    if (a->level != b->level)
        return a->level == DIAG_ERROR ? -1 : 1;
    return strcmp(a->path, b->path);
}

void diag_sort(struct diag *d)
{
    /* insertion sort: stable, and diagnostics lists are short */
    for (size_t i = 1; i < d->count; i++) {
        struct diag_entry e = d->items[i];
        size_t j = i;
        while (j > 0 && diag_cmp(&d->items[j - 1], &e) > 0) {
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = e;
    }
}

void diag_free(struct diag *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->count; i++) {
        free(d->items[i].path);
        free(d->items[i].message);
    }
    free(d->items);
    *d = (struct diag)DIAG_INIT;
}

static void jpath_append(struct jpath *p, const char *s)
{
    size_t n = strlen(s);
    size_t room = sizeof(p->s) - 4 - p->len; /* keep room for "..." and NUL */
    if (p->truncated)
        return;
    if (n > room) {
        memcpy(p->s + p->len, s, room);
        p->len += room;
        memcpy(p->s + p->len, "...", 4);
        p->len += 3;
        p->truncated = 1;
        return;
    }
    memcpy(p->s + p->len, s, n + 1);
    p->len += n;
}

size_t jpath_push(struct jpath *p, const char *key)
{
    size_t mark = p->len | (p->truncated ? (size_t)1 << (sizeof(size_t) * 8 - 1) : 0);
    if (p->len > 0)
        jpath_append(p, ".");
    jpath_append(p, key);
    return mark;
}

size_t jpath_push_index(struct jpath *p, size_t index)
{
    size_t mark = p->len | (p->truncated ? (size_t)1 << (sizeof(size_t) * 8 - 1) : 0);
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "[%zu]", index);
    jpath_append(p, tmp);
    return mark;
}

void jpath_pop(struct jpath *p, size_t mark)
{
    const size_t flag = (size_t)1 << (sizeof(size_t) * 8 - 1);
    p->truncated = (mark & flag) != 0;
    p->len = mark & ~flag;
    p->s[p->len] = '\0';
}

const char *jpath_str(const struct jpath *p)
{
    return p->s;
}
