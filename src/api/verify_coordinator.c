/*
 * Verifying a Coordinator before trusting it, for the CLI and for quarry-premain: GET
 * /api/v2/quote?nonce=N on its client API (TLS not verified: nothing is trusted yet), then the quote
 * verified with DCAP, its report data checked to be SHA-256(root certificate DER || nonce) - the
 * Coordinator's make_quote - and MarbleRun's package rules applied with att_policy_check, exactly as
 * the Coordinator applies them to marbles. Only then is the root certificate returned, re-encoded
 * from the DER the quote covers, so nothing the server sent besides it is ever trusted.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "attestation/attestation.h"
#include "crypto/crypto.h"

int api_verifier_new(const struct api_verifier_spec *s, struct att_verifier **out)
{
    struct att_verifier_config vc;
    struct buf root = BUF_INIT;
    struct view roots[1];
    *out = NULL;
    memset(&vc, 0, sizeof(vc));
    if (s->pccs_url != NULL) {
        struct api_pccs_config pc = {.base_url = s->pccs_url};
        TRY(api_pccs_source_new(&pc, &vc.collateral));
    } else {
        ENSURE(s->collateral_dir != NULL, ERR_INVALID_ARG, "verifying a quote needs collateral: a directory or a PCCS URL");
        TRY(att_collateral_dir_new(s->collateral_dir, &vc.collateral));
    }
    if (s->insecure_extra_root_file != NULL) {
        int r = file_read(s->insecure_extra_root_file, QY_PEM_MAX_SIZE, &root);
        if (r < 0) {
            att_collateral_source_free(vc.collateral);
            return r;
        }
        roots[0] = buf_view(&root);
        vc.insecure_extra_roots = roots;
        vc.insecure_extra_root_count = 1;
    }
    int r = att_verifier_new(&vc, out); /* consumes the collateral source */
    buf_free(&root);
    return r;
}

/* The last certificate of the PEM chain (the root), as DER. */
static int root_of_chain(const char *chain, struct buf *der)
{
    const char *last = NULL, *p = chain;
    while ((p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL)
        last = p++;
    ENSURE(last != NULL, ERR_ATTESTATION, "the Coordinator sent no certificate");
    return crypto_cert_pem_to_der(view_str(last), der);
}

static int check_quote(const struct api_attest_config *cfg, struct view quote, struct view root_der,
                       struct view nonce)
{
    struct att_result res;
    struct att_refusal why;
    ENSURE(quote.size > 0, ERR_ATTESTATION, "the Coordinator sent no quote (is it in simulation mode?)");
    TRY(att_verify(cfg->verifier, quote, qtime_now(), &res));
    ENSURE(res.verified, ERR_ATTESTATION, "the Coordinator's quote does not verify: %s: %s",
           att_step_name(res.failed_step), res.detail);
    uint8_t want[64] = {0};
    struct view parts[2] = {root_der, nonce};
    TRY(crypto_sha256(parts, 2, want));
    ENSURE(memcmp(want, res.report_data, 64) == 0, ERR_ATTESTATION,
           "the Coordinator's quote is not over its root certificate and our nonce");
    int r = att_policy_check(cfg->policy, &res, &why);
    ENSURE(r == 0, ERR_ATTESTATION, "the Coordinator does not meet the policy: %s", why.reason);
    return 0;
}

/* GET /api/v2/quote with a fresh nonce: the root (DER) and the quote from the answer. */
static int fetch_quote(const struct api_attest_config *cfg, struct view nonce, struct buf *root_der,
                       struct buf *quote)
{
    struct api_client *cl = NULL;
    struct buf body = BUF_INIT, nonce64 = BUF_INIT;
    json_t *j = NULL;
    long status = 0;
    int r = ERR_INTERNAL;
    struct api_client_config cc = {cfg->address, VIEW_EMPTY, true, VIEW_EMPTY, VIEW_EMPTY,
                                   cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000};
    TRY_OUT(api_client_new(&cc, &cl));
    TRY_OUT(enc_b64(&nonce64, nonce));
    for (size_t i = 0; i < nonce64.size; i++) /* URL-safe alphabet, as MarbleRun expects */
        nonce64.ptr[i] = nonce64.ptr[i] == '+' ? '-' : nonce64.ptr[i] == '/' ? '_' : nonce64.ptr[i];
    char target[128];
    snprintf(target, sizeof(target), "/api/v2/quote?nonce=%.*s", (int)nonce64.size, (const char *)nonce64.ptr);
    TRY_OUT(api_client_call(cl, API_GET, target, VIEW_EMPTY, &status, &body));
    ENSURE_OUT(status == 200, ERR_UNAVAILABLE, "the Coordinator answered %ld to /api/v2/quote", status);
    r = js_parse(buf_view(&body), QY_API_RESPONSE_MAX, &j);
    ENSURE_OUT(r == 0, ERR_ATTESTATION, "the Coordinator's quote answer is not JSON: %s", err_detail(r));
    json_t *data = json_object_get(j, "data"), *q = json_object_get(data, "quote");
    const char *chain = json_string_value(json_object_get(data, "cert"));
    ENSURE_OUT(chain != NULL, ERR_ATTESTATION, "the Coordinator's quote answer has no certificate");
    TRY_OUT(root_of_chain(chain, root_der));
    if (json_is_string(q))
        TRY_OUT(enc_b64_decode(quote, js_string_view(q)));
    r = 0;
out:
    api_client_free(cl);
    buf_free(&body), buf_free(&nonce64);
    json_decref(j);
    return r;
}

int api_attest_coordinator(const struct api_attest_config *cfg, struct buf *root_pem)
{
    struct buf der = BUF_INIT, quote = BUF_INIT;
    uint8_t nonce[32];
    int r = ERR_INTERNAL;
    ENSURE(cfg->insecure_skip_verify || (cfg->verifier != NULL && cfg->policy != NULL), ERR_INVALID_ARG,
           "verifying a Coordinator needs a verifier and a policy");
    TRY_OUT(crypto_random(nonce, sizeof(nonce)));
    TRY_OUT(fetch_quote(cfg, view_of(nonce, sizeof(nonce)), &der, &quote));
    if (!cfg->insecure_skip_verify)
        TRY_OUT(check_quote(cfg, buf_view(&quote), buf_view(&der), view_of(nonce, sizeof(nonce))));
    TRY_OUT(enc_pem(root_pem, "CERTIFICATE", buf_view(&der)));
    r = 0;
out:
    buf_free(&der), buf_free(&quote);
    return r;
}
