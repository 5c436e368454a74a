/* The Coordinator end to end: a real quarry-coordinator process, real TLS on loopback, a real SQLite
 * store, testkit quotes through the real DCAP verifier. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string.h>

#include "crypto/crypto.h"
#include "harness.h"
#include "pki/pki.h"

#define TIMEOUT .timeout = 240

static struct qc q;

static void setup(void)
{
    qc_init(&q, NULL);
    qc_start(&q, NULL);
}

static void teardown(void)
{
    qc_cleanup(&q);
}

static const char *data_str(json_t *j, const char *key)
{
    return json_string_value(json_object_get(json_object_get(j, "data"), key));
}

/* The root certificate the Coordinator's quote presents (last PEM of the chain), as DER. */
static void root_der(struct buf *der)
{
    struct api_client *c = qc_client(&q, NULL);
    json_t *j;
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/quote", NULL, &j), 200);
    const char *chain = data_str(j, "cert");
    const char *root = strstr(chain + 1, "-----BEGIN CERTIFICATE-----");
    cr_assert_not_null(root);
    cr_assert_eq(crypto_cert_pem_to_der(view_str(root), der), 0);
    json_decref(j);
    api_client_free(c);
}

Test(e2e, manifest_round_trip_signature_and_states, .init = setup, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_state(&q), 2);
    struct api_client *c = qc_client(&q, NULL);
    json_t *j;
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/manifest", NULL, &j), 500, "no manifest yet");
    cr_assert_str_eq(json_string_value(json_object_get(j, "message")), "requested value not set");
    json_decref(j);
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/secrets?s=x", NULL, NULL), 500, "wrong state");
    /* the examples' manifest */
    struct buf ex = BUF_INIT;
    char path[512];
    snprintf(path, sizeof(path), "%s/examples/manifest.json", getenv("QY_SOURCE_DIR"));
    qt_read(path, &ex);
    cr_assert_eq(buf_terminate(&ex), 0);
    cr_assert_eq(qc_set_manifest_text(&q, (const char *)ex.ptr, &j), 200);
    cr_assert(json_is_object(json_object_get(json_object_get(j, "data"), "RecoverySecrets")));
    json_decref(j);
    cr_assert_eq(qc_state(&q), 3);
    cr_assert_eq(qc_set_manifest_text(&q, (const char *)ex.ptr, &j), 500, "only once");
    cr_assert_str_eq(json_string_value(json_object_get(j, "message")), "server is not in expected state");
    json_decref(j);
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/manifest", NULL, &j), 200);
    struct buf raw = BUF_INIT, sig = BUF_INIT, root = BUF_INIT;
    cr_assert_eq(enc_b64_decode(&raw, view_str(data_str(j, "manifest"))), 0);
    cr_assert(view_eq(buf_view(&raw), buf_view(&ex)), "the exact bytes come back");
    uint8_t fp[32];
    struct view v = buf_view(&ex);
    cr_assert_eq(crypto_sha256(&v, 1, fp), 0);
    struct buf hex = BUF_INIT;
    cr_assert_eq(enc_hex(&hex, view_of(fp, 32)), 0);
    cr_assert(view_eq(buf_view(&hex), view_str(data_str(j, "manifestFingerprint"))));
    cr_assert_eq(enc_b64_decode(&sig, view_str(data_str(j, "manifestSignatureRootECDSA"))), 0);
    root_der(&root);
    cr_assert_eq(pki_verify_root_signature(buf_view(&root), buf_view(&raw), buf_view(&sig)), 0);
    json_decref(j);
    /* v1 shapes */
    cr_assert_eq(qc_call(c, API_GET, "/status", NULL, &j), 200);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "data"), "StatusCode")), 3);
    json_decref(j);
    cr_assert_eq(qc_call(c, API_POST, "/recover", "", NULL), 410);
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/nope", NULL, &j), 405);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "error");
    json_decref(j);
    cr_assert_eq(qc_call(c, API_POST, "/api/v2/status", "", NULL), 405, "wrong method");
    api_client_free(c);
    buf_free(&ex), buf_free(&raw), buf_free(&sig), buf_free(&root), buf_free(&hex);
}

