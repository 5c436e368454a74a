/* A real quarry-coordinator whose collateral comes from a loopback PCCS stand-in that is slow, down
 * or on https with its own CA (issue 13, item 9); and, in-process, the deadline before the commit. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../attestation/http_server.h"
#include "../attestation/pccs_served.h"
#include "coordinator/coordinator.h"
#include "crypto/crypto.h"
#include "harness.h"
#include "pki/pki.h"
#include "store/store.h"

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* An activation as the premain makes it, retrying 503s (collateral pending) until `deadline_s`. */
static int activate_as(struct qc *q, struct att_testkit *tk, int max_attempts, int deadline_s)
{
    struct att_testkit_quote_params p;
    struct att_source *src = NULL;
    uint8_t rnd[16];
    char uuid[UUID_TEXT_SIZE];
    cr_assert_eq(crypto_random(rnd, sizeof(rnd)), 0);
    uuid_v4(rnd, uuid);
    cr_assert_eq(att_testkit_default_identity(tk, &p), 0);
    cr_assert_eq(att_source_new_emulated(tk, &p, &src), 0);
    const char *names[] = {"localhost"};
    struct api_activation_config cfg = {.coordinator = q->mesh_addr, .marble_type = "frontend",
                                        .names = names, .names_count = 1, .uuid = uuid,
                                        .quote_source = src, .max_attempts = max_attempts,
                                        .deadline_seconds = deadline_s, .backoff_max_ms = 200,
                                        .connect_timeout_ms = 60000};
    struct api_activation *a = NULL;
    int r = api_activate(&cfg, &a);
    api_activation_free(a);
    att_source_free(src);
    return r;
}

struct cold {
    struct qc *q;
    struct att_testkit *tk;
    int result;
};

static void *cold_main(void *arg)
{
    struct cold *c = arg;
    c->result = activate_as(c->q, c->tk, 0, 120);
    return NULL;
}

static void metrics_text(struct qc *q, struct buf *out)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", q->metrics_port);
    struct api_http_get get = {.url = url, .retries = -1};
    struct api_http_result res;
    cr_assert_eq(api_http_get(&get, &res), 0);
    cr_assert_eq(res.status, 200);
    cr_assert_eq(buf_append_view(out, buf_view(&res.body)), 0);
    cr_assert_eq(buf_terminate(out), 0);
    api_http_result_free(&res);
}

/* One mesh thread, a warm platform A and a cold platform B whose TCB Info takes 7 s to come (under
 * a try's 10 s timeout): A's activations go on while B's are pending (before the fix each waited
 * for B's fetch: > 5 s), and B's concurrent misses make one fetch. The bound is generous for a
 * loaded, sanitized machine. */
