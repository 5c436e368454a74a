#include "json.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "enc.h"
#include "limits.h"

/* jansson holds parsed request bodies - user secrets, recovery secrets, private keys in base64 - and
 * frees them without wiping. Every allocation it makes is wiped before it is freed: set once, for
 * the whole process, before main. */
static void wiping_free(void *p)
{
    if (p != NULL) {
        explicit_bzero(p, malloc_usable_size(p));
        free(p);
    }
}

__attribute__((constructor)) static void js_wiping_allocator(void)
{
    json_set_alloc_funcs(malloc, wiping_free);
}

int js_depth(const json_t *j, int limit)
{
    if (limit < 0)
        return 1;
    int deepest = 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            int d = js_depth(v, limit - 1);
            if (d > deepest)
                deepest = d;
            if (deepest > limit)
                break;
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            int d = js_depth(v, limit - 1);
            if (d > deepest)
                deepest = d;
            if (deepest > limit)
                break;
        }
    }
    return deepest + 1;
}

int js_parse(struct view in, size_t max_size, json_t **out)
{
    *out = NULL;
    ENSURE(in.size <= max_size, ERR_TOO_LARGE, "JSON input is %zu bytes, the limit is %zu", in.size,
           max_size);
    ENSURE(in.size > 0, ERR_SYNTAX, "empty input, expected JSON");
    json_error_t e;
    json_t *j = json_loadb((const char *)in.ptr, in.size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    if (j == NULL) {
        enum json_error_code c = json_error_code(&e);
        int code = c == json_error_duplicate_key     ? ERR_DUPLICATE
                   : c == json_error_null_byte_in_key ? ERR_ENCODING
                   : c == json_error_invalid_utf8     ? ERR_ENCODING
                   : c == json_error_numeric_overflow ? ERR_RANGE
                   : c == json_error_end_of_input_expected ? ERR_TRAILING
                   : c == json_error_premature_end_of_input ? ERR_TRUNCATED
                   : c == json_error_stack_overflow   ? ERR_TOO_DEEP
                                                      : ERR_SYNTAX;
        FAIL(code, "JSON line %d, column %d: %s", e.line, e.column, e.text);
    }
    if (js_depth(j, QY_JSON_MAX_DEPTH) > QY_JSON_MAX_DEPTH) {
        json_decref(j);
        FAIL(ERR_TOO_DEEP, "JSON is nested deeper than %d levels", QY_JSON_MAX_DEPTH);
    }
    *out = j;
    return 0;
}

const char *js_type_name(const json_t *j)
{
    if (j == NULL) /* an absent member: json_typeof() would dereference it */
        return "nothing";
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    default:
        return "unknown";
    }
}

struct view js_string_view(const json_t *j)
{
    return view_of(json_string_value(j), json_string_length(j));
}

int js_member_ci(const json_t *obj, const char *key, json_t **out)
{
    const char *k, *first = NULL;
    json_t *v;
    *out = NULL;
    json_object_foreach((json_t *)obj, k, v) {
        if (strcasecmp(k, key) != 0)
            continue;
        if (first != NULL) { /* the manifest parser's wording for the same refusal (manifest/parse.c) */
            *out = NULL;
            FAIL(ERR_DUPLICATE, "duplicate key: \"%.64s\" and \"%.64s\" are the same field (keys are case-insensitive)",
                 first, k);
        }
        first = k;
        *out = v;
    }
    return 0;
}

json_t *js_object_get_ci(const json_t *obj, const char *key)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        if (strcasecmp(k, key) == 0)
            return v;
    }
    return NULL;
}

static int js_member(const json_t *obj, const char *key, bool required, json_t **out)
{
    *out = NULL;
    ENSURE(json_is_object(obj), ERR_TYPE, "expected a JSON object, got %s", js_type_name(obj));
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        ENSURE(!required, ERR_NOT_FOUND, "missing \"%s\"", key);
        return 0;
    }
    *out = v;
    return 0;
}

int js_get_string(const json_t *obj, const char *key, bool required, const char **out)
{
    json_t *v;
    *out = NULL;
    TRY(js_member(obj, key, required, &v));
    if (v == NULL)
        return 0;
    ENSURE(json_is_string(v), ERR_TYPE, "\"%s\" must be a string, got %s", key, js_type_name(v));
    ENSURE(memchr(json_string_value(v), 0, json_string_length(v)) == NULL, ERR_ENCODING,
           "\"%s\" contains a NUL character", key);
    *out = json_string_value(v);
    return 0;
}

int js_get_bool(const json_t *obj, const char *key, bool required, bool *out)
{
    json_t *v;
    *out = false;
    TRY(js_member(obj, key, required, &v));
    if (v == NULL)
        return 0;
    ENSURE(json_is_boolean(v), ERR_TYPE, "\"%s\" must be a boolean, got %s", key, js_type_name(v));
    *out = json_is_true(v);
    return 0;
}

int js_get_u64(const json_t *obj, const char *key, bool required, uint64_t *out)
{
    json_t *v;
    *out = 0;
    TRY(js_member(obj, key, required, &v));
    if (v == NULL)
        return 0;
    ENSURE(json_is_integer(v), ERR_TYPE, "\"%s\" must be an integer, got %s", key, js_type_name(v));
    ENSURE(json_integer_value(v) >= 0, ERR_RANGE, "\"%s\" must not be negative", key);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int js_get_b64(const json_t *obj, const char *key, bool required, struct buf *out)
{
    const char *s;
    TRY(js_get_string(obj, key, required, &s));
    if (s == NULL)
        return 0;
    int r = enc_b64_decode(out, view_str(s));
    ENSURE(r == 0, r, "\"%s\" is not valid base64: %s", key, err_detail(r));
    return 0;
}

int js_dump(struct buf *out, const json_t *j, size_t flags)
{
    size_t n = json_dumpb(j, NULL, 0, flags);
    ENSURE(n > 0, ERR_INTERNAL, "cannot serialise JSON");
    TRY(buf_reserve(out, n));
    size_t m = json_dumpb(j, (char *)out->ptr + out->size, n, flags);
    ENSURE(m == n, ERR_INTERNAL, "JSON changed size while serialising");
    out->size += n;
    return 0;
}
