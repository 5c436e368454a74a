/* store: encryption bound to key names, sealing, recovery hooks, guards, group commit, SQLite. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st.h"

Test(store, fresh_store_is_empty_then_opens_after_reset, .init = setup, .fini = teardown)
{
    struct store *s = open_store(spec_db, spec_key);
    cr_assert_eq(store_status(s), STORE_EMPTY);
    struct buf b = BUF_INIT;
    cr_assert_eq(store_get(s, "state", &b, NULL), ERR_WRONG_STATE);
    reset_with(s, spec_key, "state", "2");
    cr_assert_eq(store_status(s), STORE_OPEN);
    expect_value(s, "state", "2");
    cr_assert_eq(store_get(s, "missing", &b, NULL), ERR_NOT_FOUND);
    cr_assert_eq(store_recovery_data(s, &b), 0);
    cr_assert(view_eq(buf_view(&b), view_str("{\"recovery\":1}")));
    cr_assert(store_sealer_insecure(s));
    cr_assert_str_eq(store_sealer_name(s), "insecure-key-file");
    buf_free(&b);
    store_free(s);
}

Test(store, values_survive_restart_with_the_same_seal_key, .init = setup, .fini = teardown)
{
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, "state", "3");
    put(s, "secret:a", "alpha", STORE_REV_ANY, 0);
    store_free(s);
    s = open_store(spec_db, spec_key);
    cr_assert_eq(store_status(s), STORE_OPEN);
    expect_value(s, "state", "3");
    expect_value(s, "secret:a", "alpha");
    store_free(s);
}

Test(store, a_missing_sealer_means_sealed, .init = setup, .fini = teardown)
{
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, "state", "3");
    store_free(s);
    s = open_store(spec_db, "gramine-product:/nonexistent"); /* recorded: insecure-key-file */
    cr_assert_eq(store_status(s), STORE_SEALED);
    cr_assert_str_eq(store_sealer_name(s), "");
    store_free(s);
}

Test(store, another_seal_key_means_sealed_and_recovery_unlocks, .init = setup, .fini = teardown)
{
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, "state", "3");
    store_free(s);
    char other[340];
    snprintf(other, sizeof(other), "keyfile:%s/other.key", dir);
    s = open_store(spec_db, other); /* a "new host" */
    cr_assert_eq(store_status(s), STORE_SEALED);
    struct buf b = BUF_INIT;
    cr_assert_eq(store_recovery_data(s, &b), 0, "recovery data is readable while sealed");
    cr_assert(view_eq(buf_view(&b), view_str("{\"recovery\":1}")));
    uint8_t wrong[STORE_DEK_SIZE] = {9};
    cr_assert_eq(store_check_dek(s, wrong), ERR_CORRUPT);
    cr_assert_eq(store_unlock(s, wrong, sealer(other)), ERR_CORRUPT);
    cr_assert_eq(store_status(s), STORE_SEALED);
    cr_assert_eq(store_check_dek(s, dek1), 0);
    cr_assert_eq(store_unlock(s, dek1, sealer(other)), 0);
    cr_assert_eq(store_status(s), STORE_OPEN);
    expect_value(s, "state", "3");
    store_free(s);
    s = open_store(spec_db, other);
    cr_assert_eq(store_status(s), STORE_OPEN, "re-sealed to the new host");
    store_free(s);
    buf_free(&b);
}

Test(store, guards_compare_revisions, .init = setup, .fini = teardown)
{
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, NULL, NULL);
    put(s, "k", "v1", STORE_REV_ABSENT, 0);
    put(s, "k", "v2", STORE_REV_ABSENT, ERR_CONFLICT);
    uint64_t rev;
    struct buf b = BUF_INIT;
    cr_assert_eq(store_get(s, "k", &b, &rev), 0);
    put(s, "k", "v3", rev + 1, ERR_CONFLICT);
    put(s, "k", "v3", rev, 0);
    put(s, "k", "v4", rev, ERR_CONFLICT);
    expect_value(s, "k", "v3");
    /* a failed guard refuses the whole transaction */
    struct store_txn *t = store_txn_new();
    cr_assert_eq(store_txn_put(t, "other", view_str("x"), STORE_REV_ANY), 0);
    cr_assert_eq(store_txn_put(t, "k", view_str("x"), STORE_REV_ABSENT), 0);
    cr_assert_eq(store_commit(s, t), ERR_CONFLICT);
    cr_assert_eq(store_get(s, "other", &b, NULL), ERR_NOT_FOUND);
    store_txn_free(t);
    t = store_txn_new();
    cr_assert_eq(store_txn_del(t, "k", STORE_REV_ANY), 0);
    cr_assert_eq(store_commit(s, t), 0);
    cr_assert_eq(store_get(s, "k", &b, NULL), ERR_NOT_FOUND);
    store_txn_free(t);
    buf_free(&b);
    store_free(s);
}

