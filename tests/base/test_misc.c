/* errors, diagnostics and paths, logging, time */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

Test(err, table_lookups)
{
    cr_assert_str_eq(err_name(ERR_SYNTAX), "ERR_SYNTAX");
    cr_assert_eq(err_category(ERR_SYNTAX), ERRC_INPUT);
    cr_assert_eq(err_category(ERR_PERMISSION), ERRC_PERM);
    cr_assert_eq(err_category(0), ERRC_NONE);
    cr_assert_str_eq(err_name(-12345), "ERR_INTERNAL");
}

static int fails(void)
{
    FAIL(ERR_RANGE, "value %d too big", 7);
}

static int wraps(void)
{
    int r = ERR_INTERNAL;
    TRY_OUT(fails());
    r = 0;
out:
    return r;
}

Test(err, detail_records_function_and_text)
{
    err_clear();
    cr_assert_eq(wraps(), ERR_RANGE);
    cr_assert_str_eq(err_detail(ERR_RANGE), "value 7 too big");
    cr_assert_str_eq(err_func(), "fails");
    cr_assert_str_eq(err_detail(ERR_IO), "I/O error", "detail belongs to its own code only");
}

Test(diag, counts_sorts_and_builds_paths)
{
    struct diag d = DIAG_INIT;
    struct jpath p = JPATH_INIT;
    size_t m1 = jpath_push(&p, "Marbles");
    size_t m2 = jpath_push(&p, "web");
    jpath_push(&p, "Files");
    jpath_push(&p, "/etc/key.pem");
    cr_assert_str_eq(jpath_str(&p), "Marbles.web.Files./etc/key.pem");
    jpath_pop(&p, m2);
    jpath_push_index(&p, 3);
    cr_assert_str_eq(jpath_str(&p), "Marbles[3]");
    jpath_pop(&p, m1);
    cr_assert_str_eq(jpath_str(&p), "");
    diag_add(&d, DIAG_WARNING, "b", "w");
    diag_add(&d, DIAG_ERROR, "z", "e1");
    diag_add(&d, DIAG_ERROR, "a", "e2 %d", 2);
    diag_sort(&d);
    cr_assert_eq(d.errors, 2);
    cr_assert_eq(d.warnings, 1);
    cr_assert_str_eq(d.items[0].path, "a");
    cr_assert_str_eq(d.items[0].message, "e2 2");
    cr_assert_str_eq(d.items[2].path, "b");
    diag_free(&d);
}

Test(diag, long_paths_are_truncated_and_many_entries_dropped_but_counted)
{
    struct jpath p = JPATH_INIT;
    char key[200];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = 0;
    size_t mark = jpath_push(&p, "x");
    for (int i = 0; i < 10; i++)
        jpath_push(&p, key);
    cr_assert_lt(strlen(jpath_str(&p)), QY_DIAG_PATH_MAX);
    cr_assert(strstr(jpath_str(&p), "...") != NULL);
    jpath_pop(&p, mark);
    cr_assert_str_eq(jpath_str(&p), "");
    struct diag d = DIAG_INIT;
    for (int i = 0; i < QY_DIAG_MAX + 10; i++)
        diag_add(&d, DIAG_ERROR, "", "e%d", i);
    cr_assert_eq(d.count, QY_DIAG_MAX);
    cr_assert_eq(d.errors, QY_DIAG_MAX + 10);
    cr_assert_eq(d.dropped, 10);
    diag_free(&d);
}

static void capture_log(enum log_format f, char *out, size_t size)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    log_configure(LOG_DEBUG, f, fds[1]);
    cr_assert_eq(log_context_set("mode", "emulated"), 0);
    log_info("mesh", "marble activated", LF_STR("type", "front end\n\"x\""), LF_INT("n", -3),
             LF_BOOL("ok", true));
    log_debug("mesh", "no fields");
    close(fds[1]);
    ssize_t n = read(fds[0], out, size - 1);
    out[n > 0 ? n : 0] = 0;
    close(fds[0]);
    log_context_clear();
    log_configure(LOG_INFO, LOG_TEXT, 2);
}

Test(log, text_lines_escape_values)
{
    char out[2048];
    capture_log(LOG_TEXT, out, sizeof(out));
    cr_assert(strstr(out, " info  mesh: marble activated type=\"front end\\x0a\\\"x\\\"\" n=-3 ok=true "
                          "mode=emulated\n") != NULL, "%s", out);
    cr_assert(strstr(out, "debug mesh: no fields mode=emulated\n") != NULL, "%s", out);
}

Test(log, json_lines_are_valid_json)
{
    char out[2048];
    capture_log(LOG_JSON, out, sizeof(out));
    char *nl = strchr(out, '\n');
    cr_assert_not_null(nl);
    json_t *j;
    cr_assert_eq(js_parse(view_of(out, (size_t)(nl - out)), 4096, &j), 0, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "front end\n\"x\"");
    cr_assert_eq(json_integer_value(json_object_get(j, "n")), -3);
    cr_assert_str_eq(json_string_value(json_object_get(j, "mode")), "emulated");
    cr_assert_str_eq(json_string_value(json_object_get(j, "level")), "info");
    json_decref(j);
}

