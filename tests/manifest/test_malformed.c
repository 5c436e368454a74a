/* Hostile manifests: each is refused with a precise error, quickly, without a crash or a leak. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "manifest/manifest.h"
#include "qt.h"

static void expect_doc_error(const char *text, size_t size, enum mf_format f, const char *needle)
{
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    int r = manifest_load(view_of(text, size), f, NULL, 0, &d, &m);
    cr_assert_eq(r, ERR_MANIFEST, "got %s", err_name(r));
    cr_assert_null(m);
    bool found = false;
    for (size_t i = 0; i < d.count; i++)
        found |= d.items[i].level == DIAG_ERROR && strstr(d.items[i].message, needle) != NULL;
    if (!found)
        qt_diag_dump(&d);
    cr_assert(found, "no error containing \"%s\"", needle);
    diag_free(&d);
}

#define DOC_ERROR(text, f, needle) expect_doc_error(text, strlen(text), f, needle)

Test(malformed, truncated_json)
{
    DOC_ERROR("{\"Packages\": {\"p\": {\"Debug\": tr", MF_FORMAT_AUTO, "invalid JSON: JSON line 1, column");
    DOC_ERROR("{\"Packages\": {", MF_FORMAT_JSON, "expected near end of file");
    DOC_ERROR("", MF_FORMAT_JSON, "empty input");
}

Test(malformed, duplicate_keys)
{
    DOC_ERROR("{\"Packages\": {}, \"Packages\": {}}", MF_FORMAT_AUTO, "duplicate object key");
    DOC_ERROR("Packages: {}\nPackages: {}\n", MF_FORMAT_AUTO, "YAML line 2: duplicate key \"Packages\"");
}

Test(malformed, trailing_garbage)
{
    DOC_ERROR("{\"Packages\": {}} x", MF_FORMAT_AUTO, "end of file expected");
}

static char *nested(size_t depth, const char *open, const char *middle, const char *close)
{
    struct buf b = BUF_INIT;
    char *s;
    cr_assert_eq(buf_append_str(&b, "{\"Packages\":"), 0);
    for (size_t i = 0; i < depth; i++)
        cr_assert_eq(buf_append_str(&b, open), 0);
    cr_assert_eq(buf_append_str(&b, middle), 0);
    for (size_t i = 0; i < depth; i++)
        cr_assert_eq(buf_append_str(&b, close), 0);
    cr_assert_eq(buf_append_str(&b, "}"), 0);
    cr_assert_eq(buf_steal_str(&b, &s), 0);
    return s;
}

Test(malformed, hundred_levels_of_nesting)
{
    char *s = nested(100, "[", "1", "]");
    DOC_ERROR(s, MF_FORMAT_JSON, "nested deeper than 32 levels");
    free(s);
    s = nested(100, "{\"a\":", "1", "}");
    DOC_ERROR(s, MF_FORMAT_JSON, "nested deeper than 32 levels");
    free(s);
    char yaml[2048] = "Packages:\n";
    size_t n = strlen(yaml);
    for (int i = 0; i < 100; i++)
        yaml[n++] = '[';
    for (int i = 0; i < 100; i++)
        yaml[n++] = ']';
    yaml[n] = 0;
    DOC_ERROR(yaml, MF_FORMAT_YAML, "nested deeper than 32 levels");
}

Test(malformed, sixty_four_mib_manifest)
{
    size_t size = 64u * 1024 * 1024;
    char *s = malloc(size);
    memset(s, ' ', size);
    s[0] = '{';
    s[size - 1] = '}';
    expect_doc_error(s, size, MF_FORMAT_AUTO, "manifest is 67108864 bytes, the limit is 4194304");
    free(s);
}

Test(malformed, yaml_alias_bomb)
{
    const char *bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                       "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                       "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                       "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                       "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                       "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                       "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                       "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                       "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    DOC_ERROR(bomb, MF_FORMAT_AUTO, "YAML line 1: anchors and aliases are not allowed");
}

Test(malformed, yaml_features_outside_plain_data)
{
    DOC_ERROR("a: *x\n", MF_FORMAT_YAML, "anchors and aliases are not allowed");
    DOC_ERROR("a: !!binary aGVsbG8=\n", MF_FORMAT_YAML, "tags are not allowed");
    DOC_ERROR("a: 1\n---\nb: 2\n", MF_FORMAT_YAML, "only one document is allowed");
    DOC_ERROR("? [a, b]\n: c\n", MF_FORMAT_YAML, "mapping keys must be scalars");
    DOC_ERROR("a: [1, 2\nb: x\n", MF_FORMAT_YAML, "flow sequence without a closing bracket");
    DOC_ERROR("a: .inf\n", MF_FORMAT_YAML, "cannot be represented in JSON");
    DOC_ERROR("a: 99999999999999999999\n", MF_FORMAT_YAML, "out of range");
    DOC_ERROR("# nothing\n", MF_FORMAT_YAML, "empty document");
    DOC_ERROR("a: '\xff'\n", MF_FORMAT_YAML, "not valid UTF-8 (at byte 4)");
}

Test(malformed, wrong_top_level_types)
{
    DOC_ERROR("[1,2]", MF_FORMAT_JSON, "a manifest must be a JSON object, got array");
    DOC_ERROR("- a\n- b\n", MF_FORMAT_YAML, "a manifest must be a JSON object, got array");
    DOC_ERROR("\"x\"", MF_FORMAT_JSON, "'[' or '{' expected");
}

Test(malformed, too_many_entries)
{
    struct buf b = BUF_INIT;
    char *s;
    cr_assert_eq(buf_append_str(&b, "{\"Marbles\":{\"m\":{\"Parameters\":{\"Argv\":["), 0);
    for (size_t i = 0; i < QY_MANIFEST_MAX_ENTRIES + 1; i++)
        cr_assert_eq(buf_append_str(&b, i ? ",\"a\"" : "\"a\""), 0);
    cr_assert_eq(buf_append_str(&b, "]}}}}"), 0);
    cr_assert_eq(buf_steal_str(&b, &s), 0);
    DOC_ERROR(s, MF_FORMAT_JSON, "has 4097 entries, the limit is 4096");
    free(s);
}

/* STYLE 20: truncate the golden manifest at every length and flip every byte; nothing may crash
 * (ASan/UBSan watch), and every outcome is a clean result. */
