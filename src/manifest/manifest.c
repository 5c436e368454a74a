/* The manifest's life cycle: input bytes -> JSON value -> struct manifest -> checked; and look-ups. */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "manifest_int.h"

static enum mf_format detect_format(struct view in)
{
    for (size_t i = 0; i < in.size; i++) {
        uint8_t c = in.ptr[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        return c == '{' ? MF_FORMAT_JSON : MF_FORMAT_YAML;
    }
    return MF_FORMAT_JSON; /* empty: let the JSON parser say so */
}

/* Input bytes to a JSON value in the current format. Problems with the document go to `d` and
 * return ERR_MANIFEST; other failures return their own code. */
static int to_json(struct view input, enum mf_format format, struct diag *d, json_t **out,
                   bool *from_yaml, bool *legacy)
{
    json_t *root = NULL;
    *out = NULL;
    *from_yaml = *legacy = false;
    if (input.size > QY_MANIFEST_MAX_SIZE) {
        diag_add(d, DIAG_ERROR, "", "manifest is %zu bytes, the limit is %u", input.size,
                 QY_MANIFEST_MAX_SIZE);
        return ERR_MANIFEST;
    }
    if (format == MF_FORMAT_AUTO)
        format = detect_format(input);
    if (format == MF_FORMAT_YAML) {
        TRY(mf_yaml_to_json(input, d, &root));
        *from_yaml = true;
    } else {
        int r = js_parse(input, QY_MANIFEST_MAX_SIZE, &root);
        if (r == ERR_NOMEM)
            return r;
        if (r < 0) {
            diag_add(d, DIAG_ERROR, "", "invalid JSON: %s", err_detail(r));
            return ERR_MANIFEST;
        }
    }
    if (mf_legacy_detect(root)) {
        json_t *converted = NULL;
        int r = mf_legacy_convert(root, d, &converted);
        json_decref(root);
        TRY(r);
        root = converted;
        *legacy = true;
    }
    *out = root;
    return 0;
}

/* What a converted manifest is stored as: YAML as MarbleRun's CLI uploads it (compact, sorted,
 * HTML-safe), legacy as `quarry manifest migrate` prints it, so both routes fingerprint the same. */
static int converted_bytes(const json_t *root, bool legacy, struct buf *out)
{
    if (!legacy)
        return mf_json_canonical(root, out);
    TRY(js_dump(out, root, JSON_INDENT(4)));
    return buf_append_byte(out, '\n');
}

int manifest_parse(struct view input, enum mf_format format, struct diag *d, struct manifest **out)
{
    int r = ERR_INTERNAL;
    json_t *root = NULL;
    struct buf converted = BUF_INIT;
    struct manifest *m = NULL;
    bool yaml, legacy;
    size_t errors_before = d->errors;
    *out = NULL;

    TRY_OUT(to_json(input, format, d, &root, &yaml, &legacy));
    if (yaml || legacy) {
        TRY_OUT(converted_bytes(root, legacy, &converted));
        input = buf_view(&converted);
    }
    m = calloc(1, sizeof(*m));
    ENSURE_OUT(m != NULL, ERR_NOMEM, "cannot allocate a manifest");
    m->from_yaml = yaml;
    m->legacy = legacy;
    m->raw.ptr = arena_memdup(&m->arena, input.ptr, input.size);
    m->raw.size = input.size;
    ENSURE_OUT(m->raw.ptr != NULL || input.size == 0, ERR_NOMEM, "cannot copy the manifest");
    TRY_OUT(crypto_sha256(&m->raw, 1, m->fingerprint));

    struct mf_ctx c = {m, d, JPATH_INIT, false};
    mf_decode(&c, root);
    ENSURE_OUT(!c.nomem, ERR_NOMEM, "out of memory while decoding the manifest");
    ENSURE_OUT(d->errors == errors_before, ERR_MANIFEST, "the manifest has %zu errors",
               d->errors - errors_before);
    *out = m;
    m = NULL;
    r = 0;
out:
    manifest_free(m);
    json_decref(root);
    buf_free(&converted);
    return r;
}

void manifest_free(struct manifest *m)
{
    if (m == NULL)
        return;
    arena_free(&m->arena);
    free(m);
}

int manifest_check(struct manifest *m, const struct manifest_checker *checkers, size_t checkers_count,
                   struct diag *d)
{
    size_t errors_before = d->errors;
    mf_check_rules(m, d);
    /* Extra passes run even after rule errors, so one run reports every problem. */
    for (size_t i = 0; i < checkers_count; i++)
        checkers[i].check(checkers[i].ctx, m, d);
    ENSURE(d->errors == errors_before, ERR_MANIFEST, "the manifest has %zu errors",
           d->errors - errors_before);
    return 0;
}

int manifest_load(struct view input, enum mf_format format, const struct manifest_checker *checkers,
                  size_t checkers_count, struct diag *d, struct manifest **out)
{
    struct manifest *m = NULL;
    *out = NULL;
    TRY(manifest_parse(input, format, d, &m));
    int r = manifest_check(m, checkers, checkers_count, d);
    if (r < 0) {
        manifest_free(m);
        return r;
    }
    *out = m;
    return 0;
}

int manifest_migrate(struct view input, struct diag *d, struct buf *out)
{
    int r = ERR_INTERNAL;
    json_t *root = NULL;
    struct manifest *m = NULL;
    struct buf text = BUF_INIT;
    bool yaml, legacy;
    TRY_OUT(to_json(input, MF_FORMAT_AUTO, d, &root, &yaml, &legacy));
    if (yaml || legacy) {
        TRY_OUT(js_dump(&text, root, JSON_INDENT(4)));
        TRY_OUT(buf_append_byte(&text, '\n'));
    } else {
        TRY_OUT(buf_append_view(&text, input));
    }
    /* Decode the result too, so its problems are reported now rather than at upload. */
    TRY_OUT(manifest_parse(buf_view(&text), MF_FORMAT_JSON, d, &m));
    TRY_OUT(buf_append_view(out, buf_view(&text)));
    r = 0;
out:
    manifest_free(m);
    json_decref(root);
    buf_free(&text);
    return r;
}

bool manifest_is_update(const struct manifest *m)
{
    return m->infrastructures.count == 0 && m->marbles.count == 0 && m->users.count == 0 &&
           m->recovery_keys.count == 0 && m->roles.count == 0 && m->secrets.count == 0 &&
           m->tls.count == 0;
}

static int name_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

#define LOOKUP(fn, type, member)                                                                   \
    const type *fn(const struct manifest *m, const char *name)                                     \
    {                                                                                              \
        if (m->member.count == 0)                                                                  \
            return NULL;                                                                           \
        return bsearch(name, m->member.items, m->member.count, sizeof(type), name_key_cmp);        \
    }

LOOKUP(manifest_package, struct mf_package, packages)
LOOKUP(manifest_marble, struct mf_marble, marbles)
LOOKUP(manifest_secret, struct mf_secret, secrets)
LOOKUP(manifest_user, struct mf_user, users)
LOOKUP(manifest_role, struct mf_role, roles)
LOOKUP(manifest_tls_tag, struct mf_tls_tag, tls)

bool mf_secret_is_cert(enum mf_secret_type t)
{
    return t == MF_SECRET_CERT_RSA || t == MF_SECRET_CERT_ECDSA || t == MF_SECRET_CERT_ED25519;
}

void manifest_fingerprint_hex(const struct manifest *m, char out[65])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = digits[m->fingerprint[i] >> 4];
        out[2 * i + 1] = digits[m->fingerprint[i] & 15];
    }
    out[64] = '\0';
}
