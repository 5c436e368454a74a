/* DCAP quote verification throughput on one core: SGX v3 quotes from the testkit (the real
 * verification path under an emulated root), with warm caches and with cold ones, beside the cost
 * of the ECDSA P-256 verifications a quote needs, measured in the same run. Run from the repository
 * root; a real Intel quote from ../shared/vectors is measured too when it is there. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attestation/attestation.h"
#include "bench.h"
#include "crypto/crypto.h"

#define NQUOTES 256

static struct buf quotes[NQUOTES];

static void die(const char *what, int r)
{
    fprintf(stderr, "bench_attestation: %s: %s\n", what, err_detail(r));
    exit(2);
}

static double warm_rate(struct att_verifier *v, const struct buf *qs, size_t n, int64_t at,
                        double seconds)
{
    size_t count = 0;
    double start = bench_now(), now;
    do {
        for (size_t i = 0; i < 64; i++, count++) {
            struct att_result res;
            if (att_verify(v, buf_view(&qs[count % n]), at, &res) < 0 || !res.verified)
                die("warm verification", res.error);
        }
    } while ((now = bench_now()) - start < seconds);
    return (double)count / (now - start);
}

static double cold_rate(const struct att_testkit *tk, double seconds)
{
    size_t count = 0;
    double start = bench_now(), now;
    do {
        struct att_verifier *v = NULL;
        struct att_result res;
        int r = att_testkit_verifier_new(tk, &v);
        if (r < 0)
            die("verifier", r);
        if (att_verify(v, buf_view(&quotes[count % NQUOTES]), qtime_now(), &res) < 0 ||
            !res.verified)
            die("cold verification", res.error);
        att_verifier_free(v);
        count++;
    } while ((now = bench_now()) - start < seconds);
    return (double)count / (now - start);
}

static double ecdsa_rate(double seconds)
{
    struct crypto_key *k = NULL;
    struct buf sig = BUF_INIT;
    uint8_t msg[432] = {1};
    if (crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k) < 0 ||
        crypto_sign(k, CRYPTO_SIG_ECDSA_SHA256_RAW, view_of(msg, sizeof(msg)), &sig) < 0)
        die("ECDSA key", ERR_CRYPTO);
    size_t count = 0;
    double start = bench_now(), now;
    do {
        for (int i = 0; i < 64; i++, count++)
            if (crypto_verify(k, CRYPTO_SIG_ECDSA_SHA256_RAW, view_of(msg, sizeof(msg)),
                              buf_view(&sig)) < 0)
                die("ECDSA verify", ERR_BAD_SIGNATURE);
    } while ((now = bench_now()) - start < seconds);
    crypto_key_free(k);
    buf_free(&sig);
    return (double)count / (now - start);
}

struct thread_arg {
    struct att_verifier *v;
    double rate;
};

static void *thread_main(void *p)
{
    struct thread_arg *a = p;
    a->rate = warm_rate(a->v, quotes, NQUOTES, qtime_now(), 1.5);
    return NULL;
}

/* A real Intel quote with its collateral, if ../shared is there. */
static void vector_row(void)
{
    const char *dir = "../shared/vectors/phala-sgx-v3";
    char path[512];
    struct buf q = BUF_INIT;
    snprintf(path, sizeof(path), "%s/quote.dat", dir);
    if (file_read(path, QY_ATT_QUOTE_MAX_SIZE, &q) < 0)
        return;
    struct att_collateral_source *src = NULL;
    struct att_verifier *v = NULL;
    int64_t at = 0;
    if (att_collateral_dir_new(dir, &src) < 0 ||
        qtime_parse_rfc3339("2025-07-01T00:00:00Z", &at) < 0)
        die("vector", ERR_IO);
    struct att_verifier_config cfg = {.collateral = src};
    if (att_verifier_new(&cfg, &v) < 0)
        die("vector verifier", ERR_INTERNAL);
    bench_row("DCAP verify, Intel SGX v3 vector (phala), warm (per s)",
              warm_rate(v, &q, 1, at, 1.0), "/s", ">= 5000/s/core", "-");
    att_verifier_free(v);
    buf_free(&q);
}

int main(void)
{
    char dir[] = "/tmp/quarry-bench-att-XXXXXX";
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", ERR_IO);
    int r = att_testkit_init(dir, NULL);
    struct att_testkit *tk = NULL;
    if (r == 0)
        r = att_testkit_open(dir, &tk);
    if (r < 0)
        die("testkit", r);
    struct att_testkit_quote_params p;
    if (att_testkit_default_identity(tk, &p) < 0)
        die("identity", ERR_INTERNAL);
    for (int i = 0; i < NQUOTES; i++) {
        if (crypto_random(p.report_data, 64) < 0 || (r = att_testkit_quote(tk, &p, &quotes[i])) < 0)
            die("quote", r);
    }

    double ecdsa = ecdsa_rate(1.0);
    struct att_verifier *v = NULL;
    if ((r = att_testkit_verifier_new(tk, &v)) < 0)
        die("verifier", r);
    double warm = warm_rate(v, quotes, NQUOTES, qtime_now(), 2.0);
    double cold = cold_rate(tk, 1.0);

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = ncpu > 1 ? (int)(ncpu < 8 ? ncpu : 8) : 1;
    pthread_t th[8];
    struct thread_arg args[8];
    double total = 0;
    for (int i = 0; i < nthreads; i++) {
        args[i].v = v;
        pthread_create(&th[i], NULL, thread_main, &args[i]);
    }
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        total += args[i].rate;
    }

    char limit[160];
    snprintf(limit, sizeof(limit), "ECDSA P-256 verify %.0f/s; warm needs 1 (limit %.0f/s)", ecdsa,
             ecdsa);
    bench_row("DCAP verify, SGX v3, warm collateral (per s, 1 core)", warm, "/s", ">= 5000/s/core",
              limit);
    snprintf(limit, sizeof(limit), "cold: 14 ECDSA verifies + 5 files + parsing (limit %.0f/s)",
             ecdsa / 14);
    bench_row("DCAP verify, SGX v3, cold caches (per s, 1 core)", cold, "/s", "-", limit);
    char fig[96];
    snprintf(fig, sizeof(fig), "DCAP verify, SGX v3, warm, %d threads (total per s)", nthreads);
    snprintf(limit, sizeof(limit), "%ld cores x ECDSA limit = %.0f/s", ncpu, ecdsa * (double)ncpu);
    bench_row(fig, total, "/s", "-", limit);
    vector_row();

    att_verifier_free(v);
    att_testkit_free(tk);
    for (int i = 0; i < NQUOTES; i++)
        buf_free(&quotes[i]);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_attestation: could not remove %s\n", dir);
    return 0;
}