Test(collateral_e2e, a_cold_platform_does_not_stall_a_warm_one, .timeout = 300)
{
    struct qc q;
    qc_init(&q, NULL);
    char kit_b[320];
    snprintf(kit_b, sizeof(kit_b), "%s/kit_b", q.dir);
    struct att_testkit_options o;
    att_testkit_options_init(&o);
    o.pki_from = q.kit;
    o.fmspc[5] = 0x77;
    cr_assert_eq(att_testkit_init(kit_b, &o), 0);
    struct att_testkit *tk_b = NULL;
    cr_assert_eq(att_testkit_open(kit_b, &tk_b), 0);
    struct served sa, sb;
    served_load(q.kit, "pck_crl.der", NULL, &sa);
    served_load(kit_b, "pck_crl.der", NULL, &sb);
    struct ths_route routes[5];
    char paths[3][64], queries[2][64], url[64];
    routes_for(&sa, "sgx", "00906ED50000", "processor", routes, paths, queries);
    routes[R_TCB2] = (struct ths_route){paths[0], "fmspc=00906ED50077", 200, buf_view(&sb.tcb),
                                        "TCB-Info-Issuer-Chain", buf_view(&sb.tcb_chain), 7000};
    struct ths *srv = NULL;
    cr_assert_eq(ths_start(routes, 5, &srv), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", ths_port(srv));
    const char *extra[] = {"--pccs", url, "--mesh-threads", "1", NULL};
    qc_start(&q, extra);
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    cr_assert_eq(activate_as(&q, q.tk, 0, 60), 0, "platform A warms up");

    pthread_t th[4];
    struct cold cold[4];
    for (int i = 0; i < 4; i++) {
        cold[i] = (struct cold){&q, tk_b, ERR_INTERNAL};
        cr_assert_eq(pthread_create(&th[i], NULL, cold_main, &cold[i]), 0);
    }
    while (ths_hits(srv, R_TCB2) == 0)
        usleep(1000); /* B's TCB Info is being fetched now, for 7 s */
    double worst = 0;
    int n = 0;
    for (; n < 20; n++) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int r = activate_as(&q, q.tk, 1, 30);
        cr_assert_eq(r, 0, "a warm activation failed: %s", err_detail(r));
        double ms = ms_since(&t0);
        worst = ms > worst ? ms : worst;
    }
    fprintf(stderr, "warm platform, %d activations while a cold one waited 7 s for its TCB Info: "
            "slowest %.0f ms (the p99 of %d)\n", n, worst, n);
    cr_expect_lt(worst, 5000.0, "a warm activation waited %.0f ms for another platform's fetch",
                 worst);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(cold[i].result, 0, "the cold platform activated once its collateral came: %s",
                     err_name(cold[i].result));
    }
    cr_expect_eq(ths_hits(srv, R_TCB2), 1, "4 cold marbles retrying made %zu fetches of one item",
                 ths_hits(srv, R_TCB2));
    qc_cleanup(&q);
    ths_stop(srv);
    att_testkit_free(tk_b);
    served_free(&sa);
    served_free(&sb);
}

/* A PCCS that is down: the marble is told so with a 503 (the premain retries), never refused; the
 * failed fetches are counted and logged with the URL and cause. */