Test(e2e, invalid_manifest_names_the_rule, .init = setup, .fini = teardown, TIMEOUT)
{
    json_t *j;
    cr_assert_eq(qc_set_manifest_text(&q, "{\"Packages\":{\"p\":{\"Debug\":true}},\"Marbles\":{\"m\":{\"Package\":\"db\"}}}", &j),
                 500);
    cr_assert_str_eq(json_string_value(json_object_get(j, "message")),
                     "checking manifest: Marbles.m.Package: package \"db\" is not defined");
    json_decref(j);
    cr_assert_eq(qc_state(&q), 2, "state unchanged");
}

static void activate_ok(const char *type, const struct att_testkit_quote_params *id, struct api_activation **out)
{
    int r = qc_activate(&q, type, id, "0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d", out);
    cr_assert_eq(r, 0, "%s", err_detail(r));
}

Test(e2e, activation_provisions_the_marble, .init = setup, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    struct api_activation *a;
    activate_ok("frontend", NULL, &a);
    cr_assert_eq(a->argc, 2);
    cr_assert_str_eq(a->argv[1], "--serve");
    const struct api_param *key = qc_param(a->files, a->files_count, "tls/key.pem");
    cr_assert_not_null(key);
    cr_assert(view_eq(buf_view(&key->value), buf_view(&a->key_pem)), "the private-key hole is filled locally");
    cr_assert(view_eq(buf_view(&qc_param(a->files, a->files_count, "plain.txt")->value), view_str("hello")));
    cr_assert_eq(qc_param(a->files, a->files_count, "mine.key")->value.size, 16);
    cr_assert_eq(qc_param(a->files, a->files_count, "shared.key")->value.size, 64);
    cr_assert_not_null(qc_param(a->env, a->env_count, "MARBLE_PREDEFINED_ROOT_CA"));
    cr_assert_not_null(qc_param(a->env, a->env_count, "MARBLE_PREDEFINED_MARBLE_CERTIFICATE_CHAIN"));
    /* the certificate: CN = the UUID, for the marble's own key */
    struct buf der = BUF_INIT;
    cr_assert_eq(crypto_cert_pem_to_der(buf_view(&a->chain_pem), &der), 0);
    struct crypto_key *cert_key, *own;
    cr_assert_eq(pki_cert_public_key(buf_view(&der), &cert_key), 0);
    cr_assert_eq(crypto_key_from_pem(buf_view(&a->key_pem), &own), 0);
    cr_assert(crypto_key_public_eq(cert_key, own));
    cr_assert_not_null(memmem(der.ptr, der.size, "0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d", 36));
    crypto_key_free(cert_key), crypto_key_free(own);
    buf_free(&der);
    /* the same UUID gives the same per-marble key; the shared one is shared */
    struct api_activation *b;
    activate_ok("frontend", NULL, &b);
    cr_assert(view_eq(buf_view(&qc_param(a->files, a->files_count, "mine.key")->value),
                      buf_view(&qc_param(b->files, b->files_count, "mine.key")->value)));
    cr_assert_not(view_eq(buf_view(&a->key_pem), buf_view(&b->key_pem)), "a new key for each activation");
    api_activation_free(a), api_activation_free(b);
    struct api_activation *u;
    activate_ok("unique", NULL, &u); /* UniqueID compared case-insensitively */
    api_activation_free(u);
}

static void expect_refusal(const char *type, const struct att_testkit_quote_params *id, const char *needle)
{
    struct api_activation *a = NULL;
    int r = qc_activate(&q, type, id, "0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d", &a);
    cr_assert_eq(r, ERR_POLICY, "%s: got %s: %s", needle, err_name(r), err_detail(r));
    cr_assert(strstr(err_detail(r), needle) != NULL, "\"%s\" not in \"%s\"", needle, err_detail(r));
    cr_assert_null(a);
}

