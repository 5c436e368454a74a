/* quarry manifest check|migrate */
#include <string.h>

#include "cli.h"
#include "manifest/manifest.h"
#include "template/template.h"

/* Reads a manifest file; a file over the manifest limit is a problem of the manifest (exit 1), any
 * other read failure is an I/O error (exit 2). */
static int read_manifest(const char *path, struct buf *out, struct diag *d)
{
    int r = file_read(path, QY_MANIFEST_MAX_SIZE, out);
    if (r == ERR_TOO_LARGE) {
        diag_add(d, DIAG_ERROR, "", "manifest is larger than %u bytes", QY_MANIFEST_MAX_SIZE);
        return CLI_INVALID;
    }
    if (r < 0) {
        fprintf(stderr, "quarry: %s\n", err_detail(r));
        return CLI_USAGE;
    }
    return CLI_OK;
}

static void print_check_json(const struct manifest *m, const struct diag *d, bool valid)
{
    char fp[65];
    if (m != NULL)
        manifest_fingerprint_hex(m, fp);
    json_t *j = json_pack("{s:b,s:s?,s:o,s:o}", "valid", valid, "fingerprint", m ? fp : NULL, "errors",
                          cli_diag_json(d, DIAG_ERROR), "warnings", cli_diag_json(d, DIAG_WARNING));
    struct buf out = BUF_INIT;
    if (j != NULL && js_dump(&out, j, JSON_INDENT(2)) == 0)
        printf("%.*s\n", (int)out.size, (const char *)out.ptr);
    buf_free(&out);
    json_decref(j);
}

static int cmd_check(int argc, char **argv)
{
    static const char usage[] = "quarry manifest check FILE [--json]";
    bool as_json = false;
    char *pos[1];
    size_t npos;
    const struct cli_opt opts[] = {{"--json", false, NULL, &as_json}};
    int rc = cli_parse(argc, argv, opts, QY_ARRAY_LEN(opts), pos, 1, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error(usage, "expected one manifest file");

    struct buf in = BUF_INIT;
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    rc = read_manifest(pos[0], &in, &d);
    if (rc == CLI_USAGE)
        goto out;
    int r = rc == CLI_OK ? manifest_parse(buf_view(&in), MF_FORMAT_AUTO, &d, &m) : ERR_MANIFEST;
    const struct manifest_checker checkers[] = {tpl_checker()};
    if (r == 0)
        r = manifest_check(m, checkers, QY_ARRAY_LEN(checkers), &d);
    if (r < 0 && r != ERR_MANIFEST) {
        fprintf(stderr, "quarry: %s\n", err_detail(r));
        rc = CLI_USAGE;
        goto out;
    }
    bool valid = r == 0;
    diag_sort(&d);
    if (as_json) {
        print_check_json(m, &d, valid);
    } else {
        cli_print_diag(stdout, &d);
        char fp[65] = "";
        if (m != NULL)
            manifest_fingerprint_hex(m, fp);
        if (valid)
            printf("%s: valid, fingerprint %s\n", pos[0], fp);
        else
            printf("%s: invalid (%zu error%s)\n", pos[0], d.errors, d.errors == 1 ? "" : "s");
    }
    rc = valid ? CLI_OK : CLI_INVALID;
out:
    manifest_free(m);
    diag_free(&d);
    buf_free(&in);
    return rc;
}

static int cmd_migrate(int argc, char **argv)
{
    static const char usage[] = "quarry manifest migrate FILE";
    char *pos[1];
    size_t npos;
    int rc = cli_parse(argc, argv, NULL, 0, pos, 1, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error(usage, "expected one manifest file");
    struct buf in = BUF_INIT, out = BUF_INIT;
    struct diag d = DIAG_INIT;
    rc = read_manifest(pos[0], &in, &d);
    if (rc == CLI_OK) {
        int r = manifest_migrate(buf_view(&in), &d, &out);
        rc = r == 0 ? CLI_OK : r == ERR_MANIFEST ? CLI_INVALID : CLI_USAGE;
        if (r < 0 && r != ERR_MANIFEST)
            fprintf(stderr, "quarry: %s\n", err_detail(r));
    }
    diag_sort(&d);
    cli_print_diag(stderr, &d);
    if (rc == CLI_OK)
        fwrite(out.ptr, 1, out.size, stdout);
    diag_free(&d);
    buf_free(&in);
    buf_free(&out);
    return rc;
}

static const struct cli_cmd manifest_commands[] = {
    {"check", cmd_check, "check FILE [--json]", "validate a manifest (JSON, YAML or legacy)"},
    {"migrate", cmd_migrate, "migrate FILE", "print a YAML or legacy manifest as current JSON"},
    {"set", cli_manifest_set, "set FILE [--recovery-dir DIR]", "set the manifest of a Coordinator"},
    {"get", cli_manifest_get, "get [-o FILE]", "get the Coordinator's manifest (signature checked)"},
    {"update", cli_manifest_update, "update apply|acknowledge|cancel|get ...", "multi-party manifest updates"},
};

int cli_manifest(int argc, char **argv)
{
    return cli_dispatch(manifest_commands, QY_ARRAY_LEN(manifest_commands), "quarry manifest", argc, argv);
}
