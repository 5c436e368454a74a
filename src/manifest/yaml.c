/*
 * YAML manifests, converted to JSON as MarbleRun's CLI does before upload (sigs.k8s.io/yaml: YAML
 * -> Go values -> json.Marshal, i.e. compact, keys sorted, HTML-safe escapes).
 *
 * We walk libfyaml's event stream and build the JSON value directly, so nothing is ever expanded:
 * anchors and aliases are refused where they appear (no alias bombs), as are tags, complex keys,
 * duplicate keys and more than one document. Plain scalars resolve by the YAML 1.2 core schema
 * (null, booleans, integers, floats); quoted and block scalars are strings.
 */
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest_int.h"

struct frame {
    json_t *value;   /* object or array being filled */
    char *key;       /* for objects: the key waiting for its value */
    int key_line;
};

struct yconv {
    struct diag *d;
    struct frame stack[QY_JSON_MAX_DEPTH + 1];
    int depth;
    json_t *root;
    int documents;
    char parse_error[QY_DIAG_MSG_MAX];
    bool failed;
};

static void yerror(struct yconv *y, int line, const char *fmt, ...) QY_PRINTF(3, 4);
static void yerror(struct yconv *y, int line, const char *fmt, ...)
{
    char msg[QY_DIAG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        diag_add(y->d, DIAG_ERROR, "", "YAML line %d: %s", line, msg);
    else
        diag_add(y->d, DIAG_ERROR, "", "YAML: %s", msg);
    y->failed = true;
}

/* libfyaml reports "<memory-...>:L:C: error: text" followed by source lines; keep "L:C: text". */
static void capture_diag(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    struct yconv *y = user;
    if (y->parse_error[0] != '\0')
        return;
    const char *end = buf + len;
    const char *p = memchr(buf, '>', len);
    p = (p && p + 1 < end && p[1] == ':') ? p + 2 : buf;
    const char *e = strstr(p, "error: ");
    char pos[32] = "";
    if (e != NULL && e > p) {
        size_t n = (size_t)(e - p);
        snprintf(pos, sizeof(pos), "%.*s", (int)(n < sizeof(pos) ? n : sizeof(pos) - 1), p);
        p = e + 7;
    }
    size_t n = (size_t)(end - p);
    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == ' '))
        n--;
    snprintf(y->parse_error, sizeof(y->parse_error), "%s%.*s", pos, (int)n, p);
}

static int token_line(struct fy_token *t)
{
    const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
    return m && m->line >= 0 ? m->line + 1 : 0;
}

static bool matches(const char *s, size_t n, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == n && memcmp(s, *words, n) == 0)
            return true;
    return false;
}

/* YAML 1.2 core schema resolution of a plain scalar. */
static json_t *resolve_plain(struct yconv *y, const char *s, size_t n, int line)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    char tmp[64];
    if (matches(s, n, nulls))
        return json_null();
    if (matches(s, n, trues))
        return json_true();
    if (matches(s, n, falses))
        return json_false();
    if (n == 0 || n >= sizeof(tmp) || strchr("+-.0123456789", s[0]) == NULL)
        return json_stringn(s, n);
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    int base = 10;
    const char *digits = tmp + (tmp[0] == '+' || tmp[0] == '-');
    if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'o') && tmp == digits) {
        base = digits[1] == 'x' ? 16 : 8;
        digits += 2;
    }
    if (*digits != '\0' && strspn(digits, base == 16 ? "0123456789abcdefABCDEF" : base == 8 ? "01234567"
                                                                                  : "0123456789") ==
                               strlen(digits)) {
        errno = 0;
        long long v = base == 10 ? strtoll(tmp, &end, 10) : strtoll(digits, &end, base);
        if (errno == ERANGE) {
            yerror(y, line, "integer %s is out of range", tmp);
            return NULL;
        }
        return json_integer(v);
    }
    static const char *const infs[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                       "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", NULL};
    if (matches(s, n, infs)) {
        yerror(y, line, "%s cannot be represented in JSON", tmp);
        return NULL;
    }
    errno = 0;
    double d = strtod(tmp, &end);
    bool is_float = *end == '\0' && end != tmp && strpbrk(tmp, "xXpP") == NULL && !isinf(d) &&
                    !isnan(d) && strspn(tmp, "+-.0123456789eE") == n;
    return is_float ? json_real(d) : json_stringn(s, n);
}

