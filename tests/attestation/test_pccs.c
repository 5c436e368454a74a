/* Collateral from a PCCS (api/pccs.c over api/http_client.c) served by the test's own HTTP server
 * in Intel's response shapes, issuer chains URL-encoded in headers: verification, caching (no
 * second request), a slow platform not blocking a cached one, retries, missing and oversize
 * answers. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "att_test.h"
#include "http_server.h"

/* Percent-encoding of everything but unreserved characters, as Intel PCS sends issuer chains. */
static void url_encode(struct view in, struct buf *out)
{
    for (size_t i = 0; i < in.size; i++) {
        uint8_t c = in.ptr[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~';
        cr_assert_eq(plain ? buf_append_byte(out, c) : buf_appendf(out, "%%%02X", c), 0);
    }
}

/* The files a PCCS would serve for one collateral directory. */
struct served {
    struct buf tcb, tcb_chain, qe, qe_chain, crl, crl_chain, root_crl;
};

static void read_into(const char *dir, const char *name, struct buf *out, bool encode)
{
    char path[512];
    struct buf raw = BUF_INIT;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    qt_read(path, &raw);
    if (encode)
        url_encode(buf_view(&raw), out);
    else
        cr_assert_eq(buf_append_view(out, buf_view(&raw)), 0);
    buf_free(&raw);
}

static void served_load(const char *dir, const char *crl_file, const char *crl_chain_file,
                        struct served *s)
{
    memset(s, 0, sizeof(*s));
    read_into(dir, "tcb_info.json", &s->tcb, false);
    read_into(dir, "tcb_info_issuer_chain.pem", &s->tcb_chain, true);
    read_into(dir, "qe_identity.json", &s->qe, false);
    read_into(dir, "qe_identity_issuer_chain.pem", &s->qe_chain, true);
    read_into(dir, crl_file, &s->crl, false);
    if (crl_chain_file != NULL)
        read_into(dir, crl_chain_file, &s->crl_chain, true);
    struct buf der = BUF_INIT;
    read_into(dir, "root_ca_crl.der", &der, false);
    cr_assert_eq(enc_hex(&s->root_crl, buf_view(&der)), 0); /* PCCS's /rootcacrl answers hex */
    buf_free(&der);
}

static void served_free(struct served *s)
{
    struct buf *all[] = {&s->tcb, &s->tcb_chain, &s->qe,      &s->qe_chain,
                         &s->crl, &s->crl_chain, &s->root_crl};
    for (size_t i = 0; i < QY_ARRAY_LEN(all); i++)
        buf_free(all[i]);
}

enum { R_TCB, R_QE, R_CRL, R_ROOT, R_TCB2 };

static void routes_for(const struct served *s, const char *tee, const char *fmspc, const char *ca,
                       struct ths_route r[5], char paths[3][64], char queries[2][64])
{
    snprintf(paths[0], 64, "/%s/certification/v4/tcb", tee);
    snprintf(paths[1], 64, "/%s/certification/v4/qe/identity", tee);
    snprintf(queries[0], 64, "fmspc=%s", fmspc);
    snprintf(queries[1], 64, "ca=%s", ca);
    r[R_TCB] = (struct ths_route){paths[0],
                                  queries[0],
                                  200,
                                  buf_view(&s->tcb),
                                  "TCB-Info-Issuer-Chain",
                                  buf_view(&s->tcb_chain),
                                  0};
    r[R_QE] = (struct ths_route){paths[1],
                                 NULL,
                                 200,
                                 buf_view(&s->qe),
                                 "SGX-Enclave-Identity-Issuer-Chain",
                                 buf_view(&s->qe_chain),
                                 0};
    r[R_CRL] = (struct ths_route){"/sgx/certification/v4/pckcrl",
                                  queries[1],
                                  200,
                                  buf_view(&s->crl),
                                  s->crl_chain.size ? "SGX-PCK-CRL-Issuer-Chain" : NULL,
                                  buf_view(&s->crl_chain),
                                  0};
    r[R_ROOT] = (struct ths_route){
        "/sgx/certification/v4/rootcacrl", NULL, 200, buf_view(&s->root_crl), NULL, VIEW_EMPTY, 0};
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
