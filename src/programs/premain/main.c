/*
 * quarry-premain: the marble launcher (reference/marblerun.md §6). It reads MarbleRun's
 * EDG_MARBLE_* variables, activates with the Coordinator (api_activate: a key made in memory, a
 * quote bound to that key and to the TLS session, retries with capped backoff while the Coordinator
 * is unreachable or not accepting marbles yet), keeps the marble's UUID in EDG_MARBLE_UUID_FILE,
 * sets the Env, writes the Files (all or none) and execve()s the program. A refusal prints the
 * Coordinator's reason and exits 1; nothing is written then.
 *
 * Which Coordinator (docs/mesh-protocol.md): as MarbleRun's, by default whatever answers at
 * EDG_MARBLE_COORDINATOR_ADDR, with a warning. Quarry adds EDG_MARBLE_COORDINATOR_ROOT_CA (only a
 * server whose certificate that root issued) and EDG_MARBLE_COORDINATOR_POLICY (the Coordinator's
 * quote, fetched from EDG_MARBLE_COORDINATOR_CLIENT_ADDR, must meet the policy before anything is
 * sent; the root it covers is then pinned).
 *
 * Which program, with which argv:
 *   program  the premain's first argument when it has one (`quarry-premain ./app ...`; under
 * Gramine the loader's argv), else the manifest's Argv[0]. A name without '/' is looked up in PATH
 * (after the manifest's Env is set), like execvp. argv     the manifest's Argv when it is not
 * empty, else the premain's own arguments. So with an empty Argv `quarry-premain ./app --flag` runs
 * `./app --flag`; with Argv ["app",
 * "--serve"] it runs ./app with argv ["app", "--serve"] (MarbleRun's Gramine rule: the program from
 * the command line, its arguments from the manifest); and plain `quarry-premain` runs Argv[0].
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "attestation/attestation.h"
#include "crypto/crypto.h"

extern char **environ;

struct options {
    const char *coordinator, *marble_type, *dns_names, *uuid_file, *quote_source, *log_format;
    const char *timeout, *backoff_max;
    const char *root_ca, *policy, *client_addr, *collateral, *pccs, *extra_root;
};

/* One setting: the environment variable, its default, and what it is for. */
struct option_def {
    const char *env;
    const char *def;
    size_t offset;
    const char *help;
};

#define OPT(e, d, member, h) {e, d, offsetof(struct options, member), h}
static const struct option_def option_defs[] = {
    OPT("EDG_MARBLE_COORDINATOR_ADDR", "localhost:2001", coordinator,
        "the Coordinator's mesh API, host:port"),
    OPT("EDG_MARBLE_TYPE", NULL, marble_type, "the marble's name in the manifest (required)"),
    OPT("EDG_MARBLE_DNS_NAMES", "localhost", dns_names,
        "comma-separated DNS names and IPs for its certificate"),
    OPT("EDG_MARBLE_UUID_FILE", "uuid", uuid_file,
        "where the marble's UUID is kept (created if absent)"),
    OPT("QUARRY_QUOTE_SOURCE", "gramine", quote_source,
        "gramine[:ROOT] | tsm[:ROOT] | emulated:DIR[,mrenclave=HEX,...] | simulation"),
    OPT("EDG_LOG_FORMAT", "text", log_format, "json for JSON log lines, else text"),
    OPT("QUARRY_ACTIVATION_TIMEOUT", "300", timeout,
        "seconds to keep retrying while the Coordinator is not ready"),
    OPT("QUARRY_ACTIVATION_BACKOFF_MAX_MS", "10000", backoff_max,
        "longest wait between two attempts, in ms"),
    /* Quarry's additions: which Coordinator to trust (MarbleRun's premain trusts any) */
    OPT("EDG_MARBLE_COORDINATOR_ROOT_CA", NULL, root_ca,
        "the Coordinator's root certificate (PEM, or a file with it): activate only with it"),
    OPT("EDG_MARBLE_COORDINATOR_POLICY", NULL, policy,
        "a policy file (or its JSON) the Coordinator's quote must meet before anything is sent"),
    OPT("EDG_MARBLE_COORDINATOR_CLIENT_ADDR", NULL, client_addr,
        "the Coordinator's client API, host:port, where its quote is fetched (with a policy)"),
    OPT("QUARRY_COLLATERAL", NULL, collateral, "collateral directory for the Coordinator's quote"),
    OPT("QUARRY_PCCS_URL", NULL, pccs, "PCCS or PCS base URL for the Coordinator's quote"),
    OPT("QUARRY_INSECURE_EXTRA_ROOT", NULL, extra_root,
        "also trust this root PEM for the Coordinator's quote (testkit)"),
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: quarry-premain [PROGRAM [ARGS...]]\n\n"
        "Activates this process as a marble with the Coordinator, writes its files, sets its\n"
        "environment and executes PROGRAM (default: the manifest's Argv[0]) with the manifest's\n"
        "Argv (default: PROGRAM ARGS...).\n\nenvironment:\n");
    for (size_t i = 0; i < QY_ARRAY_LEN(option_defs); i++)
        fprintf(f, "  %-32s %s%s%s\n", option_defs[i].env, option_defs[i].help,
                option_defs[i].def ? ", default " : "",
                option_defs[i].def ? option_defs[i].def : "");
}

