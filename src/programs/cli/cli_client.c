/*
 * Talking to a Coordinator: before the CLI trusts anything a Coordinator says, it fetches the
 * Coordinator's quote over a fresh nonce, verifies it (DCAP, collateral, and the package policy of a
 * policy file - MarbleRun's "era" config - checked exactly as the Coordinator checks marbles, TCB
 * statuses and advisories included), checks that the quote's report data is SHA-256(root
 * certificate || nonce) (api_attest_coordinator), and only then uses that root as the trust anchor
 * of every later connection. The verified root is cached per address for the next commands; --insecure skips
 * the verification and says so.
 */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "attestation/attestation.h"
#include "cli.h"

void cli_conn_options(struct cli_conn *c, struct cli_opt *opts, size_t *n)
{
    const struct cli_opt add[] = {
        {"--coordinator", true, &c->address, NULL}, {"--cert", true, &c->cert_file, NULL},
        {"--key", true, &c->key_file, NULL},          {"--policy", true, &c->policy_file, NULL},
        {"--collateral", true, &c->collateral, NULL}, {"--pccs", true, &c->pccs, NULL},
        {"--insecure-extra-root", true, &c->extra_root, NULL},
        {"--insecure", false, NULL, &c->insecure},     {"--refresh", false, NULL, &c->refresh},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(add); i++)
        opts[(*n)++] = add[i];
}

/* $XDG_CACHE_HOME/quarry/roots/<address>.pem (or ~/.cache/...). */
static int cache_path(const char *address, char *out, size_t size)
{
    const char *base = getenv("XDG_CACHE_HOME");
    char home[QY_PATH_MAX];
    if (base == NULL || base[0] == '\0') {
        const char *h = getenv("HOME");
        ENSURE(h != NULL, ERR_INVALID_ARG, "neither XDG_CACHE_HOME nor HOME is set");
        snprintf(home, sizeof(home), "%s/.cache", h);
        base = home;
    }
    char dir[QY_PATH_MAX + 32];
    int w = snprintf(dir, sizeof(dir), "%s/quarry/roots", base);
    ENSURE(w > 0 && (size_t)w < sizeof(dir), ERR_TOO_LARGE, "cache path too long");
    TRY(file_mkdirs(dir, 0700));
    char name[256];
    size_t n = 0;
    for (const char *p = address; *p && n + 1 < sizeof(name); p++)
        name[n++] = (*p == '/' || *p == ':') ? '_' : *p;
    name[n] = '\0';
    w = snprintf(out, size, "%s/%s.pem", dir, name);
    ENSURE(w > 0 && (size_t)w < size, ERR_TOO_LARGE, "cache path too long");
    return 0;
}

/* Fetches and verifies the root (or takes it on trust with --insecure); PEM into root_pem. */
static int fetch_root(struct cli_conn *c, struct buf *root_pem)
{
    struct att_policy_file *policy = NULL;
    struct att_verifier *v = NULL;
    int r = ERR_INTERNAL;
    struct api_attest_config ac = {.address = c->address, .insecure_skip_verify = c->insecure, .timeout_ms = 30000};
    if (c->insecure) {
        fprintf(stderr, "quarry: WARNING: --insecure: trusting the Coordinator without verifying its quote\n");
    } else {
        ENSURE(c->policy_file != NULL, ERR_INVALID_ARG, "verifying the Coordinator needs --policy FILE (or --insecure)");
        TRY_OUT(att_policy_file_load(c->policy_file, &policy));
        ENSURE_OUT(c->pccs != NULL || c->collateral != NULL, ERR_INVALID_ARG,
                   "verifying the Coordinator needs --collateral DIR or --pccs URL (or --insecure)");
        struct api_verifier_spec vs = {c->pccs, c->collateral, c->extra_root};
        TRY_OUT(api_verifier_new(&vs, &v));
        ac.verifier = v;
        ac.policy = att_policy_file_policy(policy);
    }
    TRY_OUT(api_attest_coordinator(&ac, root_pem));
    r = 0;
out:
    att_verifier_free(v);
    att_policy_file_free(policy);
    return r;
}

int cli_connect(struct cli_conn *c, bool as_user, struct api_client **out)
{
    struct buf root = BUF_INIT, cert = BUF_INIT, key = BUF_INIT;
    char cache[QY_PATH_MAX];
    int r = ERR_INTERNAL;
    *out = NULL;
    if (c->address == NULL)
        c->address = getenv("QUARRY_COORDINATOR");
    ENSURE(c->address != NULL, ERR_INVALID_ARG, "no Coordinator: --coordinator HOST:PORT or QUARRY_COORDINATOR");
    TRY_OUT(cache_path(c->address, cache, sizeof(cache)));
    if (c->refresh || c->insecure || c->no_cache || file_read(cache, QY_PEM_MAX_SIZE, &root) < 0) {
        buf_reset(&root);
        TRY_OUT(fetch_root(c, &root));
        if (!c->insecure && !c->no_cache) /* only a verified root is remembered */
            TRY_OUT(file_write_atomic(cache, buf_view(&root), 0600));
    }
    if (as_user) {
        ENSURE_OUT(c->cert_file && c->key_file, ERR_INVALID_ARG, "this command needs --cert FILE and --key FILE");
        TRY_OUT(file_read(c->cert_file, QY_PEM_MAX_SIZE, &cert));
        TRY_OUT(file_read(c->key_file, QY_PEM_MAX_SIZE, &key));
    }
    struct api_client_config cc = {c->address, buf_view(&root), false, buf_view(&cert), buf_view(&key), 60000};
    TRY_OUT(api_client_new(&cc, out));
    buf_reset(&c->root_pem);
    TRY_OUT(buf_append_view(&c->root_pem, buf_view(&root)));
    r = 0;
out:
    buf_free(&root), buf_free(&cert), buf_free(&key);
    return r;
}

int cli_call(struct api_client *cl, enum api_method m, const char *target, struct view body, json_t **data)
{
    struct buf out = BUF_INIT;
    long status = 0;
    json_t *j = NULL;
    *data = NULL;
    int r = api_client_call(cl, m, target, body, &status, &out);
    if (r == 0)
        r = js_parse(buf_view(&out), QY_API_RESPONSE_MAX, &j);
    buf_free(&out);
    ENSURE(r == 0, r == ERR_NETWORK || r == ERR_TIMEOUT ? r : ERR_NETWORK, "%s", err_detail(r));
    if (status != 200) {
        const char *msg = json_string_value(json_object_get(j, "message"));
        r = err_fail(status == 401 ? ERR_AUTH : ERR_POLICY, __func__, "the Coordinator refused (HTTP %ld): %s", status,
                     msg ? msg : "no reason given");
        json_decref(j);
        return r;
    }
    *data = json_incref(json_object_get(j, "data"));
    json_decref(j);
    return 0;
}

int cli_fail(int r)
{
    fprintf(stderr, "quarry: %s\n", err_detail(r));
    return err_category(r) == ERRC_INPUT && r != ERR_MANIFEST ? CLI_USAGE
           : r == ERR_INVALID_ARG || r == ERR_NOT_FOUND || r == ERR_IO ? CLI_USAGE
                                                                       : CLI_INVALID;
}

void cli_disconnect(struct cli_conn *c, struct api_client *cl)
{
    api_client_free(cl);
    buf_free(&c->root_pem);
}
