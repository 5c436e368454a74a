/*
 * The activation load generator: a real quarry-coordinator (durable SQLite store, emulated
 * attestation from a testkit) and N concurrent marbles (default 64; --marbles N or
 * QY_BENCH_MARBLES), each a thread looping over api_activate(): a new key and UUID, mutual TLS 1.3,
 * a testkit quote bound to the session, full DCAP verification on the Coordinator, a certificate,
 * secrets and parameters, a durable record. Two phases:
 *   closed loop  every marble activates again as soon as it is answered, for --seconds S
 *                (QY_BENCH_SECONDS, default 8) after a one-second warm-up: throughput, latency,
 *                the Coordinator's CPU time per activation (from /proc/PID/stat) and its peak RSS;
 *   open loop    activations started on a fixed schedule at half that throughput, latency counted
 *                from the scheduled start (so a slow answer cannot hide the ones queued behind it).
 * Beside them, the limits of limits.h measured in the same run. Marbles run on the same cores as
 * the Coordinator, so the machine's ceiling counts both sides' crypto.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"
#include "coord_proc.h"
#include "crypto/crypto.h"
#include "limits.h"

#define MARBLES_MAX 1024

struct run {
    struct bench_coord *coord;
    struct att_testkit_quote_params id;
    atomic_bool stop;
    bool open_loop;
    double window_start, window_end; /* closed loop: completions counted in this window */
    double t0, rate;                 /* open loop: activation i starts at t0 + i / rate */
    atomic_size_t next;
    size_t total;
};

/* Latencies in seconds. */
struct samples {
    double *v;
    size_t count, cap;
};

struct marble {
    struct run *run;
    struct att_source *src;
    pthread_t thread;
    struct samples lat; /* the whole activation, as the marble sees it */
    size_t ok, errors;
    char first_error[256];
};

static struct bench_coord *started; /* once the Coordinator runs, dying stops it and removes its files */

static void die(const char *what)
{
    if (started != NULL)
        bench_coord_die(started, what);
    fprintf(stderr, "bench_activation: %s\n", what);
    exit(2);
}

static void sleep_until(double t)
{
    struct timespec ts = {(time_t)t, (long)((t - floor(t)) * 1e9)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
    }
}

/* The manifest: one package with the testkit's identity, one marble type with files, environment
 * and argv drawn from shared and per-marble secrets and its own certificate and key. */
static const char manifest_fmt[] =
    "{\"Packages\": {\"bench\": {\"SignerID\": \"%s\", \"ProductID\": %u, \"SecurityVersion\": %u,"
    " \"Debug\": %s}},"
    " \"Marbles\": {\"worker\": {\"Package\": \"bench\", \"Parameters\": {"
    "   \"Files\": {\"tls/cert.pem\": \"{{ pem .MarbleRun.MarbleCert.Cert }}\","
    "             \"tls/key.pem\": \"{{ pem .MarbleRun.MarbleCert.Private }}\","
    "             \"shared.key\": \"{{ hex .Secrets.sharedKey }}\","
    "             \"mine.key\": \"{{ raw .Secrets.marbleKey }}\"},"
    "   \"Env\": {\"MARBLE_KEY_B64\": \"{{ base64 .Secrets.marbleKey }}\","
    "           \"ROOT_CA\": \"{{ pem .MarbleRun.RootCA.Cert }}\"},"
    "   \"Argv\": [\"./worker\", \"--serve\"]}}},"
    " \"Secrets\": {\"sharedKey\": {\"Type\": \"symmetric-key\", \"Size\": 256, \"Shared\": true},"
    "             \"marbleKey\": {\"Type\": \"symmetric-key\", \"Size\": 128},"
    "             \"sharedCert\": {\"Type\": \"cert-ecdsa\", \"Size\": 256, \"Shared\": true}}}";

static void manifest_json(const struct att_testkit_quote_params *id, struct buf *out)
{
    struct buf signer = BUF_INIT;
    if (enc_hex(&signer, view_of(id->mrsigner, 32)) != 0 || buf_terminate(&signer) != 0 ||
        buf_appendf(out, manifest_fmt, (const char *)signer.ptr, (unsigned)id->isvprodid,
                    (unsigned)id->isvsvn, id->debug ? "true" : "false") != 0)
        die("cannot build the manifest");
    buf_free(&signer);
}

