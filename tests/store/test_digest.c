/* store: the state digest. Every change of a single row of a real SQLite file (and of the digest
 * row alone) is refused at open with an error that says what changed; every sequence of the
 * store's own writes reopens cleanly (the digest recomputed from the rows == the one kept
 * incrementally); a store of the previous format is migrated; the state's files are 0600. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "st.h"

#define COUNTED "SELECT count(*) FROM kv WHERE key NOT IN ('sys:digest', 'sys:dek', 'sys:sealer')"

/* A closed store with a few rows: state, two counted activations, secrets. */
static void a_state(void)
{
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, "state", "3");
    put(s, "activations:a:0", "uuid-0", STORE_REV_ABSENT, 0);
    put(s, "activations:a:1", "uuid-1", STORE_REV_ABSENT, 0);
    put(s, "secrets", "{\"v\":1}", STORE_REV_ANY, 0);
    store_free(s);
}

/* a_state(), a copy of row `saved` in the table "old", then one commit of key = value. */
static void keep_then_put(const char *saved, const char *key, const char *value, uint64_t guard)
{
    char stmt[200];
    a_state();
    snprintf(stmt, sizeof(stmt), "CREATE TABLE old AS SELECT * FROM kv WHERE key = '%s'", saved);
    sql(db, stmt);
    struct store *s = open_store(spec_db, spec_key);
    put(s, key, value, guard, 0);
    store_free(s);
}

#define REFUSED(...)                                                                               \
    do {                                                                                           \
        char want_[512];                                                                           \
        snprintf(want_, sizeof(want_), __VA_ARGS__);                                               \
        open_refused(want_);                                                                       \
    } while (0)

Test(digest, a_deleted_row_is_refused, .init = setup, .fini = teardown)
{
    a_state();
    long long n = sql_int(db, COUNTED);
    sql(db, "DELETE FROM kv WHERE key = 'activations:a:1'");
    REFUSED("the state was tampered with: 1 row(s) missing (%lld entries, the digest counts %lld)", n - 1, n);
}

Test(digest, an_added_copy_of_a_row_is_refused, .init = setup, .fini = teardown)
{
    a_state();
    long long n = sql_int(db, COUNTED);
    sql(db, "INSERT INTO kv (key, value, rev) SELECT 'activations:a:2', value, rev FROM kv "
            "WHERE key = 'activations:a:1'");
    REFUSED("the state was tampered with: row \"activations:a:2\" fails authentication (edited, or moved from "
            "another key) (%lld entries)", n + 1);
}

Test(digest, a_moved_row_is_refused, .init = setup, .fini = teardown)
{
    a_state();
    long long n = sql_int(db, COUNTED);
    sql(db, "UPDATE kv SET key = 'activations:b:0' WHERE key = 'activations:a:0'");
    REFUSED("the state was tampered with: row \"activations:b:0\" fails authentication (edited, or moved from "
            "another key) (%lld entries)", n);
}

/* The old copy keeps its own revision, or takes the current one: the digest does not match either. */
Test(digest, a_row_reverted_to_an_older_copy_is_refused, .init = setup, .fini = teardown)
{
    keep_then_put("secrets", "secrets", "{\"v\":2}", STORE_REV_ANY);
    long long n = sql_int(db, COUNTED);
    cr_assert_lt(sql_int(db, "SELECT rev FROM old"), sql_int(db, "SELECT rev FROM kv WHERE key = 'secrets'"));
    sql(db, "CREATE TABLE new AS SELECT * FROM kv WHERE key = 'secrets'");
    sql(db, "UPDATE kv SET value = (SELECT value FROM old), rev = (SELECT rev FROM old) WHERE key = 'secrets'");
    REFUSED("the state was tampered with: the state digest does not match (%lld entries): a row was replaced "
            "by another copy", n);
    sql(db, "UPDATE kv SET rev = (SELECT rev FROM new) WHERE key = 'secrets'");
    REFUSED("the state was tampered with: the state digest does not match (%lld entries): a row was replaced "
            "by another copy", n);
    sql(db, "UPDATE kv SET value = (SELECT value FROM new) WHERE key = 'secrets'");
    struct store *s = open_store(spec_db, spec_key); /* the current copy back: the state is whole again */
    expect_value(s, "secrets", "{\"v\":2}");
    store_free(s);
}

