/* Issue 13, items 3 and 6: insecure modes say so in /api/v2/status, the metrics, every log line and
 * `quarry status`, and are chosen deliberately (flags, or variables named INSECURE); what outsiders
 * can make the Coordinator do is bounded (refusal lines, monotonic counters); API bodies with keys
 * that differ only in case are refused. A real quarry-coordinator each time. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define TIMEOUT .timeout = 600

static struct qc q;

static void teardown(void)
{
    qc_cleanup(&q);
}

static void start(const char *const *extra)
{
    const char *args[16] = {"--metrics-addr", "127.0.0.1:0"};
    size_t n = 2;
    for (size_t i = 0; extra && extra[i] && n + 1 < QY_ARRAY_LEN(args); i++)
        args[n++] = extra[i];
    qc_start(&q, args);
}

/* GET /api/v2/status's data (owned). */
static json_t *status_data(void)
{
    struct api_client *c = qc_client(&q, NULL);
    json_t *j;
    cr_assert_eq(qc_call(c, API_GET, "/api/v2/status", NULL, &j), 200);
    json_t *data = json_incref(json_object_get(j, "data"));
    json_decref(j);
    api_client_free(c);
    return data;
}

static void read_log(struct buf *out)
{
    buf_reset(out);
    qt_read(q.log, out);
    cr_assert_eq(buf_terminate(out), 0);
}

/* Status, metrics and every log line of the running daemon say `mode` and `reasons`. */
static void expect_mode(const char *mode, const char *const *reasons, size_t count)
{
    json_t *d = status_data();
    cr_assert_eq(json_integer_value(json_object_get(d, "code")), 2, "MarbleRun's code stays");
    cr_assert_str_eq(json_string_value(json_object_get(d, "message")), "Coordinator is ready to accept a manifest.");
    cr_assert_str_eq(json_string_value(json_object_get(d, "attestationMode")), mode);
    cr_assert(json_is_true(json_object_get(d, "insecure")) == (count > 0));
    json_t *rs = json_object_get(d, "insecureReasons");
    cr_assert_eq(json_array_size(rs), count);
    char joined[64] = "";
    for (size_t i = 0; i < count; i++) {
        cr_assert_str_eq(json_string_value(json_array_get(rs, i)), reasons[i]);
        snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s", i ? "," : "", reasons[i]);
    }
    json_decref(d);
    struct buf m = BUF_INIT, want = BUF_INIT, log = BUF_INIT;
    qc_metrics(&q, &m);
    cr_assert_eq(buf_appendf(&want, "\nquarry_attestation_mode{mode=\"%s\"} 1\n", mode), 0);
    cr_assert_eq(buf_terminate(&want), 0);
    cr_assert(strstr((const char *)m.ptr, (const char *)want.ptr) != NULL, "%s", (const char *)m.ptr);
    buf_reset(&want);
    cr_assert_eq(buf_appendf(&want, "\nquarry_insecure{reasons=\"%s\"} 1\n", joined), 0);
    cr_assert_eq(buf_terminate(&want), 0);
    cr_assert(strstr((const char *)m.ptr, (const char *)want.ptr) != NULL, "%s", (const char *)m.ptr);
    buf_reset(&want);
    cr_assert_eq(buf_appendf(&want, " mode=%s insecure=%s", mode, joined), 0);
    read_log(&log);
    size_t lines = 0;
    for (const char *l = (const char *)log.ptr, *nl; (nl = strchr(l, '\n')) != NULL; l = nl + 1) {
        size_t len = (size_t)(nl - l);
        if (strncmp(l, "20", 2) != 0) /* not a log line (a sanitizer's, say) */
            continue;
        lines++;
        cr_assert(len >= want.size && memcmp(nl - want.size, want.ptr, want.size) == 0, "every line ends with "
                  "\"%.*s\": %.*s", (int)want.size, (const char *)want.ptr, (int)len, l);
    }
    cr_assert_geq(lines, 4, "%s", (const char *)log.ptr);
    buf_free(&m), buf_free(&want), buf_free(&log);
}

/* `quarry status` (without verifying the Coordinator when it has no quote to verify). */
static void expect_cli_says(const char *args, const char *const *needles, size_t count)
{
    struct buf out = BUF_INIT;
    cr_assert_eq(qc_quarry(&q, args, &out), 0, "%s", (const char *)out.ptr);
    for (size_t i = 0; i < count; i++)
        cr_assert(strstr((const char *)out.ptr, needles[i]) != NULL, "%s", (const char *)out.ptr);
    buf_free(&out);
}