Test(e2e, activation_refusals_give_their_reason, .init = setup, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    struct att_testkit_quote_params id;
    cr_assert_eq(att_testkit_default_identity(q.tk, &id), 0);
    struct att_testkit_quote_params wrong = id;
    wrong.mrenclave[0] ^= 1;
    expect_refusal("unique", &wrong, "UniqueID");
    wrong = id;
    wrong.mrsigner[5] ^= 1;
    expect_refusal("frontend", &wrong, "SignerID");
    wrong = id;
    wrong.isvsvn = 0;
    expect_refusal("frontend", &wrong, "SecurityVersion");
    wrong = id;
    wrong.isvprodid = 2;
    expect_refusal("frontend", &wrong, "ProductID");
    wrong = id;
    wrong.debug = true;
    expect_refusal("frontend", &wrong, "debug enclave, the package requires a production enclave");
    wrong = id;
    wrong.faults = ATT_TK_FAULT_BAD_SIGNATURE;
    expect_refusal("frontend", &wrong, "invalid quote");
    expect_refusal("nonexistent", NULL, "unknown marble type");
}

/* Quotes that are genuine but bound to something else. */
struct replay {
    struct qc *q;
    uint8_t saved[64];
    bool have_saved;
    bool other_key;
};

static int bad_quote(void *ctx, const uint8_t report_data[64], struct buf *quote)
{
    struct replay *rp = ctx;
    struct att_testkit_quote_params p;
    TRY(att_testkit_default_identity(rp->q->tk, &p));
    memcpy(p.report_data, report_data, 64);
    if (rp->other_key) { /* bound to another key on this very connection: flip a bit of the binding */
        p.report_data[3] ^= 0x40;
    } else if (rp->have_saved) { /* replay the quote of an earlier connection */
        memcpy(p.report_data, rp->saved, 64);
    } else {
        memcpy(rp->saved, report_data, 64);
        rp->have_saved = true;
    }
    return att_testkit_quote(rp->q->tk, &p, quote);
}

static int activate_with(struct replay *rp, struct api_activation **out)
{
    const char *names[] = {"localhost"};
    struct api_activation_config cfg = {q.mesh_addr, "frontend", names, 1, "0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d",
                                        NULL, bad_quote, rp, VIEW_EMPTY, 1, 10, 100, NULL, NULL};
    return api_activate(&cfg, out);
}

Test(e2e, quotes_bound_elsewhere_are_refused, .init = setup, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    struct replay rp = {&q, {0}, false, false};
    struct api_activation *a = NULL;
    cr_assert_eq(activate_with(&rp, &a), 0, "the first, honest, activation works");
    api_activation_free(a);
    a = NULL;
    int r = activate_with(&rp, &a); /* same quote, new TLS session */
    cr_assert_eq(r, ERR_POLICY);
    cr_assert(strstr(err_detail(r), "not bound to this TLS connection and key") != NULL, "%s", err_detail(r));
    rp.other_key = true;
    r = activate_with(&rp, &a);
    cr_assert_eq(r, ERR_POLICY);
    cr_assert(strstr(err_detail(r), "not bound") != NULL, "%s", err_detail(r));
}

/* 64 marbles at once against MaxActivations 10. */
struct racer {
    struct qc *q;
    int result;
};

static void *race(void *arg)
{
    struct racer *rc = arg;
    uint8_t rnd[16];
    char uuid[UUID_TEXT_SIZE];
    if (crypto_random(rnd, sizeof(rnd)) < 0)
        return NULL;
    uuid_v4(rnd, uuid);
    struct att_testkit_quote_params p;
    struct att_source *src = NULL;
    if (att_testkit_default_identity(rc->q->tk, &p) < 0 || att_source_new_emulated(rc->q->tk, &p, &src) < 0)
        return NULL;
    const char *names[] = {"localhost"};
    /* Retried until the deadline on network errors only: 64 handshakes at once on a loaded (or
     * sanitized) machine may time out, but a refusal (ERR_POLICY) is final. */
    struct api_activation_config cfg = {.coordinator = rc->q->mesh_addr, .marble_type = "limited", .names = names,
                                        .names_count = 1, .uuid = uuid, .quote_source = src,
                                        .deadline_seconds = 240, .backoff_max_ms = 500,
                                        .connect_timeout_ms = 60000};
    struct api_activation *a = NULL;
    rc->result = api_activate(&cfg, &a);
    api_activation_free(a);
    att_source_free(src);
    return NULL;
}

