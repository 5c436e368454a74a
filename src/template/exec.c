/*
 * Executing a parsed template over MarbleRun's data model (§2.2) with its five functions (§2.3).
 * Values carry their Go type (Secret, Certificate, PrivateKey, PublicKey, raw bytes, text) because
 * the functions accept by type, exactly as MarbleRun's type switches do; the messages are
 * MarbleRun's. The marble's own private key is never a value: it is a hole that one encoding
 * function may label, and that rendering turns into a TPL_SEG_PRIVATE_KEY segment.
 */
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

enum vkind {
    V_MISSING,   /* .Secrets.<unknown> (Go passes nil) */
    V_ROOT,      /* . */
    V_SECRETS,   /* .Secrets / .Previous.Secrets */
    V_PREVIOUS,  /* .Previous */
    V_MARBLERUN, /* .MarbleRun */
    V_SECRET,    /* a Secret */
    V_CERT,      /* a Certificate (DER) */
    V_PRIV,      /* a PrivateKey */
    V_PUB,       /* a PublicKey */
    V_HOLE,      /* .MarbleRun.MarbleCert.Private */
    V_BYTES,     /* the output of raw */
    V_TEXT,      /* the output of pem/hex/base64/string, or a string literal */
};

struct value {
    enum vkind kind;
    bool previous;            /* V_SECRETS */
    bool marble;              /* V_SECRET: the reserved MarbleCert, whose Private is a hole */
    const char *name;         /* V_MISSING, V_SECRET: for messages */
    struct tpl_secret secret; /* V_SECRET */
    struct view bytes;        /* V_CERT, V_PRIV, V_PUB, V_BYTES, V_TEXT */
    bool encoded;             /* V_HOLE: an encoding function has been applied */
    enum tpl_key_encoding encoding;
};

struct exec {
    const struct tpl *t;
    const struct tpl_data *data;
    struct arena *arena;
    size_t arena_start;
    struct buf lit;
    struct tpl_segment *segs;
    size_t count, cap;
    size_t total;
};

static const char *kind_name(enum vkind k)
{
    switch (k) {
    case V_SECRET:
        return "a Secret";
    case V_CERT:
        return "a Certificate";
    case V_PRIV:
    case V_HOLE:
        return "a PrivateKey";
    case V_PUB:
        return "a PublicKey";
    case V_BYTES:
    case V_TEXT:
        return "a string";
    case V_SECRETS:
        return "the secrets map";
    case V_ROOT:
    case V_PREVIOUS:
    case V_MARBLERUN:
    case V_MISSING:
    default:
        return "this value";
    }
}

/* Copies bytes into the caller's arena, within the output bounds. */
static int keep(struct exec *e, struct view v, struct view *out)
{
    ENSURE(e->arena->total - e->arena_start + v.size <= 2u * QY_TPL_OUTPUT_MAX_SIZE, ERR_TOO_LARGE,
           "template output is larger than %u bytes", QY_TPL_OUTPUT_MAX_SIZE);
    uint8_t *p = v.size ? arena_memdup(e->arena, v.ptr, v.size) : NULL;
    ENSURE(v.size == 0 || p != NULL, ERR_NOMEM, "out of memory rendering a template");
    *out = view_of(p, v.size);
    return 0;
}

static int missing(const struct exec *e, size_t off, const char *fn, const struct value *v)
{
    if (fn != NULL)
        return tpl_fail_at(e->t->src, off, "error calling %s: secret \"%s%s\" does not exist", fn,
                           v->previous ? "Previous." : "", v->name);
    return tpl_fail_at(e->t->src, off, "secret \"%s%s\" does not exist",
                       v->previous ? "Previous." : "", v->name);
}

/* Field access -------------------------------------------------------------------------------- */

static int reserved(const struct exec *e, const char *field, struct value *out)
{
    const struct tpl_reserved *r = &e->data->reserved;
    *out = (struct value){.kind = V_SECRET, .name = field, .secret = {.type = MF_SECRET_UNKNOWN}};
    if (strcmp(field, "RootCA") == 0) {
        out->secret.cert = r->root_ca_cert;
    } else if (strcmp(field, "MarbleCert") == 0) {
        out->secret.cert = r->marble_cert;
        out->secret.public_key = r->marble_public_key;
        out->marble = true;
    } else if (strcmp(field, "CoordinatorRoot") == 0) {
        out->secret.cert = r->coordinator_root_cert;
    } else if (strcmp(field, "CoordinatorIntermediate") == 0) {
        out->secret.cert = r->coordinator_intermediate_cert;
    } else {
        return 1;
    }
    return 0;
}

