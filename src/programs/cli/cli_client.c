/*
 * Talking to a Coordinator: before the CLI trusts anything a Coordinator says, it fetches the
 * Coordinator's quote over a fresh nonce, verifies it (DCAP, collateral, the expected package identity
 * and TCB statuses from a policy file - MarbleRun's "era" config), checks that the quote's report data
 * is SHA-256(root certificate || nonce), and only then uses that root as the trust anchor of every
 * later connection. The verified root is cached per address for the next commands; --insecure skips
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
#include "crypto/crypto.h"

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

/* A member of the policy, case-insensitive as MarbleRun's: NULL when absent; present with the wrong
 * JSON type is an error - silently dropping it would drop a check on the Coordinator. */
static int policy_member(const json_t *pkg, const char *name, json_type type, const json_t **out)
{
    const json_t *v = js_object_get_ci(pkg, name);
    *out = v;
    bool ok = v == NULL || json_typeof(v) == type || (type == JSON_TRUE && json_is_boolean(v));
    ENSURE(ok && (type != JSON_INTEGER || json_integer_value(v) >= 0), ERR_TYPE,
           "the policy's %s must be %s, got %s", name,
           type == JSON_STRING ? "a string" : type == JSON_INTEGER ? "an unsigned integer"
                                            : type == JSON_ARRAY ? "an array" : "a boolean",
           js_type_name(v));
    return 0;
}

/* The package identity the Coordinator must have: a MarbleRun era config ({"coordinator": {...}})
 * or a bare package object, in MarbleRun's field names. */
static int load_policy(const char *file, json_t **out, struct att_policy *p)
{
    struct buf b = BUF_INIT;
    json_t *j = NULL;
    int r = file_read(file, QY_JSON_MAX_SIZE, &b);
    if (r == 0)
        r = js_parse(buf_view(&b), QY_JSON_MAX_SIZE, &j);
    buf_free(&b);
    TRY(r);
    *out = j;
    json_t *pkg = js_object_get_ci(j, "coordinator");
    pkg = pkg ? pkg : j;
    ENSURE(json_is_object(pkg), ERR_TYPE, "%s: expected a JSON object", file);
    memset(p, 0, sizeof(*p));
    const json_t *debug, *unique, *signer, *product, *svn, *acc, *v;
    TRY(policy_member(pkg, "Debug", JSON_TRUE, &debug));
    TRY(policy_member(pkg, "UniqueID", JSON_STRING, &unique));
    TRY(policy_member(pkg, "SignerID", JSON_STRING, &signer));
    TRY(policy_member(pkg, "ProductID", JSON_INTEGER, &product));
    TRY(policy_member(pkg, "SecurityVersion", JSON_INTEGER, &svn));
    TRY(policy_member(pkg, "AcceptedTCBStatuses", JSON_ARRAY, &acc));
    p->debug = json_is_true(debug);
    p->unique_id = json_string_value(unique);
    p->signer_id = json_string_value(signer);
    p->has_product_id = product != NULL, p->product_id = (uint64_t)json_integer_value(product);
    p->has_security_version = svn != NULL, p->security_version = (uint64_t)json_integer_value(svn);
    ENSURE((p->unique_id && p->unique_id[0]) || (p->signer_id && p->signer_id[0]), ERR_INVALID_ARG,
           "%s names neither UniqueID nor SignerID of the Coordinator", file);
    static const char *statuses[QY_ATT_ACCEPTED_STATUSES_MAX];
    size_t i;
    ENSURE(json_array_size(acc) <= QY_ATT_ACCEPTED_STATUSES_MAX, ERR_TOO_LARGE,
           "the policy accepts %zu TCB statuses, the limit is %u", json_array_size(acc), QY_ATT_ACCEPTED_STATUSES_MAX);
    json_array_foreach(acc, i, v) {
        ENSURE(json_is_string(v), ERR_TYPE, "the policy's AcceptedTCBStatuses must be strings");
        statuses[p->accepted_tcb_status_count++] = json_string_value(v);
    }
    p->accepted_tcb_statuses = statuses;
    return 0;
}

static int make_verifier(struct cli_conn *c, struct att_verifier **out)
{
    struct att_verifier_config vc;
    memset(&vc, 0, sizeof(vc));
    struct buf root = BUF_INIT;
    struct view roots[1];
    if (c->pccs != NULL) {
        struct api_pccs_config pc = {.base_url = c->pccs};
        TRY(api_pccs_source_new(&pc, &vc.collateral));
    } else if (c->collateral != NULL) {
        TRY(att_collateral_dir_new(c->collateral, &vc.collateral));
    } else {
        FAIL(ERR_INVALID_ARG, "verifying the Coordinator needs --collateral DIR or --pccs URL (or --insecure)");
    }
    if (c->extra_root != NULL) {
        int r = file_read(c->extra_root, QY_PEM_MAX_SIZE, &root);
        if (r < 0) {
            att_collateral_source_free(vc.collateral);
            return r;
        }
        roots[0] = buf_view(&root);
        vc.insecure_extra_roots = roots;
        vc.insecure_extra_root_count = 1;
    }
    int r = att_verifier_new(&vc, out);
    buf_free(&root);
    return r;
}

