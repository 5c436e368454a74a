/* Private to api/. */
#ifndef QUARRY_API_INT_H
#define QUARRY_API_INT_H

#include <openssl/ssl.h>

#include "api.h"

/* A TLS 1.3 server context with `chain` (DER, leaf first) and `key`; with no chain, a context that
 * completes no handshake (used until an identity is set). */
int api_tls_server_ctx(const struct view *chain, size_t chain_len, struct crypto_key *key,
                       enum api_client_auth client_auth, SSL_CTX **out) QY_MUST_USE;

#endif