static int step(const struct exec *e, const struct value *cur, const char *field, size_t off,
                struct value *out)
{
    const struct view src = e->t->src;
    switch (cur->kind) {
    case V_ROOT:
        if (strcmp(field, "Secrets") == 0)
            *out = (struct value){.kind = V_SECRETS};
        else if (strcmp(field, "Previous") == 0)
            *out = (struct value){.kind = V_PREVIOUS};
        else if (strcmp(field, "MarbleRun") == 0)
            *out = (struct value){.kind = V_MARBLERUN};
        else
            return tpl_fail_at(src, off,
                               "can't evaluate field %s (the data has .Secrets, .Previous and "
                               ".MarbleRun)",
                               field);
        return 0;
    case V_PREVIOUS:
        if (strcmp(field, "Secrets") != 0)
            return tpl_fail_at(src, off, "can't evaluate field %s of .Previous (it has .Secrets)",
                               field);
        *out = (struct value){.kind = V_SECRETS, .previous = true};
        return 0;
    case V_SECRETS: {
        struct tpl_secret s = {0};
        bool found = e->data->find != NULL && e->data->find(e->data->ctx, cur->previous, field, &s);
        *out = (struct value){.kind = found ? V_SECRET : V_MISSING,
                              .previous = cur->previous,
                              .name = field,
                              .secret = s};
        return 0;
    }
    case V_MARBLERUN:
        if (reserved(e, field, out) != 0)
            return tpl_fail_at(src, off,
                               "can't evaluate field %s of .MarbleRun (RootCA, MarbleCert, "
                               "CoordinatorRoot or CoordinatorIntermediate)",
                               field);
        return 0;
    case V_SECRET:
        if (strcmp(field, "Cert") == 0)
            *out = (struct value){.kind = V_CERT, .bytes = cur->secret.cert};
        else if (strcmp(field, "Private") == 0)
            *out = cur->marble ? (struct value){.kind = V_HOLE}
                               : (struct value){.kind = V_PRIV, .bytes = cur->secret.private_key};
        else if (strcmp(field, "Public") == 0)
            *out = (struct value){.kind = V_PUB, .bytes = cur->secret.public_key};
        else
            return tpl_fail_at(
                src, off, "field %s of a secret is not supported (Cert, Private or Public)", field);
        return 0;
    case V_MISSING:
        return missing(e, off, NULL, cur);
    case V_CERT:
    case V_PRIV:
    case V_PUB:
    case V_HOLE:
    case V_BYTES:
    case V_TEXT:
    default:
        return tpl_fail_at(src, off, "can't evaluate field %s in %s", field, kind_name(cur->kind));
    }
}

/* Functions ----------------------------------------------------------------------------------- */

static const char *pem_label(enum vkind k)
{
    return k == V_CERT ? "CERTIFICATE" : k == V_PUB ? "PUBLIC KEY" : "PRIVATE KEY";
}

static int encoded_text(struct exec *e, enum tpl_func fn, struct view in, enum vkind kind,
                        struct value *out)
{
    struct buf b = BUF_INIT;
    int r = fn == TPL_FN_PEM   ? enc_pem(&b, pem_label(kind), in)
            : fn == TPL_FN_HEX ? enc_hex(&b, in)
                               : enc_b64(&b, in);
    if (r == 0)
        r = keep(e, buf_view(&b), &out->bytes);
    buf_free(&b);
    out->kind = V_TEXT;
    return r;
}