Test(modes, emulated_with_the_testkit_root_says_so_everywhere, .fini = teardown, TIMEOUT)
{
    qc_init(&q, NULL);
    start(NULL);
    const char *reasons[] = {"emulated", "extra-root"};
    expect_mode("emulated", reasons, 2);
    const char *says[] = {"2: Coordinator is ready to accept a manifest.\nINSECURE Coordinator (attestation mode emulated):",
                          "INSECURE: emulated attestation: the Coordinator's quotes are signed by a software testkit",
                          "INSECURE: trusts an attestation root other than Intel's"};
    expect_cli_says("status", says, 3);
}

Test(modes, simulation_says_so_everywhere, .fini = teardown, TIMEOUT)
{
    qc_init(&q, NULL);
    q.no_attestation_args = true;
    const char *extra[] = {"--attestation", "simulation", NULL};
    start(extra);
    const char *reasons[] = {"simulation"};
    expect_mode("simulation", reasons, 1);
    const char *says[] = {"INSECURE Coordinator (attestation mode simulation):",
                          "INSECURE: simulation mode: marbles are not attested at all"};
    expect_cli_says("status --insecure", says, 2);
}

/* Hardware quotes from Gramine, but an extra root trusted: insecure, whatever the quote source - and
 * marbles whose quotes the testkit signed do activate. */
Test(modes, gramine_with_an_extra_root_is_insecure, .fini = teardown, TIMEOUT)
{
    qc_init(&q, NULL);
    char dev[400], path[480], att[420], coll[400];
    snprintf(dev, sizeof(dev), "%s/gramine", q.dir);
    snprintf(path, sizeof(path), "%s/keys", dev);
    cr_assert_eq(file_mkdirs(path, 0700), 0);
    struct att_testkit_quote_params id;
    struct buf quote = BUF_INIT;
    cr_assert_eq(att_testkit_default_identity(q.tk, &id), 0);
    cr_assert_eq(att_testkit_quote(q.tk, &id, &quote), 0);
    const struct {
        const char *name;
        struct view v;
    } files[] = {{"quote", buf_view(&quote)}, {"user_report_data", VIEW_EMPTY}, {"attestation_type", view_str("dcap\n")},
                 {"keys/_sgx_mrsigner", view_str("0123456789abcdef")}};
    for (size_t i = 0; i < QY_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", dev, files[i].name);
        cr_assert_eq(file_write_atomic(path, files[i].v, 0600), 0);
    }
    snprintf(att, sizeof(att), "gramine:%s", dev);
    snprintf(coll, sizeof(coll), "%s", q.kit);
    const char *extra[] = {"--attestation", att, "--collateral", coll, NULL};
    start(extra);
    const char *reasons[] = {"extra-root"};
    expect_mode("sgx", reasons, 1);
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    struct api_activation *a = NULL;
    cr_assert_eq(qc_activate(&q, "frontend", NULL, "0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d", &a), 0);
    api_activation_free(a);
    json_t *d = status_data();
    cr_assert(json_is_true(json_object_get(d, "insecure")));
    json_decref(d);
    buf_free(&quote);
}

/* The daemon started with the variables `env`, `args` and no --attestation flag; its exit status,
 * its output in *out. One that does start (it should not) is stopped after a minute. */
