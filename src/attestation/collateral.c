/*
 * Collateral documents (reference/dcap.md §7.2, §7.3, §8.3): TCB Info v2/v3 and QE Identity v2, as
 * Intel PCS serves them: {"tcbInfo":{...},"signature":"<r||s hex>"}. The signature covers the exact
 * bytes of the member's value as served, so the value's byte span is located in the original text
 * (a small scanner aware of strings and escapes, over a document jansson already accepted, which
 * refused duplicate keys) and that span is what is verified and then parsed. Re-serialising would
 * change the bytes (§9.9). Every member is type- and range-checked; unknown status strings are
 * refused, as Intel's QVL does.
 */
#include <stdlib.h>
#include <string.h>

#include "att_int.h"

/* Locating a member's raw value -------------------------------------------------------------- */

struct scan {
    struct view v;
    size_t i;
};

static bool sc_peek(const struct scan *s, uint8_t *c)
{
    if (s->i >= s->v.size)
        return false;
    *c = s->v.ptr[s->i];
    return true;
}

static void sc_ws(struct scan *s)
{
    uint8_t c;
    while (sc_peek(s, &c) && (c == ' ' || c == '\t' || c == '\r' || c == '\n'))
        s->i++;
}

static int sc_expect(struct scan *s, uint8_t want)
{
    uint8_t c;
    ENSURE(sc_peek(s, &c) && c == want, ERR_COLLATERAL, "expected '%c' at offset %zu", want, s->i);
    s->i++;
    return 0;
}

/* A string; *raw is its bytes between the quotes, escapes left as written. */
static int sc_string(struct scan *s, struct view *raw)
{
    uint8_t c;
    TRY(sc_expect(s, '"'));
    size_t start = s->i;
    while (sc_peek(s, &c) && c != '"') {
        s->i += c == '\\' ? 2 : 1;
    }
    ENSURE(s->i < s->v.size, ERR_COLLATERAL, "unterminated string");
    *raw = view_of(s->v.ptr + start, s->i - start);
    s->i++;
    return 0;
}

