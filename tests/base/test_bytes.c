#include <criterion/criterion.h>
#include <string.h>

#include "base/base.h"

Test(bytes, buf_append_grows_and_terminates)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(buf_append_str(&b, "abc"), 0);
    cr_assert_eq(b.size, 3000);
    cr_assert_eq(buf_terminate(&b), 0);
    cr_assert_eq(b.ptr[3000], '\0');
    cr_assert_eq(memcmp(b.ptr + 2997, "abc", 3), 0);
    cr_assert_eq(buf_appendf(&b, "%d-%s", 42, "x"), 0);
    cr_assert_eq(memcmp(b.ptr + 3000, "42-x", 4), 0);
    buf_free(&b);
    cr_assert_null(b.ptr);
    buf_free(&b); /* NULL-safe, idempotent */
}

Test(bytes, buf_reset_wipes_contents)
{
    struct buf b = BUF_INIT;
    cr_assert_eq(buf_append_str(&b, "secret"), 0);
    buf_reset(&b);
    cr_assert_eq(b.size, 0);
    for (size_t i = 0; i < b.cap; i++)
        cr_assert_eq(b.ptr[i], 0);
    buf_free(&b);
}

Test(bytes, buf_steal_str)
{
    struct buf b = BUF_INIT;
    char *s;
    cr_assert_eq(buf_append_str(&b, "hello"), 0);
    cr_assert_eq(buf_steal_str(&b, &s), 0);
    cr_assert_str_eq(s, "hello");
    cr_assert_null(b.ptr);
    free(s);
}

Test(bytes, constant_time_compare)
{
    cr_assert(view_eq_ct(view_str("abc"), view_str("abc")));
    cr_assert_not(view_eq_ct(view_str("abc"), view_str("abd")));
    cr_assert_not(view_eq_ct(view_str("abc"), view_str("ab")));
    cr_assert(view_eq_ct(VIEW_EMPTY, VIEW_EMPTY));
    cr_assert(view_eq(view_str("x"), view_str("x")));
    cr_assert_not(view_eq(view_str("x"), VIEW_EMPTY));
}

Test(bytes, arena_allocations_are_zeroed_aligned_and_freed)
{
    struct arena a = ARENA_INIT;
    for (int i = 0; i < 5000; i++) {
        uint64_t *p = arena_alloc(&a, 24);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % _Alignof(max_align_t), 0);
        cr_assert_eq(p[0] | p[1] | p[2], 0);
        p[0] = ~0ull;
    }
    char *big = arena_alloc(&a, 100000); /* larger than a chunk */
    cr_assert_not_null(big);
    char *s = arena_strndup(&a, "a\0b", 3);
    cr_assert_eq(memcmp(s, "a\0b\0", 4), 0);
    cr_assert_str_eq(arena_strdup(&a, "xyz"), "xyz");
    arena_free(&a);
    cr_assert_null(a.head);
}

Test(bytes, appendf_and_terminate_at_every_fill_level)
{
    /* regression (found by fuzz_manifest): at exactly full capacity, appendf's NUL overflowed */
    for (size_t fill = 0; fill < 200; fill++) {
        struct buf b = BUF_INIT;
        for (size_t i = 0; i < fill; i++)
            cr_assert_eq(buf_append_byte(&b, 'x'), 0);
        cr_assert_eq(buf_appendf(&b, "\\u%04x", 0x3c), 0);
        cr_assert_eq(buf_terminate(&b), 0);
        cr_assert_eq(b.size, fill + 6);
        cr_assert_lt(b.size, b.cap);
        buf_free(&b);
    }
}

Test(bytes, arr_grow_doubles_and_refuses_overflow)
{
    size_t cap = 0;
    int *a = arr_grow(NULL, &cap, 0, sizeof(int), 4);
    cr_assert_not_null(a);
    cr_assert_eq(cap, 4);
    cr_assert_eq(arr_grow(a, &cap, 3, sizeof(int), 4), a, "room left: the same array");
    for (int i = 0; i < 4; i++)
        a[i] = i;
    a = arr_grow(a, &cap, 4, sizeof(int), 4);
    cr_assert_not_null(a);
    cr_assert_eq(cap, 8);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(a[i], i, "contents kept");
    size_t huge = SIZE_MAX / 2 + 1;
    cr_assert_null(arr_grow(a, &huge, huge, sizeof(int), 4), "no room past the address space");
    cr_assert_eq(huge, SIZE_MAX / 2 + 1, "cap unchanged on failure");
    cr_assert_null(arr_grow(a, &cap, 8, SIZE_MAX / 8, 4), "element size overflow");
    cr_assert_eq(cap, 8);
    free(a);
}