static int run_with_env(const char *env, const char *args, struct buf *out)
{
    char cmd[4096], log[400];
    snprintf(log, sizeof(log), "%s/env.log", q.dir);
    snprintf(cmd, sizeof(cmd),
             "timeout 60 env -u QUARRY_ATTESTATION -u QUARRY_INSECURE_ATTESTATION -u OE_SIMULATION %s "
             "%s/src/programs/coordinator/quarry-coordinator --data-dir %s --client-addr 127.0.0.1:0 "
             "--mesh-addr 127.0.0.1:0 %s >%s 2>&1",
             env, getenv("QY_BUILD_DIR"), q.data, args, log);
    int st = system(cmd);
    buf_reset(out);
    qt_read(log, out);
    cr_assert_eq(buf_terminate(out), 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(modes, the_plain_variable_never_chooses_an_insecure_mode, .fini = teardown, TIMEOUT)
{
    qc_init(&q, NULL);
    char emulated[400];
    snprintf(emulated, sizeof(emulated), "QUARRY_ATTESTATION=emulated:%s", q.kit);
    const struct {
        const char *env, *why;
    } refused[] = {
        {"QUARRY_ATTESTATION=simulation",
         "QUARRY_ATTESTATION=simulation would start an insecure mode: set QUARRY_INSECURE_ATTESTATION=simulation (or "
         "pass --attestation) to mean it"},
        {emulated, "would start an insecure mode: set QUARRY_INSECURE_ATTESTATION=emulated:"},
        {"OE_SIMULATION=1", "OE_SIMULATION=1 asks for MarbleRun's simulation mode, which Quarry enters only with "
                            "--attestation simulation or QUARRY_INSECURE_ATTESTATION=simulation"},
        {"QUARRY_ATTESTATION=gramine QUARRY_INSECURE_ATTESTATION=simulation",
         "both QUARRY_ATTESTATION and QUARRY_INSECURE_ATTESTATION are set: set one"},
    };
    struct buf out = BUF_INIT;
    for (size_t i = 0; i < QY_ARRAY_LEN(refused); i++) {
        cr_assert_neq(run_with_env(refused[i].env, "", &out), 0, "%s started", refused[i].env);
        cr_assert(strstr((const char *)out.ptr, refused[i].why) != NULL, "%s: %s", refused[i].env, (const char *)out.ptr);
    }
    buf_free(&out);
}

Test(modes, insecure_variables_choose_and_are_said_loudly, .fini = teardown, TIMEOUT)
{
    qc_init(&q, NULL);
    char att[400], root[400];
    snprintf(att, sizeof(att), "emulated:%s", q.kit);
    snprintf(root, sizeof(root), "%s/root_ca.pem", q.kit);
    cr_assert_eq(setenv("QUARRY_INSECURE_ATTESTATION", att, 1), 0);
    cr_assert_eq(setenv("QUARRY_INSECURE_EXTRA_ROOT", root, 1), 0);
    q.no_attestation_args = true;
    start(NULL);
    const char *reasons[] = {"emulated", "extra-root"};
    expect_mode("emulated", reasons, 2);
    struct buf log = BUF_INIT, want = BUF_INIT;
    read_log(&log);
    const char *vars[][2] = {{"QUARRY_INSECURE_ATTESTATION", att}, {"QUARRY_INSECURE_EXTRA_ROOT", root}};
    for (size_t i = 0; i < 2; i++) {
        buf_reset(&want);
        cr_assert_eq(buf_appendf(&want, "warn  coordinator: INSECURE setting taken from the environment variable=%s "
                                        "value=%s ", vars[i][0], vars[i][1]), 0);
        cr_assert_eq(buf_terminate(&want), 0);
        cr_assert(strstr((const char *)log.ptr, (const char *)want.ptr) != NULL, "%s", (const char *)log.ptr);
    }
    qc_stop(&q);
    cr_assert_eq(unlink(q.log), 0); /* the next daemon's lines only */
    /* MarbleRun's OE_SIMULATION=1 beside the deliberate choice of simulation is fine */
    cr_assert_eq(setenv("QUARRY_INSECURE_ATTESTATION", "simulation", 1), 0);
    cr_assert_eq(unsetenv("QUARRY_INSECURE_EXTRA_ROOT"), 0);
    cr_assert_eq(setenv("OE_SIMULATION", "1", 1), 0);
    start(NULL);
    const char *sim[] = {"simulation"};
    expect_mode("simulation", sim, 1);
    buf_free(&log), buf_free(&want);
}

Test(modes, bad_new_settings_stop_the_start, .fini = teardown, TIMEOUT)
{
    qc_init(&q, NULL);
    const struct {
        const char *args, *why;
    } bad[] = {
        {"--recovery-manifest maybe", "--recovery-manifest: \\\"maybe\\\", expected allow or refuse"},
        {"--max-counters-per-marble 0", "--max-counters-per-marble must be a number from 1 to 1000000"},
    };
    struct buf out = BUF_INIT;
    for (size_t i = 0; i < QY_ARRAY_LEN(bad); i++) {
        cr_assert_neq(run_with_env("QUARRY_INSECURE_ATTESTATION=simulation", bad[i].args, &out), 0, "%s", bad[i].args);
        cr_assert(strstr((const char *)out.ptr, bad[i].why) != NULL, "%s: %s", bad[i].args, (const char *)out.ptr);
    }
    buf_free(&out);
}

/* Refusals anyone can cause ------------------------------------------------------------------------ */

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A client of the mesh API with a self-signed certificate: all anyone needs to be refused. */
static struct api_client *stranger(const char *addr)
{
    struct buf cert = BUF_INIT, key = BUF_INIT;
    qt_read(qt_data_path("certs/carol.crt"), &cert);
    qt_read(qt_data_path("certs/carol.key"), &key);
    struct api_client_config cc = {addr, VIEW_EMPTY, true, buf_view(&cert), buf_view(&key), 30000};
    struct api_client *c;
    cr_assert_eq(api_client_new(&cc, &c), 0);
    buf_free(&cert), buf_free(&key);
    return c;
}

static void refused_activation(struct api_client *c)
{
    json_t *j;
    cr_assert_eq(qc_call(c, API_POST, "/api/v2/activate",
                         "{\"marbleType\":\"frontend\",\"uuid\":\"0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d\",\"csr\":\"MA==\"}",
                         &j), 400);
    cr_assert(strncmp(json_string_value(json_object_get(j, "message")), "invalid CSR: ", 13) == 0);
    json_decref(j);
}

Test(limits, refused_activations_write_a_bounded_number_of_lines, .fini = teardown, TIMEOUT)
{
    qc_init(&q, NULL);
    start(NULL);
    cr_assert_eq(qc_set_manifest(&q, "coordinator.json"), 200);
    struct api_client *c = stranger(q.mesh_addr);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum { N = 300 };
    for (int i = 0; i < N; i++)
        refused_activation(c);
    double elapsed = seconds_since(&t0);
    cr_log_info("%d refused activations took %.2f s", N, elapsed);
    struct timespec pause = {1, 200 * 1000 * 1000}; /* a token again, for the line with the count */
    nanosleep(&pause, NULL);
    refused_activation(c);
    elapsed = seconds_since(&t0);
    api_client_free(c);
    struct buf log = BUF_INIT;
    read_log(&log);
    const char *text = (const char *)log.ptr;
    size_t lines = count_of(text, "mesh: marble refused ");
    /* a burst of 10, then one a second: whatever the machine's speed */
    size_t bound = 10 + (size_t)elapsed + 1;
    cr_log_info("%d refusals in %.2f s wrote %zu refusal lines (bound %zu), %zu bytes of log", N + 1, elapsed, lines,
                bound, log.size);
    cr_assert_leq(lines, bound);
    cr_assert_geq(lines, 10);
    /* every refusal is accounted for: written, or counted in a later "suppressed" line */
    unsigned long long suppressed = 0;
    for (const char *p = text; (p = strstr(p, "mesh: similar refusals suppressed count=")) != NULL; p++) {
        unsigned long long n = 0;
        unsigned s = 0;
        cr_assert_eq(sscanf(p, "mesh: similar refusals suppressed count=%llu seconds=%u", &n, &s), 2, "%.120s", p);
        cr_assert_gt(n, 0);
        cr_assert_geq(s, 1);
        suppressed += n;
    }
    cr_assert_eq(lines + suppressed, N + 1, "%zu lines, %llu suppressed", lines, suppressed);
    buf_free(&log);
}

/* Monotonic counters per marble ---------------------------------------------------------------------- */

static struct api_client *marble_client(const struct api_activation *a)
{
    struct api_client_config cc = {q.client_addr, VIEW_EMPTY, true, buf_view(&a->chain_pem), buf_view(&a->key_pem),
                                   30000};
    struct api_client *c = NULL;
    cr_assert_eq(api_client_new(&cc, &c), 0);
    return c;
}

static long counter(struct api_client *c, int name, json_t **j)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"name\":\"c%d\",\"value\":%d}", name, name + 1);
    return qc_call(c, API_POST, "/api/v2/monotonic-counter", body, j);
}

