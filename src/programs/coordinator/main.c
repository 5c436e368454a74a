/*
 * quarry-coordinator: the Coordinator daemon. Wires the store, the attestation (own quotes and the
 * verifier of marble quotes), the coordinator and the three servers (client API, mesh API, metrics)
 * together from flags and MarbleRun's EDG_COORDINATOR_* variables, says loudly when it runs in an
 * insecure mode, and shuts down cleanly on SIGTERM/SIGINT (SIGHUP is logged and ignored: the log
 * goes to standard error, so there is no file to reopen).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/api.h"
#include "attestation/attestation.h"
#include "coordinator/coordinator.h"
#include "store/store.h"

struct options {
    const char *data_dir, *client_addr, *mesh_addr, *metrics_addr, *dns_names, *store, *attestation;
    const char *collateral, *pccs, *pccs_ca, *extra_root, *log_format, *log_level, *startup_manifest;
    const char *mesh_threads, *client_threads, *ports_file, *max_connections, *request_timeout;
    const char *recovery_manifest, *max_counters;
    const char *origin[32]; /* per option_defs entry: the variable its value came from, or NULL */
    bool help;
};

/* One option: its flag, the MarbleRun variable that sets it too, and its default. */
struct option_def {
    const char *flag;
    const char *env;
    const char *def;
    size_t offset;
    const char *help;
};

#define OPT(f, e, d, member, h) {f, e, d, offsetof(struct options, member), h}
static const struct option_def option_defs[] = {
    OPT("--data-dir", "EDG_COORDINATOR_SEAL_DIR", "quarry-coordinator-data", data_dir, "where sealed state lives"),
    OPT("--client-addr", "EDG_COORDINATOR_CLIENT_ADDR", ":4433", client_addr, "client REST API (HTTPS)"),
    OPT("--mesh-addr", "EDG_COORDINATOR_MESH_ADDR", ":2001", mesh_addr, "mesh API for marbles (mutual TLS)"),
    OPT("--metrics-addr", "EDG_COORDINATOR_PROMETHEUS_ADDR", NULL, metrics_addr, "Prometheus /metrics (plain HTTP)"),
    OPT("--dns-names", "EDG_COORDINATOR_DNS_NAMES", "localhost", dns_names, "comma-separated names for certificates"),
    OPT("--store", "QUARRY_STORE", NULL, store, "sqlite:PATH (default: DATA-DIR/state.db)"),
    OPT("--attestation", "QUARRY_ATTESTATION", "gramine", attestation,
        "gramine[:ROOT] | tsm[:ROOT] | emulated:DIR | simulation (the insecure two from the environment only as "
        "QUARRY_INSECURE_ATTESTATION)"),
    OPT("--collateral", "QUARRY_COLLATERAL", NULL, collateral, "collateral directory (Intel PCS layout)"),
    OPT("--pccs", "QUARRY_PCCS_URL", NULL, pccs, "PCCS or PCS base URL for collateral"),
    OPT("--pccs-ca", "QUARRY_PCCS_CA", NULL, pccs_ca, "trust only these CAs (PEM) for an https PCCS"),
    OPT("--insecure-extra-root", "QUARRY_INSECURE_EXTRA_ROOT", NULL, extra_root, "also trust this root PEM (testkit)"),
    OPT("--log-format", "QUARRY_LOG_FORMAT", "text", log_format, "text | json"),
    OPT("--log-level", "QUARRY_LOG_LEVEL", "info", log_level, "debug | info | warn | error"),
    OPT("--startup-manifest", "EDG_STARTUP_MANIFEST", NULL, startup_manifest, "set this manifest at start if none"),
    OPT("--mesh-threads", "QUARRY_MESH_THREADS", "16", mesh_threads, "event loops serving the mesh API"),
    OPT("--client-threads", "QUARRY_CLIENT_THREADS", "2", client_threads, "event loops serving the client API"),
    OPT("--ports-file", "QUARRY_PORTS_FILE", NULL, ports_file, "write the bound ports here as JSON (for :0)"),
    OPT("--recovery-manifest", "QUARRY_RECOVERY_MANIFEST", "allow", recovery_manifest,
        "in recovery: allow (MarbleRun: a new manifest discards the sealed state) | refuse (recovery keys only)"),
    OPT("--max-counters-per-marble", "QUARRY_MAX_COUNTERS_PER_MARBLE", "1000", max_counters,
        "monotonic counters one marble may create"),
    OPT("--max-connections", "QUARRY_MAX_CONNECTIONS", "auto", max_connections,
        "connections the client and the mesh API each hold at once (auto: from the descriptor limit)"),
    OPT("--request-timeout", "QUARRY_REQUEST_TIMEOUT", "10", request_timeout,
        "seconds a client has for a whole request (TLS handshake, headers, body)"),
};