static int race_many(int n)
{
    pthread_t th[64];
    struct racer rc[64];
    int ok = 0;
    for (int i = 0; i < n; i++) {
        rc[i] = (struct racer){&q, ERR_INTERNAL};
        cr_assert_eq(pthread_create(&th[i], NULL, race, &rc[i]), 0);
    }
    for (int i = 0; i < n; i++) /* all of them first: the racers write into this frame */
        pthread_join(th[i], NULL);
    for (int i = 0; i < n; i++) {
        if (rc[i].result == 0)
            ok++;
        else
            cr_assert_eq(rc[i].result, ERR_POLICY, "%s", err_name(rc[i].result));
    }
    return ok;
}

Test(e2e, max_activations_exactly_under_concurrency_and_after_kill9, .init = setup, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    cr_assert_eq(race_many(64), 10, "exactly MaxActivations succeed");
    qc_kill9(&q);
    qc_start(&q, NULL);
    cr_assert_eq(qc_state(&q), 3, "resumed from the sealed store");
    cr_assert_eq(race_many(8), 0, "none more after kill -9 and restart");
}

/* RBAC: every user route x {no certificate, unknown certificate, user without the role, with it}. */
static long as(const char *user, enum api_method m, const char *target, const char *body)
{
    struct api_client *c = qc_client(&q, user);
    long s = qc_call(c, m, target, body, NULL);
    api_client_free(c);
    return s;
}

Test(e2e, rbac_matrix, .init = setup, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    const char *set = "{\"secrets\":{\"apiToken\":{\"Key\":\"c2VjcmV0\"}}}";
    struct {
        const char *user;
        long get, post;
    } rows[] = {
        {NULL, 401, 401},     /* no certificate */
        {"carol", 401, 401},  /* a certificate no user has */
        {"bob", 500, 500},    /* a user without the role (MarbleRun answers 500) */
        {"alice", 200, 500},  /* reader only */
        {"admin", 200, 200},  /* reader and writer */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        cr_assert_eq(as(rows[i].user, API_GET, "/api/v2/secrets?s=apiToken&s=sharedKey", NULL), rows[i].get, "GET as %s",
                     rows[i].user ? rows[i].user : "nobody");
        cr_assert_eq(as(rows[i].user, API_POST, "/api/v2/secrets", set), rows[i].post, "POST as %s",
                     rows[i].user ? rows[i].user : "nobody");
    }
    /* the upload took effect: the next marble gets it */
    struct api_activation *a;
    activate_ok("frontend", NULL, &a);
    cr_assert(view_eq(buf_view(&qc_param(a->env, a->env_count, "API_TOKEN")->value), view_str("secret")));
    api_activation_free(a);
    struct api_client *c = qc_client(&q, "admin");
    json_t *j;
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/update", NULL, &j), 200);
    json_t *log = json_object_get(json_object_get(j, "data"), "updateLog");
    cr_assert_eq(json_array_size(log), 2, "initial manifest, one secret set");
    cr_assert(strstr(json_string_value(json_array_get(log, 1)), "\"update\":\"Secret set\"") != NULL);
    json_decref(j);
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/secrets", NULL, NULL), 400, "no names");
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/secrets?s=", NULL, NULL), 400, "empty name");
    api_client_free(c);
}

/* Users' certificates are public (GET /api/v2/manifest). Sent behind a leaf of one's own - whose key
 * is all the handshake proves - admin's certificate must not make its sender admin. */