static int activate_once(struct marble *m)
{
    uint8_t rnd[16];
    char uuid[UUID_TEXT_SIZE];
    static const char *const names[] = {"localhost", "127.0.0.1"};
    if (crypto_random(rnd, sizeof(rnd)) != 0)
        die("no randomness");
    uuid_v4(rnd, uuid);
    struct api_activation_config cfg = {.coordinator = m->run->coord->mesh_addr,
                                        .marble_type = "worker",
                                        .names = names,
                                        .names_count = 2,
                                        .uuid = uuid,
                                        .quote_source = m->src,
                                        .max_attempts = 1, /* a failure is an error, not a retry */
                                        .deadline_seconds = 30};
    struct api_activation *a = NULL;
    int r = api_activate(&cfg, &a);
    api_activation_free(a);
    if (r < 0 && m->errors == 0)
        snprintf(m->first_error, sizeof(m->first_error), "%s", err_detail(r));
    return r;
}

static void add_sample(struct samples *s, double seconds)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        double *p = realloc(s->v, cap * sizeof(*p));
        if (p == NULL)
            die("out of memory");
        s->v = p;
        s->cap = cap;
    }
    s->v[s->count++] = seconds;
}

static void record(struct marble *m, double seconds, int r)
{
    if (r < 0) {
        m->errors++;
        return;
    }
    m->ok++;
    add_sample(&m->lat, seconds);
}

static void closed_loop(struct marble *m)
{
    struct run *run = m->run;
    while (!atomic_load(&run->stop)) {
        double start = bench_now();
        int r = activate_once(m);
        double end = bench_now();
        if (end >= run->window_start && end < run->window_end)
            record(m, end - start, r);
        else if (r < 0)
            m->errors++; /* outside the window: not timed, but an error is an error */
    }
}

static void open_loop(struct marble *m)
{
    struct run *run = m->run;
    for (;;) {
        size_t i = atomic_fetch_add(&run->next, 1);
        if (i >= run->total)
            return;
        double due = run->t0 + (double)i / run->rate;
        sleep_until(due);
        int r = activate_once(m);
        record(m, bench_now() - due, r);
    }
}

static void *marble_main(void *arg)
{
    struct marble *m = arg;
    if (m->run->open_loop)
        open_loop(m);
    else
        closed_loop(m);
    return NULL;
}

static void start_marbles(struct marble *ms, size_t n, struct run *run)
{
    for (size_t i = 0; i < n; i++) {
        ms[i].lat.count = ms[i].ok = ms[i].errors = 0;
        ms[i].run = run;
        if (ms[i].src == NULL && att_source_new_emulated(run->coord->tk, &run->id, &ms[i].src) != 0)
            die("quote source");
        if (pthread_create(&ms[i].thread, NULL, marble_main, &ms[i]) != 0)
            die("cannot start a marble thread");
    }
}

/* What the marbles of one phase measured: latencies sorted, counts summed. */
struct totals {
    struct samples lat;
    size_t ok, errors;
    char first_error[256];
};

static void merge(struct samples *into, const struct samples *from)
{
    for (size_t i = 0; i < from->count; i++)
        add_sample(into, from->v[i]);
}

static void join_marbles(struct marble *ms, size_t n, struct totals *t)
{
    memset(t, 0, sizeof(*t));
    for (size_t i = 0; i < n; i++) {
        pthread_join(ms[i].thread, NULL);
        merge(&t->lat, &ms[i].lat);
        t->ok += ms[i].ok;
        t->errors += ms[i].errors;
        if (ms[i].errors > 0 && t->first_error[0] == '\0')
            memcpy(t->first_error, ms[i].first_error, sizeof(t->first_error));
    }
    bench_sort(t->lat.v, t->lat.count);
}

