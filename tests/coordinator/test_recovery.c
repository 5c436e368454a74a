/* Recovery end to end: a Coordinator whose data moves to a "new host" (another seal key) comes back
 * with k of n recovery secrets - same root CA, same secrets, same activation counts. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coordinator/coordinator.h"
#include "crypto/crypto.h"
#include "harness.h"
#include "recovery/recovery.h"

#define TIMEOUT .timeout = 600

static const char *keys[] = {"rec1", "rec2", "rec3", "rec4", "rec5"};

static struct crypto_key *key_file(const char *name, const char *ext)
{
    char rel[64];
    struct buf pem = BUF_INIT;
    struct crypto_key *k;
    snprintf(rel, sizeof(rel), "certs/%s.%s", name, ext);
    qt_read(qt_data_path(rel), &pem);
    cr_assert_eq(crypto_key_from_pem(buf_view(&pem), &k), 0);
    buf_free(&pem);
    return k;
}

/* coordinator.json with n recovery keys and a threshold, as text. */
static void manifest_with_keys(size_t n, unsigned threshold, struct buf *out)
{
    json_t *m = qt_manifest_json("coordinator.json");
    json_t *rk = json_object();
    for (size_t i = 0; i < n; i++) {
        struct buf pem = BUF_INIT;
        char rel[64];
        snprintf(rel, sizeof(rel), "certs/%s.pub", keys[i]);
        qt_read(qt_data_path(rel), &pem);
        json_object_set_new(rk, keys[i], json_stringn((const char *)pem.ptr, pem.size));
        buf_free(&pem);
    }
    json_object_set_new(m, "RecoveryKeys", rk);
    if (threshold > 0)
        json_object_set_new(m, "Config", json_pack("{s:i}", "RecoveryThreshold", threshold));
    cr_assert_eq(js_dump(out, m, JSON_INDENT(2)), 0);
    cr_assert_eq(buf_terminate(out), 0);
    json_decref(m);
}

/* The plain secret of key i out of the RecoverySecrets of a manifest-set answer. */
static void plain_share(json_t *set_answer, size_t i, struct buf *plain)
{
    json_t *rs = json_object_get(json_object_get(set_answer, "data"), "RecoverySecrets");
    struct buf ct = BUF_INIT;
    cr_assert_eq(enc_b64_decode(&ct, view_str(json_string_value(json_object_get(rs, keys[i])))), 0);
    struct crypto_key *k = key_file(keys[i], "key");
    cr_assert_eq(crypto_rsa_oaep_decrypt(k, buf_view(&ct), plain), 0);
    crypto_key_free(k);
    buf_free(&ct);
}

/* POST /api/v2/recover with a plain secret signed by key `signer`; returns the status. */
static long upload(struct qc *q, struct view share, size_t signer, long *remaining, json_t **answer)
{
    struct crypto_key *k = key_file(keys[signer], "key");
    struct buf sig = BUF_INIT, s64 = BUF_INIT, g64 = BUF_INIT, body = BUF_INIT;
    cr_assert_eq(crypto_sign(k, CRYPTO_SIG_RSA_PKCS1_SHA256, share, &sig), 0);
    cr_assert_eq(enc_b64(&s64, share), 0);
    cr_assert_eq(enc_b64(&g64, buf_view(&sig)), 0);
    cr_assert_eq(buf_appendf(&body, "{\"recoverySecret\":\"%.*s\",\"recoverySecretSignature\":\"%.*s\"}", (int)s64.size,
                             (const char *)s64.ptr, (int)g64.size, (const char *)g64.ptr), 0);
    cr_assert_eq(buf_terminate(&body), 0);
    struct api_client *c = qc_client(q, NULL);
    json_t *j = NULL;
    long st = qc_call(c, API_POST, "/api/v2/recover", (const char *)body.ptr, &j);
    if (remaining != NULL)
        *remaining = (long)json_integer_value(json_object_get(json_object_get(j, "data"), "remaining"));
    if (answer != NULL)
        *answer = j;
    else
        json_decref(j);
    api_client_free(c);
    crypto_key_free(k);
    buf_free(&sig), buf_free(&s64), buf_free(&g64), buf_free(&body);
    return st;
}

