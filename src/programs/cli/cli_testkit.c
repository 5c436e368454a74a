/* quarry testkit init|quote: the emulated Intel PKI (TEST ONLY) from the command line. */
#include <stdlib.h>
#include <string.h>

#include "attestation/attestation.h"
#include "cli.h"

/* "a,b,c" into at most `max` pieces (modified in place). */
static size_t split(char *s, char **out, size_t max)
{
    size_t n = 0;
    while (s != NULL && *s != '\0' && n < max) {
        out[n++] = s;
        char *comma = strchr(s, ',');
        if (comma == NULL)
            break;
        *comma = '\0';
        s = comma + 1;
    }
    return n;
}

static int parse_uint(const char *usage, const char *what, const char *s, unsigned long max,
                      unsigned long *out)
{
    uint64_t v;
    if (enc_dec_u64(what, s, 0, max, &v) < 0)
        return cli_usage_error(usage, "%s", err_detail(ERR_RANGE));
    *out = (unsigned long)v;
    return CLI_OK;
}

static int parse_faults(const char *usage, const char *list, unsigned *faults)
{
    char copy[512], *names[16];
    snprintf(copy, sizeof(copy), "%s", list);
    size_t n = split(copy, names, 16);
    for (size_t i = 0; i < n; i++)
        if (att_testkit_fault_parse(names[i], faults) < 0)
            return cli_usage_error(usage, "%s", err_detail(ERR_INVALID_ARG));
    return CLI_OK;
}

