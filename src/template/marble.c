/*
 * Templates of whole marbles: rendering at activation (with the predefined environment of §2.5),
 * filling the private-key holes as the premain does, and the dry run of §2.4 as a manifest
 * checker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_int.h"

void tpl_rendered_free(struct tpl_rendered *r)
{
    if (r == NULL)
        return;
    arena_free(&r->arena);
    free(r);
}

bool tpl_segments_literal(const struct tpl_segment *segs, size_t count, struct view *out)
{
    *out = VIEW_EMPTY;
    for (size_t i = 0; i < count; i++)
        if (segs[i].kind != TPL_SEG_BYTES)
            return false;
    if (count == 1)
        *out = segs[0].bytes;
    return count <= 1;
}

int tpl_segments_fill(const struct tpl_segment *segs, size_t count, struct view private_key_pkcs8,
                      struct buf *out)
{
    for (size_t i = 0; i < count; i++) {
        const struct tpl_segment *s = &segs[i];
        if (s->kind == TPL_SEG_BYTES) {
            TRY(buf_append_view(out, s->bytes));
            continue;
        }
        ENSURE(s->kind == TPL_SEG_PRIVATE_KEY, ERR_INVALID_ARG, "unknown segment kind %d",
               (int)s->kind);
        ENSURE(private_key_pkcs8.size > 0, ERR_INVALID_ARG,
               "no private key to fill the template with");
        TRY(tpl_key_encode(s->encoding, private_key_pkcs8, out));
    }
    return 0;
}

const char *tpl_key_encoding_name(enum tpl_key_encoding e)
{
    return (unsigned)e <= TPL_KEY_BASE64 ? tpl_func_names[e] : "unknown";
}

int tpl_key_encoding_parse(const char *name, enum tpl_key_encoding *out)
{
    for (unsigned e = TPL_KEY_PEM; e <= TPL_KEY_BASE64; e++)
        if (strcmp(name, tpl_func_names[e]) == 0) {
            *out = (enum tpl_key_encoding)e;
            return 0;
        }
    FAIL(ERR_BAD_REQUEST, "unknown private key encoding \"%.16s\"", name);
}

int tpl_key_encode(enum tpl_key_encoding e, struct view private_key_pkcs8, struct buf *out)
{
    switch (e) {
    case TPL_KEY_PEM:
        return enc_pem(out, "PRIVATE KEY", private_key_pkcs8);
    case TPL_KEY_RAW:
        return buf_append_view(out, private_key_pkcs8);
    case TPL_KEY_HEX:
        return enc_hex(out, private_key_pkcs8);
    case TPL_KEY_BASE64:
        return enc_b64(out, private_key_pkcs8);
    }
    FAIL(ERR_INVALID_ARG, "unknown key encoding %d", (int)e);
}

/* Rendering a marble -------------------------------------------------------------------------- */

static int render_entry(struct tpl_rendered *r, const struct mf_marble *mb, const struct mf_file *f,
                        enum tpl_context ctx, const struct tpl_data *data, struct tpl_value *out)
{
    out->name = arena_strdup(&r->arena, f->name);
    ENSURE(out->name != NULL, ERR_NOMEM, "out of memory rendering parameters");
    if (f->no_templates) {
        if (f->data.size == 0)
            return 0;
        out->segments = arena_alloc(&r->arena, sizeof(*out->segments));
        uint8_t *copy = arena_memdup(&r->arena, f->data.ptr, f->data.size);
        ENSURE(out->segments != NULL && copy != NULL, ERR_NOMEM,
               "out of memory rendering parameters");
        out->segments[0] =
            (struct tpl_segment){.kind = TPL_SEG_BYTES, .bytes = view_of(copy, f->data.size)};
        out->count = 1;
        return 0;
    }
    struct tpl *t = NULL;
    int rc = tpl_parse(f->data, ctx, &t);
    if (rc == 0)
        rc = tpl_execute(t, data, &r->arena, &out->segments, &out->count);
    tpl_free(t);
    if (rc < 0) {
        char detail[QY_DIAG_MSG_MAX];
        snprintf(detail, sizeof(detail), "%s", err_detail(rc));
        return err_fail(rc == ERR_NOMEM ? ERR_NOMEM : ERR_TEMPLATE, __func__,
                        "Marbles.%s.Parameters.%s.%s: %s", mb->name,
                        ctx == TPL_FILE ? "Files" : "Env", f->name, detail);
    }
    ENSURE(r->arena.total <= QY_TPL_MARBLE_OUTPUT_MAX_SIZE, ERR_TOO_LARGE,
           "Marbles.%s.Parameters: rendered parameters are larger than %u bytes", mb->name,
           QY_TPL_MARBLE_OUTPUT_MAX_SIZE);
    return 0;
}

