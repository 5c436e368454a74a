/* Applying an activation (apply.c): files all or nothing, Gramine keys first, env refused whole. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "qt.h"
#include "qt_ossl.h"

/* An activation result with the given (path, content) files, as api_activate would return it. */
static struct api_activation *with_files(const char *const (*files)[2], size_t n)
{
    struct api_activation *a = calloc(1, sizeof(*a));
    cr_assert_not_null(a);
    a->files = calloc(n + 1, sizeof(*a->files));
    cr_assert_not_null(a->files);
    for (size_t i = 0; i < n; i++) {
        a->files[i].name = strdup(files[i][0]);
        cr_assert_eq(buf_append_str(&a->files[i].value, files[i][1]), 0);
        a->files_count++;
    }
    return a;
}

static const char *in(const char *dir, const char *rel)
{
    static _Thread_local char paths[8][512];
    static _Thread_local int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", dir, rel);
    return p;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s is missing", path);
    return st.st_mode & 07777;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* How many entries under `dir` (at any depth) `find` counts with the given test, e.g. "-name 'x*'". */
static long count_under(const char *dir, const char *test)
{
    struct buf out = BUF_INIT;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "find '%s' -mindepth 1 %s | wc -l", dir, test);
    cr_assert_eq(qt_run(cmd, &out), 0);
    long n = strtol((const char *)out.ptr, NULL, 10);
    buf_free(&out);
    return n;
}

Test(apply, files_written_with_modes_and_folders)
{
    char dir[256];
    qt_tmpdir(dir);
    FILE *f = fopen(in(dir, "old.txt"), "w");
    cr_assert_not_null(f);
    fputs("old contents", f);
    fclose(f);
    const char *files[][2] = {
        {in(dir, "a/b/c.txt"), "deep"}, {in(dir, "old.txt"), "new"}, {in(dir, "a/d"), ""}};
    struct api_activation *a = with_files(files, 3);
    cr_assert_eq(api_activation_write_files(a), 0, "%s", err_detail(-1));
    struct buf b = BUF_INIT;
    qt_read(in(dir, "a/b/c.txt"), &b);
    cr_expect(view_eq(buf_view(&b), view_str("deep")));
    buf_reset(&b);
    qt_read(in(dir, "old.txt"), &b);
    cr_expect(view_eq(buf_view(&b), view_str("new")), "an existing file is replaced");
    buf_free(&b);
    cr_expect_eq(mode_of(in(dir, "a/b/c.txt")), 0600);
    cr_expect_eq(mode_of(in(dir, "old.txt")), 0600);
    cr_expect_eq(mode_of(in(dir, "a/d")), 0600);
    cr_expect_eq(mode_of(in(dir, "a")), 0700);
    cr_expect_eq(mode_of(in(dir, "a/b")), 0700);
    cr_expect_eq(count_under(dir, "-name '*quarry-undo*'"), 0, "the old contents are not kept after success");
    api_activation_free(a);
    qt_rmtree(dir);
}

/* A marble restarted: its files from the last run are there. A failure gives them back unchanged. */
Test(apply, a_failure_restores_the_files_that_were_there)
{
    char dir[256];
    qt_tmpdir(dir);
    FILE *f = fopen(in(dir, "app.conf"), "w");
    cr_assert_not_null(f);
    fputs("last run", f);
    fclose(f);
    cr_assert_eq(chmod(in(dir, "app.conf"), 0640), 0);
    f = fopen(in(dir, "blocker"), "w");
    cr_assert_not_null(f);
    fclose(f);
    const char *files[][2] = {{in(dir, "app.conf"), "this run"}, {in(dir, "blocker/x"), "fails"}};
    struct api_activation *a = with_files(files, 2);
    int r = api_activation_write_files(a);
    cr_assert_eq(r, ERR_IO, "%s", err_name(r));
    struct buf b = BUF_INIT;
    qt_read(in(dir, "app.conf"), &b);
    cr_expect(view_eq(buf_view(&b), view_str("last run")), "the old contents are back");
    cr_expect_eq(mode_of(in(dir, "app.conf")), 0640, "and its mode");
    buf_free(&b);
    cr_expect_eq(count_under(dir, ""), 2, "app.conf and blocker, nothing left over");
    api_activation_free(a);
    qt_rmtree(dir);
}