/* The token bucket for lines outsiders cause: a burst, then the refill rate; the lines left out are
 * counted and handed to the next line that passes. */
Test(log, limits_pass_a_burst_then_count_the_rest)
{
    struct log_limit l = LOG_LIMIT_INIT(3, 60);
    unsigned long long suppressed;
    unsigned seconds;
    for (int i = 0; i < 3; i++) {
        cr_assert(log_limit_take(&l, &suppressed, &seconds), "line %d of the burst", i);
        cr_assert_eq(suppressed, 0);
    }
    for (int i = 0; i < 50; i++)
        cr_assert_not(log_limit_take(&l, &suppressed, &seconds), "line %d beyond the burst", i);
    struct timespec pause = {1, 100 * 1000 * 1000}; /* more than the second a token takes */
    nanosleep(&pause, NULL);
    cr_assert(log_limit_take(&l, &suppressed, &seconds));
    cr_assert_eq(suppressed, 50);
    cr_assert_geq(seconds, 1);
    cr_assert_not(log_limit_take(&l, &suppressed, &seconds), "one token came back, not more");
    cr_assert_eq(suppressed, 0);
}

Test(log, levels_and_formats_parse)
{
    enum log_level l;
    enum log_format f;
    cr_assert_eq(log_parse_level("warn", &l), 0);
    cr_assert_eq(l, LOG_WARN);
    cr_assert_eq(log_parse_level("loud", &l), ERR_INVALID_ARG);
    cr_assert_eq(log_parse_format("json", &f), 0);
    cr_assert_eq(log_parse_format("xml", &f), ERR_INVALID_ARG);
}

Test(timefmt, rfc3339_round_trips)
{
    int64_t t;
    char s[32];
    cr_assert_eq(qtime_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(qtime_parse_rfc3339("2026-11-25T10:30:00.123+01:00", &t), 0);
    cr_assert_eq(qtime_format_rfc3339(t, s), 0);
    cr_assert_str_eq(s, "2026-11-25T09:30:00Z");
    cr_assert_eq(qtime_parse_rfc3339("2100-02-28T23:59:59Z", &t), 0);
    cr_assert_eq(qtime_format_rfc3339(t + 1, s), 0);
    cr_assert_str_eq(s, "2100-03-01T00:00:00Z", "2100 is not a leap year");
    cr_assert_eq(qtime_parse_rfc3339("0001-01-01T00:00:00Z", &t), 0);
    cr_assert_eq(qtime_format_rfc3339(t, s), 0);
    cr_assert_str_eq(s, "0001-01-01T00:00:00Z");
}

Test(timefmt, rfc3339_rejects_malformed)
{
    const char *bad[] = {"2026-11-25", "2026-11-25T10:00:00", "2026-13-01T00:00:00Z",
                         "2026-02-29T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T10:00:00Zjunk",
                         "2026-11-25T10:00:00.Z", "2026-11-25 10:00:00Z", ""};
    int64_t t;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_lt(qtime_parse_rfc3339(bad[i], &t), 0, "accepted \"%s\"", bad[i]);
}

Test(uuid, every_go_form_gives_the_canonical_one)
{
    const char *forms[] = {"0D5FBD3E-3B0D-4B6C-BB7E-0E3C3A1F2B4D", "0d5fbd3e3b0d4b6cbb7e0e3c3a1f2b4d",
                           "{0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d}", "urn:uuid:0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d",
                           "URN:UUID:0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char out[UUID_TEXT_SIZE];
        cr_assert_eq(uuid_canonical(forms[i], out), 0, "%s", forms[i]);
        cr_assert_str_eq(out, "0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d");
    }
    uint8_t b[16];
    cr_assert_eq(uuid_parse("0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d", b), 0);
    cr_assert_eq(b[0], 0x0d);
    cr_assert_eq(b[15], 0x4d);
}

Test(uuid, malformed_ones_are_refused)
{
    const struct {
        const char *in, *why;
    } bad[] = {
        {"", "invalid UUID length: 0"},
        {"0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4", "invalid UUID length: 35"},
        {"0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4dd", "invalid UUID length: 37"},
        {"0d5fbd3e+3b0d-4b6c-bb7e-0e3c3a1f2b4d", "invalid UUID format"},
        {"0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4g", "invalid UUID format"},
        {"0d5fbd3e3b0d-4b6c-bb7e-0e3c3a1f2b4d-", "invalid UUID format"},
        {"{0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d)", "invalid UUID length: 38"},
        {"urn:uuid:0d5fbd3e3b0d4b6cbb7e0e3c3a1f2b4d", "invalid UUID length: 41"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[UUID_TEXT_SIZE];
        cr_assert_eq(uuid_canonical(bad[i].in, out), ERR_SYNTAX, "%s", bad[i].in);
        cr_assert_str_eq(err_detail(ERR_SYNTAX), bad[i].why, "%s", bad[i].in);
        cr_assert_str_eq(out, "");
    }
}