static const char *const predefined[] = {
    "MARBLE_PREDEFINED_ROOT_CA", "MARBLE_PREDEFINED_MARBLE_CERTIFICATE_CHAIN",
    "MARBLE_PREDEFINED_PRIVATE_KEY", "MARBLE_PREDEFINED_COORDINATOR_ROOT_CA"};

static bool is_predefined(const char *name)
{
    for (size_t i = 0; i < QY_ARRAY_LEN(predefined); i++)
        if (strcmp(name, predefined[i]) == 0)
            return true;
    return false;
}

/* One PEM-only value (or the PEM hole for the private key). */
static int predefined_value(struct tpl_rendered *res, const struct tpl_reserved *rv, size_t which,
                            struct tpl_value *out)
{
    int r = ERR_INTERNAL;
    struct buf pem = BUF_INIT;
    out->name = predefined[which];
    out->segments = arena_alloc(&res->arena, sizeof(*out->segments));
    ENSURE(out->segments != NULL, ERR_NOMEM, "out of memory rendering parameters");
    out->count = 1;
    if (which == 2) {
        out->segments[0] =
            (struct tpl_segment){.kind = TPL_SEG_PRIVATE_KEY, .encoding = TPL_KEY_PEM};
        return 0;
    }
    struct view a = which == 0   ? rv->root_ca_cert
                    : which == 1 ? rv->marble_cert
                                 : rv->coordinator_root_cert;
    ENSURE(a.size > 0 && (which != 1 || rv->coordinator_intermediate_cert.size > 0),
           ERR_INVALID_ARG, "%s needs a certificate the caller did not give", predefined[which]);
    TRY_OUT(enc_pem(&pem, "CERTIFICATE", a));
    if (which == 1)
        TRY_OUT(enc_pem(&pem, "CERTIFICATE", rv->coordinator_intermediate_cert));
    uint8_t *copy = arena_memdup(&res->arena, pem.ptr, pem.size);
    ENSURE_OUT(copy != NULL, ERR_NOMEM, "out of memory rendering parameters");
    out->segments[0] =
        (struct tpl_segment){.kind = TPL_SEG_BYTES, .bytes = view_of(copy, pem.size)};
    r = 0;
out:
    buf_free(&pem);
    return r;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct tpl_value *)a)->name, ((const struct tpl_value *)b)->name);
}

int tpl_render_marble(const struct mf_marble *mb, const struct tpl_data *data, unsigned flags,
                      struct tpl_rendered **out)
{
    int r = ERR_INTERNAL;
    bool pre = (flags & TPL_PREDEFINED_ENV) != 0;
    struct tpl_rendered *res = calloc(1, sizeof(*res));
    *out = NULL;
    ENSURE(res != NULL, ERR_NOMEM, "out of memory rendering parameters");
    const struct mf_files *files = &mb->params.files, *env = &mb->params.env;
    size_t env_cap = env->count + (pre ? QY_ARRAY_LEN(predefined) : 0);
    res->files = arena_alloc(&res->arena, (files->count + 1) * sizeof(*res->files));
    res->env = arena_alloc(&res->arena, (env_cap + 1) * sizeof(*res->env));
    ENSURE_OUT(res->files != NULL && res->env != NULL, ERR_NOMEM,
               "out of memory rendering parameters");
    for (size_t i = 0; i < files->count; i++)
        TRY_OUT(render_entry(res, mb, &files->items[i], TPL_FILE, data,
                             &res->files[res->files_count++]));
    for (size_t i = 0; i < env->count; i++)
        if (!pre || !is_predefined(env->items[i].name))
            TRY_OUT(
                render_entry(res, mb, &env->items[i], TPL_ENV, data, &res->env[res->env_count++]));
    if (pre) {
        for (size_t i = 0; i < QY_ARRAY_LEN(predefined); i++)
            TRY_OUT(predefined_value(res, &data->reserved, i, &res->env[res->env_count++]));
        qsort(res->env, res->env_count, sizeof(*res->env), by_name);
    }
    *out = res;
    res = NULL;
    r = 0;
out:
    tpl_rendered_free(res);
    return r;
}

