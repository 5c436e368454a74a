/*
 * Durable commits of the store (SQLite, WAL, synchronous=FULL) as activations make them: one
 * activation record per transaction, from one thread (one fsync each) and from 64 threads at once
 * (group commit: one thread commits what the others queued, one fsync for all). Beside them, the
 * limit: how many fdatasync()s of a small write this disk does per second.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "crypto/crypto.h"
#include "store/store.h"

#define THREADS 64

struct run {
    struct store *store;
    atomic_bool stop;
    atomic_uint_fast64_t seq, commits;
};

static void die(const char *what)
{
    fprintf(stderr, "bench_store: %s\n", what);
    exit(2);
}

static int no_sealer(void *ctx, const char *name, struct sealer **out)
{
    (void)ctx, (void)name, (void)out;
    return ERR_NOT_FOUND;
}

static struct store *open_store(const char *dir)
{
    char spec[256];
    uint8_t dek[STORE_DEK_SIZE];
    struct kv_backend *kv = NULL;
    struct store *s = NULL;
    struct sealer *sealer = NULL;
    snprintf(spec, sizeof(spec), "sqlite:%s/state.db", dir);
    if (kv_backend_open(spec, &kv) != 0 || store_open(kv, no_sealer, NULL, &s) != 0)
        die("cannot open a store");
    snprintf(spec, sizeof(spec), "keyfile:%s/seal.key", dir);
    if (crypto_random(dek, sizeof(dek)) != 0 || sealer_new(spec, &sealer) != 0 ||
        store_reset(s, dek, VIEW_EMPTY, sealer, NULL) != 0)
        die("cannot initialise the store");
    return s;
}

/* One activation record, as coordinator/activate.c writes it. */
static void commit_one(struct run *run)
{
    char key[64];
    static const char value[] = "{\"time\":\"2025-01-01T00:00:00Z\",\"marbleType\":\"worker\","
                                "\"uuid\":\"123e4567-e89b-42d3-a456-426614174000\"}";
    snprintf(key, sizeof(key), "activation:0000000000000001:%016llx",
             (unsigned long long)atomic_fetch_add(&run->seq, 1));
    struct store_txn *t = store_txn_new();
    if (t == NULL || store_txn_put(t, key, view_str(value), STORE_REV_ABSENT) != 0 ||
        store_commit(run->store, t) != 0)
        die("commit failed");
    store_txn_free(t);
    atomic_fetch_add(&run->commits, 1);
}

static void *committer(void *arg)
{
    struct run *run = arg;
    while (!atomic_load(&run->stop))
        commit_one(run);
    return NULL;
}

/* Commits per second from `threads` threads for `seconds`; *per_group: transactions per fsync. */
static double commit_rate(struct run *run, int threads, double seconds, double *per_group)
{
    pthread_t th[THREADS];
    atomic_store(&run->stop, false);
    atomic_store(&run->commits, 0);
    uint64_t g0 = store_commit_groups(run->store);
    double start = bench_now();
    for (int i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, committer, run) != 0)
            die("cannot start a thread");
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&run->stop, true);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double elapsed = bench_now() - start;
    uint64_t groups = store_commit_groups(run->store) - g0;
    *per_group = groups ? (double)atomic_load(&run->commits) / (double)groups : 0;
    return (double)atomic_load(&run->commits) / elapsed;
}

/* fdatasync()s per second of one 4 KiB write each, in `dir`. */
static double fsync_rate(const char *dir, double seconds)
{
    char path[256], block[4096] = {0};
    snprintf(path, sizeof(path), "%s/fsync.probe", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        die("cannot open a probe file");
    size_t n = 0;
    double start = bench_now(), now;
    do {
        if (pwrite(fd, block, sizeof(block), (off_t)((n % 64) * sizeof(block))) !=
                (ssize_t)sizeof(block) ||
            fdatasync(fd) != 0)
            die("fdatasync failed");
        n++;
    } while ((now = bench_now()) - start < seconds);
    close(fd);
    unlink(path);
    return (double)n / (now - start);
}

int main(void)
{
    char dir[] = "/tmp/quarry-bench-store-XXXXXX";
    if (mkdtemp(dir) == NULL)
        die("mkdtemp");
    struct run run = {.store = open_store(dir)};
    double fsyncs = fsync_rate(dir, 1.0), one_group, many_group;
    double one = commit_rate(&run, 1, 2.0, &one_group);
    double many = commit_rate(&run, THREADS, 2.0, &many_group);
    char limit[160];
    snprintf(limit, sizeof(limit), "fdatasync of 4 KiB: %.0f/s on this disk", fsyncs);
    bench_row("store: durable commits/s, 1 thread (one fsync each)", one, "/s", "-", limit);
    snprintf(limit, sizeof(limit), "%.1f transactions per fsync; fdatasync %.0f/s", many_group,
             fsyncs);
    bench_row("store: durable commits/s, 64 threads (group commit)", many, "/s",
              ">= 2000/s (activations)", limit);
    store_free(run.store);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_store: cannot remove %s\n", dir);
    return 0;
}
