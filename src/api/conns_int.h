/*
 * Private to api/: connection admission for the HTTP servers (conns.c), used by server.c.
 *
 * One `struct api_conns` per event loop: the loop's listener (its own descriptor of the server's
 * one listening socket), its share of the server's connection cap, and the records of its
 * connections. Everything runs on the loop's thread, except api_conns_new and api_conns_free, which
 * run before the thread starts and after it ended. See api.h (Servers) for the policy.
 */
#ifndef QUARRY_API_CONNS_INT_H
#define QUARRY_API_CONNS_INT_H

#include <event2/bufferevent.h>
#include <event2/http.h>
#include <pthread.h>

#include "api.h"

struct api_conns_config {
    const char *name;            /* the server's, for logs (borrowed, outlives the conns) */
    size_t cap;                  /* this loop's share of the server's cap, >= 1 */
    int request_timeout_seconds; /* from accept or the last response to a complete request */
    struct log_limit *log;       /* accept errors; borrowed, shared by the server's loops */
};

struct api_conns;
struct api_conn;

/* Makes the loop's listener on `fd` (taken: closed with the evhttp or on failure) and binds it to
 * `http`. The result is owned; free it with api_conns_free after evhttp_free(http) and after the
 * loop's finalizers ran. */
int api_conns_new(struct event_base *base, struct evhttp *http, int fd,
                  const struct api_conns_config *cfg, struct api_conns **out) QY_MUST_USE;
void api_conns_free(struct api_conns *c);
/* evhttp_free is about to free the listener (and then, closing every connection, to call us). */
void api_conns_unbind(struct api_conns *c);
/* Makes `c` the loop of the calling thread (its accept-error callback finds it so). */
void api_conns_enter(struct api_conns *c);

/* A connection was accepted (from evhttp's bufferevent callback, before its descriptor is set):
 * records it, evicts the oldest connection without a request in progress when over the cap, and
 * accepts no more in this loop iteration. Returns the record (owned by `c`), or NULL out of memory
 * (the connection is then served untracked). */
struct api_conn *api_conns_accepted(struct api_conns *c);
/* The bufferevent made for it (borrowed; NULL when none could be made: the record goes). From
 * then on the record follows evhttp's connection and goes when it closes. NULL-safe. */
void api_conn_attach(struct api_conn *conn, struct bufferevent *bev);
/* A complete request arrived on `req`'s connection: it is busy, out of reach of eviction and the
 * request deadline, until its response has been sent. */
void api_conns_request(struct api_conns *c, struct evhttp_request *req);

#endif