/* Adds a finished value to the container on top of the stack (or makes it the root). Steals v. */
static void add_value(struct yconv *y, json_t *v, int line)
{
    if (v == NULL) {
        if (!y->failed)
            yerror(y, line, "value is not valid UTF-8");
        return;
    }
    if (y->depth == 0) {
        if (y->root != NULL) {
            yerror(y, line, "only one document is allowed");
            json_decref(v);
            return;
        }
        y->root = v;
        return;
    }
    struct frame *f = &y->stack[y->depth - 1];
    if (json_is_array(f->value)) {
        if (json_array_append_new(f->value, v) != 0)
            y->failed = true;
        return;
    }
    if (f->key == NULL) {
        json_decref(v);
        yerror(y, line, "mapping keys must be scalars");
        return;
    }
    if (json_object_get(f->value, f->key) != NULL) {
        yerror(y, f->key_line, "duplicate key \"%s\"", f->key);
        json_decref(v);
    } else if (json_object_set_new(f->value, f->key, v) != 0) { /* steals v even on failure */
        yerror(y, f->key_line, "key is not valid UTF-8");
    }
    free(f->key);
    f->key = NULL;
}

static bool expecting_key(struct yconv *y)
{
    return y->depth > 0 && json_is_object(y->stack[y->depth - 1].value) &&
           y->stack[y->depth - 1].key == NULL;
}

static void on_scalar(struct yconv *y, struct fy_event *e)
{
    struct fy_token *t = e->scalar.value;
    int line = token_line(t);
    size_t n = 0;
    const char *s = fy_token_get_text(t, &n);
    if (s == NULL)
        s = "";
    if (memchr(s, 0, n) != NULL && expecting_key(y)) {
        yerror(y, line, "mapping keys must not contain NUL characters");
        return;
    }
    if (expecting_key(y)) {
        struct frame *f = &y->stack[y->depth - 1];
        f->key = strndup(s, n);
        f->key_line = line;
        y->failed |= f->key == NULL;
        return;
    }
    bool plain = fy_token_scalar_style(t) == FYSS_PLAIN;
    add_value(y, plain ? resolve_plain(y, s, n, line) : json_stringn(s, n), line);
}

static void on_start(struct yconv *y, json_t *container, int line)
{
    if (expecting_key(y)) {
        json_decref(container);
        yerror(y, line, "mapping keys must be scalars");
        return;
    }
    if (y->depth >= QY_JSON_MAX_DEPTH) {
        json_decref(container);
        yerror(y, line, "nested deeper than %d levels", QY_JSON_MAX_DEPTH);
        return;
    }
    if (container == NULL) {
        y->failed = true;
        return;
    }
    y->stack[y->depth++] = (struct frame){container, NULL, 0};
}

static void on_end(struct yconv *y, int line)
{
    if (y->depth == 0)
        return;
    struct frame f = y->stack[--y->depth];
    free(f.key);
    add_value(y, f.value, line);
}

/* Refuses what would make the document more than a tree of plain data. */
static bool refused(struct yconv *y, struct fy_token *anchor, struct fy_token *tag, int line)
{
    if (anchor != NULL)
        yerror(y, line, "anchors and aliases are not allowed in manifests");
    else if (tag != NULL)
        yerror(y, line, "tags are not allowed in manifests");
    return anchor != NULL || tag != NULL;
}

static void on_event(struct yconv *y, struct fy_event *e)
{
    int line = token_line(fy_event_get_token(e));
    switch (e->type) {
    case FYET_DOCUMENT_START:
        if (++y->documents > 1)
            yerror(y, line, "only one document is allowed");
        break;
    case FYET_SCALAR:
        if (!refused(y, e->scalar.anchor, e->scalar.tag, line))
            on_scalar(y, e);
        break;
    case FYET_MAPPING_START:
        if (!refused(y, e->mapping_start.anchor, e->mapping_start.tag, line))
            on_start(y, json_object(), line);
        break;
    case FYET_SEQUENCE_START:
        if (!refused(y, e->sequence_start.anchor, e->sequence_start.tag, line))
            on_start(y, json_array(), line);
        break;
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END:
        on_end(y, line);
        break;
    case FYET_ALIAS:
        yerror(y, line, "anchors and aliases are not allowed in manifests");
        break;
    case FYET_NONE:
    case FYET_STREAM_START:
    case FYET_STREAM_END:
    case FYET_DOCUMENT_END:
    default:
        break;
    }
}

