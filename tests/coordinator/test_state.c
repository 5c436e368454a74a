/* The Coordinator's state on disk, end to end: a row deleted from state.db while the Coordinator is
 * stopped makes it refuse to start, saying the state was tampered with; every file of the state is
 * 0600 (and its directory 0700) whatever the umask. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"

#define TIMEOUT .timeout = 300

static const char *uuids[] = {"0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b41", "0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b42"};

static void activate_limited(struct qc *q, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct api_activation *a = NULL;
        int r = qc_activate(q, "limited", NULL, uuids[i], &a);
        cr_assert_eq(r, 0, "activation %zu: %s", i, err_detail(r));
        api_activation_free(a);
    }
}

/* Runs one statement on the stopped Coordinator's state.db; returns the rows it changed. */
static int on_disk(struct qc *q, const char *stmt)
{
    char db[512];
    sqlite3 *h;
    snprintf(db, sizeof(db), "%s/state.db", q->data);
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, stmt, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
    int n = sqlite3_changes(h);
    sqlite3_close(h);
    return n;
}

static bool log_has(struct qc *q, const char *needle)
{
    struct buf b = BUF_INIT;
    cr_assert_eq(file_read(q->log, 16u << 20, &b), 0);
    bool found = memmem(b.ptr, b.size, needle, strlen(needle)) != NULL;
    buf_free(&b);
    return found;
}

Test(state, a_deleted_activation_count_row_makes_the_coordinator_refuse_to_start, TIMEOUT)
{
    struct qc q;
    qc_init(&q, NULL);
    qc_start(&q, NULL);
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    activate_limited(&q, 2);
    qc_stop(&q);
    int deleted = on_disk(&q, "DELETE FROM kv WHERE key = (SELECT key FROM kv WHERE key LIKE 'activations:limited:%' "
                              "ORDER BY key LIMIT 1)");
    cr_assert_eq(deleted, 1, "one of the two counted activations");
    int st = qc_start_refused(&q, NULL);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d", st);
    cr_assert(log_has(&q, "the state was tampered with: 1 row(s) missing"), "the log says why; see %s", q.log);
    cr_assert(log_has(&q, "cannot start"), "see %s", q.log);
    qc_cleanup(&q);
}

/* Every entry of dir (recursively): files 0600, directories 0700. */
static size_t expect_private(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[1024];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        cr_assert_eq(lstat(path, &st), 0, "%s", path);
        mode_t want = S_ISDIR(st.st_mode) ? 0700 : 0600;
        cr_assert_eq(st.st_mode & 07777, want, "%s has mode %o", path, (unsigned)(st.st_mode & 07777));
        n += S_ISDIR(st.st_mode) ? expect_private(path) : 1;
    }
    closedir(d);
    return n;
}

Test(state, every_file_of_the_state_is_private_whatever_the_umask, TIMEOUT)
{
    mode_t old = umask(022); /* inherited by the Coordinator */
    struct qc q;
    qc_init(&q, NULL);
    qc_start(&q, NULL);
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    activate_limited(&q, 1);
    struct stat st;
    cr_assert_eq(stat(q.data, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0700, "the data directory");
    char wal[512];
    snprintf(wal, sizeof(wal), "%s/state.db-wal", q.data);
    cr_assert_eq(stat(wal, &st), 0, "the WAL exists while the Coordinator runs");
    size_t running = expect_private(q.data);
    qc_stop(&q);
    size_t stopped = expect_private(q.data);
    cr_log_info("%zu files while running, %zu after", running, stopped);
    umask(old);
    qc_cleanup(&q);
}
