/* Collateral from a PCCS (api/pccs.c over api/http_client.c) served by the test's own HTTP server
 * in Intel's response shapes, issuer chains URL-encoded in headers: verification, caching (no
 * second request), a slow platform not blocking a cached one, retries, missing and oversize
 * answers; background fetching, poisoned items, the Root CA CRL warning, https with a CA file. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "crypto/crypto.h"
#include "att_test.h"
#include "http_server.h"
#include "pccs_served.h"

struct fetch_counts {
    atomic_int n[4][4]; /* kind x outcome */
};

static void count_fetch(void *ctx, enum att_collateral_kind kind, enum att_fetch_outcome o)
{
    atomic_fetch_add(&((struct fetch_counts *)ctx)->n[kind][o], 1);
}

/* A verifier over the stand-in: http, or https trusting `ca_file`; blocking or background. */
struct pv_opts {
    int retries;
    bool background, https;
    const char *ca_file;
    long timeout_ms; /* 0: 5 s */
    struct fetch_counts *counts;
};

static struct att_verifier *pccs_verifier_with(uint16_t port, struct view root,
                                               const struct pv_opts *o)
{
    char url[64];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%u/", o->https ? "https" : "http", port);
    struct api_pccs_config pc = {
        .base_url = url,
        .retries = o->retries,
        .timeout_ms = o->timeout_ms ? o->timeout_ms : 5000,
        .ca_file = o->ca_file};
    struct att_collateral_source *src = NULL;
    int r = api_pccs_source_new(&pc, &src);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    cr_expect(strstr(att_collateral_source_name(src), "PCCS http") != NULL);
    struct att_verifier_config cfg = {.collateral = src,
                                      .background_fetch = o->background,
                                      .on_fetch = o->counts ? count_fetch : NULL,
                                      .on_fetch_ctx = o->counts,
                                      .insecure_extra_roots = &root,
                                      .insecure_extra_root_count = root.size > 0};
    struct att_verifier *v = NULL;
    cr_assert_eq(att_verifier_new(&cfg, &v), 0);
    return v;
}

static struct att_verifier *pccs_verifier(const struct ths *srv, struct view root, int retries)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", ths_port(srv));
    struct api_pccs_config pc = {.base_url = url, .retries = retries, .timeout_ms = 5000};
    struct att_collateral_source *src = NULL;
    int r = api_pccs_source_new(&pc, &src);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    cr_expect(strstr(att_collateral_source_name(src), "PCCS http://127.0.0.1:") != NULL);
    struct att_verifier_config cfg = {.collateral = src,
                                      .insecure_extra_roots = &root,
                                      .insecure_extra_root_count = root.size > 0};
    struct att_verifier *v = NULL;
    cr_assert_eq(att_verifier_new(&cfg, &v), 0);
    return v;
}

Test(pccs, testkit_collateral_over_http_is_cached)
{
    struct at_kit k;
    struct served s;
    struct ths_route routes[5];
    char paths[3][64], queries[2][64];
    at_kit_new(NULL, &k);
    served_load(k.dir, "pck_crl.der", "pck_crl_issuer_chain.pem", &s);
    routes_for(&s, "sgx", "00906ED50000", "processor", routes, paths, queries);
    struct ths *srv = NULL;
    cr_assert_eq(ths_start(routes, 4, &srv), 0);
    struct att_verifier *v = pccs_verifier(srv, att_testkit_root_pem(k.tk), 0);
    struct buf q = BUF_INIT;
    struct att_result res;
    for (int i = 0; i < 5; i++) {
        buf_reset(&q);
        at_kit_quote(&k, (uint8_t)i, 0, &q);
        cr_assert_eq(att_verify(v, buf_view(&q), qtime_now(), &res), 0);
        cr_assert(res.verified, "%s: %s", att_step_name(res.failed_step), res.detail);
        cr_expect(res.root_ca_crl_checked, "the hex Root CA CRL was used");
    }
    for (int i = 0; i < 4; i++)
        cr_expect_eq(ths_hits(srv, (size_t)i), 1, "route %d fetched %zu times", i,
                     ths_hits(srv, (size_t)i));
    att_verifier_free(v);
    ths_stop(srv);
    served_free(&s);
    buf_free(&q);
    at_kit_free(&k);
}