static int call(struct exec *e, enum tpl_func fn, size_t off, const struct value *arg,
                struct value *out)
{
    const char *name = tpl_func_names[fn];
    const struct view src = e->t->src;
    *out = (struct value){.kind = V_TEXT};
    if (arg->kind == V_MISSING)
        return missing(e, off, name, arg);
    if (arg->kind == V_HOLE && fn != TPL_FN_STRING) {
        if (arg->encoded)
            return tpl_fail_at(
                src, off,
                "error calling %s: the marble's private key can be encoded only once, "
                "with pem, raw, hex or base64",
                name);
        static const enum tpl_key_encoding enc[] = {TPL_KEY_PEM, TPL_KEY_RAW, TPL_KEY_HEX,
                                                    TPL_KEY_BASE64};
        *out = (struct value){.kind = V_HOLE, .encoded = true, .encoding = enc[fn]};
        return 0;
    }
    if (fn == TPL_FN_STRING) {
        if (arg->kind != V_SECRET || arg->secret.type != MF_SECRET_PLAIN)
            return tpl_fail_at(
                src, off,
                "error calling string: only secrets of type plain are allowed to use "
                "string encoding for environment variables");
        struct view v = arg->secret.public_key;
        if (v.size > 0 && memchr(v.ptr, 0, v.size) != NULL)
            return tpl_fail_at(src, off, "error calling string: secret contains null bytes");
        out->bytes = v;
        return 0;
    }
    struct view in;
    enum vkind kind = arg->kind;
    switch (arg->kind) {
    case V_SECRET:
        if (fn == TPL_FN_PEM)
            return tpl_fail_at(src, off, "error calling pem: invalid secret type for pem encoding");
        in = arg->secret.public_key;
        break;
    case V_CERT:
    case V_PRIV:
    case V_PUB:
        in = arg->bytes;
        break;
    case V_BYTES:
        if (fn == TPL_FN_PEM)
            return tpl_fail_at(src, off, "error calling pem: invalid secret type for pem encoding");
        in = arg->bytes;
        break;
    case V_TEXT:
    case V_ROOT:
    case V_SECRETS:
    case V_PREVIOUS:
    case V_MARBLERUN:
    default:
        return tpl_fail_at(src, off,
                           "error calling %s: invalid secret type for %s encoding (got %s)", name,
                           name, kind_name(arg->kind));
    }
    if (in.size == 0)
        return tpl_fail_at(src, off, "error calling %s: tried to parse secret with empty value",
                           name);
    if (fn == TPL_FN_RAW) {
        *out = (struct value){.kind = V_BYTES, .bytes = in};
        return 0;
    }
    int r = encoded_text(e, fn, in, kind, out);
    return r == ERR_TEMPLATE || r == ERR_NOMEM ? r
           : r < 0                             ? tpl_fail_at(src, off, "%s", err_detail(r))
                                               : 0;
}

/* Pipelines ----------------------------------------------------------------------------------- */

static int eval_pipe(struct exec *e, const struct tpl_pipe *pipe, struct value *out);

static int eval_arg(struct exec *e, const struct tpl_arg *a, struct value *out)
{
    switch (a->kind) {
    case TPL_ARG_DOT:
        *out = (struct value){.kind = V_ROOT};
        return 0;
    case TPL_ARG_STRING:
        *out = (struct value){.kind = V_TEXT, .bytes = a->str};
        return 0;
    case TPL_ARG_PIPE:
        return eval_pipe(e, a->pipe, out);
    case TPL_ARG_FIELD: {
        struct value cur = {.kind = V_ROOT}, nxt;
        for (size_t i = 0; i < a->nfields; i++) {
            TRY(step(e, &cur, a->fields[i], a->field_offs[i], &nxt));
            cur = nxt;
        }
        *out = cur;
        return 0;
    }
    case TPL_ARG_FUNC:
    default:
        return tpl_fail_at(e->t->src, a->off, "unexpected function");
    }
}

static int eval_cmd(struct exec *e, const struct tpl_cmd *c, const struct value *piped,
                    struct value *out)
{
    const struct tpl_arg *first = &c->args[0];
    if (first->kind != TPL_ARG_FUNC) {
        if (piped != NULL)
            return tpl_fail_at(e->t->src, first->off, "can't give argument to non-function");
        return eval_arg(e, first, out);
    }
    size_t nargs = c->count - 1 + (piped != NULL);
    if (nargs != 1)
        return tpl_fail_at(e->t->src, first->off, "wrong number of args for %s: want 1 got %zu",
                           tpl_func_names[first->func], nargs);
    struct value arg;
    if (c->count == 2)
        TRY(eval_arg(e, &c->args[1], &arg));
    else
        arg = *piped;
    return call(e, first->func, first->off, &arg, out);
}