Test(digest, an_edited_revision_is_refused, .init = setup, .fini = teardown)
{
    a_state();
    long long n = sql_int(db, COUNTED), counter = sql_int(db, "SELECT rev FROM kv WHERE key = 'sys:digest'");
    long long rev = sql_int(db, "SELECT rev FROM kv WHERE key = 'activations:a:1'");
    sql(db, "UPDATE kv SET rev = rev - 1 WHERE key = 'activations:a:1'");
    REFUSED("the state was tampered with: the state digest does not match (%lld entries): a row was replaced "
            "by another copy", n);
    sql(db, "UPDATE kv SET rev = rev + 1001 WHERE key = 'activations:a:1'");
    REFUSED("the state was tampered with: row \"activations:a:1\" has revision %lld, above the digest's commit "
            "counter %lld (the digest is older than the rows)", rev + 1000, counter);
}

Test(digest, a_deleted_or_edited_digest_is_refused, .init = setup, .fini = teardown)
{
    a_state();
    sql(db, "CREATE TABLE old AS SELECT * FROM kv WHERE key = 'sys:digest'");
    sql(db, "UPDATE kv SET value = CAST(substr(value, 1, 20) || x'5a' || substr(value, 22) AS BLOB) "
            "WHERE key = 'sys:digest'");
    open_refused("the state was tampered with: its digest (sys:digest) fails authentication");
    sql(db, "UPDATE kv SET rev = rev + 1 WHERE key = 'sys:digest'");
    sql(db, "UPDATE kv SET value = (SELECT value FROM old) WHERE key = 'sys:digest'");
    REFUSED("the state was tampered with: its digest (sys:digest) has revision %lld, not its commit counter %lld",
            sql_int(db, "SELECT rev FROM old") + 1, sql_int(db, "SELECT rev FROM old"));
    sql(db, "DELETE FROM kv WHERE key = 'sys:digest'");
    open_refused("the state was tampered with: its digest (sys:digest) is missing");
}

/* The digest rolled back alone: rows written since carry revisions above its counter; a row
 * deleted since is missing from its count. */
Test(digest, the_digest_reverted_alone_is_refused, .init = setup, .fini = teardown)
{
    keep_then_put("sys:digest", "activations:a:2", "uuid-2", STORE_REV_ABSENT);
    const char *restore = "UPDATE kv SET value = (SELECT value FROM old), rev = (SELECT rev FROM old) "
                          "WHERE key = 'sys:digest'";
    sql(db, "CREATE TABLE new AS SELECT * FROM kv WHERE key = 'sys:digest'");
    sql(db, restore);
    REFUSED("the state was tampered with: row \"activations:a:2\" has revision %lld, above the digest's commit "
            "counter %lld (the digest is older than the rows)",
            sql_int(db, "SELECT rev FROM kv WHERE key = 'activations:a:2'"), sql_int(db, "SELECT rev FROM old"));
    sql(db, "UPDATE kv SET value = (SELECT value FROM new), rev = (SELECT rev FROM new) WHERE key = 'sys:digest'");
    struct store *s = open_store(spec_db, spec_key);
    struct store_txn *t = store_txn_new();
    cr_assert_eq(store_txn_del(t, "activations:a:2", STORE_REV_ANY), 0);
    cr_assert_eq(store_txn_del(t, "activations:a:1", STORE_REV_ANY), 0);
    cr_assert_eq(store_commit(s, t), 0);
    store_txn_free(t);
    store_free(s);
    long long n = sql_int(db, COUNTED);
    sql(db, restore);
    REFUSED("the state was tampered with: 1 row(s) missing (%lld entries, the digest counts %lld)", n, n + 1);
}

