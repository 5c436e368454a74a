#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static int parse(const char *s, json_t **out)
{
    return js_parse(view_str(s), QY_JSON_MAX_SIZE, out);
}

Test(json, parses_and_keeps_nul_in_strings)
{
    json_t *j;
    cr_assert_eq(parse("{\"a\":\"x\\u0000y\",\"b\":[1,2]}", &j), 0);
    struct view v = js_string_view(json_object_get(j, "a"));
    cr_assert_eq(v.size, 3);
    cr_assert_eq(v.ptr[1], 0);
    json_decref(j);
}

Test(json, rejects_duplicate_keys)
{
    json_t *j;
    cr_assert_eq(parse("{\"a\":1,\"a\":2}", &j), ERR_DUPLICATE);
    cr_assert_null(j);
    cr_assert(strstr(err_detail(ERR_DUPLICATE), "duplicate") != NULL, "%s", err_detail(ERR_DUPLICATE));
}

/* Go matches struct fields case-insensitively and keeps the last of two; API bodies refuse both. */
Test(json, members_that_differ_only_in_case_are_refused)
{
    json_t *j, *v;
    cr_assert_eq(parse("{\"Key\":\"a\",\"other\":1,\"key\":\"b\"}", &j), 0, "distinct keys to jansson");
    cr_assert_eq(js_member_ci(j, "KEY", &v), ERR_DUPLICATE);
    cr_assert_null(v);
    cr_assert_str_eq(err_detail(ERR_DUPLICATE),
                     "duplicate key: \"Key\" and \"key\" are the same field (keys are case-insensitive)");
    cr_assert_eq(js_member_ci(j, "OTHER", &v), 0);
    cr_assert_eq(json_integer_value(v), 1);
    cr_assert_eq(js_member_ci(j, "absent", &v), 0);
    cr_assert_null(v);
    json_decref(j);
}

Test(json, reports_truncation_with_position)
{
    json_t *j;
    cr_assert_eq(parse("{\"a\": [1, 2", &j), ERR_TRUNCATED);
    cr_assert(strstr(err_detail(ERR_TRUNCATED), "line 1, column") != NULL, "%s", err_detail(ERR_TRUNCATED));
}

Test(json, rejects_trailing_data_and_empty_input)
{
    json_t *j;
    cr_assert_eq(parse("{} {}", &j), ERR_TRAILING);
    cr_assert_eq(parse("", &j), ERR_SYNTAX);
    cr_assert_eq(parse("{'a':1}", &j), ERR_SYNTAX);
}

Test(json, rejects_deep_nesting)
{
    char s[512] = {0};
    for (int i = 0; i < 100; i++)
        s[i] = '[';
    for (int i = 0; i < 100; i++)
        s[100 + i] = ']';
    json_t *j;
    cr_assert_eq(parse(s, &j), ERR_TOO_DEEP);
    memset(s, 0, sizeof(s));
    for (int i = 0; i < QY_JSON_MAX_DEPTH; i++)
        s[i] = '[';
    for (int i = 0; i < QY_JSON_MAX_DEPTH; i++)
        s[QY_JSON_MAX_DEPTH + i] = ']';
    cr_assert_eq(parse(s, &j), 0, "exactly the limit is fine");
    json_decref(j);
}

Test(json, deeper_than_janssons_own_limit_fails_cleanly)
{
    size_t n = 100000;
    char *s = malloc(2 * n + 1);
    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = 0;
    json_t *j;
    int r = js_parse(view_str(s), 4 * n, &j);
    cr_assert(r == ERR_TOO_DEEP, "got %s", err_name(r));
    free(s);
}

Test(json, rejects_oversize_input_before_parsing)
{
    json_t *j;
    cr_assert_eq(js_parse(view_str("[1,2,3]"), 3, &j), ERR_TOO_LARGE);
}

Test(json, accessors_check_types)
{
    json_t *j;
    cr_assert_eq(parse("{\"s\":\"v\",\"b\":true,\"n\":5,\"neg\":-1,\"x\":\"Zm9v\",\"nul\":\"a\\u0000\"}", &j), 0);
    const char *s;
    bool b;
    uint64_t n;
    struct buf bytes = BUF_INIT;
    cr_assert_eq(js_get_string(j, "s", true, &s), 0);
    cr_assert_str_eq(s, "v");
    cr_assert_eq(js_get_string(j, "missing", false, &s), 0);
    cr_assert_null(s);
    cr_assert_eq(js_get_string(j, "missing", true, &s), ERR_NOT_FOUND);
    cr_assert_eq(js_get_string(j, "n", true, &s), ERR_TYPE);
    cr_assert_str_eq(err_detail(ERR_TYPE), "\"n\" must be a string, got number");
    cr_assert_eq(js_get_string(j, "nul", true, &s), ERR_ENCODING);
    cr_assert_eq(js_get_bool(j, "b", true, &b), 0);
    cr_assert(b);
    cr_assert_eq(js_get_u64(j, "n", true, &n), 0);
    cr_assert_eq(n, 5);
    cr_assert_eq(js_get_u64(j, "neg", true, &n), ERR_RANGE);
    cr_assert_eq(js_get_b64(j, "x", true, &bytes), 0);
    cr_assert(view_eq(buf_view(&bytes), view_str("foo")));
    cr_assert_eq(js_get_b64(j, "s", true, &bytes), ERR_ENCODING);
    buf_free(&bytes);
    cr_assert_not_null(js_object_get_ci(j, "S"));
    json_decref(j);
    /* an absent parent object (json_object_get of a missing member) is a type error, not a crash */
    cr_assert_eq(js_get_u64(NULL, "n", true, &n), ERR_TYPE);
    cr_assert_str_eq(err_detail(ERR_TYPE), "expected a JSON object, got nothing");
}

Test(json, dump_appends)
{
    json_t *j = json_pack("{s:i}", "a", 1);
    struct buf b = BUF_INIT;
    cr_assert_eq(buf_append_str(&b, "x="), 0);
    cr_assert_eq(js_dump(&b, j, JSON_COMPACT), 0);
    cr_assert(view_eq(buf_view(&b), view_str("x={\"a\":1}")));
    buf_free(&b);
    json_decref(j);
}

Test(json, jansson_frees_through_the_wiping_allocator)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    cr_assert(m == malloc);
    cr_assert(f != free, "parsed secrets are wiped before jansson frees them");
}