static void read_options(struct options *o)
{
    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < QY_ARRAY_LEN(option_defs); i++) {
        const char *env = getenv(option_defs[i].env);
        *(const char **)((char *)o + option_defs[i].offset) =
            env && env[0] ? env : option_defs[i].def;
    }
}

static int parse_int(const char *name, const char *s, long min, long max, int *out)
{
    uint64_t v;
    TRY(enc_dec_u64(name, s, (uint64_t)min, (uint64_t)max, &v));
    *out = (int)v;
    return 0;
}

/* Everything one run holds; released by premain_free (the activation wiped). */
struct premain {
    const struct options *opt;
    char *names_text; /* EDG_MARBLE_DNS_NAMES, split in place */
    const char *names[QY_PREMAIN_MAX_NAMES];
    size_t names_count;
    char uuid[UUID_TEXT_SIZE];
    bool uuid_created, uuid_written;
    struct att_source *source;
    /* which Coordinator: its root (PEM; empty: not pinned), the policy its quote must meet */
    struct buf root_pem;
    struct att_policy_file *policy;
    struct att_verifier *verifier;
    struct api_attest_config attest;
    struct api_activation *act;
    char **argv; /* what the program gets, copied out of the activation */
    char program[QY_PATH_MAX];
};

static int split_names(struct premain *p)
{
    p->names_text = strdup(p->opt->dns_names);
    ENSURE(p->names_text != NULL, ERR_NOMEM, "out of memory");
    char *s = p->names_text;
    while (*s != '\0') {
        size_t n = strcspn(s, ",");
        bool last = s[n] == '\0';
        s[n] = '\0';
        if (n > 0) {
            ENSURE(p->names_count < QY_PREMAIN_MAX_NAMES, ERR_TOO_LARGE,
                   "EDG_MARBLE_DNS_NAMES has more than %d names", QY_PREMAIN_MAX_NAMES);
            ENSURE(n <= QY_DNS_NAME_MAX, ERR_TOO_LARGE, "EDG_MARBLE_DNS_NAMES has a name of %zu characters, the limit is %u",
                   n, QY_DNS_NAME_MAX);
            p->names[p->names_count++] = s;
        }
        s += n + !last;
    }
    ENSURE(p->names_count > 0, ERR_INVALID_ARG, "EDG_MARBLE_DNS_NAMES names nothing");
    return 0;
}

/* The UUID from the file (any form Go's uuid.Parse takes), or a new random one (written only once
 * the activation succeeded, so a refused marble leaves no file behind). */