static void copy_file(const char *from, const char *to)
{
    struct buf b = BUF_INIT;
    cr_assert_eq(file_read(from, 64u << 20, &b), 0);
    cr_assert_eq(file_write_atomic(to, buf_view(&b), 0600), 0);
    buf_free(&b);
}

/* What the digest cannot see: the whole state restored to an older copy (the documented limit). A
 * partial restore, the digest with some of the rows, is still refused. */
Test(digest, only_a_whole_rollback_goes_unnoticed, .init = setup, .fini = teardown)
{
    char old[340];
    snprintf(old, sizeof(old), "%s/old.db", dir);
    a_state(); /* closed: the WAL is checkpointed into state.db */
    copy_file(db, old);
    struct store *s = open_store(spec_db, spec_key);
    put(s, "secrets", "{\"v\":2}", STORE_REV_ANY, 0);
    put(s, "activations:a:2", "uuid-2", STORE_REV_ABSENT, 0);
    store_free(s);
    char attach[800];
    snprintf(attach, sizeof(attach), "ATTACH '%s' AS o; UPDATE main.kv SET value = (SELECT o.kv.value FROM o.kv "
             "WHERE o.kv.key = main.kv.key), rev = (SELECT o.kv.rev FROM o.kv WHERE o.kv.key = main.kv.key) "
             "WHERE key IN ('sys:digest', 'secrets')", old);
    sql(db, attach); /* digest and secrets rolled back, the new activation kept */
    REFUSED("the state was tampered with: row \"activations:a:2\" has revision %lld, above the digest's commit "
            "counter %lld (the digest is older than the rows)",
            sql_int(db, "SELECT rev FROM kv WHERE key = 'activations:a:2'"),
            sql_int(old, "SELECT rev FROM kv WHERE key = 'sys:digest'"));
    remove_db();
    copy_file(old, db);
    s = open_store(spec_db, spec_key);
    expect_value(s, "secrets", "{\"v\":1}");
    store_free(s);
}

/* A sealed store has no key to check with: recovery checks before it unseals anything. */
Test(digest, a_sealed_store_is_checked_at_unlock, .init = setup, .fini = teardown)
{
    a_state();
    long long n = sql_int(db, COUNTED);
    sql(db, "DELETE FROM kv WHERE key = 'activations:a:0'");
    char other[340], want[200];
    snprintf(other, sizeof(other), "keyfile:%s/other.key", dir);
    struct store *s = open_store(spec_db, other);
    cr_assert_eq(store_status(s), STORE_SEALED);
    cr_assert_eq(store_check_dek(s, dek1), 0);
    cr_assert_eq(store_unlock(s, dek1, sealer(other)), ERR_TAMPERED);
    snprintf(want, sizeof(want), "the state was tampered with: 1 row(s) missing (%lld entries, the digest counts %lld)",
             n - 1, n);
    cr_assert_str_eq(err_detail(ERR_TAMPERED), want);
    cr_assert_eq(store_status(s), STORE_SEALED);
    store_free(s);
    cr_assert_eq(sql_int(db, "SELECT count(*) FROM kv WHERE key = 'sys:sealer' AND CAST(value AS TEXT) = 'insecure-key-file'"), 1);
}

/* The property: whatever the store itself writes - commits with and without guards, deletes,
 * refused transactions, resets, rekeys, rewraps, an unlock - reopens cleanly, i.e. the digest
 * recomputed from the rows equals the one kept commit by commit, and the values are the model's. */
struct model {
    char val[16][16];
    bool present[16];
};

static void check_model(struct store *s, const struct model *m)
{
    for (int i = 0; i < 16; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k:%02d", i);
        if (m->present[i]) {
            expect_value(s, key, m->val[i]);
        } else {
            struct buf b = BUF_INIT;
            cr_assert_eq(store_get(s, key, &b, NULL), ERR_NOT_FOUND, "%s", key);
        }
    }
}