Test(malformed, every_truncation_and_byte_flip_is_handled, .timeout = 600)
{
    json_t *j = qt_manifest_json("base.json");
    struct buf text = BUF_INIT;
    cr_assert_eq(js_dump(&text, j, JSON_COMPACT), 0);
    json_decref(j);
    for (size_t len = 0; len < text.size; len++) {
        struct diag d = DIAG_INIT;
        struct manifest *m = NULL;
        int r = manifest_parse(view_of(text.ptr, len), MF_FORMAT_AUTO, &d, &m);
        cr_assert_eq(r, ERR_MANIFEST, "a truncated manifest (%zu bytes) must not decode", len);
        diag_free(&d);
    }
    size_t step = text.size > 3000 ? 3 : 1;
    for (size_t i = 0; i < text.size; i += step) {
        uint8_t saved = text.ptr[i];
        text.ptr[i] ^= 0x5a;
        struct diag d = DIAG_INIT;
        struct manifest *m = NULL;
        int r = manifest_load(buf_view(&text), MF_FORMAT_AUTO, NULL, 0, &d, &m);
        cr_assert(r == 0 || r == ERR_MANIFEST, "byte %zu: %s", i, err_name(r));
        cr_assert_eq(r == 0, m != NULL);
        manifest_free(m);
        diag_free(&d);
        text.ptr[i] = saved;
    }
    buf_free(&text);
}
