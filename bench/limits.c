/*
 * The crypto limits of one activation (limits.h), measured with OpenSSL 3 directly: TLS 1.3
 * handshakes over a BIO pair, configured as the Coordinator's mesh server (TLS 1.3 only, a client
 * certificate required but not chain-verified, its leaf alone, no session tickets) and as the
 * marble's client (a self-signed P-256 certificate, no server verification); ECDSA P-256 with a
 * reused EVP_PKEY_CTX over a digest, as `openssl speed ecdsap256` does. Each side's share is its
 * thread CPU time, measured on every core at once: where two vCPUs share a physical core, one alone
 * would look faster than the machine is.
 */
#include "limits.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "crypto/crypto.h"
#include "pki/pki.h"

static void fail(const char *what)
{
    fprintf(stderr, "bench: limits: %s failed\n", what);
    exit(2);
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int accept_any(int ok, X509_STORE_CTX *ctx)
{
    (void)ok, (void)ctx;
    return 1;
}

static X509 *x509_of(struct view der)
{
    const unsigned char *p = der.ptr;
    X509 *x = d2i_X509(NULL, &p, (long)der.size);
    if (x == NULL)
        fail("d2i_X509");
    return x;
}

static SSL_CTX *tls_ctx(bool server, struct view leaf, struct view chain, struct crypto_key *key)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1)
        fail("SSL_CTX_new");
    X509 *x = x509_of(leaf);
    if (SSL_CTX_use_certificate(ctx, x) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, crypto_key_evp(key)) != 1)
        fail("SSL_CTX_use_certificate");
    X509_free(x);
    if (chain.size > 0) {
        x = x509_of(chain);
        if (SSL_CTX_add1_chain_cert(ctx, x) != 1)
            fail("SSL_CTX_add1_chain_cert");
        X509_free(x);
    }
    if (server) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
        SSL_CTX_set_num_tickets(ctx, 0); /* as the mesh server: marbles never resume */
    } else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

/* One side's step; its CPU time added to *spent. 1 when that side's handshake is done. */
static int step(SSL *s, double *spent)
{
    double t = cpu_now();
    int r = SSL_do_handshake(s);
    *spent += cpu_now() - t;
    if (r == 1)
        return 1;
    int e = SSL_get_error(s, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        fail("TLS handshake");
    return 0;
}

static void one_handshake(SSL_CTX *sctx, SSL_CTX *cctx, double *server, double *client)
{
    double t = cpu_now();
    SSL *s = SSL_new(sctx);
    *server += cpu_now() - t;
    t = cpu_now();
    SSL *c = SSL_new(cctx);
    *client += cpu_now() - t;
    BIO *bs = NULL, *bc = NULL;
    if (s == NULL || c == NULL || BIO_new_bio_pair(&bs, 0, &bc, 0) != 1)
        fail("SSL_new");
    SSL_set_bio(s, bs, bs);
    SSL_set_bio(c, bc, bc);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    int done_s = 0, done_c = 0;
    for (int i = 0; i < 16 && !(done_s && done_c); i++) {
        done_c = done_c || step(c, client);
        done_s = done_s || step(s, server);
    }
    if (!done_s || !done_c)
        fail("TLS handshake (did not finish)");
    t = cpu_now();
    SSL_free(s);
    *server += cpu_now() - t;
    t = cpu_now();
    SSL_free(c);
    *client += cpu_now() - t;
}

static void measure_handshake(double seconds, struct bench_limits *out)
{
    struct pki_ca *ca = NULL;
    struct crypto_key *skey = NULL, *ckey = NULL;
    struct buf sleaf = BUF_INIT, cleaf = BUF_INIT;
    static const char *const names[] = {"localhost", "127.0.0.1"};
    struct pki_server_options o = {"Quarry Coordinator mesh API", names, 2, 0, 0};
    if (pki_ca_generate(NULL, &ca) != 0 || crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &skey) != 0 ||
        crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &ckey) != 0 ||
        pki_issue_server_cert(ca, PKI_SIGNER_INTERMEDIATE, skey, &o, &sleaf) != 0 ||
        pki_bootstrap_cert(ckey, names, 2, 0, &cleaf) != 0)
        fail("certificates");
    SSL_CTX *sctx = tls_ctx(true, buf_view(&sleaf), VIEW_EMPTY, skey);
    SSL_CTX *cctx = tls_ctx(false, buf_view(&cleaf), VIEW_EMPTY, ckey);
    double server = 0, client = 0, start = bench_now();
    size_t n = 0;
    do {
        one_handshake(sctx, cctx, &server, &client);
        n++;
    } while (bench_now() - start < seconds);
    out->handshake_server_us = server / (double)n * 1e6;
    out->handshake_client_us = client / (double)n * 1e6;
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    crypto_key_free(skey);
    crypto_key_free(ckey);
    buf_free(&sleaf);
    buf_free(&cleaf);
    pki_ca_free(ca);
}