/* The q-quantile in milliseconds. */
static double pct(const struct samples *s, double q)
{
    if (s->count == 0)
        return 0;
    size_t i = (size_t)ceil(q * (double)s->count);
    return s->v[i > 0 ? i - 1 : 0] * 1000;
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* What the closed loop measured. */
struct closed {
    double rate, coord_cpu_us, marble_cpu_us;
    long hwm_kib;
    struct totals t;
};

static void run_closed(struct run *run, struct marble *ms, size_t n, double seconds,
                       struct closed *out)
{
    struct bench_usage u0, u1;
    run->open_loop = false;
    atomic_store(&run->stop, false);
    run->window_start = bench_now() + 1.0;
    run->window_end = run->window_start + seconds;
    start_marbles(ms, n, run);
    sleep_until(run->window_start);
    bench_coord_usage(run->coord, &u0);
    double self0 = self_cpu();
    sleep_until(run->window_end);
    bench_coord_usage(run->coord, &u1);
    double self1 = self_cpu();
    atomic_store(&run->stop, true);
    join_marbles(ms, n, &out->t);
    double done = (double)out->t.lat.count;
    out->rate = done / seconds;
    out->coord_cpu_us = done > 0 ? (u1.cpu_seconds - u0.cpu_seconds) / done * 1e6 : 0;
    out->marble_cpu_us = done > 0 ? (self1 - self0) / done * 1e6 : 0;
    out->hwm_kib = u1.hwm_kib;
}

static void run_open(struct run *run, struct marble *ms, size_t n, double rate, double seconds,
                     struct totals *out)
{
    run->open_loop = true;
    run->rate = rate;
    run->total = (size_t)(rate * seconds);
    atomic_store(&run->next, 0);
    run->t0 = bench_now() + 0.2;
    start_marbles(ms, n, run);
    join_marbles(ms, n, out);
}

static void latency_rows(const char *what, const struct samples *s, const char *limit)
{
    static const struct {
        const char *name, *target;
        double q;
    } qs[] = {
        {"p50", "< 2 ms", 0.50}, {"p90", "-", 0.90}, {"p99", "< 10 ms", 0.99}, {"max", "-", 1.0}};
    char fig[128];
    for (size_t i = 0; i < QY_ARRAY_LEN(qs); i++) {
        snprintf(fig, sizeof(fig), "activation latency %s, %s", qs[i].name, what);
        bench_row(fig, pct(s, qs[i].q), "ms", qs[i].target, limit);
    }
}

static void limit_rows(const struct bench_limits *l)
{
    char limit[160];
    snprintf(limit, sizeof(limit), "server %.0f us + client %.0f us of CPU", l->handshake_server_us,
             l->handshake_client_us);
    bench_row("limit: TLS 1.3 full handshake, P-256 mutual (per s per core)", 1e6 / l->handshake_us,
              "/s", "-", limit);
    bench_row("limit: ECDSA P-256 sign (per s per core)", 1e6 / l->sign_us, "/s", "-",
              "EVP_PKEY_sign of a digest, all cores busy");
    bench_row("limit: ECDSA P-256 verify (per s per core)", 1e6 / l->verify_us, "/s", "-",
              "EVP_PKEY_verify of a digest, all cores busy");
}

/* Throughput against the machine's ceiling: both sides' crypto, since marbles share the cores. */
static void throughput_rows(const struct closed *c, size_t marbles, const struct bench_limits *l)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double ceiling = (double)ncpu * 1e6 / (l->coordinator_us + l->marble_us);
    char fig[128], limit[200];
    snprintf(fig, sizeof(fig), "activations/s, %zu concurrent marbles, durable", marbles);
    snprintf(limit, sizeof(limit),
             "ceiling %.0f/s: %ld cores / (%.0f us Coordinator + %.0f us marble crypto)", ceiling,
             ncpu, l->coordinator_us, l->marble_us);
    bench_row(fig, c->rate, "/s", ">= 2000/s on 2 cores", limit);
    snprintf(limit, sizeof(limit), "of %.0f/s; marbles share the cores", ceiling);
    bench_row("HEADLINE: share of the CPU-bound ceiling reached", 100 * c->rate / ceiling, "%", "-",
              limit);
}

static void all_latency_rows(const struct closed *c, const struct totals *open, double open_rate,
                             size_t marbles, const struct bench_limits *l)
{
    char fig[128], limit[200];
    snprintf(limit, sizeof(limit), "%zu in flight / %.0f/s = %.1f ms mean (Little)", marbles,
             c->rate, c->rate > 0 ? (double)marbles / c->rate * 1000 : 0);
    snprintf(fig, sizeof(fig), "%zu concurrent (closed loop)", marbles);
    latency_rows(fig, &c->t.lat, limit);
    snprintf(fig, sizeof(fig), "open loop at %.0f/s", open_rate);
    snprintf(limit, sizeof(limit), "floor: %.2f ms of crypto, both sides",
             (l->coordinator_us + l->marble_us) / 1000);
    latency_rows(fig, &open->lat, limit);
}

