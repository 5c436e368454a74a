/* quarry status | manifest set/get | certificate | secret get/set | update log: the Coordinator's
 * client API, after cli_connect has verified the Coordinator. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli.h"
#include "crypto/crypto.h"
#include "manifest/manifest.h"
#include "pki/pki.h"


int cli_conn_parse(int argc, char **argv, struct cli_conn *conn, const struct cli_opt *extra, size_t nextra, char **pos,
                 size_t max_pos, size_t *npos, const char *usage)
{
    struct cli_opt opts[32];
    size_t n = 0;
    memset(conn, 0, sizeof(*conn));
    cli_conn_options(conn, opts, &n);
    for (size_t i = 0; i < nextra && n < QY_ARRAY_LEN(opts); i++)
        opts[n++] = extra[i];
    return cli_parse(argc, argv, opts, n, pos, max_pos, npos, usage);
}

int cli_print_json(const json_t *j)
{
    struct buf b = BUF_INIT;
    int r = js_dump(&b, j, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (r == 0)
        printf("%.*s\n", (int)b.size, (const char *)b.ptr);
    buf_free(&b);
    return r;
}

int cli_write_out(const char *file, struct view data)
{
    if (file == NULL || strcmp(file, "-") == 0)
        return fwrite(data.ptr, 1, data.size, stdout) == data.size ? 0 : ERR_IO;
    return file_write_atomic(file, data, 0600);
}

/* What an insecure Coordinator says of itself (GET /api/v2/status "insecure", "insecureReasons"), in
 * words; reasons this CLI does not know are named as unknown rather than echoed. */
static void print_insecure(const json_t *data)
{
    static const char *const known[][2] = {
        {"simulation", "simulation mode: marbles are not attested at all"},
        {"emulated", "emulated attestation: the Coordinator's quotes are signed by a software testkit"},
        {"extra-root", "trusts an attestation root other than Intel's: quotes nobody's hardware made may verify"},
    };
    if (!json_is_true(json_object_get(data, "insecure")))
        return;
    const char *mode = json_string_value(json_object_get(data, "attestationMode"));
    bool known_mode = mode && (strcmp(mode, "sgx") == 0 || strcmp(mode, "emulated") == 0 ||
                               strcmp(mode, "simulation") == 0);
    printf("INSECURE Coordinator (attestation mode %s):\n", known_mode ? mode : "unknown");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(data, "insecureReasons"), i, v) {
        const char *text = "an insecure setting this client does not know";
        for (size_t k = 0; k < QY_ARRAY_LEN(known); k++)
            if (json_is_string(v) && strcmp(json_string_value(v), known[k][0]) == 0)
                text = known[k][1];
        printf("INSECURE: %s\n", text);
    }
}