Test(e2e, a_user_certificate_behind_another_leaf_is_no_login, .init = setup, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    struct buf chain = BUF_INIT, key = BUF_INIT, admin = BUF_INIT;
    qt_read(qt_data_path("certs/carol.crt"), &chain);
    qt_read(qt_data_path("certs/admin.crt"), &admin);
    qt_read(qt_data_path("certs/carol.key"), &key);
    cr_assert_eq(buf_append_view(&chain, buf_view(&admin)), 0);
    struct api_client_config cc = {q.client_addr, VIEW_EMPTY, true, buf_view(&chain), buf_view(&key), 30000};
    struct api_client *c;
    cr_assert_eq(api_client_new(&cc, &c), 0);
    json_t *j;
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/secrets?s=apiToken", NULL, &j), 401);
    const char *msg = json_string_value(json_object_get(j, "message"));
    cr_assert_str_eq(msg ? msg : "", "unauthorized user: client certificate did not match any MarbleRun users");
    json_decref(j);
    cr_assert_eq(qc_call(c, API_POST, "/api/v2/secrets", "{\"apiToken\":{\"Key\":\"eA==\"}}", NULL), 401);
    api_client_free(c);
    buf_free(&chain), buf_free(&key), buf_free(&admin);
    c = qc_client(&q, "admin"); /* the real admin still is */
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/secrets?s=apiToken", NULL, NULL), 200);
    api_client_free(c);
}

Test(e2e, malformed_requests_leave_state_unchanged, .init = setup, .fini = teardown, TIMEOUT)
{
    struct api_client *c = qc_client(&q, NULL);
    const char *bodies[] = {"", "{", "[1,2]", "{\"manifest\":3}", "{\"manifest\":\"!!\"}", "{\"manifest\":\"e30=\"}",
                            "{\"a\":1,\"a\":2}"};
    long want[] = {400, 400, 400, 400, 400, 500, 400};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        json_t *j;
        cr_assert_eq(qc_call(c, API_POST, "/api/v2/manifest", bodies[i], &j), want[i], "body %zu", i);
        const char *st = json_string_value(json_object_get(j, "status"));
        cr_assert(st && (strcmp(st, "fail") == 0 || strcmp(st, "error") == 0), "JSend for body %zu", i);
        json_decref(j);
    }
    size_t big = QY_API_BODY_MAX + 100;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = 0;
    long status = 0;
    struct buf out = BUF_INIT;
    int r = api_client_call(c, API_POST, "/api/v2/manifest", view_str(huge), &status, &out);
    cr_assert(r == 0 && status == 413, "oversized: %s %ld", err_name(r), status);
    free(huge);
    buf_free(&out);
    api_client_free(c);
    /* slow clients: idle connections that never finish a handshake do not stop others */
    int idle[32];
    for (int i = 0; i < 32; i++) {
        idle[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(q.client_port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        cr_assert_eq(connect(idle[i], (struct sockaddr *)&a, sizeof(a)), 0);
        if (i % 2)
            cr_assert_eq(write(idle[i], "\x16\x03\x01", 3), 3); /* half a TLS record */
    }
    cr_assert_eq(qc_state(&q), 2, "still serving, still waiting for a manifest");
    for (int i = 0; i < 32; i++)
        close(idle[i]);
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200, "and still serving");
}

Test(e2e, restart_keeps_state_secrets_and_ca, .init = setup, .fini = teardown, TIMEOUT)
{
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    struct buf root1 = BUF_INIT, root2 = BUF_INIT;
    root_der(&root1);
    struct api_client *c = qc_client(&q, "admin");
    json_t *before, *after;
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/secrets?s=sharedKey&s=sharedCert", NULL, &before), 200);
    api_client_free(c);
    qc_stop(&q);
    qc_start(&q, NULL);
    cr_assert_eq(qc_state(&q), 3);
    root_der(&root2);
    cr_assert(view_eq(buf_view(&root1), buf_view(&root2)), "same root CA");
    c = qc_client(&q, "admin");
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/secrets?s=sharedKey&s=sharedCert", NULL, &after), 200);
    cr_assert(json_equal(before, after), "same secrets");
    api_client_free(c);
    /* the shared key's bytes are nowhere on disk in the clear */
    struct buf key = BUF_INIT;
    const char *b64 = json_string_value(
        json_object_get(json_object_get(json_object_get(json_object_get(after, "data"), "secrets"), "sharedKey"), "Private"));
    cr_assert_eq(enc_b64_decode(&key, view_str(b64)), 0);
    const char *files[] = {"state.db", "state.db-wal", "insecure-seal.key"};
    for (size_t i = 0; i < 3; i++) {
        char path[400];
        struct buf f = BUF_INIT;
        snprintf(path, sizeof(path), "%s/%s", q.data, files[i]);
        if (file_read(path, 64u << 20, &f) == 0)
            cr_assert_null(memmem(f.ptr, f.size, key.ptr, key.size), "%s holds the secret", files[i]);
        buf_free(&f);
    }
    json_decref(before), json_decref(after);
    buf_free(&root1), buf_free(&root2), buf_free(&key);
}