/* Skips one value (the document is valid JSON, so brackets balance outside strings). */
static int sc_value(struct scan *s)
{
    uint8_t c;
    struct view ignored;
    ENSURE(sc_peek(s, &c), ERR_COLLATERAL, "value expected at offset %zu", s->i);
    if (c == '"')
        return sc_string(s, &ignored);
    if (c != '{' && c != '[') {
        while (sc_peek(s, &c) && c != ',' && c != '}' && c != ']' && c != ' ' && c != '\t' &&
               c != '\r' && c != '\n')
            s->i++;
        return 0;
    }
    size_t depth = 0;
    do {
        ENSURE(sc_peek(s, &c), ERR_COLLATERAL, "unterminated value");
        if (c == '"') {
            TRY(sc_string(s, &ignored));
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        s->i++;
    } while (depth > 0);
    return 0;
}

static int find_member_span(struct view doc, const char *key, struct view *out)
{
    struct scan s = {doc, 0};
    uint8_t c;
    bool found = false;
    sc_ws(&s);
    TRY(sc_expect(&s, '{'));
    sc_ws(&s);
    if (sc_peek(&s, &c) && c == '}')
        FAIL(ERR_COLLATERAL, "no \"%s\"", key);
    for (;;) {
        struct view k;
        sc_ws(&s);
        TRY(sc_string(&s, &k));
        sc_ws(&s);
        TRY(sc_expect(&s, ':'));
        sc_ws(&s);
        size_t start = s.i;
        TRY(sc_value(&s));
        if (view_eq(k, view_str(key))) {
            ENSURE(!found, ERR_DUPLICATE, "\"%s\" appears twice", key);
            found = true;
            *out = view_of(doc.ptr + start, s.i - start);
        }
        sc_ws(&s);
        ENSURE(sc_peek(&s, &c), ERR_COLLATERAL, "unterminated object");
        s.i++;
        if (c == '}')
            break;
        ENSURE(c == ',', ERR_COLLATERAL, "expected ',' or '}' at offset %zu", s.i - 1);
    }
    ENSURE(found, ERR_COLLATERAL, "no \"%s\" member (written without escapes)", key);
    return 0;
}

int att_signed_json_split(struct view body, const char *key, struct view *value, uint8_t sig[64])
{
    int r = ERR_INTERNAL;
    json_t *doc = NULL, *span = NULL;
    *value = VIEW_EMPTY;
    r = js_parse(body, QY_ATT_COLLATERAL_MAX_SIZE, &doc);
    ENSURE(r == 0, r == ERR_TOO_LARGE ? r : ERR_COLLATERAL, "%s", err_detail(r));
    ENSURE_OUT(json_is_object(doc), ERR_COLLATERAL, "the document is not a JSON object");
    json_t *s = json_object_get(doc, "signature");
    ENSURE_OUT(json_is_string(s), ERR_COLLATERAL, "\"signature\" is missing or not a string");
    r = enc_hex_decode_fixed(sig, 64, js_string_view(s));
    ENSURE_OUT(r == 0, ERR_COLLATERAL, "\"signature\" is not 64 bytes of hex");
    ENSURE_OUT(json_is_object(json_object_get(doc, key)), ERR_COLLATERAL,
               "\"%s\" is missing or not an object", key);
    TRY_OUT(find_member_span(body, key, value));
    /* The span must be exactly the value jansson saw, so what is verified is what is used. */
    TRY_OUT(js_parse(*value, QY_ATT_COLLATERAL_MAX_SIZE, &span));
    ENSURE_OUT(json_equal(span, json_object_get(doc, key)), ERR_COLLATERAL,
               "\"%s\" could not be located", key);
    r = 0;
out:
    json_decref(doc);
    json_decref(span);
    return r;
}

/* Typed members -------------------------------------------------------------------------------- */

/* Path of the member being read, for messages: "tcbLevels[3].tcb.pcesvn". */
struct ctx {
    struct arena *arena;
    struct jpath path;
};

static int bad(struct ctx *c, const char *key, const char *what)
{
    size_t m = jpath_push(&c->path, key);
    int r = err_fail(ERR_COLLATERAL, "att_collateral", "%s: %s", jpath_str(&c->path), what);
    jpath_pop(&c->path, m);
    return r;
}

static int get(struct ctx *c, const json_t *obj, const char *key, json_t **out)
{
    *out = json_object_get(obj, key);
    if (*out == NULL)
        return bad(c, key, "missing");
    return 0;
}

static int get_uint(struct ctx *c, const json_t *obj, const char *key, uint64_t max, uint64_t *out)
{
    json_t *v;
    TRY(get(c, obj, key, &v));
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return bad(c, key, "not an integer in range");
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_hex(struct ctx *c, const json_t *obj, const char *key, void *dst, size_t size)
{
    json_t *v;
    TRY(get(c, obj, key, &v));
    if (!json_is_string(v) || enc_hex_decode_fixed(dst, size, js_string_view(v)) < 0)
        return bad(c, key, "not hex of the right size");
    return 0;
}

static int get_time(struct ctx *c, const json_t *obj, const char *key, int64_t *out)
{
    json_t *v;
    TRY(get(c, obj, key, &v));
    if (!json_is_string(v) || qtime_parse_rfc3339(json_string_value(v), out) < 0)
        return bad(c, key, "not an RFC 3339 time");
    return 0;
}

/* A level's tcbDate: informational (nothing is decided on it), so absent is 0; malformed is not. */
static int get_date(struct ctx *c, const json_t *level, int64_t *out)
{
    *out = 0;
    if (json_object_get(level, "tcbDate") == NULL)
        return 0;
    return get_time(c, level, "tcbDate", out);
}

static int get_status(struct ctx *c, const json_t *obj, enum att_tcb_status *out)
{
    json_t *v;
    TRY(get(c, obj, "tcbStatus", &v));
    if (!json_is_string(v) || att_status_from_json(json_string_value(v), out) < 0)
        return bad(c, "tcbStatus", "not a known TCB status");
    return 0;
}

static int get_array(struct ctx *c, const json_t *obj, const char *key, size_t min, size_t max,
                     json_t **out)
{
    TRY(get(c, obj, key, out));
    if (!json_is_array(*out) || json_array_size(*out) < min || json_array_size(*out) > max)
        return bad(c, key, "not an array of the expected length");
    return 0;
}

static int get_advisories(struct ctx *c, const json_t *level, struct att_advisories *out)
{
    json_t *a = json_object_get(level, "advisoryIDs");
    out->count = 0;
    out->ids = NULL;
    if (a == NULL)
        return 0;
    TRY(get_array(c, level, "advisoryIDs", 0, QY_ATT_ADVISORIES_MAX, &a));
    out->ids = arena_alloc(c->arena, sizeof(*out->ids) * (json_array_size(a) + 1));
    ENSURE(out->ids != NULL, ERR_NOMEM, "out of memory");
    size_t i;
    json_t *id;
    json_array_foreach(a, i, id)
    {
        struct view s = js_string_view(id);
        bool ok = json_is_string(id) && s.size > 0 && s.size <= QY_ATT_ADVISORY_ID_MAX;
        for (size_t k = 0; ok && k < s.size; k++)
            ok = s.ptr[k] > 0x20 && s.ptr[k] < 0x7f;
        if (!ok)
            return bad(c, "advisoryIDs", "not a list of short printable strings");
        memcpy(out->ids[i], s.ptr, s.size);
        out->ids[i][s.size] = '\0';
    }
    out->count = json_array_size(a);
    return 0;
}

/* 16 SVNs: v3's [{"svn":n,...} x16] or v2's sgxtcbcompNNsvn members. */
static int get_components(struct ctx *c, const json_t *tcb, const char *key, bool v2,
                          uint8_t out[16])
{
    uint64_t n;
    if (v2) {
        for (int i = 0; i < 16; i++) {
            char name[32];
            snprintf(name, sizeof(name), "sgxtcbcomp%02dsvn", i + 1);
            TRY(get_uint(c, tcb, name, 255, &n));
            out[i] = (uint8_t)n;
        }
        return 0;
    }
    json_t *a, *e;
    size_t i;
    TRY(get_array(c, tcb, key, 16, 16, &a));
    size_t m = jpath_push(&c->path, key);
    json_array_foreach(a, i, e)
    {
        size_t m2 = jpath_push_index(&c->path, i);
        if (!json_is_object(e)) {
            jpath_pop(&c->path, m2);
            int r = bad(c, "", "not an object");
            jpath_pop(&c->path, m);
            return r;
        }
        int r = get_uint(c, e, "svn", 255, &n);
        jpath_pop(&c->path, m2);
        if (r < 0) {
            jpath_pop(&c->path, m);
            return r;
        }
        out[i] = (uint8_t)n;
    }
    jpath_pop(&c->path, m);
    return 0;
}

static int parse_tcb_level(struct ctx *c, const json_t *l, const struct att_tcb_info *ti,
                           struct att_tcb_level *out)
{
    json_t *tcb = NULL;
    uint64_t n = 0;
    ENSURE(json_is_object(l), ERR_COLLATERAL, "%s: not an object", jpath_str(&c->path));
    TRY(get(c, l, "tcb", &tcb));
    if (!json_is_object(tcb))
        return bad(c, "tcb", "not an object");
    size_t m = jpath_push(&c->path, "tcb");
    int r = get_components(c, tcb, "sgxtcbcomponents", ti->version == 2, out->sgx);
    if (r == 0)
        r = get_uint(c, tcb, "pcesvn", 65535, &n);
    out->pcesvn = (uint16_t)n;
    if (r == 0 && ti->tee_type == ATT_TEE_TDX) {
        r = get_components(c, tcb, "tdxtcbcomponents", false, out->tdx);
        out->has_tdx = true;
    }
    jpath_pop(&c->path, m);
    TRY(r);
    TRY(get_date(c, l, &out->date));
    TRY(get_status(c, l, &out->status));
    return get_advisories(c, l, &out->advisories);
}

/* {tcb:{isvsvn}, tcbDate?, tcbStatus, advisoryIDs?}: QE Identity and TDX module levels. */
static int parse_svn_levels(struct ctx *c, const json_t *obj, size_t *count,
                            struct att_svn_level **out)
{
    json_t *a, *l;
    size_t i;
    TRY(get_array(c, obj, "tcbLevels", 1, QY_ATT_TCB_LEVELS_MAX, &a));
    *out = arena_alloc(c->arena, sizeof(**out) * json_array_size(a));
    ENSURE(*out != NULL, ERR_NOMEM, "out of memory");
    size_t m = jpath_push(&c->path, "tcbLevels");
    json_array_foreach(a, i, l)
    {
        size_t m2 = jpath_push_index(&c->path, i);
        json_t *tcb = NULL;
        uint64_t n = 0;
        int r = json_is_object(l) ? get(c, l, "tcb", &tcb) : bad(c, "", "not an object");
        if (r == 0)
            r = json_is_object(tcb) ? 0 : bad(c, "tcb", "not an object");
        if (r == 0) {
            size_t m3 = jpath_push(&c->path, "tcb");
            r = get_uint(c, tcb, "isvsvn", 65535, &n);
            jpath_pop(&c->path, m3);
        }
        (*out)[i].isvsvn = (uint16_t)n;
        if (r == 0)
            r = get_date(c, l, &(*out)[i].date);
        if (r == 0)
            r = get_status(c, l, &(*out)[i].status);
        if (r == 0)
            r = get_advisories(c, l, &(*out)[i].advisories);
        jpath_pop(&c->path, m2);
        if (r < 0) {
            jpath_pop(&c->path, m);
            return r;
        }
    }
    jpath_pop(&c->path, m);
    *count = json_array_size(a);
    return 0;
}

static int parse_module_identity(struct ctx *c, const json_t *o, struct att_module_identity *out)
{
    json_t *id;
    ENSURE(json_is_object(o), ERR_COLLATERAL, "%s: not an object", jpath_str(&c->path));
    TRY(get(c, o, "id", &id));
    struct view s = js_string_view(id);
    if (!json_is_string(id) || s.size == 0 || s.size >= sizeof(out->id) ||
        memchr(s.ptr, 0, s.size) != NULL)
        return bad(c, "id", "not a short string");
    memcpy(out->id, s.ptr, s.size);
    TRY(get_hex(c, o, "mrsigner", out->mrsigner, 48));
    TRY(get_hex(c, o, "attributes", out->attributes, 8));
    TRY(get_hex(c, o, "attributesMask", out->attributes_mask, 8));
    return parse_svn_levels(c, o, &out->level_count, &out->levels);
}

static int parse_tdx_module(struct ctx *c, const json_t *ti_json, struct att_tcb_info *ti)
{
    json_t *m = json_object_get(ti_json, "tdxModule"), *ids, *e;
    size_t i;
    if (m != NULL) {
        if (!json_is_object(m))
            return bad(c, "tdxModule", "not an object");
        size_t mark = jpath_push(&c->path, "tdxModule");
        int r = get_hex(c, m, "mrsigner", ti->module_mrsigner, 48);
        if (r == 0)
            r = get_hex(c, m, "attributes", ti->module_attributes, 8);
        if (r == 0)
            r = get_hex(c, m, "attributesMask", ti->module_attributes_mask, 8);
        jpath_pop(&c->path, mark);
        TRY(r);
        ti->has_tdx_module = true;
    }
    if (json_object_get(ti_json, "tdxModuleIdentities") == NULL)
        return 0;
    TRY(get_array(c, ti_json, "tdxModuleIdentities", 0, QY_ATT_MODULE_IDS_MAX, &ids));
    ti->modules = arena_alloc(c->arena, sizeof(*ti->modules) * (json_array_size(ids) + 1));
    ENSURE(ti->modules != NULL, ERR_NOMEM, "out of memory");
    size_t mark = jpath_push(&c->path, "tdxModuleIdentities");
    json_array_foreach(ids, i, e)
    {
        size_t m2 = jpath_push_index(&c->path, i);
        int r = parse_module_identity(c, e, &ti->modules[i]);
        jpath_pop(&c->path, m2);
        if (r < 0) {
            jpath_pop(&c->path, mark);
            return r;
        }
    }
    jpath_pop(&c->path, mark);
    ti->module_count = json_array_size(ids);
    return 0;
}

int att_tcb_info_parse(struct view value, struct arena *arena, struct att_tcb_info *ti)
{
    int r = ERR_INTERNAL;
    json_t *j = NULL, *levels, *l, *id;
    struct ctx c = {arena, JPATH_INIT};
    uint64_t version;
    size_t i;
    memset(ti, 0, sizeof(*ti));
    jpath_push(&c.path, "tcbInfo");
    TRY(js_parse(value, QY_ATT_COLLATERAL_MAX_SIZE, &j));
    ENSURE_OUT(json_is_object(j), ERR_COLLATERAL, "tcbInfo is not an object");
    TRY_OUT(get_uint(&c, j, "version", 1000, &version));
    ENSURE_OUT(version == 2 || version == 3, ERR_UNSUPPORTED,
               "TCB Info version %llu is not supported (2, 3)", (unsigned long long)version);
    ti->version = (int)version;
    ti->tee_type = ATT_TEE_SGX;
    if ((id = json_object_get(j, "id")) != NULL || version == 3) {
        TRY_OUT(get(&c, j, "id", &id));
        const char *s = json_string_value(id);
        if (s != NULL && strcmp(s, "TDX") == 0 && version == 3)
            ti->tee_type = ATT_TEE_TDX;
        else if (s == NULL || strcmp(s, "SGX") != 0)
            FAIL_OUT(ERR_COLLATERAL, "tcbInfo.id: not \"SGX\" or (v3) \"TDX\"");
    }
    TRY_OUT(get_time(&c, j, "issueDate", &ti->issue_date));
    TRY_OUT(get_time(&c, j, "nextUpdate", &ti->next_update));
    TRY_OUT(get_hex(&c, j, "fmspc", ti->fmspc, 6));
    TRY_OUT(get_hex(&c, j, "pceId", ti->pceid, 2));
    TRY_OUT(get_uint(&c, j, "tcbType", UINT32_MAX, &ti->tcb_type));
    ENSURE_OUT(ti->tcb_type == 0, ERR_UNSUPPORTED, "TCB type %llu is not supported (0)",
               (unsigned long long)ti->tcb_type);
    TRY_OUT(get_uint(&c, j, "tcbEvaluationDataNumber", UINT32_MAX, &ti->evaluation_number));
    TRY_OUT(get_array(&c, j, "tcbLevels", 1, QY_ATT_TCB_LEVELS_MAX, &levels));
    ti->levels = arena_alloc(arena, sizeof(*ti->levels) * json_array_size(levels));
    ENSURE_OUT(ti->levels != NULL, ERR_NOMEM, "out of memory");
    size_t m = jpath_push(&c.path, "tcbLevels");
    json_array_foreach(levels, i, l)
    {
        size_t m2 = jpath_push_index(&c.path, i);
        r = parse_tcb_level(&c, l, ti, &ti->levels[i]);
        jpath_pop(&c.path, m2);
        if (r < 0)
            goto out;
    }
    jpath_pop(&c.path, m);
    ti->level_count = json_array_size(levels);
    if (ti->tee_type == ATT_TEE_TDX)
        TRY_OUT(parse_tdx_module(&c, j, ti));
    r = 0;
out:
    json_decref(j);
    return r;
}

int att_qe_identity_parse(struct view value, struct arena *arena, struct att_qe_identity *qe)
{
    int r = ERR_INTERNAL;
    json_t *j = NULL, *id;
    struct ctx c = {arena, JPATH_INIT};
    uint64_t version, n;
    uint8_t misc[4];
    memset(qe, 0, sizeof(*qe));
    jpath_push(&c.path, "enclaveIdentity");
    TRY(js_parse(value, QY_ATT_COLLATERAL_MAX_SIZE, &j));
    ENSURE_OUT(json_is_object(j), ERR_COLLATERAL, "enclaveIdentity is not an object");
    TRY_OUT(get_uint(&c, j, "version", 1000, &version));
    ENSURE_OUT(version == 2, ERR_UNSUPPORTED, "QE Identity version %llu is not supported (2)",
               (unsigned long long)version);
    qe->version = 2;
    TRY_OUT(get(&c, j, "id", &id));
    const char *s = json_string_value(id);
    if (s != NULL && strcmp(s, "QE") == 0)
        qe->tee_type = ATT_TEE_SGX;
    else if (s != NULL && strcmp(s, "TD_QE") == 0)
        qe->tee_type = ATT_TEE_TDX;
    else
        FAIL_OUT(ERR_ATT_MISMATCH, "enclaveIdentity.id is not \"QE\" or \"TD_QE\"");
    TRY_OUT(get_time(&c, j, "issueDate", &qe->issue_date));
    TRY_OUT(get_time(&c, j, "nextUpdate", &qe->next_update));
    TRY_OUT(get_uint(&c, j, "tcbEvaluationDataNumber", UINT32_MAX, &qe->evaluation_number));
    /* MISCSELECT is written as a big-endian number ("00000001" = 1). */
    TRY_OUT(get_hex(&c, j, "miscselect", misc, 4));
    qe->miscselect =
        (uint32_t)misc[0] << 24 | (uint32_t)misc[1] << 16 | (uint32_t)misc[2] << 8 | misc[3];
    TRY_OUT(get_hex(&c, j, "miscselectMask", misc, 4));
    qe->miscselect_mask =
        (uint32_t)misc[0] << 24 | (uint32_t)misc[1] << 16 | (uint32_t)misc[2] << 8 | misc[3];
    TRY_OUT(get_hex(&c, j, "attributes", qe->attributes, 16));
    TRY_OUT(get_hex(&c, j, "attributesMask", qe->attributes_mask, 16));
    TRY_OUT(get_hex(&c, j, "mrsigner", qe->mrsigner, 32));
    TRY_OUT(get_uint(&c, j, "isvprodid", 65535, &n));
    qe->isvprodid = (uint16_t)n;
    TRY_OUT(parse_svn_levels(&c, j, &qe->level_count, &qe->levels));
    r = 0;
out:
    json_decref(j);
    return r;
}

/* Loading what a source returned --------------------------------------------------------------- */

static void coll_destroy(struct att_obj *o)
{
    struct att_coll *c = (struct att_coll *)o;
    att_path_free(&c->signer);
    att_crl_free(&c->crl);
    arena_free(&c->arena);
    free(c);
}

/* The TCB Signing chain of a signed document, and the signature over the exact value bytes. */
static int verify_signed(struct att_coll *c, const struct att_collateral_item *item,
                         struct view value, const uint8_t sig[64], const struct att_roots *roots)
{
    static const char *const roles[] = {"SGX TCB Signing", "SGX Root CA"};
    X509 *certs[QY_ATT_CHAIN_MAX_CERTS] = {NULL};
    size_t n = 0;
    struct crypto_key *k = NULL;
    ENSURE(item->issuer_chain.size > 0, ERR_COLLATERAL, "the source gave no issuer chain");
    int r = att_certs_parse(buf_view(&item->issuer_chain), ATT_CERTS_LENIENT, certs,
                            QY_ARRAY_LEN(certs), &n);
    ENSURE(r == 0, r, "issuer chain: %s", err_detail(r));
    r = att_path_build(certs, n, 2, roles, roots, &c->signer);
    ENSURE(r == 0, r, "issuer chain: %s", err_detail(r));
    TRY(crypto_key_wrap_evp(X509_get0_pubkey(c->signer.certs[0]), &k));
    r = crypto_verify(k, CRYPTO_SIG_ECDSA_SHA256_RAW, value, view_of(sig, 64));
    crypto_key_free(k);
    ENSURE(r == 0, r, "the signature does not verify with the TCB Signing key");
    return 0;
}

static int load(struct att_coll *c, const struct att_collateral_item *item,
                const struct att_roots *roots)
{
    struct view value;
    uint8_t sig[64];
    switch (c->kind) {
    case ATT_COLLATERAL_TCB_INFO:
        TRY(att_signed_json_split(buf_view(&item->body), "tcbInfo", &value, sig));
        TRY(att_tcb_info_parse(value, &c->arena, &c->tcb));
        TRY(verify_signed(c, item, value, sig, roots));
        c->next_update = c->tcb.next_update;
        return 0;
    case ATT_COLLATERAL_QE_IDENTITY:
        TRY(att_signed_json_split(buf_view(&item->body), "enclaveIdentity", &value, sig));
        TRY(att_qe_identity_parse(value, &c->arena, &c->qe));
        TRY(verify_signed(c, item, value, sig, roots));
        c->next_update = c->qe.next_update;
        return 0;
    case ATT_COLLATERAL_PCK_CRL:
        TRY(att_crl_parse(buf_view(&item->body), &c->crl));
        c->next_update = c->crl.next_update; /* its signature is checked against the quote's CA */
        return 0;
    case ATT_COLLATERAL_ROOT_CA_CRL:
        TRY(att_crl_parse(buf_view(&item->body), &c->crl));
        for (size_t i = 0; i < roots->count; i++) {
            int ok = X509_CRL_verify(c->crl.crl, crypto_key_evp(roots->keys[i]));
            ERR_clear_error();
            if (ok == 1) {
                c->crl_root_index = i;
                c->next_update = c->crl.next_update;
                return 0;
            }
        }
        FAIL(ERR_BAD_SIGNATURE, "the Root CA CRL is not signed by a trusted root");
    default:
        FAIL(ERR_INTERNAL, "unknown collateral kind %d", (int)c->kind);
    }
}

struct att_coll *att_coll_load(enum att_collateral_kind kind,
                               const struct att_collateral_item *item,
                               const struct att_roots *roots)
{
    struct att_coll *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    att_obj_init(&c->obj, coll_destroy);
    c->kind = kind;
    c->fetched_mono = att_mono_seconds();
    int r = crypto_sha256(&(struct view){item->body.ptr, item->body.size}, 1, c->hash);
    if (r == 0)
        r = load(c, item, roots);
    if (r < 0) {
        c->error = r;
        snprintf(c->detail, sizeof(c->detail), "%s", err_detail(r));
    }
    return c;
}

struct att_coll *att_coll_failed(enum att_collateral_kind kind, int code, const char *detail)
{
    struct att_coll *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    att_obj_init(&c->obj, coll_destroy);
    c->kind = kind;
    c->fetched_mono = att_mono_seconds();
    c->error = code;
    c->fetch_failed = true;
    snprintf(c->detail, sizeof(c->detail), "%s", detail);
    return c;
}

int att_collateral_check(enum att_collateral_kind kind, const struct att_collateral_item *item,
                         const struct view *extra, size_t extra_count)
{
    struct att_roots roots;
    TRY(att_roots_init(&roots, extra, extra_count));
    struct att_coll *c = att_coll_load(kind, item, &roots);
    int r = c == NULL ? err_fail(ERR_NOMEM, __func__, "out of memory") : c->error;
    if (c != NULL && r < 0)
        err_fail(r, __func__, "%s", c->detail);
    if (c != NULL)
        att_obj_unref(&c->obj);
    att_roots_free(&roots);
    return r;
}
