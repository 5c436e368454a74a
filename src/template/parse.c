/*
 * Lexing and parsing templates, following Go's text/template (lex.go, parse.go) for the part
 * MarbleRun uses: text and actions with trim markers, comments, fields, the registered functions,
 * string literals, pipelines and parentheses. Everything else Go would lex - keywords, variables,
 * numbers, characters, builtins - is recognised only to be refused by name, at its position.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

const char *const tpl_func_names[5] = {"pem", "raw", "hex", "base64", "string"};

int tpl_fail_at(struct view src, size_t off, const char *fmt, ...)
{
    size_t line = 1, col = 1;
    for (size_t i = 0; i < off && i < src.size; i++) {
        if (src.ptr[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char msg[QY_DIAG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_fail(ERR_TEMPLATE, "tpl", "%zu:%zu: %s", line, col, msg);
}

/* Lexer -----------------------------------------------------------------------------------------
 */

enum tok {
    T_EOF,    /* end of input inside an action */
    T_RDELIM, /* }} (trim says whether it was -}}) */
    T_PIPE,
    T_LPAREN,
    T_RPAREN,
    T_FIELD, /* .Name(.Name)* */
    T_DOT,
    T_IDENT,
    T_STRING,
};

struct token {
    enum tok kind;
    size_t off;
    size_t end;
    bool trim; /* T_RDELIM */
};

