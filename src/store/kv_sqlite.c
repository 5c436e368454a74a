/*
 * The embedded SQLite backend: one table of (key, value, rev) in WAL mode with synchronous=FULL, so
 * a commit is on disk (fsync'd) when it returns and a crash at any moment leaves either the old or
 * the new state. One connection, serialised by a mutex: reads are rare (start-up, admin calls), and
 * writes are already grouped by the store above.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

struct kv_sqlite {
    struct kv_backend base;
    sqlite3 *db;
    pthread_mutex_t lock;
    sqlite3_stmt *get, *scan, *insert, *update, *del, *rev, *del_all;
};

static int sql_fail(struct kv_sqlite *k, const char *what)
{
    return err_fail(ERR_IO, "kv_sqlite", "SQLite %s: %s", what, sqlite3_errmsg(k->db));
}

static int exec(struct kv_sqlite *k, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(k->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int r = err_fail(ERR_IO, "kv_sqlite", "SQLite \"%s\": %s", sql, msg ? msg : "error");
        sqlite3_free(msg);
        return r;
    }
    return 0;
}

static int sq_get(struct kv_backend *b, const char *key, struct buf *out, uint64_t *rev)
{
    struct kv_sqlite *k = (struct kv_sqlite *)b;
    int r = ERR_NOT_FOUND;
    pthread_mutex_lock(&k->lock);
    sqlite3_bind_text(k->get, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(k->get);
    if (rc == SQLITE_ROW) {
        r = buf_append(out, sqlite3_column_blob(k->get, 0), (size_t)sqlite3_column_bytes(k->get, 0));
        if (rev != NULL)
            *rev = (uint64_t)sqlite3_column_int64(k->get, 1);
    } else if (rc != SQLITE_DONE) {
        r = sql_fail(k, "get");
    }
    sqlite3_reset(k->get);
    sqlite3_clear_bindings(k->get);
    pthread_mutex_unlock(&k->lock);
    return r;
}

/* Keys between prefix and prefix + 0xff...: SQLite compares TEXT with memcmp (BINARY collation). */
static int sq_scan(struct kv_backend *b, const char *prefix, kv_scan_fn fn, void *ctx)
{
    struct kv_sqlite *k = (struct kv_sqlite *)b;
    int r = 0;
    char upper[QY_STORE_KEY_MAX + 2];
    size_t n = strlen(prefix);
    ENSURE(n <= QY_STORE_KEY_MAX, ERR_INVALID_ARG, "prefix too long");
    memcpy(upper, prefix, n);
    upper[n] = (char)0xff;
    upper[n + 1] = '\0';
    pthread_mutex_lock(&k->lock);
    sqlite3_bind_text(k->scan, 1, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_text(k->scan, 2, upper, -1, SQLITE_STATIC);
    int rc;
    while (r >= 0 && (rc = sqlite3_step(k->scan)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(k->scan, 0);
        struct view v = view_of(sqlite3_column_blob(k->scan, 1), (size_t)sqlite3_column_bytes(k->scan, 1));
        r = fn(ctx, key, v, (uint64_t)sqlite3_column_int64(k->scan, 2));
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = sql_fail(k, "scan");
    sqlite3_reset(k->scan);
    sqlite3_clear_bindings(k->scan);
    pthread_mutex_unlock(&k->lock);
    return r;
}

static int step_done(struct kv_sqlite *k, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : sql_fail(k, what);
}

/* The current revision of key (STORE_REV_ABSENT when missing). */
static int current_rev(struct kv_sqlite *k, const char *key, uint64_t *rev)
{
    sqlite3_bind_text(k->rev, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(k->rev);
    *rev = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(k->rev, 0) : STORE_REV_ABSENT;
    sqlite3_reset(k->rev);
    sqlite3_clear_bindings(k->rev);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sql_fail(k, "revision");
}

static int apply_op(struct kv_sqlite *k, const struct kv_op *op, uint64_t rev)
{
    if (op->key == NULL)
        return step_done(k, k->del_all, "wipe");
    if (op->del) {
        sqlite3_bind_text(k->del, 1, op->key, -1, SQLITE_STATIC);
        return step_done(k, k->del, "delete");
    }
    sqlite3_stmt *st = rev == STORE_REV_ABSENT ? k->insert : k->update;
    sqlite3_bind_blob(st, 1, op->value.size ? op->value.ptr : (const void *)"", (int)op->value.size,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 2, op->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)op->rev);
    return step_done(k, st, "write");
}

/* One group inside a savepoint: all its guards hold and all its writes apply, or none does. */
static int apply_group(struct kv_sqlite *k, const struct kv_op *ops, size_t n)
{
    TRY(exec(k, "SAVEPOINT grp"));
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        uint64_t rev = STORE_REV_ABSENT;
        if (ops[i].key != NULL)
            r = current_rev(k, ops[i].key, &rev);
        if (r == 0 && ops[i].expect_rev != STORE_REV_ANY && ops[i].expect_rev != rev)
            r = err_fail(ERR_CONFLICT, "kv_sqlite", "\"%s\" changed concurrently", ops[i].key);
        if (r == 0)
            r = apply_op(k, &ops[i], rev);
    }
    if (r < 0) {
        int saved = r;
        (void)exec(k, "ROLLBACK TO grp");
        (void)exec(k, "RELEASE grp");
        return saved;
    }
    return exec(k, "RELEASE grp");
}

static int sq_commit(struct kv_backend *b, const struct kv_op *ops, const size_t *start, size_t groups,
                     int *result)
{
    struct kv_sqlite *k = (struct kv_sqlite *)b;
    int r = 0;
    pthread_mutex_lock(&k->lock);
    r = exec(k, "BEGIN IMMEDIATE");
    for (size_t g = 0; r == 0 && g < groups; g++) {
        result[g] = apply_group(k, ops + start[g], start[g + 1] - start[g]);
        if (result[g] < 0 && result[g] != ERR_CONFLICT)
            r = result[g]; /* an I/O error fails the whole batch */
    }
    if (r == 0)
        r = exec(k, "COMMIT");
    if (r < 0) {
        (void)sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
        for (size_t g = 0; g < groups; g++)
            result[g] = r;
    }
    pthread_mutex_unlock(&k->lock);
    return r;
}

static int sq_wipe(struct kv_backend *b)
{
    struct kv_sqlite *k = (struct kv_sqlite *)b;
    pthread_mutex_lock(&k->lock);
    int r = step_done(k, k->del_all, "wipe");
    pthread_mutex_unlock(&k->lock);
    return r;
}

static void sq_free(struct kv_backend *b)
{
    struct kv_sqlite *k = (struct kv_sqlite *)b;
    if (k == NULL)
        return;
    sqlite3_stmt *sts[] = {k->get, k->scan, k->insert, k->update, k->del, k->rev, k->del_all};
    for (size_t i = 0; i < QY_ARRAY_LEN(sts); i++)
        sqlite3_finalize(sts[i]);
    sqlite3_close(k->db);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

static int prepare(struct kv_sqlite *k, const char *sql, sqlite3_stmt **out)
{
    if (sqlite3_prepare_v2(k->db, sql, -1, out, NULL) != SQLITE_OK)
        return sql_fail(k, "prepare");
    return 0;
}

/* 0600 whatever the umask. `create`: the file is made if missing; otherwise a missing one is fine. */
static int make_private(const char *path, bool create)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (fd < 0 && !create && errno == ENOENT)
        return 0;
    ENSURE(fd >= 0, ERR_IO, "cannot open %s: %s", path, strerror(errno));
    int r = fchmod(fd, 0600) == 0 ? 0 : err_fail(ERR_IO, __func__, "cannot chmod %s: %s", path, strerror(errno));
    close(fd);
    return r;
}

/* The state is secret even encrypted (who holds it can try the seal key elsewhere): the database is
 * 0600 before SQLite makes its -wal and -shm files, which take the database's permissions; files an
 * older version left 0644 are tightened. */
static int private_files(const char *path)
{
    if (strcmp(path, ":memory:") == 0)
        return 0;
    TRY(make_private(path, true));
    const char *suffix[] = {"-wal", "-shm"};
    for (size_t i = 0; i < QY_ARRAY_LEN(suffix); i++) {
        char side[4096];
        int n = snprintf(side, sizeof(side), "%s%s", path, suffix[i]);
        ENSURE(n > 0 && (size_t)n < sizeof(side), ERR_TOO_LARGE, "store path of %zu bytes", strlen(path));
        TRY(make_private(side, false));
    }
    return 0;
}

int kv_sqlite_open(const char *path, struct kv_backend **out)
{
    int r = ERR_INTERNAL;
    *out = NULL;
    struct kv_sqlite *k = calloc(1, sizeof(*k));
    ENSURE(k != NULL, ERR_NOMEM, "cannot allocate the SQLite backend");
    k->base = (struct kv_backend){"sqlite", sq_get, sq_scan, sq_commit, sq_wipe, sq_free};
    pthread_mutex_init(&k->lock, NULL);
    TRY_OUT(private_files(path));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &k->db, flags, NULL) != SQLITE_OK)
        FAIL_OUT(ERR_IO, "cannot open %s: %s", path, k->db ? sqlite3_errmsg(k->db) : "out of memory");
    sqlite3_busy_timeout(k->db, 5000);
    TRY_OUT(exec(k, "PRAGMA journal_mode=WAL"));
    TRY_OUT(exec(k, "PRAGMA synchronous=FULL"));
    /* SQLite's default page cache grows to 2 MiB, which a start-up scan of counters fills and keeps
     * for good: more than the Coordinator's own idle heap. Reads are rare, writes append. */
    TRY_OUT(exec(k, "PRAGMA cache_size=-256"));
    TRY_OUT(exec(k, "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
                    "rev INTEGER NOT NULL) WITHOUT ROWID"));
    TRY_OUT(prepare(k, "SELECT value, rev FROM kv WHERE key = ?1", &k->get));
    TRY_OUT(prepare(k, "SELECT key, value, rev FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key", &k->scan));
    TRY_OUT(prepare(k, "INSERT INTO kv (value, key, rev) VALUES (?1, ?2, ?3)", &k->insert));
    TRY_OUT(prepare(k, "UPDATE kv SET value = ?1, rev = ?3 WHERE key = ?2", &k->update));
    TRY_OUT(prepare(k, "DELETE FROM kv WHERE key = ?1", &k->del));
    TRY_OUT(prepare(k, "SELECT rev FROM kv WHERE key = ?1", &k->rev));
    TRY_OUT(prepare(k, "DELETE FROM kv", &k->del_all));
    *out = &k->base;
    k = NULL;
    r = 0;
out:
    sq_free(k ? &k->base : NULL);
    return r;
}