static void set_counter_manifest(void)
{
    json_t *m = qt_manifest_json("coordinator.json");
    json_object_set_new(m, "Config", json_pack("{s:[s]}", "FeatureGates", "MonotonicCounter"));
    struct buf text = BUF_INIT;
    cr_assert_eq(js_dump(&text, m, JSON_INDENT(2)), 0);
    cr_assert_eq(buf_terminate(&text), 0);
    cr_assert_eq(qc_set_manifest_text(&q, (const char *)text.ptr, NULL), 200);
    json_decref(m);
    buf_free(&text);
}

Test(limits, monotonic_counters_are_bounded_per_marble, .fini = teardown, TIMEOUT)
{
    qc_init(&q, NULL);
    const char *extra[] = {"--max-counters-per-marble", "5", NULL};
    start(extra);
    set_counter_manifest();
    struct api_activation *a = NULL, *b = NULL;
    cr_assert_eq(qc_activate(&q, "frontend", NULL, "0d5fbd3e-3b0d-4b6c-bb7e-0e3c3a1f2b4d", &a), 0);
    cr_assert_eq(qc_activate(&q, "frontend", NULL, "7c9e6679-7425-40de-944b-e07fc1f90ae7", &b), 0);
    struct api_client *ca = marble_client(a), *cb = marble_client(b);
    json_t *j;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(counter(ca, i, NULL), 200, "counter %d", i);
    const char *why = "this marble has reached its limit of 5 monotonic counters (--max-counters-per-marble)";
    cr_assert_eq(counter(ca, 5, &j), 403);
    cr_assert_str_eq(json_string_value(json_object_get(j, "message")), why);
    json_decref(j);
    cr_assert_eq(counter(ca, 4, NULL), 200, "its existing counters still move");
    cr_assert_eq(counter(cb, 5, NULL), 200, "another marble has its own bound");
    /* the count is stored: the same after a restart */
    qc_stop(&q);
    start(extra);
    api_client_free(ca);
    ca = marble_client(a);
    cr_assert_eq(counter(ca, 6, &j), 403);
    cr_assert_str_eq(json_string_value(json_object_get(j, "message")), why);
    json_decref(j);
    api_client_free(ca), api_client_free(cb);
    api_activation_free(a), api_activation_free(b);
}