static int collect(void *ctx, const char *key, struct view value, uint64_t rev)
{
    (void)rev;
    struct buf *b = ctx;
    TRY(buf_appendf(b, "%s=%.*s;", key, (int)value.size, (const char *)value.ptr));
    return 0;
}

static void scan_checks(const char *backend)
{
    struct store *s = open_store(backend, spec_key);
    reset_with(s, spec_key, "b:2", "two");
    put(s, "a:1", "one", STORE_REV_ANY, 0);
    put(s, "b:1", "uno", STORE_REV_ANY, 0);
    put(s, "b", "bare", STORE_REV_ANY, 0);
    put(s, "c:1", "eins", STORE_REV_ANY, 0);
    struct buf b = BUF_INIT;
    cr_assert_eq(store_scan(s, "b:", collect, &b), 0);
    cr_assert(view_eq(buf_view(&b), view_str("b:1=uno;b:2=two;")), "%.*s", (int)b.size, (const char *)b.ptr);
    buf_reset(&b);
    cr_assert_eq(store_scan(s, "", collect, &b), 0);
    cr_assert(view_eq(buf_view(&b), view_str("a:1=one;b=bare;b:1=uno;b:2=two;c:1=eins;")), "reserved keys hidden");
    buf_free(&b);
    store_free(s);
}

Test(store, scans_by_prefix_in_key_order, .init = setup, .fini = teardown)
{
    scan_checks(spec_db);
    scan_checks("memory");
}

/* A value under another name, or edited, no longer authenticates: at open, where the state digest
 * names the row (test_digest.c has the rest of what the digest catches). */
Test(store, tampering_is_detected_and_values_are_bound_to_their_names, .init = setup, .fini = teardown)
{
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, "secret:a", "alpha");
    put(s, "secret:b", "bravo", STORE_REV_ANY, 0);
    store_free(s);
    sql(db, "UPDATE kv SET value = (SELECT value FROM kv WHERE key='secret:b') WHERE key='secret:a'");
    open_refused("the state was tampered with: row \"secret:a\" fails authentication (edited, or moved from "
                 "another key) (4 entries)");
    remove_db();
    s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, "secret:a", "alpha");
    put(s, "secret:b", "bravo", STORE_REV_ANY, 0);
    store_free(s);
    sql(db, "UPDATE kv SET value = CAST(value || x'00' AS BLOB) WHERE key='secret:b'");
    open_refused("the state was tampered with: row \"secret:b\" fails authentication (edited, or moved from "
                 "another key) (4 entries)");
}

Test(store, the_data_key_is_not_on_disk_in_the_clear, .init = setup, .fini = teardown)
{
    uint8_t dek[STORE_DEK_SIZE];
    for (size_t i = 0; i < sizeof(dek); i++)
        dek[i] = (uint8_t)(0xa0 + i);
    struct store *s = open_store(spec_db, spec_key);
    cr_assert_eq(store_reset(s, dek, VIEW_EMPTY, sealer(spec_key), NULL), 0);
    put(s, "secret:x", "PLAINTEXT-MARKER", STORE_REV_ANY, 0);
    store_free(s);
    const char *files[] = {"state.db", "state.db-wal"};
    for (size_t f = 0; f < 2; f++) {
        char path[400];
        snprintf(path, sizeof(path), "%s/%s", dir, files[f]);
        struct buf b = BUF_INIT;
        if (file_read(path, 64u << 20, &b) != 0)
            continue;
        cr_assert_null(memmem(b.ptr, b.size, dek, sizeof(dek)), "%s holds the DEK", files[f]);
        cr_assert_null(memmem(b.ptr, b.size, "PLAINTEXT-MARKER", 16), "%s holds a plaintext", files[f]);
        buf_free(&b);
    }
}

