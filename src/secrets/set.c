/*
 * Secret sets: the sorted map, and its JSON form in MarbleRun's shapes (Go field names, []byte as
 * standard base64, Cert as base64 DER or null). Writing goes straight into a wiped buffer so secret
 * bytes never pass through jansson on the way out.
 */
#include <stdlib.h>
#include <string.h>

#include "secrets_int.h"

void sec_value_clear(struct sec_value *v)
{
    free(v->name);
    buf_free(&v->cert);
    buf_free(&v->private_key);
    buf_free(&v->public_key);
    memset(v, 0, sizeof(*v));
}

void sec_set_free(struct sec_set *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->count; i++)
        sec_value_clear(&s->items[i]);
    free(
        s->items); /* the values' bytes were wiped above; the array holds only pointers and flags */
    *s = (struct sec_set)SEC_SET_INIT;
}

/* Index of `name`, or where it would go (*found false). */
static size_t locate(const struct sec_set *s, const char *name, bool *found)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->items[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

const struct sec_value *sec_set_find(const struct sec_set *s, const char *name)
{
    bool found;
    size_t i = locate(s, name, &found);
    return found ? &s->items[i] : NULL;
}

const struct sec_value *sec_find(const struct sec_set *const *sets, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        const struct sec_value *v = sets[i] ? sec_set_find(sets[i], name) : NULL;
        if (v != NULL)
            return v;
    }
    return NULL;
}

int sec_value_copy(struct sec_value *dst, const struct sec_value *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->name = strdup(src->name);
    ENSURE(dst->name != NULL, ERR_NOMEM, "out of memory copying a secret");
    dst->type = src->type;
    dst->size = src->size;
    dst->shared = src->shared;
    dst->user_defined = src->user_defined;
    dst->valid_for = src->valid_for;
    int r = buf_set(&dst->cert, buf_view(&src->cert));
    if (r == 0)
        r = buf_set(&dst->private_key, buf_view(&src->private_key));
    if (r == 0)
        r = buf_set(&dst->public_key, buf_view(&src->public_key));
    if (r < 0)
        sec_value_clear(dst);
    return r;
}

int sec_set_take(struct sec_set *s, struct sec_value *v)
{
    bool found;
    size_t i = locate(s, v->name, &found);
    if (found) {
        sec_value_clear(&s->items[i]);
        s->items[i] = *v;
        memset(v, 0, sizeof(*v));
        return 0;
    }
    ENSURE(s->count < QY_MANIFEST_MAX_ENTRIES, ERR_TOO_LARGE, "more than %u secrets",
           QY_MANIFEST_MAX_ENTRIES);
    struct sec_value *n = arr_grow(s->items, &s->cap, s->count, sizeof(*n), 16);
    ENSURE(n != NULL, ERR_NOMEM, "out of memory growing a secret set");
    s->items = n;
    memmove(&s->items[i + 1], &s->items[i], (s->count - i) * sizeof(*s->items));
    s->items[i] = *v;
    s->count++;
    memset(v, 0, sizeof(*v));
    return 0;
}

int sec_set_put(struct sec_set *s, const struct sec_value *v)
{
    struct sec_value copy;
    TRY(sec_value_copy(&copy, v));
    int r = sec_set_take(s, &copy);
    sec_value_clear(&copy);
    return r;
}

int sec_set_merge(struct sec_set *dst, const struct sec_set *src)
{
    for (size_t i = 0; i < src->count; i++)
        TRY(sec_set_put(dst, &src->items[i]));
    return 0;
}

/* Writing -------------------------------------------------------------------------------------- */

static int write_string(struct buf *out, const char *s)
{
    json_t *j = json_string(s);
    ENSURE(j != NULL, ERR_SECRET, "a secret name is not valid UTF-8");
    int r = js_dump(out, j, JSON_ENCODE_ANY);
    json_decref(j);
    return r;
}