/* An insecure attestation chosen through the environment needs a variable that says so; the plain
 * one (and MarbleRun's OE_SIMULATION) only ever selects hardware attestation. */
#define ENV_INSECURE_ATTESTATION "QUARRY_INSECURE_ATTESTATION"

static void usage(FILE *f)
{
    fprintf(f, "usage: quarry-coordinator [options]\n\noptions (environment variable in brackets):\n");
    for (size_t i = 0; i < QY_ARRAY_LEN(option_defs); i++)
        fprintf(f, "  %-24s %s [%s]%s%s\n", option_defs[i].flag, option_defs[i].help, option_defs[i].env,
                option_defs[i].def ? ", default " : "", option_defs[i].def ? option_defs[i].def : "");
}

_Static_assert(QY_ARRAY_LEN(option_defs) <= QY_ARRAY_LEN(((struct options *)0)->origin), "origin[] is too short");

/* The option_defs index of a member of struct options. */
static size_t option_index(const struct options *o, const char *const *member)
{
    size_t i = 0;
    while (i + 1 < QY_ARRAY_LEN(option_defs) &&
           member != (const char *const *)((const char *)o + option_defs[i].offset))
        i++;
    return i;
}

/* The attestation from the environment: QUARRY_INSECURE_ATTESTATION takes any spec and wins over the
 * plain variable, whose insecure values setup_attestation refuses. */
static int env_attestation(struct options *o)
{
    const char *insecure = getenv(ENV_INSECURE_ATTESTATION), *plain = getenv("QUARRY_ATTESTATION");
    if (insecure == NULL || insecure[0] == '\0')
        return 0;
    ENSURE(plain == NULL || plain[0] == '\0', ERR_INVALID_ARG,
           "both QUARRY_ATTESTATION and " ENV_INSECURE_ATTESTATION " are set: set one");
    o->attestation = insecure;
    o->origin[option_index(o, &o->attestation)] = ENV_INSECURE_ATTESTATION;
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < QY_ARRAY_LEN(option_defs); i++) {
        const char *env = getenv(option_defs[i].env);
        *(const char **)((char *)o + option_defs[i].offset) = env && env[0] ? env : option_defs[i].def;
        o->origin[i] = env && env[0] ? option_defs[i].env : NULL;
    }
    TRY(env_attestation(o));
    if (getenv("EDG_DEBUG_LOGGING") && strcmp(getenv("EDG_DEBUG_LOGGING"), "1") == 0)
        o->log_level = "debug";
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            o->help = true;
            return 0;
        }
        const char *eq = strchr(argv[a], '=');
        size_t n = eq ? (size_t)(eq - argv[a]) : strlen(argv[a]);
        const struct option_def *d = NULL;
        for (size_t i = 0; i < QY_ARRAY_LEN(option_defs); i++)
            if (strlen(option_defs[i].flag) == n && strncmp(option_defs[i].flag, argv[a], n) == 0)
                d = &option_defs[i];
        if (d == NULL)
            FAIL(ERR_INVALID_ARG, "unknown option \"%s\"", argv[a]);
        const char *v = eq ? eq + 1 : a + 1 < argc ? argv[++a] : NULL;
        ENSURE(v != NULL, ERR_INVALID_ARG, "option %s needs a value", d->flag);
        *(const char **)((char *)o + d->offset) = v;
        o->origin[d - option_defs] = NULL; /* a flag is a deliberate choice */
    }
    return 0;
}