struct slow_arg {
    struct att_verifier *v;
    struct view quote;
    struct att_result res;
    atomic_bool done;
};

static void *slow_main(void *p)
{
    struct slow_arg *a = p;
    if (att_verify(a->v, a->quote, qtime_now(), &a->res) < 0)
        a->res.verified = false;
    atomic_store(&a->done, true);
    return NULL;
}

Test(pccs, a_slow_platform_does_not_block_a_cached_one)
{
    struct at_kit a, b;
    struct att_testkit_options o;
    at_kit_new(NULL, &a);
    att_testkit_options_init(&o);
    o.pki_from = a.dir;
    o.fmspc[5] = 0x77;
    at_kit_new(&o, &b);
    struct served sa, sb;
    served_load(a.dir, "pck_crl.der", NULL, &sa);
    served_load(b.dir, "pck_crl.der", NULL, &sb);
    struct ths_route routes[5];
    char paths[3][64], queries[2][64];
    routes_for(&sa, "sgx", "00906ED50000", "processor", routes, paths, queries);
    routes[R_TCB2] = (struct ths_route){paths[0],
                                        "fmspc=00906ED50077",
                                        200,
                                        buf_view(&sb.tcb),
                                        "TCB-Info-Issuer-Chain",
                                        buf_view(&sb.tcb_chain),
                                        1500};
    struct ths *srv = NULL;
    cr_assert_eq(ths_start(routes, 5, &srv), 0);
    struct att_verifier *v = pccs_verifier(srv, att_testkit_root_pem(a.tk), 0);
    struct buf qa = BUF_INIT, qb = BUF_INIT;
    struct att_result res;
    at_kit_quote(&a, 1, 0, &qa);
    at_kit_quote(&b, 2, 0, &qb);
    cr_assert_eq(att_verify(v, buf_view(&qa), qtime_now(), &res), 0);
    cr_assert(res.verified, "%s", res.detail);

    struct slow_arg slow = {v, buf_view(&qb), {0}, false};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, slow_main, &slow), 0);
    while (ths_hits(srv, R_TCB2) == 0)
        usleep(1000); /* b's TCB Info is being fetched now, for 1.5 s */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(att_verify(v, buf_view(&qa), qtime_now(), &res), 0);
        cr_assert(res.verified, "%s", res.detail);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    bool still_fetching = !atomic_load(&slow.done);
    pthread_join(th, NULL);
    cr_expect(still_fetching,
              "the slow fetch was still running while the cached platform verified");
    cr_expect_lt(ms, 1000.0, "cached verifications waited %.0f ms for another platform's fetch",
                 ms);
    cr_expect(slow.res.verified, "%s", slow.res.detail);
    cr_expect_eq(ths_hits(srv, R_TCB), 1);
    att_verifier_free(v);
    ths_stop(srv);
    served_free(&sa);
    served_free(&sb);
    buf_free(&qa);
    buf_free(&qb);
    at_kit_free(&b);
    at_kit_free(&a);
}