static int write_bytes(struct buf *out, const char *key, struct view v)
{
    TRY(buf_appendf(out, ",\"%s\":", key));
    if (v.size == 0)
        return buf_append_str(out, "null");
    TRY(buf_append_byte(out, '"'));
    TRY(enc_b64(out, v));
    return buf_append_byte(out, '"');
}

static int write_value(struct buf *out, const struct sec_value *v)
{
    TRY(write_string(out, v->name));
    TRY(buf_appendf(out, ":{\"Type\":\"%s\",\"Size\":%llu,\"Shared\":%s,\"UserDefined\":%s",
                    mf_secret_type_name(v->type), (unsigned long long)v->size,
                    v->shared ? "true" : "false", v->user_defined ? "true" : "false"));
    TRY(write_bytes(out, "Cert", buf_view(&v->cert)));
    TRY(buf_appendf(out, ",\"ValidFor\":%llu", (unsigned long long)v->valid_for));
    TRY(write_bytes(out, "Private", buf_view(&v->private_key)));
    TRY(write_bytes(out, "Public", buf_view(&v->public_key)));
    return buf_append_byte(out, '}');
}

int sec_set_write_json(const struct sec_set *s, const char *const *names, size_t count,
                       struct buf *out)
{
    int r = ERR_INTERNAL;
    struct buf b = BUF_INIT;
    bool *want = NULL;
    if (names != NULL) {
        want = calloc(s->count + 1, sizeof(bool));
        ENSURE(want != NULL, ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < count; i++) {
            bool found;
            size_t at = locate(s, names[i], &found);
            ENSURE_OUT(found, ERR_NOT_FOUND, "no secret named \"%s\"", names[i]);
            want[at] = true;
        }
    }
    TRY_OUT(buf_append_byte(&b, '{'));
    bool first = true;
    for (size_t i = 0; i < s->count; i++) {
        if (want != NULL && !want[i])
            continue;
        if (!first)
            TRY_OUT(buf_append_byte(&b, ','));
        first = false;
        TRY_OUT(write_value(&b, &s->items[i]));
    }
    TRY_OUT(buf_append_byte(&b, '}'));
    TRY_OUT(buf_append_view(out, buf_view(&b)));
    r = 0;
out:
    free(want);
    buf_free(&b);
    return r;
}

/* Parsing -------------------------------------------------------------------------------------- */

enum mf_secret_type sec_type_from_name(const char *s)
{
    for (int t = MF_SECRET_SYMMETRIC_KEY; t < MF_SECRET_UNKNOWN; t++)
        if (strcmp(s, mf_secret_type_name((enum mf_secret_type)t)) == 0)
            return (enum mf_secret_type)t;
    return MF_SECRET_UNKNOWN;
}

/* A []byte member: absent or null is empty, otherwise standard base64 of at most `max` bytes. */
int sec_json_bytes(const json_t *obj, const char *secret, const char *key, size_t max,
                   struct buf *out)
{
    json_t *v;
    TRY(js_member_ci(obj, key, &v)); /* uploads are API bodies */
    if (v == NULL || json_is_null(v))
        return 0;
    ENSURE(json_is_string(v), ERR_SECRET, "secret \"%s\": %s must be a base64 string, got %s",
           secret, key, js_type_name(v));
    struct view s = js_string_view(v);
    ENSURE(s.size / 4 * 3 <= max + 3, ERR_SECRET, "secret \"%s\": %s is larger than %zu bytes",
           secret, key, max);
    int r = enc_b64_decode(out, s);
    ENSURE(r == 0, ERR_SECRET, "secret \"%s\": %s is not valid base64", secret, key);
    ENSURE(out->size <= max, ERR_SECRET, "secret \"%s\": %s is larger than %zu bytes", secret, key,
           max);
    return 0;
}