/* Microseconds per call of fn, run in batches for about `seconds`. */
static double per_call(double seconds, void (*fn)(void *), void *arg)
{
    size_t n = 0;
    double start = cpu_now(), now;
    do {
        for (int i = 0; i < 32; i++, n++)
            fn(arg);
    } while ((now = cpu_now()) - start < seconds);
    return (now - start) / (double)n * 1e6;
}

struct ecdsa {
    EVP_PKEY_CTX *sign, *verify;
    unsigned char digest[32], sig[80];
    size_t sig_size;
};

static void do_sign(void *arg)
{
    struct ecdsa *e = arg;
    size_t n = sizeof(e->sig);
    if (EVP_PKEY_sign(e->sign, e->sig, &n, e->digest, sizeof(e->digest)) != 1)
        fail("EVP_PKEY_sign");
    e->sig_size = n;
}

static void do_verify(void *arg)
{
    struct ecdsa *e = arg;
    if (EVP_PKEY_verify(e->verify, e->sig, e->sig_size, e->digest, sizeof(e->digest)) != 1)
        fail("EVP_PKEY_verify");
}

static void do_keygen(void *arg)
{
    (void)arg;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (k == NULL)
        fail("EVP_EC_gen");
    EVP_PKEY_free(k);
}

static void measure_ecdsa(double seconds, struct bench_limits *out)
{
    struct ecdsa e = {0};
    EVP_PKEY *k = EVP_EC_gen("P-256");
    e.sign = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
    e.verify = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
    if (e.sign == NULL || e.verify == NULL || EVP_PKEY_sign_init(e.sign) != 1 ||
        EVP_PKEY_verify_init(e.verify) != 1 || crypto_random(e.digest, sizeof(e.digest)) != 0)
        fail("ECDSA setup");
    out->sign_us = per_call(seconds, do_sign, &e);
    out->verify_us = per_call(seconds, do_verify, &e);
    out->keygen_us = per_call(seconds, do_keygen, NULL);
    EVP_PKEY_CTX_free(e.sign);
    EVP_PKEY_CTX_free(e.verify);
    EVP_PKEY_free(k);
}

struct worker {
    double seconds;
    pthread_barrier_t *barrier;
    struct bench_limits out;
};

/* Both phases start together on every thread: every core is busy while it is measured. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(w->barrier);
    measure_handshake(w->seconds, &w->out);
    pthread_barrier_wait(w->barrier);
    measure_ecdsa(w->seconds, &w->out);
    return NULL;
}

static void add_scaled(struct bench_limits *sum, const struct bench_limits *x, double k)
{
    sum->handshake_server_us += x->handshake_server_us * k;
    sum->handshake_client_us += x->handshake_client_us * k;
    sum->sign_us += x->sign_us * k;
    sum->verify_us += x->verify_us * k;
    sum->keygen_us += x->keygen_us * k;
}

void bench_limits_measure(double seconds, int threads, struct bench_limits *out)
{
    struct worker w[BENCH_LIMITS_THREADS_MAX];
    pthread_t th[BENCH_LIMITS_THREADS_MAX];
    pthread_barrier_t barrier;
    int n = threads < 1                          ? 1
            : threads > BENCH_LIMITS_THREADS_MAX ? BENCH_LIMITS_THREADS_MAX
                                                 : threads;
    memset(out, 0, sizeof(*out));
    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        w[i] = (struct worker){seconds, &barrier, {0}};
        if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0)
            fail("pthread_create");
    }
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        add_scaled(out, &w[i].out, 1.0 / n);
    }
    pthread_barrier_destroy(&barrier);
    out->handshake_us = out->handshake_server_us + out->handshake_client_us;
    /* the quote's signature and the CSR's: verified; the marble certificate: signed */
    out->coordinator_us = out->handshake_server_us + 2 * out->verify_us + out->sign_us;
    /* a key pair; the CSR, the bootstrap certificate and the quote: signed */
    out->marble_us = out->handshake_client_us + out->keygen_us + 3 * out->sign_us;
}
