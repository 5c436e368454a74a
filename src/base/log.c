#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "limits.h"

enum { LOG_CONTEXT_MAX = 8, LOG_CONTEXT_SIZE = 64 };

static struct {
    enum log_level min;
    enum log_format format;
    int fd;
    size_t ncontext;
    char context[LOG_CONTEXT_MAX][2][LOG_CONTEXT_SIZE];
} cfg = {LOG_INFO, LOG_TEXT, 2, 0, {{{0}}}};

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

void log_configure(enum log_level min, enum log_format format, int fd)
{
    cfg.min = min;
    cfg.format = format;
    cfg.fd = fd;
}

int log_parse_format(const char *s, enum log_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = LOG_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_JSON;
    else
        FAIL(ERR_INVALID_ARG, "unknown log format \"%s\" (text or json)", s);
    return 0;
}

int log_parse_level(const char *s, enum log_level *out)
{
    for (int i = LOG_DEBUG; i <= LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    FAIL(ERR_INVALID_ARG, "unknown log level \"%s\" (debug, info, warn, error, off)", s);
}

bool log_enabled(enum log_level level)
{
    return level >= cfg.min && level < LOG_OFF;
}

int log_context_set(const char *key, const char *value)
{
    ENSURE(cfg.ncontext < LOG_CONTEXT_MAX, ERR_TOO_LARGE, "too many log context fields");
    ENSURE(strlen(key) < LOG_CONTEXT_SIZE && strlen(value) < LOG_CONTEXT_SIZE, ERR_TOO_LARGE,
           "log context field too long");
    snprintf(cfg.context[cfg.ncontext][0], LOG_CONTEXT_SIZE, "%s", key);
    snprintf(cfg.context[cfg.ncontext][1], LOG_CONTEXT_SIZE, "%s", value);
    cfg.ncontext++;
    return 0;
}

void log_context_clear(void)
{
    cfg.ncontext = 0;
}

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool log_limit_take(struct log_limit *l, unsigned long long *suppressed, unsigned *seconds)
{
    *suppressed = 0;
    *seconds = 0;
    pthread_mutex_lock(&l->lock);
    long long now = monotonic_ms();
    if (l->last_ms != 0 && now > l->last_ms) {
        l->tokens += (double)(now - l->last_ms) * l->per_minute / 60000.0;
        if (l->tokens > l->burst)
            l->tokens = l->burst;
    }
    l->last_ms = now;
    bool take = l->tokens >= 1.0;
    if (take) {
        l->tokens -= 1.0;
        *suppressed = l->suppressed;
        if (l->suppressed > 0)
            *seconds = (unsigned)((now - l->suppressed_since_ms + 999) / 1000);
        l->suppressed = 0;
    } else if (l->suppressed++ == 0) {
        l->suppressed_since_ms = now;
    }
    pthread_mutex_unlock(&l->lock);
    return take;
}

/* A fixed line buffer; writes past the end are dropped and the line is marked truncated. */
struct line {
    char s[QY_LOG_LINE_MAX];
    size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof(l->s) - 1 - l->len;
    if (n > room)
        n = room;
    memcpy(l->s + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

static void putf(struct line *l, const char *fmt, ...) QY_PRINTF(2, 3);
static void putf(struct line *l, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        put(l, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A double-quoted string with \" and \\ escaped; control bytes as \u00XX (JSON) or \xXX (text). */
static void put_quoted(struct line *l, const char *s, bool json)
{
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            put(l, e, 2);
        } else if (*p < ' ' || *p == 0x7f) {
            char tmp[8];
            if (json)
                snprintf(tmp, sizeof(tmp), "\\u%04x", *p);
            else
                snprintf(tmp, sizeof(tmp), "\\x%02x", *p);
            put(l, tmp, strlen(tmp));
        } else {
            put(l, (const char *)p, 1);
        }
    }
    put(l, "\"", 1);
}

/* Text values: bare when safe, else quoted with C-style escapes. */
static void put_text_value(struct line *l, const char *s)
{
    int bare = *s != '\0';
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p >= 0x7f)
            bare = 0;
    if (bare) {
        puts_(l, s);
        return;
    }
    put_quoted(l, s, false);
}

static void put_json_string(struct line *l, const char *s)
{
    put_quoted(l, s, true);
}

static void put_field(struct line *l, const char *key, const struct log_field *f, const char *cstr)
{
    if (cfg.format == LOG_JSON) {
        put(l, ",", 1);
        put_json_string(l, key);
        put(l, ":", 1);
    } else {
        put(l, " ", 1);
        puts_(l, key);
        put(l, "=", 1);
    }
    if (f == NULL || f->type == LOG_FIELD_STR) {
        const char *s = f ? f->v.s : cstr;
        if (s == NULL)
            s = "";
        if (cfg.format == LOG_JSON)
            put_json_string(l, s);
        else
            put_text_value(l, s);
    } else if (f->type == LOG_FIELD_INT) {
        putf(l, "%lld", f->v.i);
    } else if (f->type == LOG_FIELD_UINT) {
        putf(l, "%llu", f->v.u);
    } else {
        puts_(l, f->v.b ? "true" : "false");
    }
}

static void put_time(struct line *l)
{
    struct timespec ts;
    struct tm tm;
    char tmp[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
    put(l, tmp, n);
    putf(l, ".%03ldZ", ts.tv_nsec / 1000000);
}

void log_emit(enum log_level level, const char *component, const char *msg,
              const struct log_field *fields)
{
    if (!log_enabled(level))
        return;
    struct line l = {{0}, 0};
    if (cfg.format == LOG_JSON) {
        puts_(&l, "{\"time\":\"");
        put_time(&l);
        putf(&l, "\",\"level\":\"%s\",\"component\":", level_names[level]);
        put_json_string(&l, component);
        puts_(&l, ",\"msg\":");
        put_json_string(&l, msg);
    } else {
        put_time(&l);
        putf(&l, " %-5s ", level_names[level]);
        puts_(&l, component);
        puts_(&l, ": ");
        for (const char *p = msg; *p; p++) /* messages are ours, but keep lines single */
            put(&l, (*p == '\n' || *p == '\r') ? " " : p, 1);
    }
    for (const struct log_field *f = fields; f && f->type != LOG_FIELD_END; f++)
        put_field(&l, f->key, f, NULL);
    for (size_t i = 0; i < cfg.ncontext; i++)
        put_field(&l, cfg.context[i][0], NULL, cfg.context[i][1]);
    if (cfg.format == LOG_JSON)
        put(&l, "}", 1);
    l.s[l.len++] = '\n'; /* put() always leaves room for this byte */
    for (size_t off = 0; off < l.len;) {
        ssize_t n = write(cfg.fd, l.s + off, l.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
}