static void random_txn(struct store *s, struct model *m, unsigned *seed, int step)
{
    struct store_txn *t = store_txn_new();
    struct model next = *m;
    int n = 1 + (int)(rand_r(seed) % 3), want = 0;
    for (int j = 0; j < n; j++) {
        int i = (int)(rand_r(seed) % 16), kind = (int)(rand_r(seed) % 5);
        char key[16];
        snprintf(key, sizeof(key), "k:%02d", i);
        uint64_t rev = STORE_REV_ABSENT, guard = STORE_REV_ANY;
        struct buf b = BUF_INIT;
        int r = store_get(s, key, &b, &rev);
        buf_free(&b);
        if (r == ERR_NOT_FOUND)
            rev = STORE_REV_ABSENT;
        if (kind == 1)
            guard = rev;
        if (kind == 2)
            guard = STORE_REV_ABSENT;
        if (kind == 3)
            guard = rev + 7; /* never the current revision: refused */
        if (guard != STORE_REV_ANY && guard != rev) /* guards see the state before the transaction */
            want = ERR_CONFLICT;
        if (kind == 4) {
            cr_assert_eq(store_txn_del(t, key, guard), 0);
            next.present[i] = false;
        } else {
            snprintf(next.val[i], sizeof(next.val[i]), "v%d.%d", step, j);
            cr_assert_eq(store_txn_put(t, key, view_str(next.val[i]), guard), 0);
            next.present[i] = true;
        }
    }
    int r = store_commit(s, t);
    store_txn_free(t);
    cr_assert_eq(r, want, "step %d: %s", step, r < 0 ? err_detail(r) : "committed");
    if (r == 0)
        *m = next;
}

Test(digest, every_sequence_of_writes_reopens_cleanly, .init = setup, .fini = teardown, .timeout = 300)
{
    struct model m;
    memset(&m, 0, sizeof(m));
    unsigned seed = 13;
    char other[340];
    snprintf(other, sizeof(other), "keyfile:%s/other.key", dir);
    const char *seal = spec_key;
    uint8_t dek[STORE_DEK_SIZE];
    memcpy(dek, dek1, sizeof(dek));
    struct store *s = open_store(spec_db, seal);
    reset_with(s, seal, NULL, NULL);
    for (int step = 1; step <= 240; step++) {
        random_txn(s, &m, &seed, step);
        if (step % 60 == 0) { /* a rekey: everything under a new DEK, with one write */
            dek[0]++;
            struct store_txn *t = store_txn_new();
            cr_assert_eq(store_txn_put(t, "k:00", view_str("rekeyed"), STORE_REV_ANY), 0);
            cr_assert_eq(store_rekey(s, dek, view_str("{\"recovery\":2}"), sealer(seal), t), 0);
            store_txn_free(t);
            snprintf(m.val[0], sizeof(m.val[0]), "rekeyed");
            m.present[0] = true;
        }
        if (step == 100) { /* to another seal key */
            cr_assert_eq(store_rewrap(s, sealer(other)), 0);
            seal = other;
        }
        if (step == 150) { /* the other "host": sealed, unlocked by recovery */
            store_free(s);
            s = open_store(spec_db, spec_key);
            cr_assert_eq(store_status(s), STORE_SEALED);
            cr_assert_eq(store_unlock(s, dek, sealer(spec_key)), 0);
            seal = spec_key;
        }
        if (step == 200) { /* a new manifest: everything starts over */
            dek[1]++;
            cr_assert_eq(store_reset(s, dek, VIEW_EMPTY, sealer(seal), NULL), 0);
            memset(&m, 0, sizeof(m));
        }
        if (step % 20 == 0) {
            store_free(s);
            s = open_store(spec_db, seal);
            cr_assert_eq(store_status(s), STORE_OPEN, "step %d", step);
            check_model(s, &m);
        }
    }
    store_free(s);
}