Test(store, corrupted_metadata_opens_sealed_never_crashes, .init = setup, .fini = teardown)
{
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, "state", "3");
    store_free(s);
    const char *keys[] = {"sys:dek", "sys:check"};
    for (size_t k = 0; k < 2; k++) {
        sqlite3 *h = raw_db();
        char sql[200];
        snprintf(sql, sizeof(sql), "SELECT length(value) FROM kv WHERE key='%s'", keys[k]);
        sqlite3_stmt *st;
        cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
        int len = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        for (int i = 0; i < len; i++) {
            snprintf(sql, sizeof(sql),
                     "UPDATE kv SET value = substr(value,1,%d) || x'5a' || substr(value,%d) WHERE key='%s'", i,
                     i + 2, keys[k]);
            /* replace byte i with 0x5a (unless it already is; then the store must still open) */
            cr_assert_eq(sqlite3_exec(h, "SAVEPOINT t", NULL, NULL, NULL), SQLITE_OK);
            cr_assert_eq(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
            cr_assert_eq(sqlite3_exec(h, "RELEASE t", NULL, NULL, NULL), SQLITE_OK);
            struct store *t = open_store(spec_db, spec_key);
            cr_assert(store_status(t) == STORE_SEALED || store_status(t) == STORE_OPEN);
            store_free(t);
        }
        sqlite3_close(h);
        /* restore a clean store for the next key */
        s = open_store(spec_db, spec_key);
        reset_with(s, spec_key, "state", "3");
        store_free(s);
    }
}

struct worker {
    struct store *s;
    int id;
};

static void *commit_many(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 100; i++) {
        char key[64];
        snprintf(key, sizeof(key), "activation:%02d:%03d", w->id, i);
        struct store_txn *t = store_txn_new();
        if (store_txn_put(t, key, view_str("record"), STORE_REV_ABSENT) != 0 || store_commit(w->s, t) != 0)
            abort();
        store_txn_free(t);
    }
    return NULL;
}

static int count(void *ctx, const char *key, struct view value, uint64_t rev)
{
    (void)key, (void)value, (void)rev;
    (*(int *)ctx)++;
    return 0;
}

Test(store, concurrent_commits_are_grouped_and_all_durable, .init = setup, .fini = teardown, .timeout = 120)
{
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, NULL, NULL);
    uint64_t before = store_commit_groups(s);
    pthread_t th[16];
    struct worker w[16];
    for (int i = 0; i < 16; i++) {
        w[i] = (struct worker){s, i};
        cr_assert_eq(pthread_create(&th[i], NULL, commit_many, &w[i]), 0);
    }
    for (int i = 0; i < 16; i++)
        pthread_join(th[i], NULL);
    uint64_t groups = store_commit_groups(s) - before;
    cr_assert_lt(groups, 1600, "1600 commits in %llu rounds: grouping works", (unsigned long long)groups);
    store_free(s);
    s = open_store(spec_db, spec_key);
    int n = 0;
    cr_assert_eq(store_scan(s, "activation:", count, &n), 0);
    cr_assert_eq(n, 1600);
    store_free(s);
}

Test(store, disabled_sealing_keeps_nothing_on_disk, .init = setup, .fini = teardown)
{
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, "state", "3");
    reset_with(s, "none", "state", "3"); /* a manifest with SealMode Disabled */
    expect_value(s, "state", "3");
    put(s, "secret:a", "alpha", STORE_REV_ANY, 0);
    store_free(s);
    s = open_store(spec_db, spec_key);
    cr_assert_eq(store_status(s), STORE_EMPTY, "a restart starts over");
    store_free(s);
}

Test(store, gramine_seal_keys_from_a_device_directory, .init = setup, .fini = teardown)
{
    char keys[300], spec[340], path[400];
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    cr_assert_eq(file_mkdirs(keys, 0700), 0);
    snprintf(path, sizeof(path), "%s/_sgx_mrsigner", keys);
    cr_assert_eq(file_write_atomic(path, view_str("0123456789abcdef"), 0600), 0);
    snprintf(spec, sizeof(spec), "gramine-product:%s", keys);
    struct store *s = open_store(spec_db, spec);
    reset_with(s, spec, "state", "3");
    cr_assert_str_eq(store_sealer_name(s), "gramine-product-key");
    cr_assert_not(store_sealer_insecure(s));
    store_free(s);
    s = open_store(spec_db, spec);
    cr_assert_eq(store_status(s), STORE_OPEN);
    store_free(s);
    cr_assert_eq(file_write_atomic(path, view_str("fedcba9876543210"), 0600), 0); /* another CPU */
    s = open_store(spec_db, spec);
    cr_assert_eq(store_status(s), STORE_SEALED);
    store_free(s);
    struct sealer *se;
    snprintf(spec, sizeof(spec), "gramine-unique:%s", keys);
    cr_assert_eq(sealer_new(spec, &se), ERR_NOT_FOUND, "no _sgx_mrenclave in the fake directory");
    cr_assert_eq(file_write_atomic(path, view_str("short"), 0600), 0);
    snprintf(spec, sizeof(spec), "gramine-product:%s", keys);
    cr_assert_eq(sealer_new(spec, &se), ERR_IO);
    cr_assert_eq(sealer_new("tpm:/dev/tpm0", &se), ERR_INVALID_ARG);
}

