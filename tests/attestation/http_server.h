/* A small HTTP/1.1 server for tests (no python needed): 127.0.0.1 on a free port, a thread per
 * connection, canned answers chosen by path and query, hit counters, optional delays; plain or
 * over TLS with a given certificate. A PCCS stand-in that can be slow, down, failing or serving
 * garbage: routes are read at each request, so a test may change one between requests. */
#ifndef QUARRY_TEST_HTTP_SERVER_H
#define QUARRY_TEST_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct ths_route {
    const char *path;  /* exact path */
    const char *query; /* a substring the query must contain, or NULL */
    int status;
    struct view body;
    const char *header; /* an extra header name, or NULL */
    struct view header_value;
    int delay_ms; /* before answering */
};

struct ths;
struct crypto_key;
/* Serves `routes` (borrowed: they must outlive the server); unknown paths get 404. */
int ths_start(const struct ths_route *routes, size_t count, struct ths **out);
/* The same over TLS with the certificate `cert_der` and its key (borrowed for the call). */
int ths_start_tls(const struct ths_route *routes, size_t count, struct view cert_der,
                  struct crypto_key *key, struct ths **out);
uint16_t ths_port(const struct ths *s);
size_t ths_hits(const struct ths *s, size_t route);
/* Stops accepting, waits for connections in flight, frees. */
void ths_stop(struct ths *s);

#endif
