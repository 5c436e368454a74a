/*
 * Manifest set and restart of a real quarry-coordinator (coord_proc.h).
 *
 * First the DESIGN.md manifest: 50 marbles and 200 secrets, 20 of them shared RSA-3072
 * certificates, set through the client API (POST /api/v2/manifest, end to end: checks, secrets,
 * CA, sealed commit), beside the time this machine needs for those 20 RSA-3072 key pairs alone, on
 * all its cores. Then restarts, from SIGTERM'd state until the client API answers again: with no
 * activation records (the floor: process start, unsealing, TLS identities), with 100,000 activation
 * records, and with 100,000 more of a type with MaxActivations (each also a counter key, which a
 * restart counts). The records are written with the store API while the Coordinator is stopped, in
 * the Coordinator's layout (coordinator/activate.c record(), counters.c): activation:<epoch
 * %016llx>:<seq %016llx>  {"time","marbleType","uuid"} activations:<type>:<slot %016llx> the UUID
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "coord_proc.h"
#include "crypto/crypto.h"
#include "store/store.h"

#define RECORDS 100000
#define STARTS  3 /* restarts per state; the median is reported */

/* The manifest: package "p" with the testkit's identity; marbles m0..m49 (m0 with MaxActivations)
 * reading four secrets each; secrets s000..s199: 20 shared cert-rsa 3072, 20 shared cert-ecdsa,
 * 130 shared symmetric keys, 30 per-marble symmetric keys. */
static json_t *secrets_json(void)
{
    json_t *secrets = json_object();
    char name[16];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "s%03d", i);
        json_t *s =
            i < 20   ? json_pack("{s:s,s:i,s:b}", "Type", "cert-rsa", "Size", 3072, "Shared", 1)
            : i < 40 ? json_pack("{s:s,s:i,s:b}", "Type", "cert-ecdsa", "Size", 256, "Shared", 1)
            : i < 170
                ? json_pack("{s:s,s:i,s:b}", "Type", "symmetric-key", "Size", 256, "Shared", 1)
                : json_pack("{s:s,s:i}", "Type", "symmetric-key", "Size", 128);
        json_object_set_new(secrets, name, s);
    }
    return secrets;
}

static json_t *marbles_json(void)
{
    json_t *marbles = json_object();
    char name[16], key[16], tmpl[64];
    for (int i = 0; i < 50; i++) {
        json_t *env = json_object();
        for (int k = 0; k < 4; k++) {
            snprintf(key, sizeof(key), "KEY_%d", k);
            snprintf(tmpl, sizeof(tmpl), "{{ hex .Secrets.s%03d }}", 40 + (i * 4 + k) % 160);
            json_object_set_new(env, key, json_string(tmpl));
        }
        json_t *m = json_pack("{s:s,s:{s:o,s:[s,s]}}", "Package", "p", "Parameters", "Env", env,
                              "Argv", "./svc", "--serve");
        if (i == 0)
            json_object_set_new(m, "MaxActivations", json_integer(1000000));
        snprintf(name, sizeof(name), "m%d", i);
        json_object_set_new(marbles, name, m);
    }
    return marbles;
}

static void manifest_json(struct bench_coord *c, struct buf *out)
{
    struct att_testkit_quote_params id;
    struct buf signer = BUF_INIT;
    if (att_testkit_default_identity(c->tk, &id) != 0 ||
        enc_hex(&signer, view_of(id.mrsigner, 32)) != 0 || buf_terminate(&signer) != 0)
        bench_coord_die(c, "testkit identity");
    json_t *m = json_pack("{s:{s:{s:s,s:i,s:i,s:b}},s:o,s:o}", "Packages", "p", "SignerID",
                          (const char *)signer.ptr, "ProductID", (int)id.isvprodid,
                          "SecurityVersion", (int)id.isvsvn, "Debug", id.debug, "Marbles",
                          marbles_json(), "Secrets", secrets_json());
    if (m == NULL || js_dump(out, m, JSON_COMPACT) != 0)
        bench_coord_die(c, "cannot build the manifest");
    json_decref(m);
    buf_free(&signer);
}

/* The 20 RSA-3072 key pairs of the manifest, made here on every core as the Coordinator's secret
 * generation makes them. Their CPU time (each thread's own, so other load on the machine does not
 * count) over the cores is the floor of any manifest set that has them. */
static atomic_int keys_left;

static void *keygen_main(void *arg)
{
    double *cpu = arg;
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    while (atomic_fetch_sub(&keys_left, 1) > 0) {
        struct crypto_key *k = NULL;
        if (crypto_key_generate(CRYPTO_KEY_RSA, 3072, &k) != 0)
            abort();
        crypto_key_free(k);
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    *cpu = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return NULL;
}

/* CPU seconds of the 20 key pairs, made on `threads` threads. */
static double rsa_keygen_cpu(long threads)
{
    pthread_t th[64];
    double cpu[64] = {0}, sum = 0;
    long n = threads < 1 ? 1 : threads > 64 ? 64 : threads;
    atomic_store(&keys_left, 20);
    for (long i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, keygen_main, &cpu[i]) != 0)
            abort();
    for (long i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        sum += cpu[i];
    }
    return sum;
}

/* The store as the Coordinator opens it: DATA/state.db, the DEK wrapped by the key file. */
static int keyfile_sealer(void *ctx, const char *name, struct sealer **out)
{
    const struct bench_coord *c = ctx;
    char spec[256];
    if (strcmp(name, "insecure-key-file") != 0)
        return ERR_NOT_FOUND;
    snprintf(spec, sizeof(spec), "keyfile:%s/insecure-seal.key", c->data);
    return sealer_new(spec, out);
}