Test(pccs, errors_are_retried_then_reported)
{
    struct at_kit k;
    struct served s;
    struct ths_route routes[5];
    char paths[3][64], queries[2][64];
    at_kit_new(NULL, &k);
    served_load(k.dir, "pck_crl.der", NULL, &s);
    routes_for(&s, "sgx", "00906ED50000", "processor", routes, paths, queries);
    routes[R_TCB].status = 503;
    routes[R_ROOT].status = 404; /* no Root CA CRL: fine */
    struct ths *srv = NULL;
    cr_assert_eq(ths_start(routes, 4, &srv), 0);
    struct att_verifier *v = pccs_verifier(srv, att_testkit_root_pem(k.tk), 2);
    struct buf q = BUF_INIT;
    struct att_result res;
    at_kit_quote(&k, 1, 0, &q);
    cr_assert_eq(att_verify(v, buf_view(&q), qtime_now(), &res), 0);
    cr_expect(!res.verified);
    cr_expect_eq(res.failed_step, ATT_STEP_COLLATERAL);
    cr_expect_eq(res.error, ERR_ATT_NO_COLLATERAL);
    cr_expect(strstr(res.detail, "HTTP status 503") != NULL, "%s", res.detail);
    cr_expect_eq(ths_hits(srv, R_TCB), 3, "1 try + 2 retries, got %zu", ths_hits(srv, R_TCB));
    /* The failure is remembered for a while: the next quote does not hammer the PCCS. */
    cr_assert_eq(att_verify(v, buf_view(&q), qtime_now(), &res), 0);
    cr_expect(!res.verified && res.failed_step == ATT_STEP_COLLATERAL);
    cr_expect_eq(ths_hits(srv, R_TCB), 3);
    att_verifier_free(v);

    routes[R_TCB].status = 200;
    v = pccs_verifier(srv, att_testkit_root_pem(k.tk), 2);
    cr_assert_eq(att_verify(v, buf_view(&q), qtime_now(), &res), 0);
    cr_expect(res.verified && !res.root_ca_crl_checked, "%s", res.detail);
    att_verifier_free(v);
    ths_stop(srv);
    served_free(&s);
    buf_free(&q);
    at_kit_free(&k);
}

Test(pccs, http_client_bounds)
{
    static const char big[] = "0123456789abcdef0123456789abcdef";
    struct ths_route routes[] = {
        {"/big",
         NULL,
         200,
         {(const uint8_t *)big, 32},
         "X-Chain",
         {(const uint8_t *)"a%20b", 5},
         0},
        {"/slow", NULL, 200, {(const uint8_t *)big, 4}, NULL, {NULL, 0}, 1500},
    };
    struct ths *srv = NULL;
    cr_assert_eq(ths_start(routes, 2, &srv), 0);
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/big", ths_port(srv));
    const char *capture[] = {"x-chain"};
    struct api_http_get get = {.url = url, .capture = capture, .capture_count = 1, .retries = -1};
    struct api_http_result res;
    cr_assert_eq(api_http_get(&get, &res), 0);
    cr_expect_eq(res.status, 200);
    cr_expect_eq(res.body.size, 32);
    cr_expect(view_eq(buf_view(&res.headers[0]), view_str("a%20b")),
              "header captured case-insensitively");
    api_http_result_free(&res);
    get.max_body = 16;
    cr_expect_eq(api_http_get(&get, &res), ERR_TOO_LARGE);
    get.max_body = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/slow", ths_port(srv));
    get.timeout_ms = 300;
    cr_expect_eq(api_http_get(&get, &res), ERR_TIMEOUT);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/missing", ths_port(srv));
    cr_assert_eq(api_http_get(&get, &res), 0);
    cr_expect_eq(res.status, 404);
    api_http_result_free(&res);
    uint16_t port = ths_port(srv);
    ths_stop(srv);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/big", port);
    cr_expect_eq(api_http_get(&get, &res), ERR_NETWORK);
    snprintf(url, sizeof(url), "ftp://127.0.0.1:%u/big", port);
    cr_expect_lt(api_http_get(&get, &res), 0, "only http and https");
    struct api_pccs_config pc = {.base_url = "file:///etc"};
    struct att_collateral_source *src = NULL;
    cr_expect_eq(api_pccs_source_new(&pc, &src), ERR_INVALID_ARG);
}