Test(store, keys_are_checked)
{
    struct store_txn *t = store_txn_new();
    cr_assert_eq(store_txn_put(t, "sys:dek", view_str("x"), STORE_REV_ANY), ERR_INVALID_ARG);
    cr_assert_eq(store_txn_put(t, "", view_str("x"), STORE_REV_ANY), ERR_INVALID_ARG);
    char big[QY_STORE_KEY_MAX + 2];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    cr_assert_eq(store_txn_put(t, big, view_str("x"), STORE_REV_ANY), ERR_INVALID_ARG);
    cr_assert_eq(store_txn_count(t), 0);
    store_txn_free(t);
    struct kv_backend *kv;
    cr_assert_eq(kv_backend_open("etcd:http://x", &kv), ERR_INVALID_ARG);
}

Test(store, rewrap_moves_to_another_seal_key_or_to_memory, .init = setup, .fini = teardown)
{
    char other[340];
    snprintf(other, sizeof(other), "keyfile:%s/other.key", dir);
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, "state", "3");
    cr_assert_eq(store_rewrap(s, sealer(other)), 0);
    expect_value(s, "state", "3");
    store_free(s);
    s = open_store(spec_db, other);
    cr_assert_eq(store_status(s), STORE_OPEN, "now sealed with the other key");
    cr_assert_eq(store_rewrap(s, sealer("none")), 0); /* SealMode Disabled */
    expect_value(s, "state", "3");
    struct buf b = BUF_INIT;
    cr_assert_eq(store_recovery_data(s, &b), 0);
    cr_assert(view_eq(buf_view(&b), view_str("{\"recovery\":1}")), "recovery data carried over");
    buf_free(&b);
    store_free(s);
    s = open_store(spec_db, other);
    cr_assert_eq(store_status(s), STORE_EMPTY, "nothing left on disk");
    store_free(s);
}

Test(store, rekey_reencrypts_everything_with_the_change, .init = setup, .fini = teardown)
{
    static const uint8_t dek2[STORE_DEK_SIZE] = {9, 8, 7};
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, "state", "3");
    put(s, "secret:a", "alpha", STORE_REV_ANY, 0);
    put(s, "gone", "x", STORE_REV_ANY, 0);
    struct store_txn *t = store_txn_new();
    cr_assert_eq(store_txn_put(t, "secret:a", view_str("beta"), STORE_REV_ANY), 0);
    cr_assert_eq(store_txn_put(t, "log:1", view_str("new"), STORE_REV_ABSENT), 0);
    cr_assert_eq(store_txn_del(t, "gone", STORE_REV_ANY), 0);
    cr_assert_eq(store_rekey(s, dek2, view_str("{\"recovery\":2}"), sealer(spec_key), t), 0);
    store_txn_free(t);
    expect_value(s, "state", "3");
    expect_value(s, "secret:a", "beta");
    expect_value(s, "log:1", "new");
    struct buf b = BUF_INIT;
    cr_assert_eq(store_get(s, "gone", &b, NULL), ERR_NOT_FOUND);
    store_free(s);
    s = open_store(spec_db, spec_key); /* the new data key, wrapped by the sealer, opens it */
    cr_assert_eq(store_status(s), STORE_OPEN);
    expect_value(s, "state", "3");
    expect_value(s, "secret:a", "beta");
    cr_assert_eq(store_check_dek(s, dek2), 0);
    cr_assert_eq(store_check_dek(s, dek1), ERR_CORRUPT, "the old data key opens nothing");
    cr_assert_eq(store_recovery_data(s, &b), 0);
    cr_assert(view_eq(buf_view(&b), view_str("{\"recovery\":2}")));
    buf_free(&b);
    store_free(s);
}

/* fuzz/corpus/store/regress-nul-in-sealer-name: a sealer name from the disk with a NUL byte in it
 * once left the store without a sealer and crashed store_open; it is corrupt metadata: sealed. */
Test(store, a_sealer_name_with_a_nul_byte_opens_sealed, .init = setup, .fini = teardown)
{
    struct store *s = open_store(spec_db, spec_key);
    reset_with(s, spec_key, "state", "3");
    store_free(s);
    sqlite3 *h = raw_db();
    cr_assert_eq(sqlite3_exec(h, "UPDATE kv SET value = CAST(value || x'0078' AS BLOB) WHERE key='sys:sealer'",
                              NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    s = open_store(spec_db, spec_key);
    cr_assert_eq(store_status(s), STORE_SEALED);
    cr_assert_str_eq(err_detail(ERR_CORRUPT), "the stored sealer name contains a NUL byte");
    cr_assert_eq(store_check_dek(s, dek1), 0);
    cr_assert_eq(store_unlock(s, dek1, sealer(spec_key)), 0);
    expect_value(s, "state", "3");
    store_free(s);
}