int cli_status(int argc, char **argv)
{
    static const char usage[] = "quarry status " CLI_CONN_USAGE;
    struct cli_conn conn;
    size_t npos;
    int rc = cli_conn_parse(argc, argv, &conn, NULL, 0, NULL, 0, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    struct api_client *cl = NULL;
    json_t *data = NULL;
    int r = cli_connect(&conn, false, &cl);
    if (r == 0)
        r = cli_call(cl, API_GET, "/api/v2/status", VIEW_EMPTY, &data);
    if (r == 0) {
        printf("%lld: %s\n", (long long)json_integer_value(json_object_get(data, "code")),
               json_string_value(json_object_get(data, "message")));
        print_insecure(data);
    }
    json_decref(data);
    cli_disconnect(&conn, cl);
    return r == 0 ? CLI_OK : cli_fail(r);
}

int cli_save_recovery_secrets(const json_t *secrets, const char *dir)
{
    const char *name;
    json_t *v;
    if (json_object_size(secrets) == 0)
        return 0;
    if (dir == NULL) {
        fprintf(stderr, "quarry: the recovery secrets (keep them; give each to its key's owner):\n");
        return cli_print_json(secrets);
    }
    TRY(file_mkdirs(dir, 0700));
    json_object_foreach((json_t *)secrets, name, v) {
        char path[QY_PATH_MAX];
        struct buf raw = BUF_INIT;
        ENSURE(strchr(name, '/') == NULL, ERR_BAD_REQUEST, "recovery key name \"%s\" cannot be a file name", name);
        snprintf(path, sizeof(path), "%s/%s.secret", dir, name);
        int r = enc_b64_decode(&raw, js_string_view(v));
        if (r == 0)
            r = file_write_atomic(path, buf_view(&raw), 0600);
        buf_free(&raw);
        TRY(r);
        fprintf(stderr, "quarry: recovery secret for %s saved in %s\n", name, path);
    }
    return 0;
}

int cli_manifest_set(int argc, char **argv)
{
    static const char usage[] = "quarry manifest set FILE [--recovery-dir DIR] " CLI_CONN_USAGE;
    struct cli_conn conn;
    const char *recovery_dir = NULL;
    char *pos[1];
    size_t npos;
    const struct cli_opt extra[] = {{"--recovery-dir", true, &recovery_dir, NULL}};
    int rc = cli_conn_parse(argc, argv, &conn, extra, 1, pos, 1, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error(usage, "expected one manifest file");
    json_t *data = NULL;
    char fp[65];
    int r = cli_post_manifest(&conn, false, "/api/v2/manifest", pos[0], -1, fp, &data);
    if (r == 0)
        r = cli_save_recovery_secrets(json_object_get(data, "RecoverySecrets"), recovery_dir);
    if (r == 0)
        printf("manifest set, fingerprint %s\n", fp);
    json_decref(data);
    cli_disconnect(&conn, NULL);
    return r == 0 ? CLI_OK : cli_fail(r);
}

int cli_post_manifest(struct cli_conn *conn, bool as_user, const char *target, const char *file, int package_only,
                      char fingerprint[65], json_t **data)
{
    struct buf in = BUF_INIT, b64 = BUF_INIT, body = BUF_INIT;
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    struct api_client *cl = NULL;
    int r = file_read(file, QY_MANIFEST_MAX_SIZE, &in);
    if (r == 0)
        r = manifest_parse(buf_view(&in), MF_FORMAT_AUTO, &d, &m);
    diag_sort(&d);
    cli_print_diag(stderr, &d);
    if (r == 0 && package_only >= 0 && manifest_is_update(m) != (package_only == 1))
        r = err_fail(ERR_BAD_REQUEST, __func__, "%s",
                     package_only ? "not a package update (only Packages may be set): use quarry manifest update apply"
                                  : "a package-only manifest is a package update: use quarry package update");
    if (r == 0 && fingerprint != NULL)
        manifest_fingerprint_hex(m, fingerprint);
    if (r == 0)
        r = enc_b64(&b64, m->raw);
    if (r == 0)
        r = buf_appendf(&body, "{\"manifest\":\"%.*s\"}", (int)b64.size, (const char *)b64.ptr);
    if (r == 0)
        r = cli_connect(conn, as_user, &cl);
    if (r == 0)
        r = cli_call(cl, API_POST, target, buf_view(&body), data);
    api_client_free(cl);
    manifest_free(m);
    diag_free(&d);
    buf_free(&in), buf_free(&b64), buf_free(&body);
    return r;
}

int cli_root_der(const struct cli_conn *conn, struct buf *der)
{
    return crypto_cert_pem_to_der(buf_view(&conn->root_pem), der);
}

int cli_manifest_get(int argc, char **argv)
{
    static const char usage[] = "quarry manifest get [-o FILE] " CLI_CONN_USAGE;
    struct cli_conn conn;
    const char *out = NULL;
    size_t npos;
    const struct cli_opt extra[] = {{"-o", true, &out, NULL}, {"--output", true, &out, NULL}};
    int rc = cli_conn_parse(argc, argv, &conn, extra, 2, NULL, 0, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    struct api_client *cl = NULL;
    json_t *data = NULL;
    struct buf raw = BUF_INIT, sig = BUF_INIT, root = BUF_INIT;
    int r = cli_connect(&conn, false, &cl);
    if (r == 0)
        r = cli_call(cl, API_GET, "/api/v2/manifest", VIEW_EMPTY, &data);
    if (r == 0)
        r = js_get_b64(data, "manifest", true, &raw);
    if (r == 0)
        r = js_get_b64(data, "manifestSignatureRootECDSA", true, &sig);
    if (r == 0)
        r = cli_root_der(&conn, &root);
    if (r == 0) { /* the manifest is the one the Coordinator's root signed */
        r = pki_verify_root_signature(buf_view(&root), buf_view(&raw), buf_view(&sig));
        if (r < 0)
            r = err_fail(ERR_BAD_SIGNATURE, __func__, "the manifest's signature does not verify with the root");
    }
    if (r == 0)
        r = cli_write_out(out, buf_view(&raw));
    json_decref(data);
    cli_disconnect(&conn, cl);
    buf_free(&raw), buf_free(&sig), buf_free(&root);
    return r == 0 ? CLI_OK : cli_fail(r);
}

int cli_certificate(int argc, char **argv)
{
    static const char usage[] = "quarry certificate root|intermediate|chain [-o FILE] " CLI_CONN_USAGE;
    struct cli_conn conn;
    const char *out = NULL;
    char *pos[1];
    size_t npos;
    const struct cli_opt extra[] = {{"-o", true, &out, NULL}, {"--output", true, &out, NULL}};
    int rc = cli_conn_parse(argc, argv, &conn, extra, 2, pos, 1, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1 || (strcmp(pos[0], "root") && strcmp(pos[0], "intermediate") && strcmp(pos[0], "chain")))
        return cli_usage_error(usage, "which certificate: root, intermediate or chain");
    struct api_client *cl = NULL;
    json_t *data = NULL;
    int r = cli_connect(&conn, false, &cl);
    if (r == 0)
        r = cli_call(cl, API_GET, "/api/v2/quote", VIEW_EMPTY, &data);
    const char *chain = json_string_value(json_object_get(data, "cert"));
    if (r == 0 && chain == NULL)
        r = err_fail(ERR_NETWORK, __func__, "no certificate in the answer");
    if (r == 0) { /* the chain is intermediate then root */
        const char *second = strstr(chain + 1, "-----BEGIN CERTIFICATE-----");
        size_t first_len = second ? (size_t)(second - chain) : strlen(chain);
        struct view v = strcmp(pos[0], "chain") == 0  ? view_str(chain)
                        : strcmp(pos[0], "root") == 0 ? view_str(second ? second : chain)
                                                       : view_of(chain, first_len);
        r = cli_write_out(out, v);
    }
    json_decref(data);
    cli_disconnect(&conn, cl);
    return r == 0 ? CLI_OK : cli_fail(r);
}

static int secret_get(int argc, char **argv)
{
    static const char usage[] = "quarry secret get NAME... --cert FILE --key FILE [-o FILE] " CLI_CONN_USAGE;
    struct cli_conn conn;
    const char *out = NULL;
    char *pos[64];
    size_t npos;
    const struct cli_opt extra[] = {{"-o", true, &out, NULL}};
    int rc = cli_conn_parse(argc, argv, &conn, extra, 1, pos, 64, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    if (npos == 0)
        return cli_usage_error(usage, "name at least one secret");
    struct buf target = BUF_INIT, json = BUF_INIT;
    struct api_client *cl = NULL;
    json_t *data = NULL;
    int r = buf_append_str(&target, "/api/v2/secrets");
    for (size_t i = 0; i < npos && r == 0; i++) {
        r = buf_appendf(&target, "%cs=", i ? '&' : '?');
        for (const unsigned char *p = (const unsigned char *)pos[i]; *p && r == 0; p++) /* percent-encode */
            r = strchr("-._~", *p) || (*p >= '0' && *p <= '9') || ((*p | 32) >= 'a' && (*p | 32) <= 'z')
                    ? buf_append_byte(&target, *p)
                    : buf_appendf(&target, "%%%02X", *p);
    }
    if (r == 0)
        r = buf_terminate(&target);
    if (r == 0)
        r = cli_connect(&conn, true, &cl);
    if (r == 0)
        r = cli_call(cl, API_GET, (const char *)target.ptr, VIEW_EMPTY, &data);
    if (r == 0)
        r = js_dump(&json, json_object_get(data, "secrets"), JSON_INDENT(2));
    if (r == 0)
        r = buf_append_byte(&json, '\n');
    if (r == 0)
        r = cli_write_out(out, buf_view(&json));
    json_decref(data);
    cli_disconnect(&conn, cl);
    buf_free(&target), buf_free(&json);
    return r == 0 ? CLI_OK : cli_fail(r);
}

static int secret_set(int argc, char **argv)
{
    static const char usage[] = "quarry secret set FILE --cert FILE --key FILE " CLI_CONN_USAGE;
    struct cli_conn conn;
    char *pos[1];
    size_t npos;
    int rc = cli_conn_parse(argc, argv, &conn, NULL, 0, pos, 1, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error(usage, "expected one file of secrets (JSON: name -> {Key|Cert|Private})");
    struct buf in = BUF_INIT, body = BUF_INIT;
    struct api_client *cl = NULL;
    json_t *data = NULL, *secrets = NULL;
    int r = file_read(pos[0], QY_JSON_MAX_SIZE, &in);
    if (r == 0)
        r = js_parse(buf_view(&in), QY_JSON_MAX_SIZE, &secrets);
    if (r == 0) { /* {"secrets": {...}} as sent, or just the map */
        json_t *inner = js_object_get_ci(secrets, "secrets");
        json_t *wrapped = json_pack("{s:O}", "secrets", inner ? inner : secrets);
        r = wrapped ? js_dump(&body, wrapped, JSON_COMPACT) : ERR_NOMEM;
        json_decref(wrapped);
    }
    if (r == 0)
        r = cli_connect(&conn, true, &cl);
    if (r == 0)
        r = cli_call(cl, API_POST, "/api/v2/secrets", buf_view(&body), &data);
    if (r == 0)
        printf("secrets set\n");
    json_decref(data);
    json_decref(secrets);
    cli_disconnect(&conn, cl);
    buf_free(&in), buf_free(&body);
    return r == 0 ? CLI_OK : cli_fail(r);
}

int cli_secret(int argc, char **argv)
{
    static const struct cli_cmd cmds[] = {
        {"get", secret_get, "get NAME... --cert F --key F", "read secrets (as a user with ReadSecret)"},
        {"set", secret_set, "set FILE --cert F --key F", "upload user-defined secrets (WriteSecret)"},
    };
    return cli_dispatch(cmds, QY_ARRAY_LEN(cmds), "quarry secret", argc, argv);
}