/* Real Intel collateral through the PCCS source, SGX and TDX paths. */
static void vector_over_http(const char *name, const char *tee, const char *fmspc, const char *ca,
                             const char *crl_file, const char *at, const char *want)
{
    struct served s;
    struct ths_route routes[5];
    char paths[3][64], queries[2][64];
    served_load(at_vector_path(name, NULL), crl_file, NULL, &s);
    routes_for(&s, tee, fmspc, ca, routes, paths, queries);
    struct ths *srv = NULL;
    cr_assert_eq(ths_start(routes, 4, &srv), 0);
    struct att_verifier *v = pccs_verifier(srv, VIEW_EMPTY, 0);
    struct buf q = BUF_INIT;
    struct att_result res;
    qt_read(at_vector_path(name, "quote.dat"), &q);
    cr_assert_eq(att_verify(v, buf_view(&q), at_time(at), &res), 0);
    cr_expect(res.verified, "%s: %s: %s", name, att_step_name(res.failed_step), res.detail);
    cr_expect_str_eq(att_tcb_status_name(res.tcb_status), want);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(ths_hits(srv, (size_t)i), 1, "%s route %d", name, i);
    att_verifier_free(v);
    ths_stop(srv);
    served_free(&s);
    buf_free(&q);
}

Test(pccs, intel_vectors_over_http)
{
    QT_REQUIRE_SHARED();
    vector_over_http("phala-sgx-v3", "sgx", "00A067110000", "processor", "pck_crl.der",
                     "2025-07-01T00:00:00Z", "ConfigurationAndSWHardeningNeeded");
    vector_over_http("phala-tdx-v4", "tdx", "B0C06F000000", "platform", "pck_crl.der",
                     "2025-07-01T00:00:00Z", "UpToDate");
}

/* Hardening: a slow or hostile PCCS (issue 13, item 9) ------------------------------------------ */

/* A testkit (or a sibling of `pki_from` with FMSPC ...77), what a PCCS serves for it, one of its
 * quotes; routes may be changed before the start and between requests. */
struct standin {
    struct at_kit k;
    struct served s;
    struct ths_route routes[5];
    char paths[3][64], queries[2][64];
    struct ths *srv;
    struct buf q;
};

static void standin_init(struct standin *st, const char *pki_from)
{
    struct att_testkit_options o;
    att_testkit_options_init(&o);
    if (pki_from != NULL) {
        o.pki_from = pki_from;
        o.fmspc[5] = 0x77;
    }
    memset(st, 0, sizeof(*st));
    at_kit_new(&o, &st->k);
    served_load(st->k.dir, "pck_crl.der", NULL, &st->s);
    routes_for(&st->s, "sgx", "00906ED50000", "processor", st->routes, st->paths, st->queries);
    at_kit_quote(&st->k, 1, 0, &st->q);
}

static struct att_verifier *standin_start(struct standin *st, const struct pv_opts *o)
{
    cr_assert_eq(ths_start(st->routes, 4, &st->srv), 0);
    return pccs_verifier_with(ths_port(st->srv), att_testkit_root_pem(st->k.tk), o);
}