static int json_u64(const json_t *obj, const char *secret, const char *key, uint64_t *out)
{
    json_t *v = js_object_get_ci(obj, key);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    ENSURE(json_is_integer(v) && json_integer_value(v) >= 0, ERR_SECRET,
           "secret \"%s\": %s must be a non-negative integer", secret, key);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int json_bool(const json_t *obj, const char *secret, const char *key, bool *out)
{
    json_t *v = js_object_get_ci(obj, key);
    *out = false;
    if (v == NULL || json_is_null(v))
        return 0;
    ENSURE(json_is_boolean(v), ERR_SECRET, "secret \"%s\": %s must be a boolean", secret, key);
    *out = json_is_true(v);
    return 0;
}

int sec_check_name(const char *name)
{
    size_t n = strlen(name);
    ENSURE(n > 0 && n <= QY_NAME_MAX, ERR_SECRET, "secret name of %zu bytes (1..%u)", n,
           QY_NAME_MAX);
    return 0;
}

static int parse_value(const char *name, const json_t *obj, struct sec_value *v)
{
    TRY(sec_check_name(name));
    ENSURE(json_is_object(obj), ERR_SECRET, "secret \"%s\" must be an object, got %s", name,
           js_type_name(obj));
    v->name = strdup(name);
    ENSURE(v->name != NULL, ERR_NOMEM, "out of memory");
    json_t *type = js_object_get_ci(obj, "Type");
    ENSURE(type != NULL && json_is_string(type), ERR_SECRET, "secret \"%s\": Type must be a string",
           name);
    v->type = sec_type_from_name(json_string_value(type));
    ENSURE(v->type != MF_SECRET_UNKNOWN, ERR_SECRET, "secret \"%s\": unknown type", name);
    TRY(json_u64(obj, name, "Size", &v->size));
    TRY(json_u64(obj, name, "ValidFor", &v->valid_for));
    TRY(json_bool(obj, name, "Shared", &v->shared));
    TRY(json_bool(obj, name, "UserDefined", &v->user_defined));
    json_t *cert = js_object_get_ci(obj, "Cert");
    ENSURE(cert == NULL || json_is_null(cert) || json_is_string(cert), ERR_SECRET,
           "secret \"%s\": Cert must be base64 DER or null", name);
    TRY(sec_json_bytes(obj, name, "Cert", QY_CERT_DER_MAX_SIZE, &v->cert));
    if (v->cert.size > 0) {
        struct crypto_key *k = NULL;
        int r = pki_cert_public_key(buf_view(&v->cert), &k);
        crypto_key_free(k);
        ENSURE(r == 0, ERR_SECRET, "secret \"%s\": Cert is not a certificate", name);
    }
    TRY(sec_json_bytes(obj, name, "Private", QY_USER_SECRET_MAX_SIZE, &v->private_key));
    TRY(sec_json_bytes(obj, name, "Public", QY_USER_SECRET_MAX_SIZE, &v->public_key));
    return 0;
}

int sec_set_parse_json(struct view json, struct sec_set *out)
{
    int r = ERR_INTERNAL;
    json_t *root = NULL;
    struct sec_value v = {0};
    sec_set_free(out);
    TRY(js_parse(json, QY_SECRET_SET_MAX_SIZE, &root));
    ENSURE_OUT(json_is_object(root), ERR_SECRET, "a secret set must be a JSON object, got %s",
               js_type_name(root));
    ENSURE_OUT(json_object_size(root) <= QY_MANIFEST_MAX_ENTRIES, ERR_TOO_LARGE,
               "more than %u secrets", QY_MANIFEST_MAX_ENTRIES);
    const char *name;
    json_t *val;
    json_object_foreach(root, name, val)
    {
        TRY_OUT(parse_value(name, val, &v));
        TRY_OUT(sec_set_take(out, &v));
    }
    r = 0;
out:
    sec_value_clear(&v);
    if (r < 0)
        sec_set_free(out);
    json_decref(root);
    return r;
}