/* Concurrent commits grouped into rounds, some refused inside a round: compare-and-swap increments
 * of three shared counters, unique records, and records that must conflict. */
struct racer {
    struct store *s;
    int id, increments, conflicts;
};

static int read_counter(struct store *s, const char *key, uint64_t *rev)
{
    struct buf b = BUF_INIT;
    int r = store_get(s, key, &b, rev), v = 0;
    if (r == 0 && buf_terminate(&b) != 0)
        abort();
    if (r == 0)
        v = (int)strtol((const char *)b.ptr, NULL, 10); /* the test's own decimal text */
    if (r == ERR_NOT_FOUND)
        *rev = STORE_REV_ABSENT;
    buf_free(&b);
    return v;
}

static void *race(void *arg)
{
    struct racer *w = arg;
    for (int i = 0; i < 40; i++) {
        char key[32], value[16];
        snprintf(key, sizeof(key), "counter:%d", i % 3);
        uint64_t rev = 0;
        int v = read_counter(w->s, key, &rev);
        struct store_txn *t = store_txn_new();
        snprintf(value, sizeof(value), "%d", v + 1);
        if (store_txn_put(t, key, view_str(value), rev) != 0)
            abort();
        int r = store_commit(w->s, t);
        store_txn_free(t);
        w->increments += r == 0;
        w->conflicts += r == ERR_CONFLICT;
        if (r != 0 && r != ERR_CONFLICT)
            abort();
        t = store_txn_new();
        snprintf(key, sizeof(key), "record:%d:%d", w->id, i);
        if (store_txn_put(t, key, view_str("r"), STORE_REV_ABSENT) != 0 || store_commit(w->s, t) != 0)
            abort();
        if (store_commit(w->s, t) != ERR_CONFLICT) /* the same record again: refused in its round */
            abort();
        store_txn_free(t);
    }
    return NULL;
}

Test(digest, concurrent_rounds_with_conflicts_reopen_cleanly, .init = setup, .fini = teardown, .timeout = 300)
{
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, NULL, NULL);
    pthread_t th[8];
    struct racer w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct racer){s, i, 0, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, race, &w[i]), 0);
    }
    int increments = 0, conflicts = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        increments += w[i].increments;
        conflicts += w[i].conflicts;
    }
    cr_log_info("%d increments, %d refused by their guard, %llu rounds", increments, conflicts,
                (unsigned long long)store_commit_groups(s));
    store_free(s);
    s = open_store(spec_db, spec_key);
    cr_assert_eq(store_status(s), STORE_OPEN);
    int total = 0;
    for (int c = 0; c < 3; c++) {
        char key[32];
        uint64_t rev;
        snprintf(key, sizeof(key), "counter:%d", c);
        total += read_counter(s, key, &rev);
    }
    cr_assert_eq(total, increments, "every acknowledged increment, no other");
    store_free(s);
}

/* A store as the previous format wrote it: values under the DEK itself, revisions per key, no
 * digest; written here row by row with SQLite, independently of the store's code. */