static int load_uuid(struct premain *p)
{
    struct buf b = BUF_INIT;
    int r = file_read(p->opt->uuid_file, QY_UUID_FILE_MAX_SIZE, &b);
    if (r == ERR_NOT_FOUND) {
        uint8_t rnd[16];
        TRY(crypto_random(rnd, sizeof(rnd)));
        uuid_v4(rnd, p->uuid);
        p->uuid_created = true;
        return 0;
    }
    TRY_OUT(r);
    while (b.size > 0 &&
           (b.ptr[b.size - 1] == '\n' || b.ptr[b.size - 1] == '\r' || b.ptr[b.size - 1] == ' '))
        b.size--;
    TRY_OUT(buf_terminate(&b));
    r = strlen((const char *)b.ptr) == b.size ? uuid_canonical((const char *)b.ptr, p->uuid)
                                              : ERR_SYNTAX;
    ENSURE_OUT(r == 0, ERR_SYNTAX, "EDG_MARBLE_UUID_FILE %s does not hold a UUID",
               p->opt->uuid_file);
out:
    buf_free(&b);
    return r;
}

/* EDG_MARBLE_COORDINATOR_ROOT_CA: PEM text, or the path of a file holding it; its first certificate
 * only, re-encoded, is what the marble will trust. */
static int read_root(struct premain *p)
{
    const char *v = p->opt->root_ca;
    struct buf file = BUF_INIT, der = BUF_INIT;
    int r = 0;
    if (v == NULL)
        return 0;
    ENSURE(strlen(v) <= QY_PEM_MAX_SIZE, ERR_TOO_LARGE, "EDG_MARBLE_COORDINATOR_ROOT_CA is over %u bytes",
           QY_PEM_MAX_SIZE);
    bool inline_pem = strncmp(v, "-----BEGIN", 10) == 0;
    if (!inline_pem)
        r = file_read(v, QY_PEM_MAX_SIZE, &file);
    if (r == 0)
        r = crypto_cert_pem_to_der(inline_pem ? view_str(v) : buf_view(&file), &der);
    if (r == 0)
        r = enc_pem(&p->root_pem, "CERTIFICATE", buf_view(&der));
    buf_free(&file), buf_free(&der);
    ENSURE(r == 0, r, "EDG_MARBLE_COORDINATOR_ROOT_CA: %s", err_detail(r));
    return 0;
}

/* EDG_MARBLE_COORDINATOR_POLICY (a file, or JSON when it starts with '{') and what checking the
 * Coordinator's quote needs: its client API and collateral. */
static int read_policy(struct premain *p)
{
    const struct options *o = p->opt;
    if (o->policy == NULL)
        return 0;
    if (o->policy[0] == '{')
        TRY(att_policy_file_parse(view_str(o->policy), "EDG_MARBLE_COORDINATOR_POLICY", &p->policy));
    else
        TRY(att_policy_file_load(o->policy, &p->policy));
    ENSURE(o->client_addr != NULL, ERR_INVALID_ARG,
           "EDG_MARBLE_COORDINATOR_POLICY needs EDG_MARBLE_COORDINATOR_CLIENT_ADDR: where to fetch the "
           "Coordinator's quote");
    ENSURE(o->pccs != NULL || o->collateral != NULL, ERR_INVALID_ARG,
           "EDG_MARBLE_COORDINATOR_POLICY needs QUARRY_PCCS_URL or QUARRY_COLLATERAL to verify the "
           "Coordinator's quote");
    struct api_verifier_spec vs = {o->pccs, o->collateral, o->extra_root};
    TRY(api_verifier_new(&vs, &p->verifier));
    if (o->extra_root != NULL)
        log_warn("premain", "INSECURE: the Coordinator's quote may chain to an extra root instead of Intel's",
                 LF_STR("root", o->extra_root));
    p->attest = (struct api_attest_config){.address = o->client_addr, .verifier = p->verifier,
                                           .policy = att_policy_file_policy(p->policy)};
    return 0;
}

