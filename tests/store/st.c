/* Helpers shared by the store's tests: a temporary directory with a SQLite file and a key file. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st.h"

char dir[256], db[300], keyfile[300], spec_db[320], spec_key[320];

void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/quarry-test-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/state.db", dir);
    snprintf(keyfile, sizeof(keyfile), "%s/seal.key", dir);
    snprintf(spec_db, sizeof(spec_db), "sqlite:%s", db);
    snprintf(spec_key, sizeof(spec_key), "keyfile:%s", keyfile);
}

void teardown(void)
{
    char cmd[320];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* The sealer the test says is available on this "host", if it has the recorded name. */
int lookup(void *ctx, const char *name, struct sealer **out)
{
    TRY(sealer_new(ctx, out));
    if (strcmp((*out)->name, name) != 0) {
        sealer_free(*out);
        *out = NULL;
        FAIL(ERR_NOT_FOUND, "no sealer \"%s\" here", name);
    }
    return 0;
}

struct store *open_store(const char *backend, const char *sealer)
{
    struct kv_backend *kv;
    struct store *s;
    cr_assert_eq(kv_backend_open(backend, &kv), 0, "%s", err_detail(-1));
    cr_assert_eq(store_open(kv, lookup, (void *)sealer, &s), 0);
    return s;
}

struct sealer *sealer(const char *spec)
{
    struct sealer *se;
    cr_assert_eq(sealer_new(spec, &se), 0);
    return se;
}

const uint8_t dek1[STORE_DEK_SIZE] = {1, 2, 3, 4, 5};

void reset_with(struct store *s, const char *sealer_spec, const char *key, const char *value)
{
    struct store_txn *t = store_txn_new();
    if (key != NULL)
        cr_assert_eq(store_txn_put(t, key, view_str(value), STORE_REV_ANY), 0);
    cr_assert_eq(store_reset(s, dek1, view_str("{\"recovery\":1}"), sealer(sealer_spec), t), 0);
    store_txn_free(t);
}

void put(struct store *s, const char *key, const char *value, uint64_t expect, int want)
{
    struct store_txn *t = store_txn_new();
    cr_assert_eq(store_txn_put(t, key, view_str(value), expect), 0);
    cr_assert_eq(store_commit(s, t), want, "%s", err_detail(want));
    store_txn_free(t);
}

void expect_value(struct store *s, const char *key, const char *want)
{
    struct buf b = BUF_INIT;
    int r = store_get(s, key, &b, NULL);
    cr_assert_eq(r, 0, "%s: %s", key, err_detail(r));
    cr_assert(view_eq(buf_view(&b), view_str(want)), "%s = %.*s", key, (int)b.size, (const char *)b.ptr);
    buf_free(&b);
}

sqlite3 *raw_db(void)
{
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    return h;
}


void sql(const char *path, const char *stmt)
{
    sqlite3 *h;
    char *msg = NULL;
    cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
    int rc = sqlite3_exec(h, stmt, NULL, NULL, &msg);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", stmt, msg ? msg : "?");
    cr_assert_gt(sqlite3_changes(h) + (strncmp(stmt, "UPDATE", 6) != 0 && strncmp(stmt, "DELETE", 6) != 0), 0,
                 "%s changed nothing", stmt);
    sqlite3_free(msg);
    sqlite3_close(h);
}

long long sql_int(const char *path, const char *query)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(h, query, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", query);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

void open_refused(const char *detail)
{
    struct kv_backend *kv;
    struct store *s = NULL;
    cr_assert_eq(kv_backend_open(spec_db, &kv), 0);
    int r = store_open(kv, lookup, spec_key, &s);
    cr_assert_eq(r, ERR_TAMPERED, "store_open: %d %s", r, r < 0 ? err_detail(r) : "opened");
    cr_assert_null(s);
    cr_assert_str_eq(err_detail(ERR_TAMPERED), detail);
}

void remove_db(void)
{
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[340];
        snprintf(path, sizeof(path), "%s%s", db, suffix[i]);
        (void)unlink(path);
    }
}
