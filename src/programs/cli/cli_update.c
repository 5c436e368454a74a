/* quarry package update | manifest update apply|acknowledge|cancel|get | update log [--verify] | quote sign:
 * updates and what proves them (docs/updates.md), after cli_connect has verified the Coordinator. */
#include <string.h>

#include "api/api.h"
#include "cli.h"
#include "coordinator/coordinator.h"
#include "manifest/manifest.h"
#include "pki/pki.h"

#define USER_USAGE "--cert FILE --key FILE " CLI_CONN_USAGE

/* The answer's list of strings `key` (checked whole before anything is printed): one per line, or
 * each after a space and a newline after the last. */
static int print_strings(const json_t *data, const char *key, bool one_per_line)
{
    json_t *list = json_object_get(data, key), *v;
    size_t i;
    ENSURE(json_is_array(list), ERR_TYPE, "the Coordinator's answer has no list \"%s\"", key);
    json_array_foreach(list, i, v)
        ENSURE(json_is_string(v), ERR_TYPE, "the Coordinator's answer: \"%s\" holds a non-string", key);
    json_array_foreach(list, i, v) printf(one_per_line ? "%s\n" : " %s", json_string_value(v));
    if (!one_per_line)
        printf("\n");
    return 0;
}

static int print_message(const json_t *data)
{
    const char *m = NULL;
    TRY(js_get_string(data, "message", true, &m));
    printf("%s\n", m);
    return 0;
}

static int print_missing(const json_t *data)
{
    printf("%lld acknowledgement(s) missing; not yet acknowledged by:",
           (long long)json_integer_value(json_object_get(data, "missingAcknowledgments")));
    return print_strings(data, "missingUsers", false);
}

