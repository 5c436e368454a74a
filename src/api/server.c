/*
 * The HTTP(S) server: N event loops sharing one listening socket (each through its own descriptor
 * of it), evhttp on top of bufferevent_openssl; conns.c admits the connections. See api.h for the
 * contract.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <sys/queue.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "api_int.h"
#include "conns_int.h"
#include "crypto/crypto.h"

struct loop {
    struct api_server *srv;
    struct event_base *base;
    struct evhttp *http;
    struct api_conns *conns;
    struct event *wake; /* made active by api_server_stop: breaks the loop from inside */
    pthread_t thread;
    bool started;
};

struct api_server {
    struct api_server_config cfg;
    char name[32];
    uint16_t port;
    pthread_mutex_t ctx_lock;
    SSL_CTX *ssl_ctx; /* current identity; until one is set, a context without a certificate */
    struct loop *loops;
    int nloops;
    struct log_limit accept_log; /* one line per QY_ACCEPT_LOG_SECONDS */
};

struct api_request {
    struct evhttp_request *ev;
    struct evhttp_uri *uri;
    struct evkeyvalq query;
    bool query_ok;
    SSL *ssl;
    struct view body;
    X509 *leaf;          /* owned reference */
    struct buf leaf_der; /* computed on demand */
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static struct log_limit libevent_log = LOG_LIMIT_INIT(1, 60 / QY_ACCEPT_LOG_SECONDS);

/* libevent's own warnings can be caused from outside (a flood of bad connections): rate-limited. */
static void on_libevent_log(int severity, const char *msg)
{
    unsigned long long suppressed;
    unsigned since;
    if (severity >= EVENT_LOG_WARN && log_limit_take(&libevent_log, &suppressed, &since))
        log_warn("api", "libevent", LF_STR("message", msg), LF_UINT("suppressed", suppressed));
}

static void init_evthread(void)
{
    evthread_use_pthreads();
    event_set_log_callback(on_libevent_log);
}

/* Listening ------------------------------------------------------------------------------------ */

static int parse_addr(const char *addr, char *host, size_t host_size, char *port, size_t port_size)
{
    const char *colon = strrchr(addr, ':');
    ENSURE(colon != NULL, ERR_INVALID_ARG, "address \"%s\" needs a port (host:port or :port)", addr);
    size_t hl = (size_t)(colon - addr);
    ENSURE(hl < host_size && strlen(colon + 1) < port_size && colon[1] != '\0', ERR_INVALID_ARG,
           "bad address \"%s\"", addr);
    memcpy(host, addr, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* [::1]:4433 */
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    snprintf(port, port_size, "%s", colon + 1);
    return 0;
}

/* The one listening socket, with TCP_NODELAY (inherited by accepted sockets on Linux). Never
 * SO_REUSEPORT: a second process on the same address must fail, not take half the connections.
 * SO_REUSEADDR only lets a restarted Coordinator bind while old connections are in TIME_WAIT. */
static int listen_on(const char *addr, int *out_fd, uint16_t *out_port)
{
    char host[256], port[16];
    TRY(parse_addr(addr, host, sizeof(host), port, sizeof(port)));
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    ENSURE(gai == 0, ERR_INVALID_ARG, "cannot resolve \"%s\": %s", addr, gai_strerror(gai));
    int fd = -1, one = 1, r = ERR_IO;
    for (struct addrinfo *a = ai; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
            if (errno == EADDRINUSE)
                r = err_fail(ERR_IO, __func__, "cannot listen on %s: the address is in use (another Coordinator?)",
                             addr);
            else
                r = err_fail(ERR_IO, __func__, "cannot listen on %s: %s", addr, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return r;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *out_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *out_fd = fd;
    return 0;
}

/* TLS ------------------------------------------------------------------------------------------- */

/* A server that requires client certificates is the mesh: one activation per connection, from
 * clients that never resume, so TLS 1.3 session tickets would be made for nothing - and making the
 * two default ones costs about 40% of the server's handshake. */
static int server_ctx(const struct api_server *s, const struct view *chain, size_t chain_len,
                      struct crypto_key *key, SSL_CTX **out)
{
    TRY(api_tls_server_ctx(chain, chain_len, key, s->cfg.client_auth, out));
    if (s->cfg.client_auth == API_CLIENT_CERT_REQUIRE)
        SSL_CTX_set_num_tickets(*out, 0);
    return 0;
}

/* Each connection takes a reference to the identity current when it arrives. Never returns NULL
 * for a TLS server: evhttp would then serve the connection in the clear. Out of memory, it returns a
 * bufferevent whose handshake cannot succeed. */
static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    struct loop *l = arg;
    struct api_server *s = l->srv;
    struct api_conn *conn = api_conns_accepted(l->conns);
    struct bufferevent *bev = NULL;
    if (!s->cfg.tls) { /* what evhttp would make; NULL: evhttp tries itself, untracked */
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        api_conn_attach(conn, bev);
        return bev;
    }
    pthread_mutex_lock(&s->ctx_lock);
    SSL *ssl = SSL_new(s->ssl_ctx);
    pthread_mutex_unlock(&s->ctx_lock);
    bev = ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                               BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
              : NULL;
    if (bev == NULL)
        abort(); /* cannot happen short of memory exhaustion; never fall back to plain HTTP */
    api_conn_attach(conn, bev);
    return bev;
}

int api_server_set_identity(struct api_server *s, const struct view *chain, size_t chain_len,
                            struct crypto_key *key)
{
    SSL_CTX *ctx = NULL;
    TRY(server_ctx(s, chain, chain_len, key, &ctx));
    pthread_mutex_lock(&s->ctx_lock);
    SSL_CTX *old = s->ssl_ctx;
    s->ssl_ctx = ctx;
    pthread_mutex_unlock(&s->ctx_lock);
    SSL_CTX_free(old);
    return 0;
}

/* Requests -------------------------------------------------------------------------------------- */

static void request_free(struct api_request *r)
{
    if (r->uri)
        evhttp_uri_free(r->uri);
    evhttp_clear_headers(&r->query);
    X509_free(r->leaf);
    buf_free(&r->leaf_der);
}

static void send_response(struct evhttp_request *ev, struct api_response *resp)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(ev);
    evhttp_add_header(h, "Content-Type", resp->content_type ? resp->content_type : "application/json");
    if (resp->nosniff)
        evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    struct evbuffer *out = evbuffer_new();
    if (out != NULL && resp->body.size > 0)
        evbuffer_add(out, resp->body.ptr, resp->body.size);
    evhttp_send_reply(ev, resp->status ? resp->status : 500, NULL, out);
    if (out != NULL)
        evbuffer_free(out);
}

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_request(struct evhttp_request *ev, void *arg)
{
    struct loop *l = arg;
    struct api_server *s = l->srv;
    double started = monotonic_seconds();
    api_conns_request(l->conns, ev);
    struct api_request r = {.ev = ev};
    struct api_response resp = {0, NULL, false, BUF_INIT, NULL};
    r.query.tqh_first = NULL;
    r.query.tqh_last = &r.query.tqh_first;
    struct evhttp_connection *conn = evhttp_request_get_connection(ev);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    if (s->cfg.tls && bev != NULL) {
        r.ssl = bufferevent_openssl_get_ssl(bev);
        if (r.ssl != NULL)
            r.leaf = SSL_get1_peer_certificate(r.ssl);
    }
    r.uri = evhttp_uri_parse(evhttp_request_get_uri(ev));
    const char *q = r.uri ? evhttp_uri_get_query(r.uri) : NULL;
    r.query_ok = r.uri != NULL && (q == NULL || evhttp_parse_query_str(q, &r.query) == 0);
    struct evbuffer *in = evhttp_request_get_input_buffer(ev);
    size_t len = evbuffer_get_length(in);
    r.body = view_of(len ? evbuffer_pullup(in, -1) : NULL, len);
    if (r.uri == NULL)
        api_jsend_fail(&resp, 400, NULL, "malformed request target");
    else if (len > s->cfg.max_body)
        api_jsend_fail(&resp, 413, NULL, "request body is %zu bytes, the limit is %zu", len, s->cfg.max_body);
    else
        s->cfg.handler(s->cfg.ctx, &r, &resp);
    send_response(ev, &resp);
    api_metrics_request(s->name, resp.route, resp.status ? resp.status : 500, monotonic_seconds() - started);
    buf_free(&resp.body);
    request_free(&r);
}

enum api_method api_req_method(const struct api_request *r)
{
    switch (evhttp_request_get_command(r->ev)) {
    case EVHTTP_REQ_GET:
        return API_GET;
    case EVHTTP_REQ_POST:
        return API_POST;
    default:
        return API_OTHER;
    }
}

const char *api_req_path(const struct api_request *r)
{
    const char *p = r->uri ? evhttp_uri_get_path(r->uri) : NULL;
    return p ? p : "";
}

const char *api_req_query(const struct api_request *r, const char *name, size_t index)
{
    for (struct evkeyval *kv = r->query.tqh_first; kv != NULL; kv = kv->next.tqe_next)
        if (strcmp(kv->key, name) == 0 && index-- == 0)
            return kv->value;
    return NULL;
}

bool api_req_query_ok(const struct api_request *r)
{
    return r->query_ok;
}

struct view api_req_body(const struct api_request *r)
{
    return r->body;
}

struct view api_req_peer_leaf(const struct api_request *r)
{
    struct api_request *m = (struct api_request *)r; /* the DER is a cache */
    if (m->leaf != NULL && m->leaf_der.size == 0) {
        unsigned char *der = NULL;
        int len = i2d_X509(m->leaf, &der);
        if (len > 0 && buf_append(&m->leaf_der, der, (size_t)len) < 0)
            buf_free(&m->leaf_der);
        OPENSSL_free(der);
    }
    return buf_view(&m->leaf_der);
}

int api_req_peer_spki(const struct api_request *r, struct buf *out)
{
    X509_PUBKEY *pk = r->leaf ? X509_get_X509_PUBKEY(r->leaf) : NULL;
    ENSURE(pk != NULL, ERR_AUTH, "couldn't get marble TLS certificate");
    unsigned char *der = NULL;
    int len = i2d_X509_PUBKEY(pk, &der);
    ENSURE(len > 0, ERR_BAD_REQUEST, "the client certificate's key does not encode");
    int rr = buf_append(out, der, (size_t)len);
    OPENSSL_free(der);
    return rr;
}

struct crypto_key *api_req_peer_key(const struct api_request *r)
{
    EVP_PKEY *pk = r->leaf ? X509_get0_pubkey(r->leaf) : NULL;
    struct crypto_key *k = NULL;
    if (pk == NULL || crypto_key_wrap_evp(pk, &k) < 0)
        (void)crypto_last_error(); /* the CSR's key is then decoded from its bytes */
    return k;
}

int api_req_tls_exporter(const struct api_request *r, const char *label, uint8_t *out, size_t size)
{
    ENSURE(r->ssl != NULL, ERR_WRONG_STATE, "not a TLS connection");
    ENSURE(SSL_export_keying_material(r->ssl, out, size, label, strlen(label), NULL, 0, 0) == 1, ERR_CRYPTO,
           "TLS exporter failed");
    return 0;
}

/* Threads --------------------------------------------------------------------------------------- */

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    api_conns_enter(l->conns);
    event_base_dispatch(l->base);
    return NULL;
}

/* event_base_loopbreak() from another thread is lost when it comes before the loop thread entered
 * event_base_loop() (which clears the flag); an activated event stays pending until the loop runs. */
static void on_wake(evutil_socket_t fd, short what, void *base)
{
    (void)fd, (void)what;
    event_base_loopbreak(base);
}

/* Takes `fd`: it is closed with the loop, or here on failure. */
static int loop_init(struct api_server *s, struct loop *l, int fd, size_t cap)
{
    l->srv = s;
    l->base = event_base_new();
    l->http = l->base ? evhttp_new(l->base) : NULL;
    l->wake = l->http ? event_new(l->base, -1, 0, on_wake, l->base) : NULL;
    if (l->wake == NULL)
        close(fd);
    ENSURE(l->wake != NULL, ERR_NOMEM, "cannot create an event loop");
    evhttp_set_gencb(l->http, on_request, l);
    evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_HEAD | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    /* evhttp cuts off bodies far above our limit; the exact limit is answered in JSend above */
    evhttp_set_max_body_size(l->http, (ev_ssize_t)(s->cfg.max_body + 64 * 1024));
    evhttp_set_max_headers_size(l->http, 16 * 1024);
    evhttp_set_timeout(l->http, s->cfg.timeout_seconds);
    evhttp_set_bevcb(l->http, make_bev, l);
    struct api_conns_config cc = {s->name, cap, s->cfg.request_timeout_seconds, &s->accept_log};
    return api_conns_new(l->base, l->http, fd, &cc, &l->conns);
}

/* Defaults for what the caller left 0, and the checks of the rest. */
static int server_config(struct api_server *s, const struct api_server_config *cfg)
{
    s->cfg = *cfg;
    snprintf(s->name, sizeof(s->name), "%s", cfg->name ? cfg->name : "server");
    s->cfg.name = s->name;
    s->cfg.addr = NULL; /* not kept */
    if (s->cfg.timeout_seconds <= 0)
        s->cfg.timeout_seconds = QY_IDLE_TIMEOUT_SECONDS;
    if (s->cfg.request_timeout_seconds <= 0)
        s->cfg.request_timeout_seconds = QY_REQUEST_TIMEOUT_SECONDS;
    if (s->cfg.max_connections == 0)
        s->cfg.max_connections = QY_SERVER_CONNECTIONS_DEFAULT;
    s->nloops = cfg->threads > 0 ? cfg->threads : 1;
    ENSURE(s->cfg.max_connections >= (size_t)s->nloops && s->cfg.max_connections <= QY_SERVER_CONNECTIONS_MAX,
           ERR_RANGE, "the %s server's connection cap is %zu; it needs at least one per thread (%d) and at most %u",
           s->name, s->cfg.max_connections, s->nloops, QY_SERVER_CONNECTIONS_MAX);
    ENSURE(s->cfg.request_timeout_seconds <= QY_REQUEST_TIMEOUT_MAX, ERR_RANGE,
           "a request timeout of %d s is above the limit of %u s", s->cfg.request_timeout_seconds,
           QY_REQUEST_TIMEOUT_MAX);
    return 0;
}

/* One listening socket; every loop accepts on a descriptor of its own for it. */
static int start_loops(struct api_server *s, const char *addr)
{
    int fd = -1;
    TRY(listen_on(addr, &fd, &s->port));
    for (int i = 0; i < s->nloops; i++) {
        int lfd = i + 1 == s->nloops ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (lfd < 0) {
            close(fd);
            FAIL(ERR_IO, "cannot share the listening socket: %s", strerror(errno));
        }
        int r = loop_init(s, &s->loops[i], lfd, s->cfg.max_connections / (size_t)s->nloops);
        if (r < 0) {
            if (lfd != fd)
                close(fd);
            return r;
        }
    }
    return 0;
}

int api_server_start(const struct api_server_config *cfg, struct api_server **out)
{
    int r = ERR_INTERNAL;
    *out = NULL;
    pthread_once(&evthread_once, init_evthread);
    struct api_server *s = calloc(1, sizeof(*s));
    ENSURE(s != NULL, ERR_NOMEM, "cannot allocate a server");
    pthread_mutex_init(&s->ctx_lock, NULL);
    s->accept_log = (struct log_limit)LOG_LIMIT_INIT(1, 60 / QY_ACCEPT_LOG_SECONDS);
    pthread_mutex_init(&s->accept_log.lock, NULL);
    TRY_OUT(server_config(s, cfg));
    if (cfg->tls)
        TRY_OUT(server_ctx(s, NULL, 0, NULL, &s->ssl_ctx));
    s->loops = calloc((size_t)s->nloops, sizeof(*s->loops));
    ENSURE_OUT(s->loops != NULL, ERR_NOMEM, "cannot allocate event loops");
    TRY_OUT(start_loops(s, cfg->addr));
    for (int i = 0; i < s->nloops; i++) {
        ENSURE_OUT(pthread_create(&s->loops[i].thread, NULL, loop_main, &s->loops[i]) == 0, ERR_IO,
                   "cannot start a server thread");
        s->loops[i].started = true;
    }
    *out = s;
    s = NULL;
    r = 0;
out:
    api_server_stop(s);
    return r;
}

uint16_t api_server_port(const struct api_server *s)
{
    return s->port;
}

void api_server_stop(struct api_server *s)
{
    if (s == NULL)
        return;
    for (int i = 0; s->loops && i < s->nloops; i++)
        if (s->loops[i].started)
            event_active(s->loops[i].wake, 0, 0);
    for (int i = 0; s->loops && i < s->nloops; i++) {
        struct loop *l = &s->loops[i];
        if (l->started)
            pthread_join(l->thread, NULL);
        api_conns_unbind(l->conns);
        if (l->http)
            evhttp_free(l->http);
        /* connections still open free their TLS bufferevents through deferred callbacks and
         * finalizers: run them here (the loop's thread is gone), or they would leak */
        for (int k = 0; l->base && k < 4; k++)
            event_base_loop(l->base, EVLOOP_NONBLOCK);
        api_conns_free(l->conns);
        if (l->wake)
            event_free(l->wake);
        if (l->base)
            event_base_free(l->base);
    }
    free(s->loops);
    SSL_CTX_free(s->ssl_ctx);
    pthread_mutex_destroy(&s->ctx_lock);
    pthread_mutex_destroy(&s->accept_log.lock);
    free(s);
}