/* A regular file where a folder must go fails for root too (unlike a read-only folder). */
Test(apply, a_failure_removes_what_this_call_wrote)
{
    char dir[256];
    qt_tmpdir(dir);
    cr_assert_eq(mkdir(in(dir, "pre"), 0755), 0);
    FILE *f = fopen(in(dir, "blocker"), "w");
    cr_assert_not_null(f);
    fclose(f);
    const char *files[][2] = {{in(dir, "x/y/1.txt"), "one"},
                              {in(dir, "pre/2.txt"), "two"},
                              {in(dir, "blocker/3.txt"), "three"},
                              {in(dir, "z/4.txt"), "four"}};
    struct api_activation *a = with_files(files, 4);
    int r = api_activation_write_files(a);
    cr_assert_eq(r, ERR_IO, "%s", err_name(r));
    cr_expect(strstr(err_detail(r), "blocker/3.txt") != NULL, "%s", err_detail(r));
    cr_expect_not(exists(in(dir, "x/y/1.txt")));
    cr_expect_not(exists(in(dir, "x")), "the folders it created are gone too");
    cr_expect_not(exists(in(dir, "pre/2.txt")));
    cr_expect(exists(in(dir, "pre")), "a folder that was there stays");
    cr_expect(exists(in(dir, "blocker")));
    cr_expect_not(exists(in(dir, "z")), "nothing after the failure");
    cr_expect_eq(count_under(dir, ""), 2, "only pre/ and blocker remain, no temporary files");
    api_activation_free(a);
    qt_rmtree(dir);
}

/* Gramine's key pseudo-files come first: without /dev/attestation that write fails, and so nothing
 * else is written. */
Test(apply, gramine_keys_are_written_first)
{
    if (exists("/dev/attestation"))
        cr_skip_test("running inside Gramine");
    char dir[256];
    qt_tmpdir(dir);
    const char *files[][2] = {{in(dir, "regular.txt"), "x"},
                              {"/dev/attestation/keys/default", "0123456789abcdef"}};
    struct api_activation *a = with_files(files, 2);
    int r = api_activation_write_files(a);
    cr_assert_eq(r, ERR_UNAVAILABLE, "not inside Gramine: the pseudo-file's folder does not exist");
    cr_expect(strstr(err_detail(r), "Gramine key /dev/attestation/keys/default") != NULL, "%s",
              err_detail(r));
    cr_expect_not(exists(in(dir, "regular.txt")));
    api_activation_free(a);
    qt_rmtree(dir);
}

static struct api_activation *with_env(const char *name1, struct view v1, const char *name2,
                                       struct view v2)
{
    struct api_activation *a = calloc(1, sizeof(*a));
    cr_assert_not_null(a);
    a->env = calloc(2, sizeof(*a->env));
    a->env[0].name = strdup(name1);
    a->env[1].name = strdup(name2);
    cr_assert_eq(buf_append_view(&a->env[0].value, v1), 0);
    cr_assert_eq(buf_append_view(&a->env[1].value, v2), 0);
    a->env_count = 2;
    return a;
}

Test(apply, env_is_set_whole_or_not_at_all)
{
    struct api_activation *a =
        with_env("QY_APPLY_A", view_str("alpha"), "QY_APPLY_EMPTY", VIEW_EMPTY);
    cr_assert_eq(api_activation_set_env(a), 0);
    cr_expect_str_eq(getenv("QY_APPLY_A"), "alpha");
    cr_expect_str_eq(getenv("QY_APPLY_EMPTY"), "");
    api_activation_free(a);

    a = with_env("QY_APPLY_B", view_str("beta"), "QY_APPLY_NUL", view_of("a\0b", 3));
    cr_expect_eq(api_activation_set_env(a), ERR_ENCODING);
    cr_expect(strstr(err_detail(ERR_ENCODING), "QY_APPLY_NUL contains a NUL byte") != NULL, "%s",
              err_detail(ERR_ENCODING));
    cr_expect_null(getenv("QY_APPLY_B"), "nothing is set when one value is refused");
    api_activation_free(a);

    a = with_env("QY_APPLY_C", view_str("c"), "BAD=NAME", view_str("x"));
    cr_expect_eq(api_activation_set_env(a), ERR_ENCODING);
    cr_expect_null(getenv("QY_APPLY_C"));
    api_activation_free(a);
}
