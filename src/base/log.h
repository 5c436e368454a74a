/*
 * log.h - part of base.h: leveled, structured logging as text or JSON lines on stderr.
 *
 * A log line is a level, a component, a fixed message and typed fields:
 *     log_info("mesh", "marble activated", LF_STR("type", t), LF_STR("uuid", u));
 * Text:  2026-11-25T10:00:00.123Z INFO mesh: marble activated type=frontend uuid=...
 * JSON:  {"time":"...","level":"info","component":"mesh","msg":"marble activated","type":...}
 * Context fields set once at start (e.g. mode=emulated) are appended to every line.
 *
 * Secrets are never logged: fields are strings, integers and booleans only, there is no way to log
 * raw bytes, and callers pass names, never values, of secrets. Values are escaped so a hostile string
 * cannot forge a line. Each line is formatted into one buffer and written with one write(2), so lines
 * from different threads never interleave. Configure before starting threads.
 */
#ifndef QUARRY_BASE_LOG_H
#define QUARRY_BASE_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };
enum log_format { LOG_TEXT, LOG_JSON };

enum log_field_type { LOG_FIELD_END, LOG_FIELD_STR, LOG_FIELD_INT, LOG_FIELD_UINT, LOG_FIELD_BOOL };

struct log_field {
    const char *key;
    enum log_field_type type;
    union {
        const char *s;
        long long i;
        unsigned long long u;
        bool b;
    } v;
};

#define LF_STR(k, val) ((struct log_field){(k), LOG_FIELD_STR, {.s = (val)}})
#define LF_INT(k, val) ((struct log_field){(k), LOG_FIELD_INT, {.i = (long long)(val)}})
#define LF_UINT(k, val) ((struct log_field){(k), LOG_FIELD_UINT, {.u = (unsigned long long)(val)}})
#define LF_BOOL(k, val) ((struct log_field){(k), LOG_FIELD_BOOL, {.b = (val)}})
#define LF_ERR(code) LF_STR("error", err_detail(code))
#define LF_END_ ((struct log_field){NULL, LOG_FIELD_END, {.i = 0}})

/* Defaults: LOG_INFO, LOG_TEXT, fd 2. `fd` lets tests capture output. */
QY_API void log_configure(enum log_level min, enum log_format format, int fd);
QY_API int log_parse_format(const char *s, enum log_format *out) QY_MUST_USE;
QY_API int log_parse_level(const char *s, enum log_level *out) QY_MUST_USE;
QY_API bool log_enabled(enum log_level level);
/* Add a field to every line (at most 8; key and value are copied). */
QY_API int log_context_set(const char *key, const char *value) QY_MUST_USE;
QY_API void log_context_clear(void);

/* Rate limits for lines that outsiders can cause (refused activations, refused requests): a token
 * bucket of `burst` lines refilled at `per_minute` lines a minute. Lines beyond it are counted, not
 * written; the next line that passes carries the count (log_limit_take's *suppressed) so nothing
 * goes missing silently. Static initialiser; safe from any thread. */
struct log_limit {
    pthread_mutex_t lock;
    unsigned burst, per_minute;
    double tokens;
    long long last_ms;         /* monotonic milliseconds of the last refill; 0: never */
    unsigned long long suppressed;
    long long suppressed_since_ms;
};
#define LOG_LIMIT_INIT(burst, per_minute) {PTHREAD_MUTEX_INITIALIZER, (burst), (per_minute), (burst), 0, 0, 0}
/* Whether a line may be written now. When it may, *suppressed is the number of lines refused since
 * the last one written and *seconds how long ago the first of them was (both 0 when none). */
QY_API bool log_limit_take(struct log_limit *l, unsigned long long *suppressed, unsigned *seconds);

/* `fields` ends with a LOG_FIELD_END entry. */
QY_API void log_emit(enum log_level level, const char *component, const char *msg,
                     const struct log_field *fields);

#define log_debug(comp, msg, ...)                                                                  \
    log_emit(LOG_DEBUG, comp, msg, (const struct log_field[]){__VA_ARGS__ __VA_OPT__(, ) LF_END_})
#define log_info(comp, msg, ...)                                                                   \
    log_emit(LOG_INFO, comp, msg, (const struct log_field[]){__VA_ARGS__ __VA_OPT__(, ) LF_END_})
#define log_warn(comp, msg, ...)                                                                   \
    log_emit(LOG_WARN, comp, msg, (const struct log_field[]){__VA_ARGS__ __VA_OPT__(, ) LF_END_})
#define log_error(comp, msg, ...)                                                                  \
    log_emit(LOG_ERROR, comp, msg, (const struct log_field[]){__VA_ARGS__ __VA_OPT__(, ) LF_END_})

#endif
