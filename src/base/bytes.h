/*
 * bytes.h - part of base.h: borrowed views, owned buffers, an arena, and memory hygiene.
 *
 * struct view borrows bytes it does not own: whoever made it keeps them alive. struct buf owns its
 * bytes; buf_free() wipes them before freeing, so a buffer that ever held a secret leaves nothing
 * behind, and growth never uses realloc (which could leave a copy of the old contents in freed
 * memory). An arena owns many small allocations that die together (a parsed manifest); it too is
 * wiped when freed. None of these are thread-safe; each object belongs to one thread at a time.
 */
#ifndef QUARRY_BASE_BYTES_H
#define QUARRY_BASE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct view {
    const uint8_t *ptr;
    size_t size;
};

struct buf {
    uint8_t *ptr;
    size_t size; /* bytes in use */
    size_t cap;  /* bytes allocated */
};

#define VIEW_EMPTY ((struct view){NULL, 0})
#define BUF_INIT {NULL, 0, 0}

/* A view over a NUL-terminated string (without the NUL), or over size bytes. */
QY_API struct view view_str(const char *s);
QY_API struct view view_of(const void *ptr, size_t size);
QY_API struct view buf_view(const struct buf *b);
QY_API bool view_eq(struct view a, struct view b);
/* Constant-time equality for secrets: time depends on the sizes only. */
QY_API bool view_eq_ct(struct view a, struct view b);
QY_API bool mem_eq_ct(const void *a, const void *b, size_t size);

/* Wipe memory so the compiler cannot elide it. */
QY_API void mem_wipe(void *ptr, size_t size);

/* Room for one more element in a growable array of `count` elements of `elem_size` bytes: the same
 * pointer when `*cap` already has room, else a larger copy (`first` elements at first, then
 * doubling; `*cap` updated), or NULL when it cannot grow (the array is left as it was). For arrays of
 * pointers and handles: the old block is not wiped (use struct buf for secret bytes). */
QY_API void *arr_grow(void *arr, size_t *cap, size_t count, size_t elem_size, size_t first);

/* Make room for `extra` more bytes (grows by copying into a fresh allocation and wiping the old). */
QY_API int buf_reserve(struct buf *b, size_t extra) QY_MUST_USE;
QY_API int buf_append(struct buf *b, const void *data, size_t size) QY_MUST_USE;
QY_API int buf_append_view(struct buf *b, struct view v) QY_MUST_USE;
QY_API int buf_append_str(struct buf *b, const char *s) QY_MUST_USE;
QY_API int buf_appendf(struct buf *b, const char *fmt, ...) QY_PRINTF(2, 3) QY_MUST_USE;
QY_API int buf_append_byte(struct buf *b, uint8_t c) QY_MUST_USE;
/* Ensure a NUL after the contents (not counted in size), so ptr can be read as a C string. */
QY_API int buf_terminate(struct buf *b) QY_MUST_USE;
/* Replace the contents with a copy of `v`. */
QY_API int buf_set(struct buf *b, struct view v) QY_MUST_USE;
/* Wipe the contents, keep the allocation. */
QY_API void buf_reset(struct buf *b);
/* Wipe and free; NULL-safe; leaves *b empty. */
QY_API void buf_free(struct buf *b);
/* Move the contents out as a malloc'd NUL-terminated string the caller frees (with free()). The
 * buffer is left empty. */
QY_API int buf_steal_str(struct buf *b, char **out) QY_MUST_USE;

/* An arena: allocations live until arena_free(), which wipes every chunk. */
struct arena_chunk;
struct arena {
    struct arena_chunk *head;
    size_t total; /* bytes handed out, for limits */
};
#define ARENA_INIT {NULL, 0}

/* Zeroed memory, aligned for any type. Returns NULL when out of memory. */
QY_API void *arena_alloc(struct arena *a, size_t size);
/* A NUL-terminated copy of size bytes (which may contain NULs; the caller keeps the size). */
QY_API char *arena_strndup(struct arena *a, const char *s, size_t size);
QY_API char *arena_strdup(struct arena *a, const char *s);
QY_API void *arena_memdup(struct arena *a, const void *p, size_t size);
QY_API void arena_free(struct arena *a);

#endif