/* GET /metrics over plain HTTP. */
Test(e2e, metrics_show_state_mode_and_activations, .fini = teardown, TIMEOUT)
{
    qc_init(&q, NULL);
    const char *extra[] = {"--metrics-addr", "127.0.0.1:0", NULL};
    qc_start(&q, extra);
    cr_assert_gt(q.metrics_port, 0);
    struct buf m = BUF_INIT;
    qc_metrics(&q, &m);
    cr_assert(strstr((const char *)m.ptr, "coordinator_state 2") != NULL, "%s", (const char *)m.ptr);
    cr_assert(strstr((const char *)m.ptr, "quarry_attestation_mode{mode=\"emulated\"} 1") != NULL);
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    struct api_activation *act;
    activate_ok("frontend", NULL, &act);
    api_activation_free(act);
    for (int i = 0; i < 3; i++) { /* types the manifest does not have share one label */
        char type[32];
        snprintf(type, sizeof(type), "junk%d", i);
        cr_assert_eq(qc_activate(&q, type, NULL, "0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d", &act), ERR_POLICY);
    }
    buf_reset(&m);
    qc_metrics(&q, &m);
    cr_assert(strstr((const char *)m.ptr, "coordinator_state 3") != NULL);
    cr_assert(strstr((const char *)m.ptr, "coordinator_marble_activations_total{type=\"unknown\",result=\"refused\"} 3") != NULL,
              "%s", (const char *)m.ptr);
    cr_assert(strstr((const char *)m.ptr, "junk") == NULL);
    cr_assert(strstr((const char *)m.ptr, "coordinator_marble_activations_total{type=\"frontend\",result=\"ok\"} 1") != NULL,
              "%s", (const char *)m.ptr);
    cr_assert(strstr((const char *)m.ptr, "quarry_http_request_duration_seconds_count{server=\"client\",route=\"/api/v2/manifest\"")
              != NULL);
    buf_free(&m);
}

/* Settings from outside (flags and EDG_/QUARRY_ variables) are checked before anything starts: a
 * bad one stops the daemon with its reason, never a silent default. */
Test(e2e, bad_settings_stop_the_start_with_their_reason, .fini = teardown, TIMEOUT)
{
    qc_init(&q, NULL);
    char many[64 * 4];
    size_t w = 0;
    for (int i = 0; i < 33; i++)
        w += (size_t)snprintf(many + w, sizeof(many) - w, "%sn%d", i ? "," : "", i);
    const struct {
        const char *args, *more, *why;
    } bad[] = {
        {"--mesh-threads 0", "", "--mesh-threads must be a number from 1 to 256"},
        {"--client-threads abc", "", "--client-threads must be a number from 1 to 256"},
        {"--mesh-threads 1000", "", "--mesh-threads must be a number from 1 to 256"},
        {"--dns-names ", many, "--dns-names: 33 names, the limit is 32"},
        {"--log-level loud", "", "unknown log level \"loud\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char cmd[4096], log[400];
        snprintf(log, sizeof(log), "%s/bad.log", q.dir);
        snprintf(cmd, sizeof(cmd),
                 "%s/src/programs/coordinator/quarry-coordinator --data-dir %s --attestation emulated:%s "
                 "--client-addr 127.0.0.1:0 --mesh-addr 127.0.0.1:0 %s%s >%s 2>&1",
                 getenv("QY_BUILD_DIR"), q.data, q.kit, bad[i].args, bad[i].more, log);
        int st = system(cmd);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "%s: status %d", bad[i].args, st);
        struct buf out = BUF_INIT;
        qt_read(log, &out);
        cr_assert_eq(buf_terminate(&out), 0);
        cr_assert(strstr((const char *)out.ptr, bad[i].why) != NULL, "%s: %s", bad[i].args, (const char *)out.ptr);
        buf_free(&out);
    }
}