static json_t *secrets_and_root(struct qc *q)
{
    struct api_client *c = qc_client(q, "admin");
    json_t *s, *quote;
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/secrets?s=sharedKey&s=sharedCert&s=apiToken", NULL, &s), 200);
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/quote", NULL, &quote), 200);
    const char *chain = json_string_value(json_object_get(json_object_get(quote, "data"), "cert"));
    json_t *both = json_pack("{s:O,s:s}", "secrets", json_object_get(s, "data"), "root", strstr(chain + 1, "-----BEGIN"));
    json_decref(s), json_decref(quote);
    api_client_free(c);
    return both;
}

/* A new host: the data directory without its seal key (the daemon started with `extra`). */
static void move_to_new_host(struct qc *q, const char *const *extra)
{
    qc_stop(q);
    char path[400];
    snprintf(path, sizeof(path), "%s/insecure-seal.key", q->data);
    cr_assert_eq(unlink(path), 0);
    qc_start(q, extra);
    cr_assert_eq(qc_state(q), 1, "recovery mode");
}

static void recover_case(size_t n, unsigned threshold)
{
    struct qc q;
    qc_init(&q, NULL);
    qc_start(&q, NULL);
    struct buf text = BUF_INIT;
    json_t *answer;
    manifest_with_keys(n, threshold, &text);
    cr_assert_eq(qc_set_manifest_text(&q, (const char *)text.ptr, &answer), 200);
    struct api_activation *a;
    for (int i = 0; i < 3; i++) { /* some counted activations, to see they survive */
        cr_assert_eq(qc_activate(&q, "limited", NULL, "0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d", &a), 0);
        api_activation_free(a);
    }
    json_t *before = secrets_and_root(&q);
    move_to_new_host(&q, NULL);
    size_t need = n == 1 ? 1 : threshold == 0 ? n : threshold;
    long remaining = -1;
    for (size_t k = 0; k < need; k++) {
        size_t i = (k + 1) % n; /* not always starting with the first key */
        struct buf share = BUF_INIT;
        plain_share(answer, i, &share);
        if (k + 1 == need) {
            /* the refusals of issue 7, each consuming nothing */
            json_t *j;
            cr_assert_eq(upload(&q, buf_view(&share), (i + 1) % 5, NULL, &j), 500, "signed by another key");
            cr_assert(strstr(json_string_value(json_object_get(j, "message")), "signature") != NULL);
            json_decref(j);
            uint8_t dek[32];
            json_t *other;
            struct buf other_data = BUF_INIT, foreign = BUF_INIT, fct = BUF_INIT;
            struct crypto_key *pubs[5], *priv = key_file(keys[i], "key");
            struct rec_key rk[5];
            for (size_t m = 0; m < n; m++)
                pubs[m] = key_file(keys[m], "pub"), rk[m] = (struct rec_key){keys[m], pubs[m]};
            cr_assert_eq(rec_generate(rk, n, threshold, dek, &other, &other_data), 0); /* another manifest's */
            cr_assert_eq(enc_b64_decode(&fct, view_str(json_string_value(json_object_get(other, keys[i])))), 0);
            cr_assert_eq(crypto_rsa_oaep_decrypt(priv, buf_view(&fct), &foreign), 0);
            cr_assert_eq(upload(&q, buf_view(&foreign), i, NULL, NULL), 500, "a secret of another manifest");
            for (size_t m = 0; m < n; m++)
                crypto_key_free(pubs[m]);
            crypto_key_free(priv);
            json_decref(other);
            buf_free(&other_data), buf_free(&foreign), buf_free(&fct);
            cr_assert_eq(qc_state(&q), 1, "still in recovery after k-1 secrets and the refusals");
        }
        cr_assert_eq(upload(&q, buf_view(&share), i, &remaining, NULL), 200, "n=%zu t=%u share %zu", n, threshold, k);
        cr_assert_eq(remaining, (long)(need - k - 1));
        if (remaining > 0)
            cr_assert_eq(upload(&q, buf_view(&share), i, NULL, NULL), 500, "a reused secret");
        buf_free(&share);
    }
    cr_assert_eq(qc_state(&q), 3, "recovered");
    json_t *after = secrets_and_root(&q);
    cr_assert(json_equal(before, after), "identical secrets and root certificate");
    int ok = 0;
    for (int i = 0; i < 10; i++) {
        if (qc_activate(&q, "limited", NULL, "0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d", &a) == 0)
            ok++;
        api_activation_free(a);
        a = NULL;
    }
    cr_assert_eq(ok, 7, "activation counts survived (3 + 7 = MaxActivations 10)");
    qc_stop(&q);
    qc_start(&q, NULL);
    cr_assert_eq(qc_state(&q), 3, "re-sealed to the new host");
    json_decref(before), json_decref(after), json_decref(answer);
    buf_free(&text);
    qc_cleanup(&q);
}

