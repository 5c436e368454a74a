#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/quarry-test-file-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static size_t count_entries(void)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

Test(file, atomic_write_replaces_contents_with_mode, .init = setup, .fini = teardown)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/state", dir);
    cr_assert_eq(file_write_atomic(path, view_str("one"), 0600), 0);
    cr_assert_eq(file_write_atomic(path, view_str("two!"), 0600), 0);
    struct buf b = BUF_INIT;
    cr_assert_eq(file_read(path, 100, &b), 0);
    cr_assert(view_eq(buf_view(&b), view_str("two!")));
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(count_entries(), 1, "no temporary files left");
    buf_free(&b);
}

static int failing_fsync(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

Test(file, failed_fsync_leaves_the_old_file_and_no_temporary, .init = setup, .fini = teardown)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/state", dir);
    cr_assert_eq(file_write_atomic(path, view_str("old"), 0600), 0);
    file_set_fsync_hook(failing_fsync);
    cr_assert_eq(file_write_atomic(path, view_str("new"), 0600), ERR_IO);
    file_set_fsync_hook(NULL);
    struct buf b = BUF_INIT;
    cr_assert_eq(file_read(path, 100, &b), 0);
    cr_assert(view_eq(buf_view(&b), view_str("old")));
    cr_assert_eq(count_entries(), 1);
    buf_free(&b);
}

Test(file, read_enforces_limit_and_reports_missing, .init = setup, .fini = teardown)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/big", dir);
    cr_assert_eq(file_write_atomic(path, view_str("0123456789"), 0644), 0);
    struct buf b = BUF_INIT;
    cr_assert_eq(file_read(path, 9, &b), ERR_TOO_LARGE);
    cr_assert_eq(b.size, 0);
    cr_assert_null(b.ptr, "what it allocated is freed: a caller may return at once");
    cr_assert_eq(buf_append_str(&b, "kept"), 0);
    cr_assert_eq(file_read(path, 9, &b), ERR_TOO_LARGE);
    cr_assert(view_eq(buf_view(&b), view_str("kept")), "earlier contents stay");
    buf_reset(&b);
    cr_assert_eq(file_read(path, 10, &b), 0);
    cr_assert_eq(file_read(path, 10, &b), 0, "the limit is the file's, not what the buffer held before");
    cr_assert(view_eq(buf_view(&b), view_str("01234567890123456789")));
    buf_reset(&b);
    snprintf(path, sizeof(path), "%s/missing", dir);
    cr_assert_eq(file_read(path, 10, &b), ERR_NOT_FOUND);
    buf_free(&b);
}

Test(file, mkdirs_creates_parents, .init = setup, .fini = teardown)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/a/b/c", dir);
    cr_assert_eq(file_mkdirs(path, 0700), 0);
    cr_assert_eq(file_mkdirs(path, 0700), 0, "idempotent");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
}

Test(file, write_in_place_truncates_creates_only_when_asked, .init = setup, .fini = teardown)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/attr", dir);
    cr_assert_eq(file_write_in_place(path, view_str("x"), false), ERR_UNAVAILABLE, "absent, not created");
    cr_assert_eq(count_entries(), 0);
    cr_assert_eq(file_write_in_place(path, view_str("a longer value"), true), 0);
    cr_assert_eq(file_write_in_place(path, view_str("short"), false), 0);
    struct buf b = BUF_INIT;
    cr_assert_eq(file_read(path, 100, &b), 0);
    cr_assert(view_eq(buf_view(&b), view_str("short")), "truncated, then written whole");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/no/such/folder", dir);
    cr_assert_eq(file_write_in_place(path, view_str("x"), true), ERR_UNAVAILABLE);
    buf_free(&b);
}