/* The last PEM certificate of the chain (the root) as DER, and that PEM block. */
static int root_of_chain(const char *chain, struct buf *der, struct buf *pem)
{
    const char *last = NULL, *p = chain;
    while ((p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL)
        last = p++;
    ENSURE(last != NULL, ERR_CERT, "the Coordinator sent no certificate");
    TRY(crypto_cert_pem_to_der(view_str(last), der));
    return buf_append_str(pem, last);
}

static int check_quote(struct cli_conn *c, struct view quote, struct view root_der, struct view nonce)
{
    struct att_verifier *v = NULL;
    json_t *pj = NULL;
    struct att_policy policy;
    struct att_result res;
    int r = ERR_INTERNAL;
    ENSURE(c->policy_file != NULL, ERR_INVALID_ARG, "verifying the Coordinator needs --policy FILE (or --insecure)");
    TRY_OUT(load_policy(c->policy_file, &pj, &policy));
    ENSURE_OUT(quote.size > 0, ERR_ATTESTATION, "the Coordinator sent no quote (simulation mode?); use --insecure");
    TRY_OUT(make_verifier(c, &v));
    TRY_OUT(att_verify(v, quote, qtime_now(), &res));
    ENSURE_OUT(res.verified, ERR_ATTESTATION, "the Coordinator's quote does not verify: %s: %s",
               att_step_name(res.failed_step), res.detail);
    uint8_t want[64] = {0};
    struct view parts[2] = {root_der, nonce};
    TRY_OUT(crypto_sha256(parts, 2, want));
    ENSURE_OUT(memcmp(want, res.report_data, 64) == 0, ERR_ATTESTATION,
               "the Coordinator's quote is not over its root certificate and our nonce");
    struct att_refusal why;
    r = att_policy_check(&policy, &res, &why);
    ENSURE_OUT(r == 0, ERR_ATTESTATION, "the Coordinator does not meet the policy: %s", why.reason);
    r = 0;
out:
    att_verifier_free(v);
    json_decref(pj);
    return r;
}

/* Fetches and verifies the root (or takes it on trust with --insecure); PEM into root_pem. */
static int fetch_root(struct cli_conn *c, struct buf *root_pem)
{
    struct api_client *cl = NULL;
    struct buf body = BUF_INIT, nonce64 = BUF_INIT, quote = BUF_INIT, der = BUF_INIT;
    uint8_t nonce[32];
    json_t *j = NULL;
    long status = 0;
    int r = ERR_INTERNAL;
    struct api_client_config cc = {c->address, VIEW_EMPTY, true, VIEW_EMPTY, VIEW_EMPTY, 30000};
    TRY_OUT(api_client_new(&cc, &cl));
    TRY_OUT(crypto_random(nonce, sizeof(nonce)));
    TRY_OUT(enc_b64(&nonce64, view_of(nonce, sizeof(nonce))));
    for (size_t i = 0; i < nonce64.size; i++) /* URL-safe alphabet, as MarbleRun expects */
        nonce64.ptr[i] = nonce64.ptr[i] == '+' ? '-' : nonce64.ptr[i] == '/' ? '_' : nonce64.ptr[i];
    char target[128];
    snprintf(target, sizeof(target), "/api/v2/quote?nonce=%.*s", (int)nonce64.size, (const char *)nonce64.ptr);
    TRY_OUT(api_client_call(cl, API_GET, target, VIEW_EMPTY, &status, &body));
    r = js_parse(buf_view(&body), QY_API_RESPONSE_MAX, &j);
    ENSURE_OUT(r == 0 && status == 200, ERR_NETWORK, "the Coordinator answered %ld to /api/v2/quote", status);
    json_t *data = json_object_get(j, "data");
    const char *chain = json_string_value(json_object_get(data, "cert"));
    ENSURE_OUT(chain != NULL, ERR_NETWORK, "the Coordinator's quote answer has no certificate");
    TRY_OUT(root_of_chain(chain, &der, root_pem));
    if (json_is_string(json_object_get(data, "quote")))
        TRY_OUT(enc_b64_decode(&quote, js_string_view(json_object_get(data, "quote"))));
    if (c->insecure)
        fprintf(stderr, "quarry: WARNING: --insecure: trusting the Coordinator without verifying its quote\n");
    else
        TRY_OUT(check_quote(c, buf_view(&quote), buf_view(&der), view_of(nonce, sizeof(nonce))));
    r = 0;
out:
    api_client_free(cl);
    buf_free(&body), buf_free(&nonce64), buf_free(&quote), buf_free(&der);
    json_decref(j);
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