Test(collateral_e2e, an_unreachable_pccs_is_a_503_with_its_reason, .timeout = 300)
{
    struct qc q;
    qc_init(&q, NULL);
    struct ths *srv = NULL;
    cr_assert_eq(ths_start(NULL, 0, &srv), 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", ths_port(srv));
    ths_stop(srv); /* nothing listens there any more */
    const char *extra[] = {"--pccs", url, "--metrics-addr", "127.0.0.1:0", NULL};
    qc_start(&q, extra);
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    bool reason_seen = false;
    for (int i = 0; i < 100 && !reason_seen; i++) {
        int r = activate_as(&q, q.tk, 1, 30);
        cr_assert_eq(r, ERR_WRONG_STATE, "attempt %d: %s: %s (a 503 the premain retries)", i,
                     err_name(r), err_detail(r));
        reason_seen = strstr(err_detail(r), "Couldn't connect to server") != NULL &&
                      strstr(err_detail(r), url) != NULL;
        usleep(100000);
    }
    cr_expect(reason_seen, "no answer named the PCCS URL and the cause");
    struct buf m = BUF_INIT, log = BUF_INIT;
    metrics_text(&q, &m);
    cr_expect_not_null(strstr((const char *)m.ptr,
                              "quarry_collateral_fetches_total{kind=\"tcb_info\",outcome=\"failed\"}"),
                       "%s", (const char *)m.ptr);
    cr_expect_not_null(strstr((const char *)m.ptr, "result=\"collateral_unavailable\""), "%s",
                       (const char *)m.ptr);
    cr_expect_null(strstr((const char *)m.ptr, "result=\"refused\""), "%s", (const char *)m.ptr);
    qt_read(q.log, &log);
    cr_assert_eq(buf_terminate(&log), 0);
    const char *w = strstr((const char *)log.ptr, "warn  attestation: collateral fetch failed");
    cr_expect_not_null(w, "no warning in the log");
    cr_expect(w != NULL && strstr(w, url) != NULL, "the warning names the URL");
    buf_free(&m);
    buf_free(&log);
    qc_cleanup(&q);
}

/* --pccs-ca: an https PCCS with a self-signed certificate works with it and not without. */
Test(collateral_e2e, an_https_pccs_with_its_own_ca, .timeout = 300)
{
    struct qc q;
    qc_init(&q, NULL);
    struct served s;
    struct ths_route routes[5];
    char paths[3][64], queries[2][64], url[64], ca[320];
    served_load(q.kit, "pck_crl.der", NULL, &s);
    routes_for(&s, "sgx", "00906ED50000", "processor", routes, paths, queries);
    struct crypto_key *key = NULL;
    struct buf der = BUF_INIT, pem = BUF_INIT;
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &key), 0);
    qt_make_cert("pccs.test", key, NULL, NULL, &der);
    cr_assert_eq(enc_pem(&pem, "CERTIFICATE", buf_view(&der)), 0);
    snprintf(ca, sizeof(ca), "%s/pccs-ca.pem", q.dir);
    cr_assert_eq(file_write_atomic(ca, buf_view(&pem), 0600), 0);
    struct ths *srv = NULL;
    cr_assert_eq(ths_start_tls(routes, 4, buf_view(&der), key, &srv), 0);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u", ths_port(srv));

    const char *without[] = {"--pccs", url, NULL};
    qc_start(&q, without);
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    int r = ERR_INTERNAL;
    for (int i = 0; i < 100; i++) {
        r = activate_as(&q, q.tk, 1, 30);
        if (strstr(err_detail(r), "being fetched") == NULL)
            break;
        usleep(100000);
    }
    /* Not trusted: a 503 naming the URL. (In this process the handshake's failure surfaces as a
     * timeout of the try, not as a certificate error: see the attestation test for the cause.) */
    cr_expect_eq(r, ERR_WRONG_STATE, "%s: %s", err_name(r), err_detail(r));
    cr_expect_not_null(strstr(err_detail(r), url), "%s", err_detail(r));
    qc_stop(&q);

    const char *with[] = {"--pccs", url, "--pccs-ca", ca, NULL};
    qc_start(&q, with);
    r = activate_as(&q, q.tk, 0, 60);
    cr_expect_eq(r, 0, "%s: %s", err_name(r), err_detail(r));
    qc_cleanup(&q);
    ths_stop(srv);
    crypto_key_free(key);
    buf_free(&der);
    buf_free(&pem);
    served_free(&s);
}

/* In-process: an activation whose answer is already too late is refused before its commit, with a
 * retryable error, and spends nothing: MaxActivations 1 still lets the next one through. */
/* A request as the mesh API makes it from a TLS connection, with the quote bound to it. */
struct marble {
    struct crypto_key *key;
    struct buf spki, csr, quote;
    struct coord_activation_request req;
};

static void marble_new(struct att_testkit *tk, const char *uuid, struct marble *m)
{
    const char *names[] = {"localhost"};
    uint8_t rd[64];
    struct att_testkit_quote_params p;
    memset(m, 0, sizeof(*m));
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &m->key), 0);
    cr_assert_eq(crypto_key_public_der(m->key, &m->spki), 0);
    cr_assert_eq(pki_csr_build(m->key, names, 1, &m->csr), 0);
    cr_assert_eq(crypto_random(m->req.exporter, sizeof(m->req.exporter)), 0);
    cr_assert_eq(coord_activation_binding(buf_view(&m->spki), m->req.exporter, rd), 0);
    cr_assert_eq(att_testkit_default_identity(tk, &p), 0);
    memcpy(p.report_data, rd, 64);
    cr_assert_eq(att_testkit_quote(tk, &p, &m->quote), 0);
    m->req.marble_type = "limited";
    m->req.uuid = uuid;
    m->req.csr = buf_view(&m->csr);
    m->req.quote = buf_view(&m->quote);
    m->req.peer_spki = buf_view(&m->spki);
    m->req.peer_key = m->key;
}