static int read_trust(struct premain *p)
{
    TRY(read_root(p));
    TRY(read_policy(p));
    if (p->policy != NULL)
        log_info("premain", "verifying the Coordinator's quote before activating",
                 LF_STR("client_api", p->opt->client_addr), LF_BOOL("root_pinned", p->root_pem.size > 0));
    else if (p->root_pem.size > 0)
        log_info("premain", "activating only with the Coordinator of the pinned root");
    else
        log_warn("premain",
                 "the Coordinator is not verified: whoever answers at its address configures this marble "
                 "(set EDG_MARBLE_COORDINATOR_ROOT_CA or EDG_MARBLE_COORDINATOR_POLICY)",
                 LF_STR("coordinator", p->opt->coordinator));
    return 0;
}

static void on_retry(void *ctx, int attempt, int error, int wait_ms)
{
    (void)ctx;
    log_warn("premain", "the Coordinator is not ready, retrying", LF_INT("attempt", attempt),
             LF_STR("reason", err_detail(error)), LF_INT("wait_ms", wait_ms));
}

static int activate(struct premain *p)
{
    int timeout = 0, backoff = 0;
    TRY(parse_int("QUARRY_ACTIVATION_TIMEOUT", p->opt->timeout, 1, 86400, &timeout));
    TRY(parse_int("QUARRY_ACTIVATION_BACKOFF_MAX_MS", p->opt->backoff_max, 10, 600000, &backoff));
    TRY(read_trust(p));
    TRY(att_source_new(p->opt->quote_source, &p->source));
    if (att_source_is_emulated(p->source) || att_source_is_simulation(p->source))
        log_warn("premain", "INSECURE: the quote source is not backed by hardware",
                 LF_STR("source", att_source_name(p->source)));
    log_info("premain", "activating", LF_STR("coordinator", p->opt->coordinator),
             LF_STR("type", p->opt->marble_type), LF_STR("uuid", p->uuid));
    struct api_activation_config cfg = {
        .coordinator = p->opt->coordinator,
        .marble_type = p->opt->marble_type,
        .names = p->names,
        .names_count = p->names_count,
        .uuid = p->uuid,
        .quote_source = p->source,
        .deadline_seconds = timeout,
        .backoff_max_ms = backoff,
        .on_retry = on_retry,
        .ca_pem = buf_view(&p->root_pem),
        .attest = p->policy != NULL ? &p->attest : NULL,
    };
    TRY(api_activate(&cfg, &p->act));
    log_info("premain", "activated", LF_STR("type", p->opt->marble_type), LF_STR("uuid", p->uuid),
             LF_UINT("files", p->act->files_count), LF_UINT("env", p->act->env_count));
    return 0;
}

