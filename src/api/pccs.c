/*
 * Collateral from a PCCS or Intel PCS (API v4, reference/dcap.md §7.1), as an attestation
 * collateral source. This file only speaks HTTP: it maps a request to a URL, checks the status, and
 * URL-decodes the issuer chain from its header. Parsing and verifying what comes back, and caching
 * it, is the verifier's business.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "attestation/attestation.h"

struct pccs {
    char *base;
    char *root_ca_crl_url;
    char *ca_file;
    bool insecure;
    long timeout_ms, deadline_ms;
    int retries;
};

static int hexval(uint8_t c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decoding of a header value ("-----BEGIN%20CERTIFICATE-----%0A..."). */
static int url_decode(struct view in, struct buf *out)
{
    for (size_t i = 0; i < in.size; i++) {
        uint8_t c = in.ptr[i];
        if (c == '%') {
            int hi = i + 2 < in.size ? hexval(in.ptr[i + 1]) : -1,
                lo = i + 2 < in.size ? hexval(in.ptr[i + 2]) : -1;
            ENSURE(hi >= 0 && lo >= 0, ERR_ENCODING, "invalid percent-encoding at offset %zu", i);
            c = (uint8_t)(hi << 4 | lo);
            i += 2;
        }
        TRY(buf_append_byte(out, c));
    }
    return 0;
}

static int pccs_fetch(void *ctx, const struct att_collateral_request *req,
                      struct att_collateral_item *out)
{
    struct pccs *p = ctx;
    char url[QY_PATH_MAX];
    const char *tee = req->tee_type == ATT_TEE_TDX ? "tdx" : "sgx";
    static const char *const tcb_chain[] = {"TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"};
    static const char *const qe_chain[] = {"SGX-Enclave-Identity-Issuer-Chain"};
    static const char *const crl_chain[] = {"SGX-PCK-CRL-Issuer-Chain"};
    struct api_http_get get = {.url = url,
                               .ca_file = p->ca_file,
                               .insecure_skip_tls_verify = p->insecure,
                               .timeout_ms = p->timeout_ms,
                               .deadline_ms = p->deadline_ms,
                               .retries = p->retries};
    int n;
    switch (req->kind) {
    case ATT_COLLATERAL_TCB_INFO:
        n = snprintf(url, sizeof(url), "%s/%s/certification/v4/tcb?fmspc=%02X%02X%02X%02X%02X%02X",
                     p->base, tee, req->fmspc[0], req->fmspc[1], req->fmspc[2], req->fmspc[3],
                     req->fmspc[4], req->fmspc[5]);
        get.capture = tcb_chain;
        get.capture_count = 2;
        break;
    case ATT_COLLATERAL_QE_IDENTITY:
        n = snprintf(url, sizeof(url), "%s/%s/certification/v4/qe/identity", p->base, tee);
        get.capture = qe_chain;
        get.capture_count = 1;
        break;
    case ATT_COLLATERAL_PCK_CRL:
        n = snprintf(url, sizeof(url), "%s/sgx/certification/v4/pckcrl?ca=%s&encoding=der", p->base,
                     req->ca == ATT_PCK_CA_PLATFORM ? "platform" : "processor");
        get.capture = crl_chain;
        get.capture_count = 1;
        break;
    case ATT_COLLATERAL_ROOT_CA_CRL:
        n = p->root_ca_crl_url
                ? snprintf(url, sizeof(url), "%s", p->root_ca_crl_url)
                : snprintf(url, sizeof(url), "%s/sgx/certification/v4/rootcacrl", p->base);
        break;
    default:
        FAIL(ERR_INVALID_ARG, "unknown collateral kind %d", (int)req->kind);
    }
    ENSURE(n > 0 && (size_t)n < sizeof(url), ERR_TOO_LARGE, "collateral URL too long");

    struct api_http_result res;
    TRY(api_http_get(&get, &res));
    int r = 0;
    if (res.status == 404)
        r = err_fail(ERR_NOT_FOUND, __func__, "%s: 404 Not Found", url);
    else if (res.status != 200)
        r = err_fail(ERR_UNAVAILABLE, __func__, "%s: HTTP status %ld", url, res.status);
    if (r == 0)
        r = buf_set(&out->body, buf_view(&res.body));
    for (size_t i = 0; r == 0 && i < get.capture_count; i++)
        if (res.headers[i].size > 0) {
            r = url_decode(buf_view(&res.headers[i]), &out->issuer_chain);
            break;
        }
    api_http_result_free(&res);
    return r;
}

static void pccs_free(void *ctx)
{
    struct pccs *p = ctx;
    if (p == NULL)
        return;
    free(p->base);
    free(p->root_ca_crl_url);
    free(p->ca_file);
    free(p);
}

static const struct att_collateral_ops pccs_ops = {pccs_fetch, pccs_free, true};

int api_pccs_source_new(const struct api_pccs_config *cfg, struct att_collateral_source **out)
{
    *out = NULL;
    ENSURE(cfg->base_url != NULL && (strncmp(cfg->base_url, "https://", 8) == 0 ||
                                     strncmp(cfg->base_url, "http://", 7) == 0),
           ERR_INVALID_ARG, "the PCCS URL must start with https:// or http://");
    struct pccs *p = calloc(1, sizeof(*p));
    ENSURE(p != NULL, ERR_NOMEM, "out of memory");
    p->base = strdup(cfg->base_url);
    size_t len = p->base ? strlen(p->base) : 0;
    while (len > 0 && p->base[len - 1] == '/')
        p->base[--len] = '\0'; /* "https://pccs/" and "https://pccs" alike */
    p->root_ca_crl_url = cfg->root_ca_crl_url ? strdup(cfg->root_ca_crl_url) : NULL;
    p->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
    p->insecure = cfg->insecure_skip_tls_verify;
    p->timeout_ms = cfg->timeout_ms;
    p->deadline_ms = cfg->deadline_ms;
    p->retries = cfg->retries;
    if (p->base == NULL || (cfg->root_ca_crl_url && !p->root_ca_crl_url) ||
        (cfg->ca_file && !p->ca_file)) {
        pccs_free(p);
        FAIL(ERR_NOMEM, "out of memory");
    }
    char name[QY_PATH_MAX + 8];
    snprintf(name, sizeof(name), "PCCS %s", p->base);
    return att_collateral_source_new(name, &pccs_ops, p, out);
}
