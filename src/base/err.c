#include "err.h"

#include <stdio.h>
#include <string.h>

struct err_entry {
    int code;
    const char *name;
    enum err_category category;
    const char *message;
};

static const struct err_entry err_table[] = {
#define X(code, value, cat, msg) {code, #code, cat, msg},
#include "errors.def"
#undef X
};

/* The last error of this thread. The detail is truncated, never overflowed. */
static _Thread_local struct {
    int code;
    const char *func;
    char detail[512];
} last;

static const struct err_entry *err_lookup(int code)
{
    for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
        if (err_table[i].code == code)
            return &err_table[i];
    return &err_table[0]; /* ERR_INTERNAL */
}

const char *err_name(int code)
{
    return err_lookup(code)->name;
}

const char *err_message(int code)
{
    return err_lookup(code)->message;
}

enum err_category err_category(int code)
{
    if (code >= 0)
        return ERRC_NONE;
    return err_lookup(code)->category;
}

int err_vfail(int code, const char *func, const char *fmt, va_list ap)
{
    /* Format into a copy first: callers often pass err_detail() (this very buffer) as an argument. */
    char detail[sizeof(last.detail)];
    if (fmt == NULL || vsnprintf(detail, sizeof(detail), fmt, ap) < 0)
        detail[0] = '\0';
    last.code = code;
    last.func = func;
    memcpy(last.detail, detail, sizeof(detail));
    return code;
}

int err_fail(int code, const char *func, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vfail(code, func, fmt, ap);
    va_end(ap);
    return code;
}

const char *err_detail(int code)
{
    if (last.code == code && last.detail[0] != '\0')
        return last.detail;
    return err_message(code);
}

const char *err_func(void)
{
    return last.func ? last.func : "";
}

void err_clear(void)
{
    last.code = 0;
    last.func = NULL;
    last.detail[0] = '\0';
}