/* Keys that differ only in case ------------------------------------------------------------------- */

static void expect_duplicate(struct api_client *c, const char *target, const char *body, const char *a, const char *b)
{
    json_t *j;
    cr_assert_eq(qc_call(c, API_POST, target, body, &j), 400, "%s %s", target, body);
    char want[256];
    snprintf(want, sizeof(want), "duplicate key: \"%s\" and \"%s\" are the same field (keys are case-insensitive)", a, b);
    const char *msg = json_string_value(json_object_get(j, "message"));
    cr_assert(msg != NULL && strstr(msg, want) != NULL, "%s: %s", target, msg);
    json_decref(j);
}

Test(bodies, keys_differing_only_in_case_are_refused_on_every_route, .fini = teardown, TIMEOUT)
{
    qc_init(&q, NULL);
    start(NULL);
    struct api_client *anon = qc_client(&q, NULL), *admin = qc_client(&q, "admin");
    expect_duplicate(anon, "/api/v2/manifest", "{\"manifest\":\"e30=\",\"Manifest\":\"e30=\"}", "manifest", "Manifest");
    cr_assert_eq(qc_state(&q), 2, "nothing set");
    set_counter_manifest();
    const struct {
        struct api_client *c;
        const char *target, *body, *a, *b;
    } cases[] = {
        {admin, "/api/v2/secrets", "{\"secrets\":{},\"Secrets\":{\"apiToken\":{\"Key\":\"aGk=\"}}}", "secrets", "Secrets"},
        {admin, "/api/v2/secrets", "{\"secrets\":{\"apiToken\":{\"Key\":\"aGk=\",\"key\":\"aG8=\"}}}", "Key", "key"},
        {admin, "/secrets", "{\"apiToken\":{\"Key\":\"aGk=\",\"KEY\":\"aG8=\"}}", "Key", "KEY"},
        {admin, "/api/v2/update", "{\"manifest\":\"e30=\",\"MANIFEST\":\"e30=\"}", "manifest", "MANIFEST"},
        {admin, "/api/v2/update-manifest", "{\"Manifest\":\"e30=\",\"manifest\":\"e30=\"}", "Manifest", "manifest"},
        {anon, "/api/v2/sign-quote", "{\"sgxQuote\":\"AA==\",\"sgxquote\":\"AA==\"}", "sgxQuote", "sgxquote"},
        {anon, "/api/v2/monotonic-counter", "{\"name\":\"a\",\"Name\":\"b\",\"value\":1}", "name", "Name"},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(cases); i++)
        expect_duplicate(cases[i].c, cases[i].target, cases[i].body, cases[i].a, cases[i].b);
    json_t *j;
    cr_assert_eq(qc_call(admin, API_GET, "/api/v2/update", NULL, &j), 200);
    cr_assert_eq(json_array_size(json_object_get(json_object_get(j, "data"), "updateLog")), 1, "no secret was set");
    json_decref(j);
    /* the mesh API: any self-signed certificate may ask */
    struct api_client *mesh = stranger(q.mesh_addr);
    expect_duplicate(mesh, "/api/v2/activate",
                     "{\"marbleType\":\"frontend\",\"MarbleType\":\"limited\",\"uuid\":\"u\",\"csr\":\"MA==\"}",
                     "marbleType", "MarbleType");
    expect_duplicate(mesh, "/api/v2/activate", "{\"marbleType\":\"frontend\",\"uuid\":\"u\",\"csr\":\"MA==\",\"CSR\":\"MA==\"}",
                     "csr", "CSR");
    api_client_free(mesh), api_client_free(anon), api_client_free(admin);
}