int mf_yaml_to_json(struct view yaml, struct diag *d, json_t **out)
{
    struct yconv *y = calloc(1, sizeof(*y));
    struct fy_diag *diag = NULL;
    struct fy_parser *p = NULL;
    int r = ERR_NOMEM;
    *out = NULL;
    if (y == NULL)
        return ERR_NOMEM;
    y->d = d;
    size_t bad;
    if (!enc_utf8_valid(yaml, &bad)) { /* YAML is UTF-8; and libfyaml leaks on invalid text */
        yerror(y, 0, "not valid UTF-8 (at byte %zu)", bad);
        r = ERR_MANIFEST;
        goto out;
    }
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = capture_diag;
    dcfg.user = y;
    dcfg.colorize = false;
    dcfg.show_source = false;
    diag = fy_diag_create(&dcfg);
    struct fy_parse_cfg cfg = {NULL, FYPCF_QUIET | FYPCF_DISABLE_RECYCLING, NULL, diag};
    p = diag ? fy_parser_create(&cfg) : NULL;
    if (p == NULL || fy_parser_set_string(p, (const char *)yaml.ptr, yaml.size) != 0)
        goto out;
    struct fy_event *e;
    while (!y->failed && (e = fy_parser_parse(p)) != NULL) {
        on_event(y, e);
        fy_parser_event_free(p, e);
    }
    if (!y->failed && fy_parser_get_stream_error(p))
        yerror(y, 0, "%s", y->parse_error[0] ? y->parse_error : "malformed YAML");
    if (!y->failed && y->root == NULL)
        yerror(y, 0, "empty document");
    r = y->failed ? ERR_MANIFEST : 0;
    if (r == 0) {
        *out = y->root;
        y->root = NULL;
    }
out:
    while (y->depth > 0) {
        y->depth--;
        free(y->stack[y->depth].key);
        json_decref(y->stack[y->depth].value);
    }
    json_decref(y->root);
    fy_parser_destroy(p);
    if (diag)
        fy_diag_destroy(diag);
    free(y);
    return r;
}

/* Go's json.Marshal escapes <, > and & (and U+2028/9) in strings, and writes \u00XX in lowercase.
 * Those characters only occur inside strings in JSON text, so a pass over jansson's output is exact. */
int mf_json_canonical(const json_t *j, struct buf *out)
{
    struct buf raw = BUF_INIT;
    int r = ERR_INTERNAL;
    TRY_OUT(js_dump(&raw, j, JSON_COMPACT | JSON_SORT_KEYS));
    for (size_t i = 0; i < raw.size; i++) {
        uint8_t c = raw.ptr[i];
        if (c == '<' || c == '>' || c == '&') {
            TRY_OUT(buf_appendf(out, "\\u%04x", c));
        } else if (c == 0xe2 && i + 2 < raw.size && raw.ptr[i + 1] == 0x80 &&
                   (raw.ptr[i + 2] == 0xa8 || raw.ptr[i + 2] == 0xa9)) {
            TRY_OUT(buf_appendf(out, "\\u202%c", raw.ptr[i + 2] == 0xa8 ? '8' : '9'));
            i += 2;
        } else if (c == '\\' && i + 1 < raw.size) {
            uint8_t e = raw.ptr[i + 1];
            TRY_OUT(buf_append(out, raw.ptr + i, 2));
            i++;
            if (e == 'u' && i + 4 < raw.size) {
                for (int k = 1; k <= 4; k++) {
                    uint8_t h = raw.ptr[i + k];
                    TRY_OUT(buf_append_byte(out, h >= 'A' && h <= 'F' ? (uint8_t)(h + 32) : h));
                }
                i += 4;
            }
        } else {
            TRY_OUT(buf_append_byte(out, c));
        }
    }
    r = 0;
out:
    buf_free(&raw);
    return r;
}