/* The application: what the identity callback and the handlers need. */
struct app {
    struct options opt;
    char **dns;
    size_t dns_count;
    char db_path[QY_PATH_MAX], keyfile[QY_PATH_MAX];
    const char *mode; /* "sgx", "emulated", "simulation" */
    unsigned insecure; /* COORD_INSECURE_* */
    char insecure_text[COORD_INSECURE_TEXT_SIZE];
    struct att_source *source;
    struct att_verifier *verifier;
    struct store *store;
    struct coord *coord;
    struct api_server *client, *mesh, *metrics;
    uint64_t mesh_threads, client_threads, max_connections, request_timeout;
    struct api_metrics_ctx metrics_ctx;
    /* identities issued before the servers started */
    struct buf pending_chain[2][2];
    size_t pending_len[2];
    struct crypto_key *pending_key[2];
};

static void on_identity(void *ctx, enum coord_server which, const struct view *chain, size_t len,
                        struct crypto_key *key)
{
    struct app *a = ctx;
    struct api_server *srv = which == COORD_SERVER_CLIENT_API ? a->client : a->mesh;
    if (srv != NULL) {
        int r = api_server_set_identity(srv, chain, len, key);
        if (r < 0)
            log_error("coordinator", "cannot install a server identity", LF_ERR(r));
        return;
    }
    for (size_t i = 0; i < len && i < 2; i++) {
        buf_reset(&a->pending_chain[which][i]);
        if (buf_append_view(&a->pending_chain[which][i], chain[i]) < 0)
            return;
    }
    a->pending_len[which] = len < 2 ? len : 2;
    crypto_key_free(a->pending_key[which]);
    a->pending_key[which] = crypto_key_ref(key);
}

static int apply_pending(struct app *a, enum coord_server which, struct api_server *srv)
{
    struct view chain[2];
    for (size_t i = 0; i < a->pending_len[which]; i++)
        chain[i] = buf_view(&a->pending_chain[which][i]);
    return api_server_set_identity(srv, chain, a->pending_len[which], a->pending_key[which]);
}

/* Sealers by the name recorded in the store, and for each SealMode of a new manifest. */
static int sealer_by_name(void *ctx, const char *name, struct sealer **out)
{
    struct app *a = ctx;
    char spec[QY_PATH_MAX + 32];
    const char *gramine = strncmp(a->opt.attestation, "gramine:", 8) == 0 ? a->opt.attestation + 8 : "";
    if (strcmp(name, "insecure-key-file") == 0)
        snprintf(spec, sizeof(spec), "keyfile:%s", a->keyfile);
    else if (strcmp(name, "gramine-product-key") == 0)
        snprintf(spec, sizeof(spec), "gramine-product:%s%s", gramine, gramine[0] ? "/keys" : "");
    else if (strcmp(name, "gramine-unique-key") == 0)
        snprintf(spec, sizeof(spec), "gramine-unique:%s%s", gramine, gramine[0] ? "/keys" : "");
    else
        FAIL(ERR_NOT_FOUND, "no sealer \"%s\" on this host", name);
    return sealer_new(spec, out);
}

static int sealer_for_mode(void *ctx, enum mf_seal_mode mode, struct sealer **out)
{
    struct app *a = ctx;
    if (mode == MF_SEAL_DISABLED)
        return sealer_new("none", out);
    bool gramine = strncmp(a->opt.attestation, "gramine", 7) == 0;
    if (!gramine)
        return sealer_by_name(ctx, "insecure-key-file", out);
    return sealer_by_name(ctx, mode == MF_SEAL_UNIQUE_KEY ? "gramine-unique-key" : "gramine-product-key", out);
}