static void marble_free(struct marble *m)
{
    crypto_key_free(m->key);
    buf_free(&m->spki);
    buf_free(&m->csr);
    buf_free(&m->quote);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(activation, nothing_is_committed_after_the_answer_deadline, .timeout = 120)
{
    struct qc q;
    qc_init(&q, NULL);
    char spec_db[400], spec_key[400];
    cr_assert_eq(mkdir(q.data, 0700), 0);
    snprintf(spec_db, sizeof(spec_db), "sqlite:%s/state.db", q.data);
    snprintf(spec_key, sizeof(spec_key), "keyfile:%s/insecure-seal.key", q.data);
    struct kv_backend *kv = NULL;
    struct store *st = NULL;
    struct att_source *src = NULL;
    struct att_verifier *ver = NULL;
    struct att_testkit_quote_params id;
    cr_assert_eq(kv_backend_open(spec_db, &kv), 0);
    cr_assert_eq(store_open(kv, qc_keyfile_lookup, spec_key, &st), 0);
    cr_assert_eq(att_testkit_default_identity(q.tk, &id), 0);
    cr_assert_eq(att_source_new_emulated(q.tk, &id, &src), 0);
    cr_assert_eq(att_testkit_verifier_new(q.tk, &ver), 0);
    struct coord_config cfg = {st, src, ver, false, NULL, 0, qc_keyfile_sealer, spec_key, NULL, NULL, NULL, NULL};
    struct coord *c = NULL;
    cr_assert_eq(coord_new(&cfg, &c), 0);
    struct buf text = BUF_INIT;
    json_t *secrets = NULL;
    qc_manifest_text("coordinator.json", &text);
    json_t *mf = NULL;
    cr_assert_eq(js_parse(buf_view(&text), 1u << 20, &mf), 0);
    json_object_set_new(json_object_get(json_object_get(mf, "Marbles"), "limited"), "MaxActivations",
                        json_integer(1));
    buf_reset(&text);
    cr_assert_eq(js_dump(&text, mf, JSON_COMPACT), 0);
    int r = coord_set_manifest(c, buf_view(&text), &secrets);
    cr_assert_eq(r, 0, "%s", err_detail(r));

    struct marble late, on_time;
    marble_new(q.tk, "1b4e28ba-2fa1-11d2-883f-0016d3cca427", &late);
    late.req.answer_by_ms = mono_ms() - 1; /* the connection's time is already up */
    struct coord_activation_response *a = NULL;
    r = coord_activate(c, &late.req, &a);
    cr_assert_eq(r, ERR_TOO_LATE, "%s: %s", err_name(r), err_detail(r));
    cr_assert_eq(err_category(r), ERRC_STATE, "a 503 the premain retries");
    cr_assert_null(a);
    cr_expect_not_null(strstr(err_detail(r), "nothing was recorded"), "%s", err_detail(r));

    marble_new(q.tk, "6fa459ea-ee8a-3ca4-894e-db77e160355e", &on_time);
    on_time.req.answer_by_ms = mono_ms() + 60000;
    r = coord_activate(c, &on_time.req, &a);
    cr_assert_eq(r, 0, "MaxActivations 1 was spent by the abandoned activation: %s", err_detail(r));
    coord_activation_response_free(a);
    a = NULL;
    r = coord_activate(c, &late.req, &a);
    cr_assert_eq(r, ERR_EXHAUSTED, "and the limit still holds: %s", err_name(r));

    marble_free(&late);
    marble_free(&on_time);
    json_decref(mf);
    json_decref(secrets);
    buf_free(&text);
    coord_free(c);
    store_free(st);
    att_verifier_free(ver);
    att_source_free(src);
    qc_cleanup(&q);
}