int cli_package(int argc, char **argv)
{
    static const char usage[] = "quarry package update FILE " USER_USAGE;
    struct cli_conn conn;
    char *pos[2];
    size_t npos;
    int rc = cli_conn_parse(argc, argv, &conn, NULL, 0, pos, 2, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    if (npos != 2 || strcmp(pos[0], "update") != 0)
        return cli_usage_error(usage, "expected \"update\" and a package-only manifest");
    json_t *data = NULL;
    int r = cli_post_manifest(&conn, true, "/api/v2/update", pos[1], 1, NULL, &data);
    if (r == 0)
        printf("SecurityVersion updated\n");
    json_decref(data);
    cli_disconnect(&conn, NULL);
    return r == 0 ? CLI_OK : cli_fail(r);
}

/* apply and acknowledge: a manifest to POST, the answer, and recovery secrets when the keys changed. */
static int post_update(int argc, char **argv, const char *usage, const char *target, int package_only)
{
    struct cli_conn conn;
    const char *dir = NULL;
    char *pos[1];
    size_t npos;
    const struct cli_opt extra[] = {{"--recovery-dir", true, &dir, NULL}};
    int rc = cli_conn_parse(argc, argv, &conn, extra, 1, pos, 1, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error(usage, "expected one manifest file");
    json_t *data = NULL;
    int r = cli_post_manifest(&conn, true, target, pos[0], package_only, NULL, &data);
    const char *message = json_string_value(json_object_get(data, "message"));
    if (r == 0 && message != NULL)
        printf("%s\n", message);
    else if (r == 0 && json_integer_value(json_object_get(data, "missingAcknowledgments")) > 0)
        r = print_missing(data);
    else if (r == 0)
        printf("update applied\n");
    if (r == 0)
        r = cli_save_recovery_secrets(json_object_get(data, "recoverySecrets"), dir);
    json_decref(data);
    cli_disconnect(&conn, NULL);
    return r == 0 ? CLI_OK : cli_fail(r);
}

static int update_apply(int argc, char **argv)
{
    return post_update(argc, argv, "quarry manifest update apply FILE [--recovery-dir DIR] " USER_USAGE,
                       "/api/v2/update", -1);
}

static int update_acknowledge(int argc, char **argv)
{
    return post_update(argc, argv, "quarry manifest update acknowledge FILE [--recovery-dir DIR] " USER_USAGE,
                       "/api/v2/update-manifest", 0);
}

static int update_cancel(int argc, char **argv)
{
    static const char usage[] = "quarry manifest update cancel " USER_USAGE;
    struct cli_conn conn;
    size_t npos;
    int rc = cli_conn_parse(argc, argv, &conn, NULL, 0, NULL, 0, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    struct api_client *cl = NULL;
    json_t *data = NULL;
    int r = cli_connect(&conn, true, &cl);
    if (r == 0)
        r = cli_call(cl, API_POST, "/api/v2/update-cancel", VIEW_EMPTY, &data);
    if (r == 0)
        r = print_message(data);
    json_decref(data);
    cli_disconnect(&conn, cl);
    return r == 0 ? CLI_OK : cli_fail(r);
}

static int update_get(int argc, char **argv)
{
    static const char usage[] = "quarry manifest update get [--missing] [-o FILE] " CLI_CONN_USAGE;
    struct cli_conn conn;
    const char *out = NULL;
    bool missing = false;
    size_t npos;
    const struct cli_opt extra[] = {{"--missing", false, NULL, &missing}, {"-o", true, &out, NULL}};
    int rc = cli_conn_parse(argc, argv, &conn, extra, 2, NULL, 0, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    struct api_client *cl = NULL;
    json_t *data = NULL;
    struct buf raw = BUF_INIT;
    int r = cli_connect(&conn, false, &cl);
    if (r == 0)
        r = cli_call(cl, API_GET, "/api/v2/update-manifest", VIEW_EMPTY, &data);
    if (r == 0 && missing) {
        r = print_message(data);
        if (r == 0)
            r = print_strings(data, "missingUsers", true);
    } else if (r == 0) {
        r = js_get_b64(data, "manifest", true, &raw);
        if (r == 0)
            r = cli_write_out(out, buf_view(&raw));
    }
    json_decref(data);
    buf_free(&raw);
    cli_disconnect(&conn, cl);
    return r == 0 ? CLI_OK : cli_fail(r);
}

int cli_manifest_update(int argc, char **argv)
{
    static const struct cli_cmd cmds[] = {
        {"apply", update_apply, "apply FILE --cert F --key F", "start a manifest update (or a package update)"},
        {"acknowledge", update_acknowledge, "acknowledge FILE --cert F --key F", "acknowledge the pending update"},
        {"cancel", update_cancel, "cancel --cert F --key F", "cancel the pending update (UpdateManifest)"},
        {"get", update_get, "get [--missing] [-o FILE]", "the pending manifest, or who has not acknowledged it"},
    };
    return cli_dispatch(cmds, QY_ARRAY_LEN(cmds), "quarry manifest update", argc, argv);
}

/* The update log ------------------------------------------------------------------------------------ */

int cli_update(int argc, char **argv)
{
    static const char usage[] = "quarry update log [--verify] " CLI_CONN_USAGE;
    struct cli_conn conn;
    bool verify = false;
    char *pos[1];
    size_t npos;
    const struct cli_opt extra[] = {{"--verify", false, NULL, &verify}};
    int rc = cli_conn_parse(argc, argv, &conn, extra, 1, pos, 1, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1 || strcmp(pos[0], "log") != 0)
        return cli_usage_error(usage, "expected \"log\"");
    struct api_client *cl = NULL;
    json_t *data = NULL, *head = NULL;
    struct buf root = BUF_INIT;
    int r = cli_connect(&conn, false, &cl);
    if (r == 0)
        r = cli_call(cl, API_GET, "/api/v2/update", VIEW_EMPTY, &data);
    if (r == 0 && verify) /* an update between the two calls fails the check: run it again */
        r = cli_call(cl, API_GET, "/api/v2/update-log-head", VIEW_EMPTY, &head);
    json_t *lines = json_object_get(data, "updateLog");
    if (r == 0 && verify) {
        r = cli_root_der(&conn, &root);
        if (r == 0)
            r = coord_log_verify(lines, head, buf_view(&root));
    }
    if (r == 0)
        r = print_strings(data, "updateLog", true);
    if (r == 0 && verify)
        fprintf(stderr, "quarry: update log verified: %zu entries, signed by the Coordinator's root\n",
                json_array_size(lines));
    json_decref(data), json_decref(head);
    buf_free(&root);
    cli_disconnect(&conn, cl);
    return r == 0 ? CLI_OK : cli_fail(r);
}

/* quote sign -------------------------------------------------------------------------------------------- */

int cli_quote_sign(int argc, char **argv)
{
    static const char usage[] = "quarry quote sign QUOTE [-o FILE] " CLI_CONN_USAGE;
    struct cli_conn conn;
    const char *out = NULL;
    char *pos[1];
    size_t npos;
    const struct cli_opt extra[] = {{"-o", true, &out, NULL}};
    int rc = cli_conn_parse(argc, argv, &conn, extra, 1, pos, 1, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error(usage, "expected one quote file (raw DCAP or OpenEnclave report)");
    struct buf quote = BUF_INIT, b64 = BUF_INIT, body = BUF_INIT, sig = BUF_INIT, root = BUF_INIT, dump = BUF_INIT;
    struct api_client *cl = NULL;
    json_t *data = NULL;
    const char *status = NULL;
    int r = file_read(pos[0], QY_ATT_QUOTE_MAX_SIZE, &quote);
    if (r == 0)
        r = enc_b64(&b64, buf_view(&quote));
    if (r == 0)
        r = buf_appendf(&body, "{\"sgxQuote\":\"%.*s\"}", (int)b64.size, (const char *)b64.ptr);
    if (r == 0)
        r = cli_connect(&conn, false, &cl);
    if (r == 0)
        r = cli_call(cl, API_POST, "/api/v2/sign-quote", buf_view(&body), &data);
    if (r == 0)
        r = js_get_string(data, "tcbStatus", true, &status);
    if (r == 0)
        r = js_get_b64(data, "verificationSignature", true, &sig);
    /* the signature covers base64(quote) || tcbStatus; check it before printing anything */
    if (r == 0)
        r = buf_append_str(&b64, status);
    if (r == 0)
        r = cli_root_der(&conn, &root);
    if (r == 0 && pki_verify_root_signature(buf_view(&root), buf_view(&b64), buf_view(&sig)) < 0)
        r = err_fail(ERR_BAD_SIGNATURE, __func__, "the verification signature does not verify with the root");
    if (r == 0)
        r = js_dump(&dump, data, JSON_INDENT(2));
    if (r == 0)
        r = buf_append_byte(&dump, '\n');
    if (r == 0)
        r = cli_write_out(out, buf_view(&dump));
    if (r == 0)
        fprintf(stderr, "quarry: TCB status %s, signed by the Coordinator's root\n", status);
    json_decref(data);
    buf_free(&quote), buf_free(&b64), buf_free(&body), buf_free(&sig), buf_free(&root), buf_free(&dump);
    cli_disconnect(&conn, cl);
    return r == 0 ? CLI_OK : cli_fail(r);
}