/* argv for the program (see the top of this file), copied out of the activation. */
static int choose_argv(struct premain *p, int own_argc, char **own_argv, const char **name)
{
    const struct api_activation *a = p->act;
    size_t n = a->argc > 0 ? a->argc : (size_t)own_argc;
    char *const *src = a->argc > 0 ? a->argv : own_argv;
    *name = own_argc > 0 ? own_argv[0] : a->argc > 0 ? a->argv[0] : NULL;
    ENSURE(*name != NULL && (*name)[0] != '\0', ERR_INVALID_ARG,
           "nothing to run: the manifest's Argv is empty and no program was given (quarry-premain "
           "PROGRAM [ARGS...])");
    p->argv = calloc(n + 1, sizeof(char *));
    ENSURE(p->argv != NULL, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        ENSURE((p->argv[i] = strdup(src[i])) != NULL, ERR_NOMEM, "out of memory");
    return 0;
}

static bool is_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* execvp's rule: a name with '/' is a path; otherwise the first executable in PATH. */
static int resolve_program(struct premain *p, const char *name)
{
    if (strchr(name, '/') != NULL) {
        ENSURE(strlen(name) < sizeof(p->program), ERR_TOO_LARGE, "program path too long");
        snprintf(p->program, sizeof(p->program), "%s", name);
        ENSURE(is_executable(p->program), ERR_NOT_FOUND, "%s is not an executable file", name);
        return 0;
    }
    const char *path = getenv("PATH");
    path = path && path[0] ? path : "/usr/local/bin:/usr/bin:/bin";
    while (true) {
        size_t n = strcspn(path, ":");
        int w = snprintf(p->program, sizeof(p->program), "%.*s/%s", (int)(n ? n : 1),
                         n ? path : ".", name);
        if (w > 0 && (size_t)w < sizeof(p->program) && is_executable(p->program))
            return 0;
        if (path[n] == '\0')
            break;
        path += n + 1;
    }
    p->program[0] = '\0';
    FAIL(ERR_NOT_FOUND, "program \"%s\" not found in PATH", name);
}

static void premain_free(struct premain *p)
{
    api_activation_free(p->act); /* wipes the key and every secret value */
    p->act = NULL;
    att_source_free(p->source);
    p->source = NULL;
    buf_free(&p->root_pem);
    att_verifier_free(p->verifier);
    p->verifier = NULL;
    att_policy_file_free(p->policy);
    p->policy = NULL;
    for (size_t i = 0; p->argv && p->argv[i]; i++)
        free(p->argv[i]);
    free(p->argv);
    p->argv = NULL;
    free(p->names_text);
    p->names_text = NULL;
}

/* Returns only on failure: on success the process becomes the program. */
static int run(const struct options *o, int own_argc, char **own_argv)
{
    struct premain p = {.opt = o};
    const char *name = NULL;
    int r = ERR_INTERNAL;
    ENSURE(o->marble_type != NULL, ERR_INVALID_ARG,
           "EDG_MARBLE_TYPE is not set: which marble of the manifest is this?");
    TRY_OUT(split_names(&p));
    TRY_OUT(load_uuid(&p));
    TRY_OUT(activate(&p));
    /* Env first: it is checked whole before anything is set, and PATH may come from it. */
    TRY_OUT(api_activation_set_env(p.act));
    TRY_OUT(choose_argv(&p, own_argc, own_argv, &name));
    TRY_OUT(resolve_program(&p, name));
    if (p.uuid_created) {
        TRY_OUT(file_write_atomic(o->uuid_file, view_str(p.uuid), 0600));
        p.uuid_written = true;
    }
    TRY_OUT(api_activation_write_files(p.act));
    p.uuid_written = false; /* configured: from here on the UUID stays */
    log_info("premain", "starting the program", LF_STR("program", p.program));
    char **argv = p.argv;
    p.argv = NULL;
    premain_free(&p);
    execve(p.program, argv, environ);
    r = err_fail(ERR_IO, __func__, "cannot execute %s: %s", p.program, strerror(errno));
    for (size_t i = 0; argv[i]; i++)
        free(argv[i]);
    free(argv);
out:
    if (p.uuid_written)
        (void)unlink(o->uuid_file); /* a new marble whose files failed keeps no identity either */
    premain_free(&p);
    return r;
}

int main(int argc, char **argv)
{
    if (argc > 1 && argv[1][0] == '-') {
        bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        if (!help)
            fprintf(stderr, "quarry-premain: unknown option \"%s\"\n\n", argv[1]);
        usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    struct options o;
    read_options(&o);
    bool json = strcmp(o.log_format, "json") == 0;
    log_configure(LOG_INFO, json ? LOG_JSON : LOG_TEXT, 2);
    int r = run(&o, argc - 1, argv + 1);
    if (json)
        log_error("premain", "the marble did not start", LF_ERR(r));
    else
        fprintf(stderr, "quarry-premain: %s\n", err_detail(r));
    return 1;
}
