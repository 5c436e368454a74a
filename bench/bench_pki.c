/* Marble certificates per second: parse the marble's CSR and issue its certificate, as every
 * activation does, with a P-256 CA (the default) and a P-384 CA (MarbleRun's curve); one thread and
 * two threads sharing one CA handle. */
#include <pthread.h>
#include <stdlib.h>

#include "bench.h"
#include "pki/pki.h"

static const char uuid[] = "123e4567-e89b-42d3-a456-426614174000";

struct run {
    const struct pki_ca *ca;
    struct view csr;
    double seconds;
    size_t issued;
};

static void *issue_loop(void *arg)
{
    struct run *r = arg;
    double start = bench_now();
    do {
        struct pki_csr *csr = NULL;
        struct buf cert = BUF_INIT;
        if (pki_csr_parse(r->csr, &csr) != 0 ||
            pki_issue_marble_cert(r->ca, csr, uuid, "bench", 0, &cert) != 0)
            abort();
        pki_csr_free(csr);
        buf_free(&cert);
        r->issued++;
    } while (bench_now() - start < r->seconds);
    return NULL;
}

static double rate(const struct pki_ca *ca, struct view csr, int threads)
{
    struct run runs[2] = {{ca, csr, 1.5, 0}, {ca, csr, 1.5, 0}};
    pthread_t t;
    double start = bench_now();
    if (threads > 1 && pthread_create(&t, NULL, issue_loop, &runs[1]) != 0)
        abort();
    issue_loop(&runs[0]);
    if (threads > 1)
        pthread_join(t, NULL);
    return (double)(runs[0].issued + runs[1].issued) / (bench_now() - start);
}

int main(void)
{
    struct crypto_key *key = NULL;
    struct buf csr = BUF_INIT;
    const char *names[] = {"web", "web.default", "web.default.svc.cluster.local"};
    if (crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &key) != 0 ||
        pki_csr_build(key, names, 3, &csr) != 0)
        abort();
    for (int c = 0; c < 2; c++) {
        struct pki_ca_options o = {.curve = c ? PKI_CURVE_P384 : PKI_CURVE_P256};
        struct pki_ca *ca = NULL;
        double start = bench_now();
        if (pki_ca_generate(&o, &ca) != 0)
            abort();
        double gen_ms = (bench_now() - start) * 1000;
        char fig[96];
        snprintf(fig, sizeof(fig), "marble certs from CSR, %s CA, 1 thread", c ? "P-384" : "P-256");
        bench_row(fig, rate(ca, buf_view(&csr), 1), "/s", "-", "-");
        snprintf(fig, sizeof(fig), "marble certs from CSR, %s CA, 2 threads",
                 c ? "P-384" : "P-256");
        bench_row(fig, rate(ca, buf_view(&csr), 2), "/s", c ? "-" : ">= 2,000 activations/s", "-");
        snprintf(fig, sizeof(fig), "CA hierarchy generation, %s", c ? "P-384" : "P-256");
        bench_row(fig, gen_ms, "ms", "-", "-");
        pki_ca_free(ca);
    }
    crypto_key_free(key);
    buf_free(&csr);
    return 0;
}