Test(recovery_e2e, one_key, TIMEOUT)
{
    recover_case(1, 0);
}

Test(recovery_e2e, two_keys_xor, TIMEOUT)
{
    recover_case(2, 0);
}

Test(recovery_e2e, five_keys_every_threshold, TIMEOUT)
{
    for (unsigned t = 2; t <= 5; t++)
        recover_case(5, t);
}

Test(recovery_e2e, quarry_recover_cli_and_a_new_manifest_instead, TIMEOUT)
{
    struct qc q;
    qc_init(&q, NULL);
    qc_start(&q, NULL);
    struct buf text = BUF_INIT;
    json_t *answer;
    manifest_with_keys(2, 0, &text);
    cr_assert_eq(qc_set_manifest_text(&q, (const char *)text.ptr, &answer), 200);
    /* the secrets as `quarry manifest set --recovery-dir` saves them: raw ciphertext files */
    char files[2][400];
    for (size_t i = 0; i < 2; i++) {
        struct buf ct = BUF_INIT;
        json_t *rs = json_object_get(json_object_get(answer, "data"), "RecoverySecrets");
        cr_assert_eq(enc_b64_decode(&ct, view_str(json_string_value(json_object_get(rs, keys[i])))), 0);
        snprintf(files[i], sizeof(files[i]), "%s/%s.secret", q.dir, keys[i]);
        cr_assert_eq(file_write_atomic(files[i], buf_view(&ct), 0600), 0);
        buf_free(&ct);
    }
    move_to_new_host(&q, NULL);
    char policy[400], kit_root[400];
    snprintf(policy, sizeof(policy), "%s/policy.json", q.dir);
    snprintf(kit_root, sizeof(kit_root), "%s/root_ca.pem", q.kit);
    cr_assert_eq(file_write_atomic(policy, view_str("{\"coordinator\":{\"SignerID\":"
                                                    "\"d91c2b1a4ffd7cac4e6cc564d3afd3c642321a230a1597e0dfe127839049cd02\","
                                                    "\"ProductID\":1,\"SecurityVersion\":1}}"), 0600), 0);
    for (size_t i = 0; i < 2; i++) {
        char key[512], cmd[4096];
        snprintf(key, sizeof(key), "%s", qt_data_path(i ? "certs/rec2.key" : "certs/rec1.key"));
        snprintf(cmd, sizeof(cmd),
                 "XDG_CACHE_HOME=%s/cache %s recover %s --key %s --coordinator %s --policy %s --collateral %s "
                 "--insecure-extra-root %s %s >%s/recover.out 2>&1",
                 q.dir, getenv("QY_QUARRY"), files[i], key, q.client_addr, policy, q.kit, kit_root,
                 i ? "--ephemeral" : "", q.dir);
        int st = system(cmd);
        char out[400];
        snprintf(out, sizeof(out), "%s/recover.out", q.dir);
        struct buf b = BUF_INIT;
        qt_read(out, &b);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "quarry recover: %.*s", (int)b.size, (const char *)b.ptr);
        cr_assert(strstr((const char *)b.ptr, i ? "Recovery successful." : "Remaining secrets: 1") != NULL, "%.*s",
                  (int)b.size, (const char *)b.ptr);
        buf_free(&b);
    }
    cr_assert_eq(qc_state(&q), 3);
    /* in recovery, a new manifest may be set instead: it discards the old state */
    move_to_new_host(&q, NULL);
    json_t *j;
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    cr_assert_eq(qc_state(&q), 3);
    struct api_client *c = qc_client(&q, "admin");
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/update", NULL, &j), 200);
    cr_assert_eq(json_array_size(json_object_get(json_object_get(j, "data"), "updateLog")), 1, "a fresh log");
    json_decref(j);
    api_client_free(c);
    json_decref(answer);
    buf_free(&text);
    qc_cleanup(&q);
}