static struct store *open_store(struct bench_coord *c)
{
    char spec[256];
    struct kv_backend *kv = NULL;
    struct store *s = NULL;
    snprintf(spec, sizeof(spec), "sqlite:%s/state.db", c->data);
    if (kv_backend_open(spec, &kv) != 0 || store_open(kv, keyfile_sealer, c, &s) != 0 ||
        store_status(s) != STORE_OPEN)
        bench_coord_die(c, "cannot open the Coordinator's store");
    return s;
}

static void put_record(struct store_txn *t, uint64_t epoch, uint64_t seq, const char *type,
                       bool counted)
{
    char key[QY_STORE_KEY_MAX + 1], when[32], uuid[UUID_TEXT_SIZE], value[256];
    uint8_t rnd[16];
    if (crypto_random(rnd, sizeof(rnd)) != 0 || qtime_format_rfc3339(qtime_now(), when) != 0)
        abort();
    uuid_v4(rnd, uuid);
    snprintf(value, sizeof(value), "{\"time\":\"%s\",\"marbleType\":\"%s\",\"uuid\":\"%s\"}", when,
             type, uuid);
    snprintf(key, sizeof(key), "activation:%016llx:%016llx", (unsigned long long)epoch,
             (unsigned long long)seq);
    if (store_txn_put(t, key, view_str(value), STORE_REV_ABSENT) != 0)
        abort();
    snprintf(key, sizeof(key), "activations:%s:%016llx", type, (unsigned long long)seq);
    if (counted && store_txn_put(t, key, view_str(uuid), STORE_REV_ABSENT) != 0)
        abort();
}

/* Writes `count` activations of `type` in commits of 1,000; returns the seconds it took. */
static double add_records(struct bench_coord *c, const char *type, bool counted, size_t count)
{
    struct store *s = open_store(c);
    uint64_t epoch;
    if (crypto_random(&epoch, sizeof(epoch)) != 0)
        abort();
    double start = bench_now();
    for (size_t i = 0; i < count; i += 1000) {
        struct store_txn *t = store_txn_new();
        for (size_t k = i; t && k < i + 1000 && k < count; k++)
            put_record(t, epoch, k, type, counted);
        if (t == NULL || store_commit(s, t) != 0)
            bench_coord_die(c, "cannot write activation records");
        store_txn_free(t);
    }
    double seconds = bench_now() - start;
    store_free(s);
    return seconds;
}

/* The median of STARTS restarts (each stopped again but the last); checks it resumed serving
 * marbles (state 3). */
static double restart_seconds(struct bench_coord *c)
{
    double t[STARTS];
    for (int i = 0; i < STARTS; i++) {
        bench_coord_stop(c);
        t[i] = bench_coord_start(c);
    }
    struct buf out = BUF_INIT;
    json_t *j = NULL;
    if (bench_coord_call(c, API_GET, "/api/v2/status", VIEW_EMPTY, &out) != 200 ||
        js_parse(buf_view(&out), 4096, &j) != 0 ||
        json_integer_value(json_object_get(json_object_get(j, "data"), "code")) != 3)
        bench_coord_die(c, "the restarted Coordinator is not accepting marbles");
    json_decref(j);
    buf_free(&out);
    bench_sort(t, STARTS);
    return t[STARTS / 2];
}

static void manifest_row(struct bench_coord *c)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double keygen = rsa_keygen_cpu(ncpu);
    struct buf m = BUF_INIT;
    struct bench_usage u0, u1;
    manifest_json(c, &m);
    bench_coord_usage(c, &u0);
    double set = bench_coord_set_manifest(c, buf_view(&m));
    bench_coord_usage(c, &u1);
    char limit[200];
    snprintf(limit, sizeof(limit),
             "its 20 RSA-3072 key pairs: %.1f s of CPU = %.2f s on %ld cores; the set took %.1f s "
             "of CPU",
             keygen, keygen / (double)ncpu, ncpu, u1.cpu_seconds - u0.cpu_seconds);
    bench_row("manifest set: 50 marbles, 200 secrets (20 RSA-3072), end to end", set, "s", "< 3 s",
              limit);
    buf_free(&m);
}

int main(void)
{
    struct bench_coord c;
    bench_coord_init(&c);
    double fresh = bench_coord_start(&c);
    manifest_row(&c);
    double base = restart_seconds(&c);
    char limit[160];
    snprintf(limit, sizeof(limit), "no records: %.3f s; fresh start (new CA): %.3f s", base, fresh);
    bench_coord_stop(&c);
    double write = add_records(&c, "m1", false, RECORDS);
    bench_row("store: 100,000 activation records written (commits of 1,000)", RECORDS / write, "/s",
              "-", "-");
    bench_row("restart with 100,000 activation records, until the API answers", restart_seconds(&c),
              "s", "< 1 s", limit);
    bench_coord_stop(&c);
    (void)add_records(&c, "m0", true, RECORDS);
    bench_row("restart, + 100,000 counted (MaxActivations) activations", restart_seconds(&c), "s",
              "< 1 s", limit);
    sleep(1);
    struct bench_usage u;
    bench_coord_usage(&c, &u);
    bench_row("Coordinator idle RSS after restart with 200,000 records", (double)u.rss_kib / 1024,
              "MiB", "< 16 MiB", "-");
    bench_coord_cleanup(&c);
    return 0;
}
