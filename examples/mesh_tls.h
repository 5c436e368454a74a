/*
 * What both sample marbles need: a TLS 1.3 context with this marble's certificate and key from the
 * files its manifest renders (DIR/tls/cert.pem, DIR/tls/key.pem), trusting only the mesh's marble
 * root (DIR/tls/ca.pem, `{{ pem .MarbleRun.RootCA.Cert }}`), and requiring the peer's certificate
 * to carry a given marble type in MarbleRun's extension 1.3.9903.2.1. Sample code: OpenSSL
 * directly.
 */
#ifndef QUARRY_EXAMPLES_MESH_TLS_H
#define QUARRY_EXAMPLES_MESH_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

/* A context for a server (client certificates required) or a client, or NULL after printing why.
 * The peer must present a certificate of the mesh with marble type `peer_type` (static string). */
SSL_CTX *mesh_tls_ctx(bool server, const char *dir, const char *peer_type);
/* The certificate's common name (a marble's UUID) into out. */
void mesh_cert_cn(X509 *x, char *out, size_t size);
/* The first 16 hex digits of SHA-256(data): a fingerprint that shows a secret without showing it.
 */
void mesh_fingerprint(const void *data, size_t size, char out[17]);
/* Reads one line (without its newline) from ssl; false on error or end. */
bool mesh_read_line(SSL *ssl, char *out, size_t size);
/* The OpenSSL error queue, or the peer verification error, as one line (for refusals). */
const char *mesh_tls_error(SSL *ssl, char *out, size_t size);
/* Reads a small file whole into out (NUL-terminated); false after printing why. */
bool mesh_read_file(const char *path, char *out, size_t size);

#endif