static void standin_free(struct standin *st)
{
    ths_stop(st->srv);
    served_free(&st->s);
    buf_free(&st->q);
    at_kit_free(&st->k);
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Verifies until the quote verifies (background fetches finish), at most ~60 s; returns the number
 * of PENDING answers seen. Every answer is either PENDING or the verdict. */
static int verify_until_done(struct att_verifier *v, struct view q, struct att_result *res)
{
    int pending = 0;
    for (int i = 0; i < 6000; i++) {
        cr_assert_eq(att_verify(v, q, qtime_now(), res), 0);
        if (res->error != ERR_ATT_COLLATERAL_PENDING)
            return pending;
        cr_assert_eq(res->failed_step, ATT_STEP_COLLATERAL);
        pending++;
        usleep(10000);
    }
    cr_assert_fail("collateral still pending after 60 s");
    return pending;
}

/* Background mode: a cold item is fetched once by the verifier's own threads, however many callers
 * ask for it meanwhile; callers get ERR_ATT_COLLATERAL_PENDING at once, never the fetch's delay. */
Test(pccs, background_misses_share_one_fetch_and_never_wait)
{
    struct standin st;
    struct att_result res;
    struct fetch_counts fc = {0};
    standin_init(&st, NULL);
    st.routes[R_TCB].delay_ms = 1500;
    struct pv_opts o = {.background = true, .counts = &fc};
    struct att_verifier *v = standin_start(&st, &o);
    double worst = 0;
    for (int i = 0; i < 50; i++) { /* while the 1.5 s TCB Info fetch runs */
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        cr_assert_eq(att_verify(v, buf_view(&st.q), qtime_now(), &res), 0);
        double ms = ms_since(&t);
        worst = ms > worst ? ms : worst;
        if (ths_hits(st.srv, R_TCB) > 0 && res.error != ERR_ATT_COLLATERAL_PENDING)
            break;
        cr_assert_eq(res.error, ERR_ATT_COLLATERAL_PENDING, "%s", res.detail);
        cr_assert_eq(res.failed_step, ATT_STEP_COLLATERAL);
        cr_assert(strstr(res.detail, "being fetched from PCCS http://127.0.0.1:") != NULL, "%s",
                  res.detail);
    }
    fprintf(stderr, "background: slowest att_verify while a 1.5 s fetch ran: %.1f ms\n", worst);
    cr_expect_lt(worst, 1000.0, "a caller waited %.0f ms for a fetch", worst);
    verify_until_done(v, buf_view(&st.q), &res);
    cr_assert(res.verified, "%s: %s", att_step_name(res.failed_step), res.detail);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(ths_hits(st.srv, (size_t)i), 1, "route %d fetched %zu times", i,
                     ths_hits(st.srv, (size_t)i));
    cr_expect_eq(atomic_load(&fc.n[ATT_COLLATERAL_TCB_INFO][ATT_FETCH_OK]), 1);
    att_verifier_free(v);
    standin_free(&st);
}

/* Blocking mode (the CLI's): concurrent misses for one item share one fetch. */
struct conc_arg {
    struct att_verifier *v;
    struct view quote;
    bool verified;
};

static void *conc_main(void *p)
{
    struct conc_arg *a = p;
    struct att_result res;
    a->verified = att_verify(a->v, a->quote, qtime_now(), &res) == 0 && res.verified;
    return NULL;
}

Test(pccs, blocking_misses_share_one_fetch)
{
    struct standin st;
    standin_init(&st, NULL);
    st.routes[R_TCB].delay_ms = 500;
    struct pv_opts o = {0};
    struct att_verifier *v = standin_start(&st, &o);
    pthread_t th[8];
    struct conc_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (struct conc_arg){v, buf_view(&st.q), false};
        cr_assert_eq(pthread_create(&th[i], NULL, conc_main, &args[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        cr_expect(args[i].verified);
    }
    cr_expect_eq(ths_hits(st.srv, R_TCB), 1, "8 concurrent misses made %zu fetches",
                 ths_hits(st.srv, R_TCB));
    att_verifier_free(v);
    standin_free(&st);
}

/* Serves `bad` for one route, then (after the backoff) `good`: the platform verifies at once. */
static void poisoned_then_repaired(struct standin *st, size_t route, struct view bad,
                                   struct view good, enum att_step step, int code,
                                   const char *detail)
{
    struct att_result res;
    struct pv_opts o = {0};
    st->routes[route].body = bad;
    struct att_verifier *v = standin_start(st, &o);
    cr_assert_eq(att_verify(v, buf_view(&st->q), qtime_now(), &res), 0);
    cr_assert(!res.verified);
    cr_expect_eq(res.failed_step, step, "%s", att_step_name(res.failed_step));
    cr_expect_eq(res.error, code, "%s: %s", err_name(res.error), res.detail);
    cr_expect_str_eq(res.detail, detail);
    cr_expect(res.collateral_fault, "the source's fault, not the quote's: a caller may retry");
    st->routes[route].body = good; /* the PCCS is repaired */
    usleep((QY_ATT_RETRY_BASE_MS + 200) * 1000);
    cr_assert_eq(att_verify(v, buf_view(&st->q), qtime_now(), &res), 0);
    cr_expect(res.verified, "still refused after the PCCS served the right item: %s: %s",
              att_step_name(res.failed_step), res.detail);
    cr_expect_eq(ths_hits(st->srv, route), 2);
    att_verifier_free(v);
}

/* A poisoned item - genuine and signed, but not the one asked for - is not kept: once the PCCS
 * serves the right one (and the backoff passed), the platform verifies. */
Test(pccs, a_tcb_info_for_another_fmspc_is_not_cached)
{
    struct standin a, b;
    standin_init(&a, NULL);
    standin_init(&b, a.k.dir); /* same PKI, FMSPC ...77 */
    poisoned_then_repaired(&a, R_TCB, buf_view(&b.s.tcb), buf_view(&a.s.tcb), ATT_STEP_TCB_INFO,
                           ERR_ATT_MISMATCH,
                           "the TCB Info is for FMSPC 00906ED50077, the platform's is 00906ED50000");
    standin_free(&b);
    standin_free(&a);
}

Test(pccs, a_pck_crl_signed_by_another_key_is_not_cached)
{
    struct standin a, other;
    standin_init(&a, NULL);
    standin_init(&other, NULL); /* a PKI of its own: the same names, other keys */
    poisoned_then_repaired(&a, R_CRL, buf_view(&other.s.crl), buf_view(&a.s.crl), ATT_STEP_PCK_CRL,
                           ERR_BAD_SIGNATURE,
                           "the CRL's signature does not verify with the key of \"Quarry Testkit SGX "
                           "PCK Processor CA\"");
    standin_free(&other);
    standin_free(&a);
}

/* The verdict comes with the first failure; fetches of the other items may still be on their way
 * on the verifier's threads (a loaded machine): wait up to 30 s for a count to leave zero. */
static int count_once_settled(atomic_int *n)
{
    for (int i = 0; i < 3000 && atomic_load(n) == 0; i++)
        usleep(10000);
    return atomic_load(n);
}

/* Garbage and 500s are failures, remembered for the backoff only, and counted. */
Test(pccs, garbage_and_errors_are_counted_and_retried_after_a_backoff)
{
    struct standin st;
    struct att_result res;
    struct fetch_counts fc = {0};
    standin_init(&st, NULL);
    st.routes[R_TCB].body = view_str("{\"tcbInfo\": garbage");
    st.routes[R_QE].status = 500;
    struct pv_opts o = {.retries = -1, .background = true, .counts = &fc};
    struct att_verifier *v = standin_start(&st, &o);
    verify_until_done(v, buf_view(&st.q), &res);
    cr_assert(!res.verified);
    cr_expect_eq(res.failed_step, ATT_STEP_COLLATERAL, "the source failure comes first");
    cr_expect_eq(res.error, ERR_ATT_NO_COLLATERAL);
    cr_expect(strstr(res.detail, "qe/identity: HTTP status 500") != NULL, "%s", res.detail);
    cr_expect_eq(count_once_settled(&fc.n[ATT_COLLATERAL_TCB_INFO][ATT_FETCH_REJECTED]), 1);
    cr_expect_eq(count_once_settled(&fc.n[ATT_COLLATERAL_QE_IDENTITY][ATT_FETCH_FAILED]), 1);
    cr_expect_eq(count_once_settled(&fc.n[ATT_COLLATERAL_PCK_CRL][ATT_FETCH_OK]), 1);
    st.routes[R_TCB].body = buf_view(&st.s.tcb);
    st.routes[R_QE].status = 200;
    usleep((QY_ATT_RETRY_BASE_MS + 200) * 1000);
    verify_until_done(v, buf_view(&st.q), &res);
    cr_expect(res.verified, "%s: %s", att_step_name(res.failed_step), res.detail);
    att_verifier_free(v);
    standin_free(&st);
}

/* Collateral close to its nextUpdate is refreshed on the verifier's threads while callers keep
 * using it: a warm platform never sees a miss. */
Test(pccs, background_refreshes_ahead_of_expiry, .timeout = 120)
{
    struct standin st;
    struct att_result res;
    struct att_testkit_options o;
    att_testkit_options_init(&o);
    o.now = qtime_now() - 30 * 86400 + QY_ATT_REFRESH_AHEAD_SECONDS / 2; /* nextUpdate in 5 min */
    memset(&st, 0, sizeof(st));
    at_kit_new(&o, &st.k);
    served_load(st.k.dir, "pck_crl.der", NULL, &st.s);
    routes_for(&st.s, "sgx", "00906ED50000", "processor", st.routes, st.paths, st.queries);
    at_kit_quote(&st.k, 1, 0, &st.q);
    struct pv_opts po = {.background = true};
    struct att_verifier *v = standin_start(&st, &po);
    verify_until_done(v, buf_view(&st.q), &res);
    cr_assert(res.verified, "%s: %s", att_step_name(res.failed_step), res.detail);
    int calls = 0;
    for (; ths_hits(st.srv, R_TCB) < 2 && calls < 100000; calls++) {
        cr_assert_eq(att_verify(v, buf_view(&st.q), qtime_now(), &res), 0);
        cr_assert(res.verified, "a warm platform saw: %s: %s", att_step_name(res.failed_step),
                  res.detail);
        usleep(20000);
    }
    cr_expect_geq(ths_hits(st.srv, R_TCB), 2, "no refresh ahead of the nextUpdate");
    fprintf(stderr, "refresh ahead: %d warm verifications, all verified, until the refresh\n",
            calls);
    att_verifier_free(v);
    standin_free(&st);
}

/* Reads what the logger wrote to `path` since the test pointed it there. */
static void read_log(const char *path, struct buf *out)
{
    qt_read(path, out);
    cr_assert_eq(buf_terminate(out), 0);
}

Test(pccs, a_missing_root_ca_crl_is_a_warning_each_time)
{
    struct standin st;
    struct att_result res;
    struct buf text = BUF_INIT;
    char log[96];
    standin_init(&st, NULL);
    st.routes[R_ROOT].status = 404;
    snprintf(log, sizeof(log), "%s/log.txt", st.k.dir);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    log_configure(LOG_INFO, LOG_TEXT, fd);
    for (int i = 0; i < 2; i++) { /* two verifiers: each asks once, each warns */
        struct pv_opts o = {0};
        struct att_verifier *v = i == 0 ? standin_start(&st, &o)
                                        : pccs_verifier_with(ths_port(st.srv),
                                                             att_testkit_root_pem(st.k.tk), &o);
        cr_assert_eq(att_verify(v, buf_view(&st.q), qtime_now(), &res), 0);
        cr_expect(res.verified && !res.root_ca_crl_checked, "%s", res.detail);
        att_verifier_free(v);
    }
    log_configure(LOG_INFO, LOG_TEXT, 2);
    close(fd);
    read_log(log, &text);
    const char *line = "warn  attestation: no Root CA CRL: revocation of Intel's intermediate CAs is "
                       "not checked";
    const char *first = strstr((const char *)text.ptr, line);
    cr_assert_not_null(first, "no warning in: %s", (const char *)text.ptr);
    cr_expect_not_null(strstr(first + 1, line), "warned only once: %s", (const char *)text.ptr);
    cr_expect_not_null(strstr(first, "/sgx/certification/v4/rootcacrl: 404 Not Found"), "%s",
                       (const char *)text.ptr);
    buf_free(&text);
    standin_free(&st);
}

/* A self-signed certificate for 127.0.0.1 and its key, the certificate also as a PEM file. */
static void tls_identity(const char *dir, const char *name, struct crypto_key **key,
                         struct buf *der, char path[96])
{
    struct buf pem = BUF_INIT;
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, key), 0);
    qt_make_cert("pccs.test", *key, NULL, NULL, der);
    cr_assert_eq(enc_pem(&pem, "CERTIFICATE", buf_view(der)), 0);
    snprintf(path, 96, "%s/%s", dir, name);
    cr_assert_eq(file_write_atomic(path, buf_view(&pem), 0600), 0);
    buf_free(&pem);
}

/* A PCCS on https with a self-signed certificate: trusted through ca_file, refused when the file
 * holds another CA. (Without ca_file the system store is used; the Coordinator test checks that
 * with a real process.) */
Test(pccs, https_with_its_own_ca_file)
{
    struct standin st;
    struct att_result res;
    struct crypto_key *key = NULL, *other = NULL;
    struct buf der = BUF_INIT, other_der = BUF_INIT;
    char ca[96], other_ca[96];
    standin_init(&st, NULL);
    tls_identity(st.k.dir, "pccs-ca.pem", &key, &der, ca);
    tls_identity(st.k.dir, "other-ca.pem", &other, &other_der, other_ca);
    cr_assert_eq(ths_start_tls(st.routes, 4, buf_view(&der), key, &st.srv), 0);
    struct pv_opts o = {.retries = -1, .https = true, .ca_file = other_ca};
    struct att_verifier *v = pccs_verifier_with(ths_port(st.srv), att_testkit_root_pem(st.k.tk), &o);
    cr_assert_eq(att_verify(v, buf_view(&st.q), qtime_now(), &res), 0);
    cr_expect(!res.verified && res.error == ERR_ATT_NO_COLLATERAL, "%s", res.detail);
    cr_expect(strstr(res.detail, "https://127.0.0.1:") != NULL, "the URL is named: %s", res.detail);
    cr_expect(strstr(res.detail, "certificate") != NULL, "the cause is named: %s", res.detail);
    att_verifier_free(v);
    o.ca_file = ca;
    v = pccs_verifier_with(ths_port(st.srv), att_testkit_root_pem(st.k.tk), &o);
    cr_assert_eq(att_verify(v, buf_view(&st.q), qtime_now(), &res), 0);
    cr_expect(res.verified, "%s: %s", att_step_name(res.failed_step), res.detail);
    att_verifier_free(v);
    crypto_key_free(key);
    crypto_key_free(other);
    buf_free(&der);
    buf_free(&other_der);
    standin_free(&st);
}

/* One deadline for the whole fetch, tries and pauses included. */
Test(pccs, http_deadline_bounds_all_tries)
{
    struct ths_route routes[] = {
        {"/slow", NULL, 200, {(const uint8_t *)"abcd", 4}, NULL, {NULL, 0}, 1500},
    };
    struct ths *srv = NULL;
    cr_assert_eq(ths_start(routes, 1, &srv), 0);
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/slow", ths_port(srv));
    struct api_http_get get = {.url = url, .timeout_ms = 1000, .retries = 5, .deadline_ms = 1500};
    struct api_http_result res;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_expect_eq(api_http_get(&get, &res), ERR_TIMEOUT);
    double ms = ms_since(&t0);
    fprintf(stderr, "http deadline 1500 ms, 1000 ms per try, 5 retries: gave up after %.0f ms, "
            "%zu tries\n", ms, ths_hits(srv, 0));
    cr_expect_leq(ths_hits(srv, 0), 2, "%zu tries within a 1.5 s deadline of 1 s tries",
                  ths_hits(srv, 0));
    ths_stop(srv);
}