static void previous_format(const char *const *kv_pairs, size_t n)
{
    sqlite3 *h = raw_db();
    cr_assert_eq(sqlite3_exec(h, "PRAGMA journal_mode=WAL; CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT "
                                 "NULL, rev INTEGER NOT NULL) WITHOUT ROWID", NULL, NULL, NULL), SQLITE_OK);
    struct sealer *se = sealer(spec_key);
    struct buf rows[4 + 8];
    const char *keys[4 + 8] = {"sys:dek", "sys:sealer", "sys:check", "sys:recovery"};
    for (size_t i = 0; i < 12; i++)
        rows[i] = (struct buf)BUF_INIT;
    cr_assert_eq(se->seal(se, view_of(dek1, STORE_DEK_SIZE), view_str("quarry-dek-v1"), &rows[0]), 0);
    cr_assert_eq(buf_append_str(&rows[1], se->name), 0);
    cr_assert_eq(crypto_aead_seal(dek1, view_str("sys:check"), view_str("quarry-store-v1"), &rows[2]), 0);
    cr_assert_eq(buf_append_str(&rows[3], "{\"recovery\":1}"), 0);
    for (size_t i = 0; i < n; i++) {
        keys[4 + i] = kv_pairs[2 * i];
        cr_assert_eq(crypto_aead_seal(dek1, view_str(keys[4 + i]), view_str(kv_pairs[2 * i + 1]), &rows[4 + i]), 0);
    }
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(h, "INSERT INTO kv VALUES (?1, ?2, ?3)", -1, &st, NULL), SQLITE_OK);
    for (size_t i = 0; i < 4 + n; i++) {
        sqlite3_bind_text(st, 1, keys[i], -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, rows[i].ptr, (int)rows[i].size, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, 1 + (sqlite3_int64)(i % 3));
        cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
        buf_free(&rows[i]);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    sealer_free(se);
}

static const char *const old_rows[] = {"state", "3", "secrets", "{\"v\":1}", "activations:a:0", "uuid-0"};

Test(digest, a_store_of_the_previous_format_is_migrated_once, .init = setup, .fini = teardown)
{
    previous_format(old_rows, 3);
    struct store *s = open_store(spec_db, spec_key);
    cr_assert_eq(store_status(s), STORE_OPEN);
    expect_value(s, "state", "3");
    expect_value(s, "secrets", "{\"v\":1}");
    struct buf b = BUF_INIT;
    cr_assert_eq(store_recovery_data(s, &b), 0);
    cr_assert(view_eq(buf_view(&b), view_str("{\"recovery\":1}")));
    buf_free(&b);
    store_free(s);
    long long counter = sql_int(db, "SELECT rev FROM kv WHERE key = 'sys:digest'");
    cr_assert_eq(sql_int(db, "SELECT min(rev) FROM kv"), counter, "all of it rewritten in one commit");
    cr_assert_gt(counter, 3, "revisions above the previous format's");
    s = open_store(spec_db, spec_key);
    store_free(s);
    cr_assert_eq(sql_int(db, "SELECT rev FROM kv WHERE key = 'sys:digest'"), counter, "migrated once");
    sql(db, "DELETE FROM kv WHERE key = 'activations:a:0'");
    open_refused("the state was tampered with: 1 row(s) missing (4 entries, the digest counts 5)");
}

Test(digest, a_tampered_store_of_the_previous_format_is_refused, .init = setup, .fini = teardown)
{
    previous_format(old_rows, 3);
    sql(db, "UPDATE kv SET value = (SELECT value FROM kv WHERE key = 'state') WHERE key = 'secrets'");
    open_refused("the state was tampered with: row \"secrets\" of the previous format fails authentication");
}

/* Presenting a migrated store as one of the previous format (its old check value back, the digest
 * deleted) does not bring the unauthenticated format back: rows written since do not open in it. */
Test(digest, a_migrated_store_cannot_be_passed_off_as_the_previous_format, .init = setup, .fini = teardown)
{
    previous_format(old_rows, 3);
    sql(db, "CREATE TABLE old AS SELECT * FROM kv WHERE key = 'sys:check'");
    struct store *s = open_store(spec_db, spec_key);
    store_free(s);
    sql(db, "UPDATE kv SET value = (SELECT value FROM old) WHERE key = 'sys:check'");
    sql(db, "DELETE FROM kv WHERE key = 'sys:digest'");
    open_refused("the state was tampered with: row \"activations:a:0\" of the previous format fails authentication");
}

/* 6e: the state's files are 0600 whatever the umask, also a file an older version left 0644. */
static void expect_mode(const char *suffix, mode_t want)
{
    char path[340];
    struct stat st;
    snprintf(path, sizeof(path), "%s%s", db, suffix);
    cr_assert_eq(stat(path, &st), 0, "%s exists", path);
    cr_assert_eq(st.st_mode & 07777, want, "%s has mode %o", path, (unsigned)(st.st_mode & 07777));
}