struct parser {
    struct tpl *t;
    struct view src;
    size_t pos;
    struct token peeked;
    bool has_peeked;
    size_t actions;
    int depth;
    bool last_trim; /* the last right delimiter was "-}}" */
};

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alnum(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

static bool at(const struct parser *p, size_t pos, const char *s)
{
    size_t n = strlen(s);
    return pos <= p->src.size && p->src.size - pos >= n && memcmp(p->src.ptr + pos, s, n) == 0;
}

/* " -}}" with any ASCII space before the dash (Go's right trim marker). */
static bool at_trim_rdelim(const struct parser *p, size_t pos)
{
    return pos < p->src.size && is_space(p->src.ptr[pos]) && at(p, pos + 1, "-}}");
}

static int lex_fail(struct parser *p, size_t off, const char *fmt, ...) QY_PRINTF(3, 4);
static int lex_fail(struct parser *p, size_t off, const char *fmt, ...)
{
    char msg[QY_DIAG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tpl_fail_at(p->src, off, "%s", msg);
}

static int lex_quoted(struct parser *p, struct token *tk)
{
    size_t i = p->pos + 1;
    for (; i < p->src.size; i++) {
        uint8_t c = p->src.ptr[i];
        if (c == '\\') {
            i++;
            if (i >= p->src.size || p->src.ptr[i] == '\n')
                break;
        } else if (c == '\n') {
            break;
        } else if (c == '"') {
            tk->kind = T_STRING;
            tk->end = i + 1;
            return 0;
        }
    }
    return lex_fail(p, p->pos, "unterminated quoted string");
}

static int lex_raw_quoted(struct parser *p, struct token *tk)
{
    const uint8_t *close = memchr(p->src.ptr + p->pos + 1, '`', p->src.size - p->pos - 1);
    if (close == NULL)
        return lex_fail(p, p->pos, "unterminated raw quoted string");
    tk->kind = T_STRING;
    tk->end = (size_t)(close - p->src.ptr) + 1;
    return 0;
}

/* The next token inside an action. */
static int lex(struct parser *p, struct token *tk)
{
    memset(tk, 0, sizeof(*tk));
    for (;;) {
        if (at(p, p->pos, "}}")) {
            *tk = (struct token){T_RDELIM, p->pos, p->pos + 2, false};
            return 0;
        }
        if (at_trim_rdelim(p, p->pos)) {
            *tk = (struct token){T_RDELIM, p->pos, p->pos + 4, true};
            return 0;
        }
        if (p->pos >= p->src.size) {
            *tk = (struct token){T_EOF, p->pos, p->pos, false};
            return 0;
        }
        if (!is_space(p->src.ptr[p->pos]))
            break;
        p->pos++;
    }
    uint8_t c = p->src.ptr[p->pos];
    size_t i = p->pos;
    tk->off = i;
    switch (c) {
    case '|':
        tk->kind = T_PIPE, tk->end = i + 1;
        return 0;
    case '(':
        tk->kind = T_LPAREN, tk->end = i + 1;
        return 0;
    case ')':
        tk->kind = T_RPAREN, tk->end = i + 1;
        return 0;
    case '"':
        return lex_quoted(p, tk);
    case '`':
        return lex_raw_quoted(p, tk);
    case '$':
        return lex_fail(p, i, "variables are not supported");
    case '\'':
        return lex_fail(p, i, "character constants are not supported");
    case ':':
    case '=':
        return lex_fail(p, i, "assignments are not supported");
    case ',':
        return lex_fail(p, i, "\",\" is not supported (range is not supported)");
    default:
        break;
    }
    if (c == '.') {
        if (i + 1 < p->src.size && p->src.ptr[i + 1] >= '0' && p->src.ptr[i + 1] <= '9')
            return lex_fail(p, i, "numbers are not supported");
        if (i + 1 >= p->src.size || !is_alnum(p->src.ptr[i + 1])) {
            tk->kind = T_DOT, tk->end = i + 1;
            return 0;
        }
        /* a chain of fields: .A.B.C, no spaces */
        while (i < p->src.size && p->src.ptr[i] == '.' && i + 1 < p->src.size &&
               is_alnum(p->src.ptr[i + 1])) {
            i++;
            while (i < p->src.size && is_alnum(p->src.ptr[i]))
                i++;
        }
        tk->kind = T_FIELD, tk->end = i;
        return 0;
    }
    if ((c >= '0' && c <= '9') || c == '-' || c == '+')
        return lex_fail(p, i, "numbers are not supported");
    if (is_alnum(c)) {
        while (i < p->src.size && is_alnum(p->src.ptr[i]))
            i++;
        tk->kind = T_IDENT, tk->end = i;
        return 0;
    }
    if (c >= 0x20 && c < 0x7f)
        return lex_fail(p, i, "unrecognized character in action: '%c'", c);
    return lex_fail(p, i, "unrecognized character in action: 0x%02x", c);
}

static int next(struct parser *p, struct token *tk)
{
    if (p->has_peeked) {
        *tk = p->peeked;
        p->has_peeked = false;
    } else {
        TRY(lex(p, tk));
    }
    p->pos = tk->end;
    p->last_trim = tk->trim;
    return 0;
}

static int peek(struct parser *p, struct token *tk)
{
    if (!p->has_peeked) {
        size_t save = p->pos;
        TRY(lex(p, &p->peeked));
        p->pos = save;
        p->has_peeked = true;
    }
    *tk = p->peeked;
    return 0;
}

/* Parser ----------------------------------------------------------------------------------------
 */

static int nomem(void)
{
    FAIL(ERR_NOMEM, "out of memory parsing a template");
}

/* Go's strconv.Unquote for the escapes Go templates accept. */
static int unquote(struct parser *p, const struct token *tk, struct view *out)
{
    const uint8_t *s = p->src.ptr + tk->off;
    size_t n = tk->end - tk->off;
    uint8_t *dst = arena_alloc(&p->t->arena, n + 1);
    if (dst == NULL)
        return nomem();
    size_t len = 0;
    if (s[0] == '`') {
        for (size_t i = 1; i + 1 < n; i++)
            if (s[i] != '\r') /* Go drops carriage returns in raw strings */
                dst[len++] = s[i];
        *out = view_of(dst, len);
        return 0;
    }
    for (size_t i = 1; i + 1 < n; i++) {
        if (s[i] != '\\') {
            dst[len++] = s[i];
            continue;
        }
        size_t esc = tk->off + i;
        uint8_t e = s[++i];
        static const char simple_in[] = "abfnrtv\\\"", simple_out[] = "\a\b\f\n\r\t\v\\\"";
        const char *hit = e ? strchr(simple_in, e) : NULL;
        if (hit != NULL) {
            dst[len++] = (uint8_t)simple_out[hit - simple_in];
        } else if (e == 'x' || (e >= '0' && e <= '7')) {
            int digits = e == 'x' ? 2 : 3, base = e == 'x' ? 16 : 8;
            unsigned v = 0;
            size_t start = e == 'x' ? i + 1 : i;
            for (int k = 0; k < digits; k++) {
                uint8_t d = start + (size_t)k + 1 < n ? s[start + (size_t)k] : 0;
                int dv = d >= '0' && d <= '9'   ? d - '0'
                         : d >= 'a' && d <= 'f' ? d - 'a' + 10
                         : d >= 'A' && d <= 'F' ? d - 'A' + 10
                                                : 99;
                if (dv >= base)
                    return lex_fail(p, esc, "invalid escape in quoted string");
                v = v * (unsigned)base + (unsigned)dv;
            }
            if (v > 255)
                return lex_fail(p, esc, "octal escape value > 255");
            dst[len++] = (uint8_t)v;
            i = start + (size_t)digits - 1;
        } else {
            return lex_fail(p, esc,
                            "invalid escape in quoted string (\\u and \\U are not supported)");
        }
    }
    *out = view_of(dst, len);
    return 0;
}

static const char *const keywords[] = {"if",     "else",     "end",   "range", "with",
                                       "define", "template", "block", "break", "continue"};
static const char *const builtins[] = {
    "and",    "call",    "html",     "index", "slice", "js", "len", "not", "or", "print",
    "printf", "println", "urlquery", "eq",    "ge",    "gt", "le",  "lt",  "ne"};

/* An identifier: one of the five functions, allowed in this context. */
static int ident(struct parser *p, const struct token *tk, enum tpl_func *out)
{
    char name[64];
    size_t n = tk->end - tk->off;
    if (n >= sizeof(name))
        return lex_fail(p, tk->off, "unknown function \"%.*s...\"", 32, p->src.ptr + tk->off);
    memcpy(name, p->src.ptr + tk->off, n);
    name[n] = '\0';
    for (size_t i = 0; i < QY_ARRAY_LEN(tpl_func_names); i++) {
        if (strcmp(name, tpl_func_names[i]) != 0)
            continue;
        if (i == TPL_FN_RAW && p->t->ctx == TPL_ENV)
            return lex_fail(p, tk->off,
                            "function \"raw\" is not allowed in Env (it may produce NUL bytes; "
                            "use hex or base64)");
        if (i == TPL_FN_STRING && p->t->ctx == TPL_FILE)
            return lex_fail(p, tk->off,
                            "function \"string\" is allowed in Env only (use raw in Files)");
        *out = (enum tpl_func)i;
        return 0;
    }
    for (size_t i = 0; i < QY_ARRAY_LEN(keywords); i++)
        if (strcmp(name, keywords[i]) == 0)
            return lex_fail(p, tk->off, "\"%s\" actions are not supported", name);
    for (size_t i = 0; i < QY_ARRAY_LEN(builtins); i++)
        if (strcmp(name, builtins[i]) == 0)
            return lex_fail(p, tk->off, "function \"%s\" is not supported", name);
    if (strcmp(name, "true") == 0 || strcmp(name, "false") == 0 || strcmp(name, "nil") == 0)
        return lex_fail(p, tk->off, "constant \"%s\" is not supported", name);
    return lex_fail(p, tk->off, "unknown function \"%s\"", name);
}

static int field_chain(struct parser *p, const struct token *tk, struct tpl_arg *a)
{
    size_t n = 0;
    for (size_t i = tk->off; i < tk->end; i++)
        n += p->src.ptr[i] == '.';
    a->fields = arena_alloc(&p->t->arena, n * sizeof(char *));
    a->field_offs = arena_alloc(&p->t->arena, n * sizeof(size_t));
    if (a->fields == NULL || a->field_offs == NULL)
        return nomem();
    size_t i = tk->off;
    while (i < tk->end) {
        size_t start = ++i; /* past the dot */
        while (i < tk->end && p->src.ptr[i] != '.')
            i++;
        a->field_offs[a->nfields] = start - 1;
        a->fields[a->nfields] =
            arena_strndup(&p->t->arena, (const char *)p->src.ptr + start, i - start);
        if (a->fields[a->nfields++] == NULL)
            return nomem();
    }
    return 0;
}

static int parse_pipe(struct parser *p, enum tok end, size_t open_off, struct tpl_pipe **out);

/* Room for one more element in an arena-backed array: doubles when full (the arena keeps the old
 * block, so the total stays linear). NULL when out of memory. */
static void *grow(struct arena *a, void *items, size_t count, size_t *cap, size_t size)
{
    if (count < *cap)
        return items;
    size_t ncap = *cap ? 2 * *cap : 4;
    void *n = arena_alloc(a, ncap * size);
    if (n != NULL && count > 0)
        memcpy(n, items, count * size);
    if (n != NULL)
        *cap = ncap;
    return n;
}

static int parse_command(struct parser *p, enum tok end, size_t open_off, struct tpl_cmd *cmd,
                         struct token *stop)
{
    for (;;) {
        struct token tk;
        TRY(peek(p, &tk));
        if (tk.kind == T_PIPE || tk.kind == end) {
            *stop = tk;
            return 0;
        }
        if (tk.kind == T_EOF)
            return lex_fail(p, open_off,
                            end == T_RPAREN ? "unclosed left paren" : "unclosed action");
        if (tk.kind == T_RPAREN)
            return lex_fail(p, tk.off, "unexpected right paren");
        if (tk.kind == T_RDELIM)
            return lex_fail(p, open_off, "unclosed left paren");
        TRY(next(p, &tk));
        struct tpl_arg a = {.off = tk.off};
        switch (tk.kind) {
        case T_FIELD:
            a.kind = TPL_ARG_FIELD;
            TRY(field_chain(p, &tk, &a));
            break;
        case T_DOT:
            a.kind = TPL_ARG_DOT;
            break;
        case T_IDENT:
            a.kind = TPL_ARG_FUNC;
            TRY(ident(p, &tk, &a.func));
            if (cmd->count > 0)
                return lex_fail(p, tk.off,
                                "wrong number of args for %s: want 1 got 0 (use parentheses)",
                                tpl_func_names[a.func]);
            break;
        case T_STRING:
            a.kind = TPL_ARG_STRING;
            TRY(unquote(p, &tk, &a.str));
            break;
        case T_LPAREN:
            a.kind = TPL_ARG_PIPE;
            if (++p->depth > QY_TPL_MAX_DEPTH)
                return lex_fail(p, tk.off, "parentheses nested deeper than %d", QY_TPL_MAX_DEPTH);
            TRY(parse_pipe(p, T_RPAREN, tk.off, &a.pipe));
            p->depth--;
            break;
        default:
            return lex_fail(p, tk.off, "unexpected token");
        }
        if (cmd->count > 0 && cmd->args[0].kind != TPL_ARG_FUNC)
            return lex_fail(p, a.off, "can't give argument to non-function");
        struct tpl_arg *n = grow(&p->t->arena, cmd->args, cmd->count, &cmd->cap, sizeof(*n));
        if (n == NULL)
            return nomem();
        n[cmd->count++] = a;
        cmd->args = n;
    }
}

/* A pipeline up to (and consuming) `end`: a right delimiter or a right paren. */
static int parse_pipe(struct parser *p, enum tok end, size_t open_off, struct tpl_pipe **out)
{
    struct tpl_pipe *pipe = arena_alloc(&p->t->arena, sizeof(*pipe));
    if (pipe == NULL)
        return nomem();
    for (;;) {
        struct tpl_cmd cmd = {0};
        struct token stop = {0};
        TRY(parse_command(p, end, open_off, &cmd, &stop));
        if (cmd.count == 0)
            return lex_fail(p, stop.off, "missing value for command");
        struct tpl_cmd *n = grow(&p->t->arena, pipe->cmds, pipe->count, &pipe->cap, sizeof(*n));
        if (n == NULL)
            return nomem();
        n[pipe->count++] = cmd;
        pipe->cmds = n;
        struct token tk;
        TRY(next(p, &tk));
        if (tk.kind == end) {
            *out = pipe;
            return 0;
        }
    }
}

static int add_node(struct parser *p, bool action, struct view text, struct tpl_pipe *pipe)
{
    struct tpl_node *n = grow(&p->t->arena, p->t->nodes, p->t->count, &p->t->cap, sizeof(*n));
    if (n == NULL)
        return nomem();
    n[p->t->count++] = (struct tpl_node){action, text, pipe};
    p->t->nodes = n;
    return 0;
}

/* Finds the next "{{" from pos; returns src.size when there is none. */
static size_t find_ldelim(const struct parser *p, size_t pos)
{
    while (pos + 1 < p->src.size) {
        const uint8_t *b = memchr(p->src.ptr + pos, '{', p->src.size - pos - 1);
        if (b == NULL)
            break;
        size_t i = (size_t)(b - p->src.ptr);
        if (p->src.ptr[i + 1] == '{')
            return i;
        pos = i + 1;
    }
    return p->src.size;
}

/* A comment action: "/" "*" ... "*" "/" then the right delimiter, nothing else. */
static int skip_comment(struct parser *p, size_t open_off, bool *trim_right)
{
    size_t i = p->pos + 2;
    for (;; i++) {
        if (i + 1 >= p->src.size)
            return lex_fail(p, open_off, "unclosed comment");
        if (p->src.ptr[i] == '*' && p->src.ptr[i + 1] == '/')
            break;
    }
    i += 2;
    if (at(p, i, "}}")) {
        p->pos = i + 2;
        *trim_right = false;
    } else if (at_trim_rdelim(p, i)) {
        p->pos = i + 4;
        *trim_right = true;
    } else {
        return lex_fail(p, i, "comment ends before closing delimiter");
    }
    return 0;
}

static int parse_all(struct parser *p)
{
    bool trim_left_of_text = false;
    for (;;) {
        size_t ld = find_ldelim(p, p->pos);
        size_t text_start = p->pos, text_end = ld;
        bool trim_right_of_text = ld < p->src.size && at(p, ld + 2, "-") && ld + 3 < p->src.size &&
                                  is_space(p->src.ptr[ld + 3]);
        if (trim_left_of_text)
            while (text_start < text_end && is_space(p->src.ptr[text_start]))
                text_start++;
        if (trim_right_of_text)
            while (text_end > text_start && is_space(p->src.ptr[text_end - 1]))
                text_end--;
        if (text_end > text_start)
            TRY(add_node(p, false, view_of(p->src.ptr + text_start, text_end - text_start), NULL));
        if (ld >= p->src.size)
            return 0;
        if (++p->actions > QY_TPL_MAX_ACTIONS)
            return lex_fail(p, ld, "more than %d actions", QY_TPL_MAX_ACTIONS);
        p->pos = ld + 2 + (trim_right_of_text ? 2 : 0);
        p->has_peeked = false;
        if (at(p, p->pos, "/*")) {
            TRY(skip_comment(p, ld, &trim_left_of_text));
            continue;
        }
        struct tpl_pipe *pipe = NULL;
        struct token first;
        TRY(peek(p, &first));
        if (first.kind == T_RDELIM)
            return lex_fail(p, first.off, "missing value for command");
        TRY(parse_pipe(p, T_RDELIM, ld, &pipe));
        trim_left_of_text = p->last_trim;
        TRY(add_node(p, true, VIEW_EMPTY, pipe));
    }
}

int tpl_parse(struct view src, enum tpl_context ctx, struct tpl **out)
{
    *out = NULL;
    ENSURE(src.size <= QY_TPL_MAX_SIZE, ERR_TOO_LARGE, "template of %zu bytes, the limit is %u",
           src.size, QY_TPL_MAX_SIZE);
    ENSURE(ctx == TPL_FILE || ctx == TPL_ENV, ERR_INVALID_ARG, "unknown template context");
    struct tpl *t = calloc(1, sizeof(*t));
    ENSURE(t != NULL, ERR_NOMEM, "cannot allocate a template");
    t->ctx = ctx;
    uint8_t *copy = src.size ? arena_memdup(&t->arena, src.ptr, src.size) : NULL;
    if (src.size > 0 && copy == NULL) {
        tpl_free(t);
        return nomem();
    }
    t->src = view_of(copy, src.size);
    struct parser p = {.t = t, .src = t->src};
    int r = parse_all(&p);
    if (r < 0) {
        tpl_free(t);
        return r;
    }
    *out = t;
    return 0;
}

void tpl_free(struct tpl *t)
{
    if (t == NULL)
        return;
    arena_free(&t->arena);
    free(t);
}