/* Each side's CPU per activation against its crypto, and the Coordinator's memory. */
static void cost_rows(const struct closed *c, const struct bench_limits *l, long idle_kib)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    char fig[128], limit[200];
    snprintf(limit, sizeof(limit),
             "crypto %.0f us (handshake %.0f + 2 verify + 1 sign) = %.0f%% of it",
             l->coordinator_us, l->handshake_server_us, 100 * l->coordinator_us / c->coord_cpu_us);
    bench_row("Coordinator CPU per activation", c->coord_cpu_us, "us", "-", limit);
    snprintf(fig, sizeof(fig), "Coordinator capacity by its CPU time, %ld cores", ncpu);
    snprintf(limit, sizeof(limit), "Coordinator crypto ceiling %.0f/s",
             (double)ncpu * 1e6 / l->coordinator_us);
    bench_row(fig, (double)ncpu * 1e6 / c->coord_cpu_us, "/s", ">= 2000/s on 2 cores", limit);
    snprintf(limit, sizeof(limit), "crypto %.0f us (handshake %.0f + keygen + 3 sign)",
             l->marble_us, l->handshake_client_us);
    bench_row("marble (load generator) CPU per activation", c->marble_cpu_us, "us", "-", limit);
    bench_row("Coordinator peak RSS (VmHWM) under load", (double)c->hwm_kib / 1024, "MiB", "-",
              "-");
    bench_row("Coordinator idle RSS after start + manifest", (double)idle_kib / 1024, "MiB",
              "< 16 MiB", "-");
}

/* A count from 1 to max given as `what`; a malformed one stops the benchmark with its reason. */
static size_t count_of(const char *what, const char *s, uint64_t max)
{
    uint64_t n = 0;
    if (enc_dec_u64(what, s, 1, max, &n) < 0)
        die(err_detail(ERR_RANGE));
    return (size_t)n;
}

static void options(int argc, char **argv, size_t *marbles, size_t *seconds)
{
    const char *m = getenv("QY_BENCH_MARBLES"), *s = getenv("QY_BENCH_SECONDS");
    *marbles = m ? count_of("QY_BENCH_MARBLES", m, MARBLES_MAX) : 64;
    *seconds = s ? count_of("QY_BENCH_SECONDS", s, 3600) : 8;
    if (argc % 2 == 0)
        die("usage: bench_activation [--marbles N] [--seconds S]");
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--marbles") == 0)
            *marbles = count_of("--marbles", argv[i + 1], MARBLES_MAX);
        else if (strcmp(argv[i], "--seconds") == 0)
            *seconds = count_of("--seconds", argv[i + 1], 3600);
        else
            die("usage: bench_activation [--marbles N] [--seconds S]");
    }
}

int main(int argc, char **argv)
{
    size_t n, seconds;
    options(argc, argv, &n, &seconds);
    struct bench_limits lim;
    bench_limits_measure(1.0, (int)sysconf(_SC_NPROCESSORS_ONLN), &lim);

    struct bench_coord coord;
    bench_coord_init(&coord);
    bench_coord_start(&coord);
    started = &coord;
    struct run run = {.coord = &coord};
    struct buf manifest = BUF_INIT;
    if (att_testkit_default_identity(coord.tk, &run.id) != 0)
        bench_coord_die(&coord, "testkit identity");
    manifest_json(&run.id, &manifest);
    bench_coord_set_manifest(&coord, buf_view(&manifest));
    sleep(1);
    struct bench_usage idle;
    bench_coord_usage(&coord, &idle);

    struct marble *ms = calloc(n, sizeof(*ms));
    struct closed closed;
    struct totals open;
    if (ms == NULL)
        die("out of memory");
    run_closed(&run, ms, n, (double)seconds, &closed);
    if (closed.t.ok == 0) /* nothing to divide by: say why instead of printing inf */
        die(closed.t.first_error[0] ? closed.t.first_error : "no activation completed");
    double open_rate = closed.rate > 2 ? closed.rate / 2 : 1;
    run_open(&run, ms, n, open_rate, (double)seconds * 0.75, &open);
    size_t errors = closed.t.errors + open.errors;
    if (errors > 0)
        fprintf(stderr, "bench_activation: %zu errors; the first: %s\n", errors,
                closed.t.first_error[0] ? closed.t.first_error : open.first_error);
    limit_rows(&lim);
    throughput_rows(&closed, n, &lim);
    all_latency_rows(&closed, &open, open_rate, n, &lim);
    bench_row("activation errors (all phases)", (double)errors, "", "0", "-");
    cost_rows(&closed, &lim, idle.rss_kib);

    for (size_t i = 0; i < n; i++) {
        att_source_free(ms[i].src);
        free(ms[i].lat.v);
    }
    free(ms);
    free(closed.t.lat.v);
    free(open.lat.v);
    buf_free(&manifest);
    bench_coord_cleanup(&coord);
    return 0;
}