Test(digest, the_files_of_the_state_are_0600_whatever_the_umask, .init = setup, .fini = teardown)
{
    mode_t old = umask(022);
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, "state", "3");
    expect_mode("", 0600);
    expect_mode("-wal", 0600);
    expect_mode("-shm", 0600);
    store_free(s);
    cr_assert_eq(chmod(db, 0644), 0);
    s = open_store(spec_db, spec_key);
    put(s, "secret:a", "alpha", STORE_REV_ANY, 0);
    expect_mode("", 0600);
    expect_mode("-wal", 0600);
    store_free(s);
    umask(old);
}

/* Two writers sharing one store (two connections to one SQLite file, as two Coordinators would
 * share etcd): each round is guarded by the digest's revision, so the one that loses the race reads
 * the other's digest and its rows again and commits on top; nothing is lost and the state reopens. */
Test(digest, two_writers_on_one_store_extend_one_digest, .init = setup, .fini = teardown)
{
    struct store *a = open_store(spec_db, spec_key);
    reset_with(a, spec_key, "state", "3");
    struct store *b = open_store(spec_db, spec_key);
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf(key, sizeof(key), "record:a:%d", i);
        put(a, key, "from a", STORE_REV_ABSENT, 0);
        snprintf(key, sizeof(key), "record:b:%d", i);
        put(b, key, "from b", STORE_REV_ABSENT, 0); /* b's digest is one commit behind: it catches up */
        put(b, "shared", key, STORE_REV_ANY, 0);
        put(a, "shared", "a", STORE_REV_ANY, 0);
    }
    store_free(a);
    store_free(b);
    struct store *s = open_store(spec_db, spec_key);
    expect_value(s, "record:a:9", "from a");
    expect_value(s, "record:b:9", "from b");
    expect_value(s, "shared", "a");
    store_free(s);
}

/* A row deleted from the file while the store is open, then written again by the store: the MAC of
 * the deleted copy stays in the sum, and the next open finds it missing. */
Test(digest, a_row_deleted_while_open_is_found_at_the_next_open, .init = setup, .fini = teardown)
{
    a_state();
    long long n = sql_int(db, COUNTED);
    struct store *s = open_store(spec_db, spec_key);
    sql(db, "DELETE FROM kv WHERE key = 'secrets'");
    put(s, "secrets", "{\"v\":3}", STORE_REV_ANY, 0);
    store_free(s);
    REFUSED("the state was tampered with: 1 row(s) missing (%lld entries, the digest counts %lld)", n, n + 1);
}

/* A rekey writes every row again under a new digest: it must first find the rows are the ones the
 * current digest covers, or a change made while the Coordinator runs would become permanent. */
Test(digest, a_rekey_refuses_rows_changed_while_open, .init = setup, .fini = teardown)
{
    a_state();
    long long n = sql_int(db, COUNTED);
    struct store *s = open_store(spec_db, spec_key);
    sql(db, "DELETE FROM kv WHERE key = 'secrets'");
    uint8_t dek[STORE_DEK_SIZE];
    memcpy(dek, dek1, sizeof(dek));
    dek[0]++;
    struct store_txn *t = store_txn_new();
    int r = store_rekey(s, dek, view_str("{\"recovery\":2}"), sealer(spec_key), t);
    cr_assert_eq(r, ERR_TAMPERED, "%s", err_name(r));
    char want[160];
    snprintf(want, sizeof(want), "the state was tampered with: 1 row(s) missing (%lld entries, the digest counts %lld)",
             n - 1, n);
    cr_assert_str_eq(err_detail(r), want);
    store_txn_free(t);
    store_free(s);
    REFUSED("the state was tampered with: 1 row(s) missing (%lld entries, the digest counts %lld)", n - 1, n);
}
