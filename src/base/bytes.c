#include "bytes.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct view view_str(const char *s)
{
    return (struct view){(const uint8_t *)s, s ? strlen(s) : 0};
}

struct view view_of(const void *ptr, size_t size)
{
    return (struct view){ptr, size};
}

struct view buf_view(const struct buf *b)
{
    return (struct view){b->ptr, b->size};
}

bool view_eq(struct view a, struct view b)
{
    return a.size == b.size && (a.size == 0 || memcmp(a.ptr, b.ptr, a.size) == 0);
}

bool mem_eq_ct(const void *a, const void *b, size_t size)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t acc = 0;
    for (size_t i = 0; i < size; i++)
        acc |= x[i] ^ y[i];
    return acc == 0;
}

bool view_eq_ct(struct view a, struct view b)
{
    if (a.size != b.size)
        return false;
    return mem_eq_ct(a.ptr, b.ptr, a.size);
}

void mem_wipe(void *ptr, size_t size)
{
    if (ptr != NULL && size > 0)
        explicit_bzero(ptr, size);
}

void *arr_grow(void *arr, size_t *cap, size_t count, size_t elem_size, size_t first)
{
    if (arr != NULL && count < *cap)
        return arr;
    size_t n = *cap ? *cap : first;
    while (n <= count && n <= SIZE_MAX / 2)
        n *= 2;
    if (n <= count || elem_size == 0 || n > SIZE_MAX / elem_size)
        return NULL;
    void *p = realloc(arr, n * elem_size);
    if (p != NULL)
        *cap = n;
    return p;
}

int buf_reserve(struct buf *b, size_t extra)
{
    /* Invariant after success: cap >= size + extra + 1, the +1 for buf_terminate/buf_appendf. */
    if (b->ptr != NULL && extra < b->cap - b->size)
        return 0;
    ENSURE(extra <= SIZE_MAX / 2 - b->size, ERR_TOO_LARGE, "buffer would exceed the address space");
    size_t need = b->size + extra + 1; /* +1: room for buf_terminate() */
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    uint8_t *p = malloc(cap);
    ENSURE(p != NULL, ERR_NOMEM, "cannot allocate %zu bytes", cap);
    if (b->size > 0)
        memcpy(p, b->ptr, b->size);
    if (b->ptr != NULL) {
        mem_wipe(b->ptr, b->cap);
        free(b->ptr);
    }
    b->ptr = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t size)
{
    TRY(buf_reserve(b, size));
    if (size > 0)
        memcpy(b->ptr + b->size, data, size);
    b->size += size;
    return 0;
}

int buf_append_view(struct buf *b, struct view v)
{
    return buf_append(b, v.ptr, v.size);
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_append_byte(struct buf *b, uint8_t c)
{
    return buf_append(b, &c, 1);
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ENSURE(n >= 0, ERR_INTERNAL, "bad format string");
    TRY(buf_reserve(b, (size_t)n));
    va_start(ap, fmt);
    vsnprintf((char *)b->ptr + b->size, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->size += (size_t)n;
    return 0;
}

int buf_terminate(struct buf *b)
{
    TRY(buf_reserve(b, 0));
    b->ptr[b->size] = '\0';
    return 0;
}

int buf_set(struct buf *b, struct view v)
{
    buf_reset(b);
    return buf_append_view(b, v);
}

void buf_reset(struct buf *b)
{
    if (b->ptr != NULL)
        mem_wipe(b->ptr, b->cap);
    b->size = 0;
}

void buf_free(struct buf *b)
{
    if (b == NULL)
        return;
    if (b->ptr != NULL) {
        mem_wipe(b->ptr, b->cap);
        free(b->ptr);
    }
    *b = (struct buf)BUF_INIT;
}

int buf_steal_str(struct buf *b, char **out)
{
    *out = NULL;
    TRY(buf_terminate(b));
    *out = (char *)b->ptr;
    *b = (struct buf)BUF_INIT;
    return 0;
}

/* Arena ---------------------------------------------------------------------------------------- */

struct arena_chunk {
    struct arena_chunk *next;
    size_t cap;
    size_t used;
    alignas(max_align_t) uint8_t data[];
};

enum { ARENA_CHUNK_MIN = 16 * 1024 };

void *arena_alloc(struct arena *a, size_t size)
{
    const size_t align = alignof(max_align_t);
    if (size > SIZE_MAX / 2)
        return NULL;
    size_t rounded = (size + align - 1) & ~(align - 1);
    if (rounded == 0)
        rounded = align;
    struct arena_chunk *c = a->head;
    if (c == NULL || c->cap - c->used < rounded) {
        size_t cap = rounded > ARENA_CHUNK_MIN ? rounded : ARENA_CHUNK_MIN;
        c = calloc(1, sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += rounded;
    a->total += rounded;
    return p; /* chunks are calloc'd and never reused: already zero */
}

char *arena_strndup(struct arena *a, const char *s, size_t size)
{
    if (size == SIZE_MAX)
        return NULL;
    char *p = arena_alloc(a, size + 1);
    if (p != NULL && size > 0)
        memcpy(p, s, size);
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

void *arena_memdup(struct arena *a, const void *p, size_t size)
{
    void *q = arena_alloc(a, size);
    if (q != NULL && size > 0)
        memcpy(q, p, size);
    return q;
}

void arena_free(struct arena *a)
{
    struct arena_chunk *c = a->head;
    while (c != NULL) {
        struct arena_chunk *next = c->next;
        mem_wipe(c->data, c->used);
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}