static int split_names(struct app *a)
{
    size_t cap = 1;
    for (const char *p = a->opt.dns_names; *p; p++)
        cap += *p == ',';
    ENSURE(cap <= QY_DNS_NAMES_MAX, ERR_INVALID_ARG, "--dns-names: %zu names, the limit is %u", cap, QY_DNS_NAMES_MAX);
    a->dns = calloc(cap, sizeof(char *));
    ENSURE(a->dns != NULL, ERR_NOMEM, "out of memory");
    const char *p = a->opt.dns_names;
    while (*p) {
        size_t n = strcspn(p, ",");
        ENSURE(n <= QY_DNS_NAME_MAX, ERR_INVALID_ARG, "--dns-names: a name of %zu characters, the limit is %u", n,
               QY_DNS_NAME_MAX);
        if (n > 0 && (a->dns[a->dns_count] = strndup(p, n)) != NULL)
            a->dns_count++;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* Every collateral fetch of the verifier, as a metric. */
static void on_collateral_fetch(void *ctx, enum att_collateral_kind kind, enum att_fetch_outcome outcome)
{
    (void)ctx;
    api_metrics_collateral_fetch(att_collateral_kind_name(kind), att_fetch_outcome_name(outcome));
}

static int collateral_source(struct app *a, struct att_collateral_source **out)
{
    const char *spec = a->opt.attestation;
    if (a->opt.pccs != NULL) {
        if (a->opt.pccs_ca != NULL) { /* refuse a missing file now, not at every fetch */
            struct buf pem = BUF_INIT;
            int r = file_read(a->opt.pccs_ca, QY_PEM_MAX_SIZE, &pem);
            buf_free(&pem);
            ENSURE(r == 0, r, "--pccs-ca %s: %s", a->opt.pccs_ca, err_detail(r));
        }
        struct api_pccs_config pc = {.base_url = a->opt.pccs, .ca_file = a->opt.pccs_ca};
        return api_pccs_source_new(&pc, out);
    }
    ENSURE(a->opt.pccs_ca == NULL, ERR_INVALID_ARG, "--pccs-ca needs --pccs");
    const char *dir = a->opt.collateral;
    if (dir == NULL && strncmp(spec, "emulated:", 9) == 0)
        dir = spec + 9; /* the testkit directory holds its collateral */
    ENSURE(dir != NULL, ERR_INVALID_ARG, "marble quotes need collateral: --collateral DIR or --pccs URL");
    return att_collateral_dir_new(dir, out);
}

/* What the environment may choose: QUARRY_ATTESTATION only hardware attestation, and MarbleRun's
 * OE_SIMULATION=1 is no way into simulation mode (nor silently ignored). */
static int check_attestation_origin(const struct app *a)
{
    const char *from = a->opt.origin[option_index(&a->opt, &a->opt.attestation)], *oe = getenv("OE_SIMULATION");
    bool insecure = (a->insecure & (COORD_INSECURE_SIMULATION | COORD_INSECURE_EMULATED)) != 0;
    ENSURE(!insecure || from == NULL || strcmp(from, ENV_INSECURE_ATTESTATION) == 0, ERR_INVALID_ARG,
           "%s=%.64s would start an insecure mode: set " ENV_INSECURE_ATTESTATION "=%.64s (or pass --attestation) "
           "to mean it", from, a->opt.attestation, a->opt.attestation);
    ENSURE(oe == NULL || strcmp(oe, "1") != 0 || (a->insecure & COORD_INSECURE_SIMULATION), ERR_INVALID_ARG,
           "OE_SIMULATION=1 asks for MarbleRun's simulation mode, which Quarry enters only with --attestation "
           "simulation or " ENV_INSECURE_ATTESTATION "=simulation");
    return 0;
}

/* Insecure settings taken from the environment are said at start, loudly, with their variable. */
static void warn_insecure_env(const struct app *a)
{
    for (size_t i = 0; i < QY_ARRAY_LEN(option_defs); i++) {
        const char *from = a->opt.origin[i];
        if (from != NULL && strstr(from, "INSECURE") != NULL)
            log_warn("coordinator", "INSECURE setting taken from the environment", LF_STR("variable", from),
                     LF_STR("value", *(const char *const *)((const char *)&a->opt + option_defs[i].offset)));
    }
}

static int setup_attestation(struct app *a)
{
    const char *spec = a->opt.attestation;
    TRY(att_source_new(spec, &a->source));
    bool simulation = att_source_is_simulation(a->source);
    a->mode = coord_mode_of(a->source);
    a->insecure = coord_insecure_of(a->source, a->opt.extra_root != NULL);
    coord_insecure_text(a->insecure, a->insecure_text, sizeof(a->insecure_text));
    TRY(check_attestation_origin(a));
    TRY(log_context_set("mode", a->mode));
    if (a->insecure != 0)
        TRY(log_context_set("insecure", a->insecure_text)); /* on every line from here on */
    if (simulation)
        return 0; /* marbles are accepted without quotes; nothing to verify with */
    struct att_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    struct att_collateral_source *col = NULL;
    TRY(collateral_source(a, &col));
    vc.collateral = col;
    /* The mesh's event loops serve many marbles: they never wait for a fetch (docs/attestation.md). */
    vc.background_fetch = true;
    vc.on_fetch = on_collateral_fetch;
    struct buf root = BUF_INIT;
    struct view roots[1];
    if (a->opt.extra_root != NULL) {
        int rr = file_read(a->opt.extra_root, QY_PEM_MAX_SIZE, &root);
        if (rr < 0) {
            att_collateral_source_free(col);
            return rr;
        }
        roots[0] = buf_view(&root);
        vc.insecure_extra_roots = roots;
        vc.insecure_extra_root_count = 1;
        log_warn("coordinator", "INSECURE: trusting an extra attestation root besides Intel's",
                 LF_STR("root", a->opt.extra_root));
    }
    int r = att_verifier_new(&vc, &a->verifier);
    buf_free(&root);
    return r;
}

static int start_server(struct app *a, const char *name, const char *addr, bool tls, enum api_client_auth auth,
                        uint64_t threads, uint64_t max_connections, api_handler h, void *ctx,
                        struct api_server **out)
{
    struct api_server_config cfg = {name,    addr, tls, auth, (int)threads, QY_API_BODY_MAX, QY_IDLE_TIMEOUT_SECONDS,
                                    h,       ctx,  (size_t)max_connections, (int)a->request_timeout};
    int r = api_server_start(&cfg, out);
    ENSURE(r == 0, r, "cannot start the %s server on %s: %s", name, addr, err_detail(r));
    log_info("coordinator", "listening", LF_STR("server", name), LF_STR("addr", addr),
             LF_UINT("port", api_server_port(*out)), LF_UINT("max_connections", max_connections));
    return 0;
}

/* What the descriptor limit leaves each of the client and mesh servers: the reserve for the store,
 * logs and outgoing connections, the event loops' own descriptors and the metrics server's
 * connections come off first (limits.h). An explicit cap above that is honoured with a warning. */
static int connection_cap(struct app *a)
{
    struct rlimit rl;
    ENSURE(getrlimit(RLIMIT_NOFILE, &rl) == 0, ERR_IO, "cannot read the descriptor limit: %s", strerror(errno));
    uint64_t limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    bool metrics = a->opt.metrics_addr != NULL;
    uint64_t loops = a->mesh_threads + a->client_threads + (metrics ? 1 : 0);
    uint64_t reserved = QY_FD_RESERVE + QY_FD_PER_LOOP * loops + (metrics ? QY_METRICS_CONNECTIONS : 0);
    uint64_t fits = limit > reserved ? (limit - reserved) / 2 : 0;
    if (strcmp(a->opt.max_connections, "auto") != 0) {
        TRY(enc_dec_u64("--max-connections", a->opt.max_connections, QY_SERVER_CONNECTIONS_MIN,
                        QY_SERVER_CONNECTIONS_MAX, &a->max_connections));
        if (a->max_connections > fits)
            log_warn("coordinator", "--max-connections is more than the descriptor limit leaves: a flood of "
                     "connections can exhaust the descriptors", LF_UINT("max_connections", a->max_connections),
                     LF_UINT("fits", fits), LF_UINT("descriptor_limit", limit));
        return 0;
    }
    a->max_connections = fits < QY_SERVER_CONNECTIONS_MAX ? fits : QY_SERVER_CONNECTIONS_MAX;
    uint64_t need = a->mesh_threads > QY_SERVER_CONNECTIONS_MIN ? a->mesh_threads : QY_SERVER_CONNECTIONS_MIN;
    ENSURE(a->max_connections >= need && a->max_connections >= a->client_threads, ERR_RANGE,
           "the descriptor limit of %llu leaves room for %llu connections per server, too few; raise it "
           "(ulimit -n) or set --max-connections", (unsigned long long)limit, (unsigned long long)a->max_connections);
    return 0;
}

static int server_settings(struct app *a)
{
    TRY(enc_dec_u64("--mesh-threads", a->opt.mesh_threads, 1, QY_SERVER_THREADS_MAX, &a->mesh_threads));
    TRY(enc_dec_u64("--client-threads", a->opt.client_threads, 1, QY_SERVER_THREADS_MAX, &a->client_threads));
    TRY(enc_dec_u64("--request-timeout", a->opt.request_timeout, 1, QY_REQUEST_TIMEOUT_MAX, &a->request_timeout));
    return connection_cap(a);
}

static int coord_state_of(void *ctx)
{
    return (int)coord_state(((struct app *)ctx)->coord);
}

/* The coordinator's settings beyond its parts: the extra root, recovery, counter bounds. */
static int coordinator_settings(const struct app *a, struct coord_config *cc)
{
    const char *rm = a->opt.recovery_manifest;
    ENSURE(strcmp(rm, "allow") == 0 || strcmp(rm, "refuse") == 0, ERR_INVALID_ARG,
           "--recovery-manifest: \"%.64s\", expected allow or refuse", rm);
    cc->insecure_extra_root = a->opt.extra_root != NULL;
    cc->recovery_keys_only = strcmp(rm, "refuse") == 0;
    TRY(enc_dec_u64("--max-counters-per-marble", a->opt.max_counters, 1, QY_COUNTERS_PER_MARBLE_MAX,
                    &cc->counters_per_marble_max));
    if (cc->recovery_keys_only)
        log_info("coordinator", "recovery mode can be left only by recovery (--recovery-manifest refuse)");
    return 0;
}

static int set_startup_manifest(struct app *a)
{
    if (a->opt.startup_manifest == NULL || coord_state(a->coord) != COORD_ACCEPTING_MANIFEST)
        return 0;
    struct buf m = BUF_INIT;
    json_t *secrets = NULL;
    int r = file_read(a->opt.startup_manifest, QY_MANIFEST_MAX_SIZE, &m);
    if (r == 0)
        r = coord_set_manifest(a->coord, buf_view(&m), &secrets);
    json_decref(secrets);
    buf_free(&m);
    ENSURE(r == 0, r, "cannot set the startup manifest: %s", err_detail(r));
    log_info("coordinator", "startup manifest set", LF_STR("file", a->opt.startup_manifest));
    return 0;
}

static int run(struct app *a)
{
    TRY(file_mkdirs(a->opt.data_dir, 0700));
    int n1 = snprintf(a->db_path, sizeof(a->db_path), "sqlite:%s/state.db", a->opt.data_dir);
    int n2 = snprintf(a->keyfile, sizeof(a->keyfile), "%s/insecure-seal.key", a->opt.data_dir);
    ENSURE(n1 > 0 && (size_t)n1 < sizeof(a->db_path) && n2 > 0 && (size_t)n2 < sizeof(a->keyfile), ERR_TOO_LARGE,
           "--data-dir is too long (%zu bytes)", strlen(a->opt.data_dir));
    TRY(split_names(a));
    TRY(server_settings(a));
    TRY(setup_attestation(a));
    warn_insecure_env(a);
    if (strcmp(a->mode, "sgx") != 0)
        log_warn("coordinator", "INSECURE MODE: attestation is not backed by hardware; do not use in production",
                 LF_STR("attestation", a->opt.attestation));
    struct kv_backend *kv = NULL;
    TRY(kv_backend_open(a->opt.store ? a->opt.store : a->db_path, &kv));
    int opened = store_open(kv, sealer_by_name, a, &a->store);
    if (opened == ERR_TAMPERED) /* nothing is served from a state that is not the one the Coordinator wrote */
        log_error("coordinator", "refusing to serve: the stored state was tampered with; restore the whole data "
                  "directory from a backup, or move it away to start over (docs/recovery.md)", LF_ERR(opened));
    TRY(opened);
    struct coord_config cc = {a->store, a->source, a->verifier, strcmp(a->mode, "simulation") == 0,
                              (const char *const *)a->dns, a->dns_count, sealer_for_mode, a, on_identity, a,
                              NULL, NULL};
    TRY(coordinator_settings(a, &cc));
    TRY(coord_new(&cc, &a->coord));
    /* The mesh first: once the client API answers, everything is up. */
    TRY(start_server(a, "mesh", a->opt.mesh_addr, true, API_CLIENT_CERT_REQUIRE, a->mesh_threads,
                     a->max_connections, api_mesh_api_handler, a->coord, &a->mesh));
    TRY(apply_pending(a, COORD_SERVER_MESH_API, a->mesh));
    TRY(start_server(a, "client", a->opt.client_addr, true, API_CLIENT_CERT_REQUEST, a->client_threads,
                     a->max_connections, api_client_api_handler, a->coord, &a->client));
    TRY(apply_pending(a, COORD_SERVER_CLIENT_API, a->client));
    if (a->opt.metrics_addr != NULL) {
        a->metrics_ctx = (struct api_metrics_ctx){coord_state_of, a, a->mode, a->insecure_text};
        TRY(start_server(a, "metrics", a->opt.metrics_addr, false, API_CLIENT_CERT_NONE, 1, QY_METRICS_CONNECTIONS,
                         api_metrics_handler, &a->metrics_ctx, &a->metrics));
    }
    TRY(set_startup_manifest(a));
    if (a->opt.ports_file != NULL) { /* for scripts and tests that let the kernel pick ports (:0) */
        struct buf ports = BUF_INIT;
        int r = buf_appendf(&ports, "{\"client\":%u,\"mesh\":%u,\"metrics\":%u}\n", api_server_port(a->client),
                            api_server_port(a->mesh), a->metrics ? api_server_port(a->metrics) : 0);
        if (r == 0)
            r = file_write_atomic(a->opt.ports_file, buf_view(&ports), 0644);
        buf_free(&ports);
        TRY(r);
    }
    int code;
    const char *msg;
    coord_status(a->coord, &code, &msg);
    log_info("coordinator", "ready", LF_INT("state", code), LF_STR("status", msg),
             LF_STR("sealer", store_sealer_name(a->store)));
    return 0;
}

static void shutdown_app(struct app *a)
{
    api_server_stop(a->metrics);
    api_server_stop(a->mesh);
    api_server_stop(a->client);
    coord_free(a->coord);
    store_free(a->store);
    att_verifier_free(a->verifier);
    att_source_free(a->source);
    for (int s = 0; s < 2; s++) {
        crypto_key_free(a->pending_key[s]);
        for (int i = 0; i < 2; i++)
            buf_free(&a->pending_chain[s][i]);
    }
    for (size_t i = 0; i < a->dns_count; i++)
        free(a->dns[i]);
    free(a->dns);
}

int main(int argc, char **argv)
{
    struct app a;
    memset(&a, 0, sizeof(a));
    /* Signals are taken by sigwait below; server threads inherit the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    int r = parse_options(argc, argv, &a.opt);
    if (r < 0 || a.opt.help) {
        if (r < 0)
            fprintf(stderr, "quarry-coordinator: %s\n\n", err_detail(r));
        usage(r < 0 ? stderr : stdout);
        return r < 0 ? 2 : 0;
    }
    enum log_format lf;
    enum log_level ll;
    if (log_parse_format(a.opt.log_format, &lf) < 0 || log_parse_level(a.opt.log_level, &ll) < 0) {
        fprintf(stderr, "quarry-coordinator: %s\n", err_detail(ERR_INVALID_ARG));
        return 2;
    }
    log_configure(ll, lf, 2);
    r = run(&a);
    if (r == 0) {
        int sig = 0;
        while (sigwait(&stop, &sig) == 0 && sig == SIGHUP) /* the conventional "reopen your log" */
            log_info("coordinator", "SIGHUP: the log goes to standard error, nothing to reopen; still running");
        log_info("coordinator", "shutting down", LF_INT("signal", sig));
    } else {
        log_error("coordinator", "cannot start", LF_STR("error", err_detail(r)));
    }
    shutdown_app(&a);
    return r == 0 ? 0 : 1;
}
