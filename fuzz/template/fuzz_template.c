/* Fuzz target: template parsing and execution. The first byte picks the context (File or Env); the
 * rest is the template, run against a fixed set of secrets (present, empty, with NUL bytes,
 * missing) and the reserved values, and its holes filled as the premain would. Executing twice must
 * give the same bytes, and Env output never holds a NUL byte. */
#include <stdint.h>
#include <string.h>

#include "template/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t nul[3] = {'a', 0, 'b'};

static bool find(void *ctx, bool previous, const char *name, struct tpl_secret *out)
{
    (void)ctx;
    struct view k = view_of(key, previous ? 8 : 16);
    if (strcmp(name, "k") == 0)
        *out = (struct tpl_secret){MF_SECRET_SYMMETRIC_KEY, VIEW_EMPTY, k, k};
    else if (strcmp(name, "c") == 0)
        *out = (struct tpl_secret){MF_SECRET_CERT_ECDSA, k, view_str("priv"), view_str("pub")};
    else if (strcmp(name, "p") == 0)
        *out = (struct tpl_secret){MF_SECRET_PLAIN, VIEW_EMPTY, view_str("text"), view_str("text")};
    else if (strcmp(name, "n") == 0)
        *out = (struct tpl_secret){MF_SECRET_PLAIN, VIEW_EMPTY, view_of(nul, 3), view_of(nul, 3)};
    else if (strcmp(name, "e") == 0)
        *out = (struct tpl_secret){MF_SECRET_CERT_RSA, VIEW_EMPTY, VIEW_EMPTY, VIEW_EMPTY};
    else
        return false;
    return true;
}

static int render(const struct tpl *t, const struct tpl_data *d, struct buf *out)
{
    struct arena a = ARENA_INIT;
    struct tpl_segment *segs = NULL;
    size_t n = 0;
    int r = tpl_execute(t, d, &a, &segs, &n);
    if (r == 0 && tpl_segments_fill(segs, n, view_str("KEY"), out) != 0)
        __builtin_trap(); /* filling valid segments cannot fail but for memory */
    arena_free(&a);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum tpl_context ctx = data[0] & 1 ? TPL_ENV : TPL_FILE;
    struct tpl_data d = {.find = find,
                         .reserved = {view_of(key, 4), view_of(key, 5), view_of(key, 6),
                                      view_of(key, 7), view_of(key, 8)}};
    struct tpl *t = NULL;
    if (tpl_parse(view_of(data + 1, size - 1), ctx, &t) != 0)
        return 0;
    struct buf a = BUF_INIT, b = BUF_INIT;
    int ra = render(t, &d, &a), rb = render(t, &d, &b);
    if (ra != rb || !view_eq(buf_view(&a), buf_view(&b)))
        __builtin_trap();
    /* Env output never holds NUL bytes: environment variables cannot. An empty render has no
     * buffer, and memchr may not be passed NULL even for no bytes (regress-empty-env-*). */
    if (ra == 0 && ctx == TPL_ENV && a.size > 0 && memchr(a.ptr, 0, a.size) != NULL)
        __builtin_trap();
    buf_free(&a);
    buf_free(&b);
    tpl_free(t);
    return 0;
}
