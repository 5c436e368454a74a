/*
 * err.h - part of base.h: the error table and the TRY/ENSURE/FAIL macros.
 *
 * Fallible functions return int: 0 (or a non-negative count) on success, a negative ERR_* on failure.
 * The code says what kind of failure it is; the thread's "last error" says where and why, as a short
 * human detail recorded by err_fail() (function name + formatted text). A caller that wants to show
 * the reason reads err_detail() right after the failing call; a caller that handles the error itself
 * just ignores it. Details never contain secrets: callers format only names, sizes and positions.
 *
 * Two macro families:
 *   TRY(e)/ENSURE(c, code, ...)/FAIL(code, ...)           return on error (functions that own nothing);
 *   TRY_OUT(e)/ENSURE_OUT(c, code, ...)/FAIL_OUT(code, ...) set `r` and jump to `out:` (functions that
 *   own resources start with `int r = ERR_INTERNAL;` and release everything after `out:`).
 */
#ifndef QUARRY_BASE_ERR_H
#define QUARRY_BASE_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define QY_MUST_USE __attribute__((warn_unused_result))
#define QY_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define QY_API __attribute__((visibility("default")))

enum err_code {
#define X(code, value, cat, msg) code = value,
#include "errors.def"
#undef X
};

enum err_category {
    ERRC_NONE = 0, /* not an error */
    ERRC_BUG,      /* a broken invariant or a caller bug */
    ERRC_SYSTEM,   /* memory, I/O, the network, the crypto library */
    ERRC_INPUT,    /* the input was malformed */
    ERRC_POLICY,   /* the input was well-formed but refused */
    ERRC_STATE,    /* not allowed now */
    ERRC_AUTH,     /* who are you? */
    ERRC_PERM,     /* you may not */
    ERRC_NOTFOUND, /* no such thing */
};

/* The short name of a code ("ERR_SYNTAX"), its fixed message, its category. Unknown codes are
 * reported as ERR_INTERNAL. */
QY_API const char *err_name(int code);
QY_API const char *err_message(int code);
QY_API enum err_category err_category(int code);

/* Records `code` and a formatted detail as this thread's last error and returns `code`. */
QY_API int err_fail(int code, const char *func, const char *fmt, ...) QY_PRINTF(3, 4);
QY_API int err_vfail(int code, const char *func, const char *fmt, va_list ap) QY_PRINTF(3, 0);

/* This thread's last recorded error: the detail text (or the code's message when none was recorded
 * for it), the function that recorded it ("" if none). Borrowed; valid until the next err_fail(). */
QY_API const char *err_detail(int code);
QY_API const char *err_func(void);
/* Forget the last error (tests and long-running loops). */
QY_API void err_clear(void);

#define FAIL(code, ...) return err_fail((code), __func__, __VA_ARGS__)
#define ENSURE(cond, code, ...)                                                                    \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return err_fail((code), __func__, __VA_ARGS__);                                        \
    } while (0)
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int try_r_ = (expr);                                                                       \
        if (try_r_ < 0)                                                                            \
            return try_r_;                                                                         \
    } while (0)

#define FAIL_OUT(code, ...)                                                                        \
    do {                                                                                           \
        r = err_fail((code), __func__, __VA_ARGS__);                                               \
        goto out;                                                                                  \
    } while (0)
#define ENSURE_OUT(cond, code, ...)                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            r = err_fail((code), __func__, __VA_ARGS__);                                           \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)
#define TRY_OUT(expr)                                                                              \
    do {                                                                                           \
        r = (expr);                                                                                \
        if (r < 0)                                                                                 \
            goto out;                                                                              \
    } while (0)

#endif
