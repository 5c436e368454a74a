/* TLS contexts for the servers: TLS 1.3 only; client certificates requested or required but never
 * chain-verified here - the client API matches users by exact certificate, the mesh API binds the
 * certificate's key to a quote. */
#include <openssl/err.h>
#include <openssl/x509.h>

#include "api_int.h"
#include "crypto/crypto.h"

/* Accept any client certificate: who it belongs to is decided by the application. */
static int accept_any(int preverify_ok, X509_STORE_CTX *ctx)
{
    (void)preverify_ok, (void)ctx;
    return 1;
}

static int add_chain(SSL_CTX *ctx, const struct view *chain, size_t chain_len)
{
    for (size_t i = 0; i < chain_len; i++) {
        const unsigned char *p = chain[i].ptr;
        X509 *x = d2i_X509(NULL, &p, (long)chain[i].size);
        ENSURE(x != NULL, ERR_CERT, "server certificate %zu does not parse", i);
        int ok = i == 0 ? SSL_CTX_use_certificate(ctx, x) : SSL_CTX_add1_chain_cert(ctx, x);
        X509_free(x);
        ENSURE(ok == 1, ERR_CRYPTO, "cannot install server certificate %zu: %s", i, crypto_last_error());
    }
    return 0;
}

int api_tls_server_ctx(const struct view *chain, size_t chain_len, struct crypto_key *key,
                       enum api_client_auth client_auth, SSL_CTX **out)
{
    int r = ERR_INTERNAL;
    *out = NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    ENSURE(ctx != NULL, ERR_CRYPTO, "cannot create a TLS context: %s", crypto_last_error());
    ENSURE_OUT(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1, ERR_CRYPTO, "cannot require TLS 1.3");
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (client_auth != API_CLIENT_CERT_NONE)
        SSL_CTX_set_verify(ctx,
                           SSL_VERIFY_PEER | (client_auth == API_CLIENT_CERT_REQUIRE ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           accept_any);
    if (chain_len > 0) {
        TRY_OUT(add_chain(ctx, chain, chain_len));
        ENSURE_OUT(SSL_CTX_use_PrivateKey(ctx, crypto_key_evp(key)) == 1 && SSL_CTX_check_private_key(ctx) == 1,
                   ERR_KEY, "the server key does not match its certificate: %s", crypto_last_error());
    }
    *out = ctx;
    ctx = NULL;
    r = 0;
out:
    SSL_CTX_free(ctx);
    return r;
}
