/* Private to api/. */
#ifndef QUARRY_API_INT_H
#define QUARRY_API_INT_H

#include <openssl/ssl.h>

#include "api.h"

/* A TLS 1.3 server context with `chain` (DER, leaf first) and `key`; with no chain, a context that
 * completes no handshake (used until an identity is set). */
int api_tls_server_ctx(const struct view *chain, size_t chain_len, struct crypto_key *key,
                       enum api_client_auth client_auth, SSL_CTX **out) QY_MUST_USE;

/* The SubjectPublicKeyInfo DER of the peer's certificate as the handshake parsed it (appended to
 * out); ERR_AUTH when the peer sent none. Re-encodes only the structure: no key is decoded, which
 * OpenSSL 3.0 makes cost more than an ECDSA verification. */
int api_req_peer_spki(const struct api_request *r, struct buf *out) QY_MUST_USE;
/* The client certificate's key as the handshake decoded it (an owned reference), or NULL. */
struct crypto_key *api_req_peer_key(const struct api_request *r);

/* Parsers of what arrives from outside, without the connection around them (the fuzz targets in
 * fuzz/api call them too) ----------------------------------------------------------------------- */

struct coord_activation_request;

/* The body of POST /api/v2/activate (mesh_api.c): marbleType and uuid into `ar` (borrowed from
 * *json, which the caller owns and json_decrefs even on failure; set as far as they parsed), csr and
 * quote decoded into the caller's buffers and viewed from ar. ERR_BAD_REQUEST, or js_parse's error. */
int api_mesh_parse_activation(struct view body, json_t **json, struct coord_activation_request *ar,
                              struct buf *csr, struct buf *quote) QY_MUST_USE;

/* The Coordinator's answer to an activation (activate.c), `resp` its parsed JSON body: a refusal
 * (status other than 200) as the error the retry loop understands, or the activation with `key`'s
 * private key (borrowed) in its holes, owned (api_activation_free). */
int api_activation_answer(const struct crypto_key *key, int status, const json_t *resp,
                          struct api_activation **out) QY_MUST_USE;

/* The client API's bodies (client_api.c), decoded as its handlers do before they call the
 * coordinator. A JSON object (owned; ERR_TYPE for other JSON); a base64 member found
 * case-insensitively (ERR_BAD_REQUEST; absent or null is fine unless required; the mesh API's
 * activation body uses it too); the nonce of GET /api/v2/quote, URL-safe base64 with
 * padding (ERR_ENCODING, ERR_TOO_LARGE); the {"name", "value"} of a monotonic counter, name
 * borrowed from `body` (ERR_BAD_REQUEST). */
int api_body_object(struct view body, json_t **out) QY_MUST_USE;
int api_b64_member(const json_t *obj, const char *name, bool required, struct buf *out) QY_MUST_USE;
int api_decode_nonce(const char *s, struct buf *out) QY_MUST_USE;
int api_counter_args(const json_t *body, struct view *name, uint64_t *value) QY_MUST_USE;

#endif
