/* The CLI's HTTPS client trusts a Coordinator root only for certificates the root issued itself. */
#include <criterion/criterion.h>

#include "api/api.h"
#include "crypto/crypto.h"
#include "pki/pki.h"
#include "qt.h"

static void ok(void *ctx, struct api_request *req, struct api_response *resp)
{
    (void)ctx, (void)req;
    api_jsend_success(resp, json_object());
}

/* Calls a server whose identity `signer` issued (with the intermediate in the chain, as an
 * impostor holding an intermediate-issued key would send it), trusting only the root. */
static int call_server_issued_by(enum pki_signer signer, long *status)
{
    struct pki_ca *ca = NULL;
    struct crypto_key *key = NULL;
    struct buf leaf = BUF_INIT, root_pem = BUF_INIT, out = BUF_INIT;
    cr_assert_eq(pki_ca_generate(NULL, &ca), 0);
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &key), 0);
    struct pki_server_options so = {"Quarry Coordinator client API", NULL, 0, 0, 0};
    cr_assert_eq(pki_issue_server_cert(ca, signer, key, &so, &leaf), 0);
    struct api_server_config cfg = {"test", "127.0.0.1:0", true, API_CLIENT_CERT_NONE, 1, 1024, 5, ok, NULL};
    struct api_server *s = NULL;
    cr_assert_eq(api_server_start(&cfg, &s), 0);
    struct view chain[2] = {buf_view(&leaf), pki_ca_intermediate_der(ca)};
    cr_assert_eq(api_server_set_identity(s, chain, 2, key), 0);
    cr_assert_eq(enc_pem(&root_pem, "CERTIFICATE", pki_ca_root_der(ca)), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "localhost:%u", api_server_port(s));
    struct api_client_config cc = {addr, buf_view(&root_pem), false, VIEW_EMPTY, VIEW_EMPTY, 5000};
    struct api_client *c = NULL;
    cr_assert_eq(api_client_new(&cc, &c), 0);
    int r = api_client_call(c, API_GET, "/api/v2/status", VIEW_EMPTY, status, &out);
    api_client_free(c);
    api_server_stop(s);
    buf_free(&out);
    buf_free(&root_pem);
    buf_free(&leaf);
    crypto_key_free(key);
    pki_ca_free(ca);
    return r;
}

Test(client, a_server_certificate_from_the_root_is_trusted)
{
    long status = 0;
    int r = call_server_issued_by(PKI_SIGNER_ROOT, &status);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    cr_assert_eq(status, 200);
}

/* Marble certificates and certificate secrets chain to the root through the intermediate, and
 * marbles and users hold their keys: none of them may pose as the Coordinator. */
Test(client, a_certificate_further_down_the_roots_chain_is_not_the_coordinator)
{
    long status = 0;
    int r = call_server_issued_by(PKI_SIGNER_INTERMEDIATE, &status);
    cr_assert_eq(r, ERR_NETWORK, "%s", err_name(r));
    cr_assert(strstr(err_detail(r), "SSL") != NULL || strstr(err_detail(r), "certificate") != NULL, "%s",
              err_detail(r));
}