/* The dry run (§2.4) ------------------------------------------------------------------------ */

static const uint8_t dummy_byte[1] = {0x41};
#define DUMMY view_of(dummy_byte, 1)

struct dry {
    const struct manifest *m;
    const struct tpl_data *values;
};

/* Secrets as MarbleRun's dry run sees them: the manifest's definitions, with given values where the
 * caller has them, and otherwise placeholders shaped like what generation would produce. */
static bool dry_find(void *ctx, bool previous, const char *name, struct tpl_secret *out)
{
    const struct dry *dr = ctx;
    const struct mf_secret *s = manifest_secret(dr->m, name);
    if (s == NULL)
        return false;
    if (dr->values != NULL && dr->values->find != NULL &&
        dr->values->find(dr->values->ctx, previous, name, out))
        return true;
    *out = (struct tpl_secret){
        .type = s->type, .cert = DUMMY, .private_key = DUMMY, .public_key = DUMMY};
    if (s->user_defined)
        return true;
    if (s->type == MF_SECRET_PLAIN)
        out->cert = out->private_key = out->public_key = VIEW_EMPTY; /* never generated */
    else if (s->type == MF_SECRET_SYMMETRIC_KEY)
        out->cert = VIEW_EMPTY;
    return true;
}

static void dry_entries(const struct mf_marble *mb, const struct mf_files *fs, enum tpl_context ctx,
                        const struct tpl_data *data, struct diag *d, size_t *errors)
{
    for (size_t i = 0; i < fs->count; i++) {
        const struct mf_file *f = &fs->items[i];
        if (f->no_templates)
            continue;
        if (ctx == TPL_ENV && f->data.size > 0 && memchr(f->data.ptr, 0, f->data.size) != NULL)
            continue; /* the manifest's own rules report it */
        struct tpl *t = NULL;
        struct arena scratch = ARENA_INIT;
        struct tpl_segment *segs = NULL;
        size_t count = 0;
        int r = tpl_parse(f->data, ctx, &t);
        if (r == 0)
            r = tpl_execute(t, data, &scratch, &segs, &count);
        if (r < 0) {
            struct jpath p = JPATH_INIT;
            jpath_push(&p, "Marbles");
            jpath_push(&p, mb->name);
            jpath_push(&p, "Parameters");
            jpath_push(&p, ctx == TPL_FILE ? "Files" : "Env");
            jpath_push(&p, f->name);
            diag_add(d, DIAG_ERROR, jpath_str(&p), "%s", err_detail(r));
            (*errors)++;
        }
        tpl_free(t);
        arena_free(&scratch);
    }
}

size_t tpl_dry_run(const struct manifest *m, const struct tpl_data *values, struct diag *d)
{
    struct dry dr = {m, values};
    struct tpl_data data = {
        .find = dry_find,
        .ctx = &dr,
        .reserved = {DUMMY, DUMMY, DUMMY, DUMMY, DUMMY},
    };
    size_t errors = 0;
    for (size_t i = 0; i < m->marbles.count; i++) {
        const struct mf_marble *mb = &m->marbles.items[i];
        dry_entries(mb, &mb->params.files, TPL_FILE, &data, d, &errors);
        dry_entries(mb, &mb->params.env, TPL_ENV, &data, d, &errors);
    }
    return errors;
}

static void check_templates(void *ctx, const struct manifest *m, struct diag *d)
{
    (void)ctx;
    (void)tpl_dry_run(m, NULL, d);
}

struct manifest_checker tpl_checker(void)
{
    return (struct manifest_checker){
        .name = "template dry run", .check = check_templates, .ctx = NULL};
}