/* Every row of the store (keys and sealed values), as one text to compare. */
static void state_rows(struct qc *q, struct buf *out)
{
    char db[512];
    snprintf(db, sizeof(db), "%s/state.db", q->data);
    sqlite3 *h;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT key, hex(value) FROM kv ORDER BY key", -1, &st, NULL), SQLITE_OK);
    buf_reset(out);
    while (sqlite3_step(st) == SQLITE_ROW)
        cr_assert_eq(buf_appendf(out, "%s=%s\n", (const char *)sqlite3_column_text(st, 0),
                                 (const char *)sqlite3_column_text(st, 1)), 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    cr_assert_gt(out->size, 0);
}

/* With --recovery-manifest refuse (issue 13, item 8) the only way out of recovery is recovery: a new
 * manifest is refused and changes nothing, the recovery keys still work. */
Test(recovery_e2e, with_recovery_manifest_refuse_only_recovery_leaves_recovery, TIMEOUT)
{
    struct qc q;
    qc_init(&q, NULL);
    const char *lock[] = {"--recovery-manifest", "refuse", NULL};
    qc_start(&q, lock);
    struct buf text = BUF_INIT, rows = BUF_INIT, rows_after = BUF_INIT, share = BUF_INIT;
    json_t *answer, *j;
    manifest_with_keys(1, 0, &text);
    cr_assert_eq(qc_set_manifest_text(&q, (const char *)text.ptr, &answer), 200);
    json_t *before = secrets_and_root(&q);
    move_to_new_host(&q, lock);
    state_rows(&q, &rows);
    struct buf other = BUF_INIT;
    qc_manifest_text("coordinator.json", &other);
    cr_assert_eq(qc_set_manifest_text(&q, (const char *)other.ptr, &j), 500);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "error");
    cr_assert_str_eq(json_string_value(json_object_get(j, "message")),
                     "setting a new manifest in recovery mode is disabled on this Coordinator (--recovery-manifest "
                     "refuse): recover the sealed state with the recovery keys");
    json_decref(j);
    /* issue 13, 6: a recovery body with keys differing only in case is refused too */
    struct api_client *c = qc_client(&q, NULL);
    cr_assert_eq(qc_call(c, API_POST, "/api/v2/recover", "{\"recoverySecret\":\"AA==\",\"RecoverySecret\":\"AA==\","
                                                          "\"recoverySecretSignature\":\"AA==\"}", &j), 400);
    cr_assert_str_eq(json_string_value(json_object_get(j, "message")),
                     "duplicate key: \"recoverySecret\" and \"RecoverySecret\" are the same field (keys are "
                     "case-insensitive)");
    json_decref(j);
    api_client_free(c);
    cr_assert_eq(qc_state(&q), 1, "still in recovery");
    state_rows(&q, &rows_after);
    cr_assert(view_eq(buf_view(&rows), buf_view(&rows_after)), "the sealed state is unchanged");
    long remaining = -1;
    plain_share(answer, 0, &share);
    cr_assert_eq(upload(&q, buf_view(&share), 0, &remaining, NULL), 200);
    cr_assert_eq(remaining, 0);
    cr_assert_eq(qc_state(&q), 3, "recovered");
    json_t *after = secrets_and_root(&q);
    cr_assert(json_equal(before, after), "the old state, not a new one");
    json_decref(before), json_decref(after), json_decref(answer);
    buf_free(&text), buf_free(&rows), buf_free(&rows_after), buf_free(&share), buf_free(&other);
    qc_cleanup(&q);
}