static int eval_pipe(struct exec *e, const struct tpl_pipe *pipe, struct value *out)
{
    struct value v = {0}, prev;
    for (size_t i = 0; i < pipe->count; i++) {
        prev = v;
        TRY(eval_cmd(e, &pipe->cmds[i], i > 0 ? &prev : NULL, &v));
    }
    *out = v;
    return 0;
}

/* Output -------------------------------------------------------------------------------------- */

static int push_seg(struct exec *e, struct tpl_segment s)
{
    struct tpl_segment *n = arr_grow(e->segs, &e->cap, e->count, sizeof(*n), 4); /* views, no secrets */
    ENSURE(n != NULL, ERR_NOMEM, "out of memory rendering a template");
    e->segs = n;
    e->segs[e->count++] = s;
    return 0;
}

static int flush_literal(struct exec *e)
{
    if (e->lit.size == 0)
        return 0;
    struct view kept;
    TRY(keep(e, buf_view(&e->lit), &kept));
    buf_reset(&e->lit);
    return push_seg(e, (struct tpl_segment){.kind = TPL_SEG_BYTES, .bytes = kept});
}

/* Environment variables cannot hold NUL bytes (the premain's setenv would cut the value): whatever
 * produced one - literal text, a string literal's escape - is refused where it is. */
static int emit(struct exec *e, struct view v, size_t off, bool text)
{
    const uint8_t *nul = e->t->ctx == TPL_ENV && v.size > 0 ? memchr(v.ptr, 0, v.size) : NULL;
    if (nul != NULL)
        return tpl_fail_at(e->t->src, text ? off + (size_t)(nul - v.ptr) : off,
                           "the value contains NUL bytes, which environment variables cannot hold");
    e->total += v.size;
    ENSURE(e->total <= QY_TPL_OUTPUT_MAX_SIZE, ERR_TOO_LARGE,
           "template output is larger than %u bytes", QY_TPL_OUTPUT_MAX_SIZE);
    return buf_append_view(&e->lit, v);
}

static int print(struct exec *e, const struct value *v, size_t off)
{
    switch (v->kind) {
    case V_TEXT:
    case V_BYTES:
        return emit(e, v->bytes, off, false);
    case V_HOLE:
        if (!v->encoded)
            return tpl_fail_at(e->t->src, off,
                               "the marble's private key cannot be printed as it is: use pem, raw, "
                               "hex or base64");
        TRY(flush_literal(e));
        return push_seg(e,
                        (struct tpl_segment){.kind = TPL_SEG_PRIVATE_KEY, .encoding = v->encoding});
    case V_MISSING:
        return missing(e, off, NULL, v);
    case V_ROOT:
    case V_SECRETS:
    case V_PREVIOUS:
    case V_MARBLERUN:
    case V_SECRET:
    case V_CERT:
    case V_PRIV:
    case V_PUB:
    default:
        return tpl_fail_at(e->t->src, off, "cannot print %s directly: use pem, raw, hex or base64",
                           kind_name(v->kind));
    }
}

int tpl_execute(const struct tpl *t, const struct tpl_data *data, struct arena *arena,
                struct tpl_segment **segs, size_t *count)
{
    int r = ERR_INTERNAL;
    struct exec e = {.t = t, .data = data, .arena = arena, .arena_start = arena->total};
    *segs = NULL;
    *count = 0;
    for (size_t i = 0; i < t->count; i++) {
        const struct tpl_node *n = &t->nodes[i];
        if (!n->action) {
            TRY_OUT(emit(&e, n->text, (size_t)(n->text.ptr - t->src.ptr), true));
            continue;
        }
        struct value v;
        TRY_OUT(eval_pipe(&e, n->pipe, &v));
        TRY_OUT(print(&e, &v, n->pipe->cmds[0].args[0].off));
    }
    TRY_OUT(flush_literal(&e));
    if (e.count > 0) {
        *segs = arena_memdup(arena, e.segs, e.count * sizeof(*e.segs));
        ENSURE_OUT(*segs != NULL, ERR_NOMEM, "out of memory rendering a template");
    }
    *count = e.count;
    r = 0;
out:
    buf_free(&e.lit);
    free(e.segs);
    return r;
}