static int cmd_init(int argc, char **argv)
{
    static const char usage[] = "quarry testkit init DIR [--tcb-status S] [--advisories ID,...] "
                                "[--qe-tcb-status S] [--no-matching-tcb] "
                                "[--fmspc HEX] [--ca processor|platform] [--tcb-components N,...] "
                                "[--pcesvn N] [--qe-isvsvn N] "
                                "[--fault F,...] [--pki-from DIR] [--at RFC3339]";
    const char *status = NULL, *adv = NULL, *qe_status = NULL, *fmspc = NULL, *ca = NULL,
               *comps = NULL;
    const char *pcesvn = NULL, *qe_svn = NULL, *faults = NULL, *pki_from = NULL, *at = NULL;
    bool no_match = false;
    char *pos[1];
    size_t npos;
    const struct cli_opt opts[] = {
        {"--tcb-status", true, &status, NULL},
        {"--advisories", true, &adv, NULL},
        {"--qe-tcb-status", true, &qe_status, NULL},
        {"--no-matching-tcb", false, NULL, &no_match},
        {"--fmspc", true, &fmspc, NULL},
        {"--ca", true, &ca, NULL},
        {"--tcb-components", true, &comps, NULL},
        {"--pcesvn", true, &pcesvn, NULL},
        {"--qe-isvsvn", true, &qe_svn, NULL},
        {"--fault", true, &faults, NULL},
        {"--pki-from", true, &pki_from, NULL},
        {"--at", true, &at, NULL},
    };
    int rc = cli_parse(argc, argv, opts, QY_ARRAY_LEN(opts), pos, 1, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error(usage, "expected the testkit directory");
    struct att_testkit_options o;
    att_testkit_options_init(&o);
    unsigned long v = 0;
    if (status != NULL && att_tcb_status_parse(status, &o.tcb_status) < 0)
        return cli_usage_error(usage, "--tcb-status: %s", err_detail(ERR_RANGE));
    if (qe_status != NULL && att_tcb_status_parse(qe_status, &o.qe_tcb_status) < 0)
        return cli_usage_error(usage, "--qe-tcb-status: %s", err_detail(ERR_RANGE));
    o.tcb_no_match = no_match;
    if (fmspc != NULL && enc_hex_decode_fixed(o.fmspc, 6, view_str(fmspc)) < 0)
        return cli_usage_error(usage, "--fmspc must be 12 hex digits");
    if (ca != NULL && strcmp(ca, "processor") != 0 && strcmp(ca, "platform") != 0)
        return cli_usage_error(usage, "--ca must be processor or platform");
    o.ca = ca != NULL && strcmp(ca, "platform") == 0 ? ATT_PCK_CA_PLATFORM : ATT_PCK_CA_PROCESSOR;
    if (comps != NULL) {
        char copy[256], *parts[17];
        snprintf(copy, sizeof(copy), "%s", comps);
        size_t n = split(copy, parts, 17);
        if (n != 16)
            return cli_usage_error(usage, "--tcb-components needs 16 numbers");
        for (size_t i = 0; i < 16; i++) {
            if ((rc = parse_uint(usage, "a TCB component", parts[i], 255, &v)) != CLI_OK)
                return rc;
            o.tcb_components[i] = (uint8_t)v;
        }
    }
    if (pcesvn != NULL) {
        if ((rc = parse_uint(usage, "--pcesvn", pcesvn, 65535, &v)) != CLI_OK)
            return rc;
        o.pcesvn = (uint16_t)v;
    }
    if (qe_svn != NULL) {
        if ((rc = parse_uint(usage, "--qe-isvsvn", qe_svn, 65534, &v)) != CLI_OK)
            return rc;
        o.qe_isvsvn = (uint16_t)v;
    }
    if (faults != NULL && (rc = parse_faults(usage, faults, &o.faults)) != CLI_OK)
        return rc;
    char adv_copy[1024], *adv_ids[QY_ATT_ADVISORIES_MAX];
    if (adv != NULL) {
        snprintf(adv_copy, sizeof(adv_copy), "%s", adv);
        o.advisory_count = split(adv_copy, adv_ids, QY_ATT_ADVISORIES_MAX);
        o.advisories = (const char *const *)adv_ids;
    }
    o.pki_from = pki_from;
    if (at != NULL && qtime_parse_rfc3339(at, &o.now) < 0)
        return cli_usage_error(usage, "--at: %s", err_detail(ERR_SYNTAX));
    int r = att_testkit_init(pos[0], &o);
    if (r < 0) {
        fprintf(stderr, "quarry: %s\n", err_detail(r));
        return CLI_USAGE;
    }
    fprintf(stderr,
            "quarry: emulated Intel PKI written to %s (INSECURE, TEST ONLY); trust it with "
            "--insecure-extra-root %s/root_ca.pem\n",
            pos[0], pos[0]);
    return CLI_OK;
}

static int cmd_quote(int argc, char **argv)
{
    static const char usage[] =
        "quarry testkit quote DIR [--mrenclave HEX] [--mrsigner HEX] [--isvprodid N] "
        "[--isvsvn N] [--debug] [--report-data HEX] [--fault F,...] -o FILE";
    const char *mre = NULL, *mrs = NULL, *prod = NULL, *svn = NULL, *rd = NULL, *faults = NULL,
               *out = NULL;
    bool debug = false;
    char *pos[1];
    size_t npos;
    const struct cli_opt opts[] = {
        {"--mrenclave", true, &mre, NULL},  {"--mrsigner", true, &mrs, NULL},
        {"--isvprodid", true, &prod, NULL}, {"--isvsvn", true, &svn, NULL},
        {"--debug", false, NULL, &debug},   {"--report-data", true, &rd, NULL},
        {"--fault", true, &faults, NULL},   {"--out", true, &out, NULL},
        {"-o", true, &out, NULL},
    };
    int rc = cli_parse(argc, argv, opts, QY_ARRAY_LEN(opts), pos, 1, &npos, usage);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1 || out == NULL)
        return cli_usage_error(usage, "expected the testkit directory and -o FILE");
    struct att_testkit *tk = NULL;
    int r = att_testkit_open(pos[0], &tk);
    if (r < 0) {
        fprintf(stderr, "quarry: %s\n", err_detail(r));
        return CLI_USAGE;
    }
    struct att_testkit_quote_params p;
    rc = att_testkit_default_identity(tk, &p) == 0 ? CLI_OK : CLI_USAGE;
    unsigned long v = 0;
    struct buf rdata = BUF_INIT, q = BUF_INIT;
    if (rc == CLI_OK && mre != NULL && enc_hex_decode_fixed(p.mrenclave, 32, view_str(mre)) < 0)
        rc = cli_usage_error(usage, "--mrenclave must be 64 hex digits");
    if (rc == CLI_OK && mrs != NULL && enc_hex_decode_fixed(p.mrsigner, 32, view_str(mrs)) < 0)
        rc = cli_usage_error(usage, "--mrsigner must be 64 hex digits");
    if (rc == CLI_OK && prod != NULL &&
        (rc = parse_uint(usage, "--isvprodid", prod, 65535, &v)) == CLI_OK)
        p.isvprodid = (uint16_t)v;
    if (rc == CLI_OK && svn != NULL &&
        (rc = parse_uint(usage, "--isvsvn", svn, 65535, &v)) == CLI_OK)
        p.isvsvn = (uint16_t)v;
    if (rc == CLI_OK && rd != NULL && (enc_hex_decode(&rdata, view_str(rd)) < 0 || rdata.size > 64))
        rc = cli_usage_error(usage, "--report-data must be at most 64 bytes of hex");
    if (rc == CLI_OK && rdata.size > 0)
        memcpy(p.report_data, rdata.ptr, rdata.size);
    if (debug)
        p.debug = true;
    if (rc == CLI_OK && faults != NULL)
        rc = parse_faults(usage, faults, &p.faults);
    if (rc == CLI_OK) {
        r = att_testkit_quote(tk, &p, &q);
        if (r == 0)
            r = file_write_atomic(out, buf_view(&q), 0644);
        if (r < 0) {
            fprintf(stderr, "quarry: %s\n", err_detail(r));
            rc = CLI_USAGE;
        }
    }
    buf_free(&rdata);
    buf_free(&q);
    att_testkit_free(tk);
    return rc;
}

static const struct cli_cmd testkit_commands[] = {
    {"init", cmd_init, "init DIR [knobs...]",
     "create an emulated Intel PKI and collateral in DIR (TEST ONLY)"},
    {"quote", cmd_quote, "quote DIR --mrenclave HEX ... -o FILE",
     "sign an SGX v3 quote with the kit in DIR"},
};

int cli_testkit(int argc, char **argv)
{
    return cli_dispatch(testkit_commands, QY_ARRAY_LEN(testkit_commands), "quarry testkit", argc,
                        argv);
}
