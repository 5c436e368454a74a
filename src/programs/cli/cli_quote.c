/* quarry quote verify */
#include <string.h>

#include "api/api.h"
#include "attestation/attestation.h"
#include "cli.h"

static void print_hex(const char *label, const uint8_t *p, size_t size)
{
    printf("  %-14s ", label);
    for (size_t i = 0; i < size; i++)
        printf("%02x", p[i]);
    printf("\n");
}

static void print_text(const char *path, const struct att_result *r)
{
    if (r->verified) {
        printf("%s: verified, TCB status %s", path, att_tcb_status_name(r->tcb_status));
        for (size_t i = 0; i < r->advisory_count; i++)
            printf("%s%s", i == 0 ? ", advisories " : ", ", r->advisory_ids[i]);
        printf("\n");
    } else {
        printf("%s: NOT verified at step %s: %s\n", path, att_step_name(r->failed_step), r->detail);
    }
    if (!r->parsed)
        return;
    printf("  %-14s %s quote v%u\n", "type", r->tee_type == ATT_TEE_TDX ? "TDX" : "SGX",
           r->version);
    printf("  %-14s %s\n", "debug", r->debug ? "true" : "false");
    if (r->body_type == ATT_BODY_SGX) {
        print_hex("MRENCLAVE", r->sgx.mrenclave, 32);
        print_hex("MRSIGNER", r->sgx.mrsigner, 32);
        printf("  %-14s %u\n  %-14s %u\n", "ISVPRODID", r->sgx.isvprodid, "ISVSVN", r->sgx.isvsvn);
    } else {
        print_hex("MRTD", r->td.mrtd, 48);
        for (int i = 0; i < 4; i++) {
            char label[8];
            snprintf(label, sizeof(label), "RTMR%d", i);
            print_hex(label, r->td.rtmr[i], 48);
        }
        print_hex("MRSEAM", r->td.mrseam, 48);
        print_hex("TDATTRIBUTES", r->td.td_attributes, 8);
    }
    print_hex("report data", r->report_data, 64);
    if (r->has_pck)
        print_hex("FMSPC", r->pck.fmspc, 6);
}

static int cmd_verify(int argc, char **argv)
{
    static const char usage[] =
        "quarry quote verify QUOTE [--collateral DIR | --pccs URL | --no-collateral] "
        "[--at RFC3339] [--insecure-extra-root PEM] [--json]";
    const char *dir = NULL, *pccs = NULL, *at_s = NULL, *root_path = NULL;
    bool none = false, as_json = false;
    char *pos[1];
    size_t npos;
    const struct cli_opt opts[] = {
        {"--collateral", true, &dir, NULL},
        {"--pccs", true, &pccs, NULL},
        {"--no-collateral", false, NULL, &none},
        {"--at", true, &at_s, NULL},
        {"--insecure-extra-root", true, &root_path, NULL},
        {"--json", false, NULL, &as_json},
    };
    int rc = cli_parse(argc, argv, opts, QY_ARRAY_LEN(opts), pos, 1, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error(usage, "expected one quote file");
    if ((dir != NULL) + (pccs != NULL) + none != 1)
        return cli_usage_error(usage,
                               "give exactly one of --collateral, --pccs and --no-collateral");
    int64_t at = qtime_now();
    if (at_s != NULL && qtime_parse_rfc3339(at_s, &at) < 0)
        return cli_usage_error(usage, "--at: %s", err_detail(ERR_SYNTAX));

    struct buf quote = BUF_INIT, root = BUF_INIT;
    struct att_verifier *v = NULL;
    struct att_collateral_source *src = NULL;
    struct view roots[1];
    rc = CLI_USAGE;
    int r = file_read(pos[0], QY_FILE_MAX_SIZE, &quote);
    if (r == 0 && root_path != NULL)
        r = file_read(root_path, QY_PEM_MAX_SIZE, &root);
    if (r == 0 && dir != NULL)
        r = att_collateral_dir_new(dir, &src);
    if (r == 0 && pccs != NULL) {
        struct api_pccs_config pc = {.base_url = pccs};
        r = api_pccs_source_new(&pc, &src);
    }
    if (r == 0) {
        roots[0] = buf_view(&root);
        struct att_verifier_config cfg = {.collateral = src,
                                          .no_collateral = none,
                                          .insecure_extra_roots = roots,
                                          .insecure_extra_root_count = root_path != NULL};
        src = NULL; /* consumed */
        r = att_verifier_new(&cfg, &v);
    }
    if (r < 0) {
        fprintf(stderr, "quarry: %s\n", err_detail(r));
        goto out;
    }
    if (root_path != NULL)
        fprintf(stderr, "quarry: WARNING: trusting %s as an extra root: INSECURE, for tests only\n",
                root_path);
    struct att_result res;
    r = att_verify(v, buf_view(&quote), at, &res);
    if (r < 0) {
        fprintf(stderr, "quarry: %s\n", err_detail(r));
        goto out;
    }
    if (as_json) {
        json_t *j = NULL;
        if (att_result_to_json(&res, &j) == 0)
            (void)cli_print_json(j);
        json_decref(j);
    } else {
        print_text(pos[0], &res);
    }
    if (res.verified && res.insecure_root)
        fprintf(stderr,
                "quarry: WARNING: the quote chains to an insecure extra root, not to Intel\n");
    rc = res.verified ? CLI_OK : CLI_INVALID;
out:
    att_verifier_free(v);
    att_collateral_source_free(src);
    buf_free(&quote);
    buf_free(&root);
    return rc;
}

static const struct cli_cmd quote_commands[] = {
    {"verify", cmd_verify,
     "verify QUOTE [--collateral DIR | --pccs URL | --no-collateral] [--at RFC3339] "
     "[--insecure-extra-root PEM] "
     "[--json]",
     "verify a DCAP quote (exit 0 verified, 1 not verified, 2 usage or I/O)"},
    {"sign", cli_quote_sign, "sign QUOTE [-o FILE]", "the Coordinator verifies QUOTE and signs the result (SignQuoteEndpoint)"},
};

int cli_quote(int argc, char **argv)
{
    return cli_dispatch(quote_commands, QY_ARRAY_LEN(quote_commands), "quarry quote", argc, argv);
}