/* Corrupted sealed state: every byte of every stored value flipped in turn (sampled in large
 * values), the Coordinator started in-process on it each time: a clean start (possibly in recovery)
 * or a clean refusal, never a crash (ASan watches). */
Test(recovery_e2e, corrupted_sealed_state_never_crashes, .timeout = 900)
{
    struct qc q;
    qc_init(&q, NULL);
    qc_start(&q, NULL);
    /* a small state, so that every byte can be flipped */
    cr_assert_eq(qc_set_manifest_text(&q, "{\"Packages\":{\"p\":{\"Debug\":true}},\"Marbles\":{\"m\":{\"Package\":\"p\","
                                          "\"MaxActivations\":2}},\"Secrets\":{\"k\":{\"Type\":\"symmetric-key\","
                                          "\"Size\":128,\"Shared\":true}}}", NULL), 200);
    qc_stop(&q);
    char db[512], work[512], spec_db[600], spec_key[600];
    snprintf(db, sizeof(db), "%s/state.db", q.data);
    snprintf(work, sizeof(work), "%s/work.db", q.dir);
    snprintf(spec_db, sizeof(spec_db), "sqlite:%s", work);
    snprintf(spec_key, sizeof(spec_key), "keyfile:%s/insecure-seal.key", q.data);
    struct att_source *src;
    struct att_verifier *ver;
    struct att_testkit_quote_params id;
    cr_assert_eq(att_testkit_default_identity(q.tk, &id), 0);
    cr_assert_eq(att_source_new_emulated(q.tk, &id, &src), 0);
    cr_assert_eq(att_testkit_verifier_new(q.tk, &ver), 0);
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT key, length(value) FROM kv ORDER BY key", -1, &st, NULL), SQLITE_OK);
    char keys_[64][128];
    int lens[64], nk = 0;
    while (sqlite3_step(st) == SQLITE_ROW && nk < 64) {
        snprintf(keys_[nk], sizeof(keys_[nk]), "%s", (const char *)sqlite3_column_text(st, 0));
        lens[nk++] = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    size_t runs = 0, started = 0;
    int r;
    for (int k = 0; k < nk; k++) {
        for (int i = 0; i < lens[k]; i++) {
            char cmd[4096];
            snprintf(cmd, sizeof(cmd), "cp %s %s && rm -f %s-wal %s-shm", db, work, work, work);
            cr_assert_eq(system(cmd), 0);
            cr_assert_eq(sqlite3_open(work, &h), SQLITE_OK);
            char sql[10000];
            snprintf(sql, sizeof(sql),
                     "UPDATE kv SET value = substr(value,1,%d) || CAST(char((unicode(substr(value,%d,1)) + 1) %% 256) "
                     "AS BLOB) || substr(value,%d) WHERE key='%s'", i, i + 1, i + 2, keys_[k]);
            cr_assert_eq(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
            sqlite3_close(h);
            struct kv_backend *kv;
            struct store *s;
            cr_assert_eq(kv_backend_open(spec_db, &kv), 0);
            r = store_open(kv, qc_keyfile_lookup, spec_key, &s); /* a counted row no longer matches the state digest */
            cr_assert(r == 0 || r == ERR_TAMPERED, "%s: byte %d: %s", keys_[k], i, err_name(r));
            runs++;
            if (r == ERR_TAMPERED)
                continue;
            struct coord_config cfg = {s, src, ver, false, NULL, 0, qc_keyfile_sealer, spec_key, NULL, NULL, NULL, NULL};
            struct coord *c = NULL;
            r = coord_new(&cfg, &c);
            cr_assert(r == 0 || err_category(r) == ERRC_SYSTEM || err_category(r) == ERRC_INPUT, "%s: byte %d: %s",
                      keys_[k], i, err_name(r));
            started += r == 0;
            coord_free(c);
            store_free(s);
        }
    }
    cr_assert_gt(runs, 200);
    /* flipped bytes of sealed records fail their authentication: not every run may start */
    cr_assert_lt(started, runs, "%zu of %zu corrupted states started", started, runs);
    att_source_free(src);
    att_verifier_free(ver);
    qc_cleanup(&q);
}
