/*
 * Connection admission for the HTTP servers: a loop's share of the connection cap, eviction of
 * connections without a request in progress (oldest first), the whole-request deadline, and accept
 * errors that pause instead of spinning. See conns_int.h, and api.h (Servers) for the policy.
 *
 * A connection is PENDING from its accept until evhttp has made its connection object (later in
 * the same loop iteration: then it gets our close callback); WAITING (for a complete request:
 * handshake, headers, body) from then or from its last response; BUSY from the complete request
 * until its response is sent. Each state is a list; WAITING is in order of `since`, so the oldest
 * is at its head, for eviction and for the deadline alike. Evicting frees the evhttp connection
 * at once, from our own callbacks, never from one of that connection's: no request that arrives
 * later can reach a handler whose answer would then be lost.
 *
 * evhttp (2.1) tells nobody of a new connection. It makes the bufferevent through our callback,
 * before the connection object exists, and then sets the bufferevent's callbacks with that object
 * as their argument. So a PENDING record holds a reference to its bufferevent, and the resume event
 * reads the connection object from there; a bufferevent without callbacks is one evhttp already
 * freed (bufferevent_free clears them), whose connection never was.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conns_int.h"

enum conn_state { CONN_PENDING, CONN_WAITING, CONN_BUSY, CONN_STATES };

struct api_conn {
    struct api_conns *owner;
    struct bufferevent *bev;         /* NULL until attached; referenced while PENDING */
    struct evhttp_connection *evcon; /* from adoption on */
    double since; /* WAITING: accepted or last response sent, monotonic seconds */
    enum conn_state state;
    TAILQ_ENTRY(api_conn) link;
};

TAILQ_HEAD(conn_list, api_conn);

struct api_conns {
    struct api_conns_config cfg;
    struct evconnlistener *lev; /* owned by the evhttp once bound */
    struct event *resume;       /* adopts PENDING connections, re-enables accepting */
    struct event *unpause;      /* ends the pause after an accept error */
    struct event *sweep;        /* enforces the request deadline, every second */
    struct conn_list lists[CONN_STATES];
    size_t open; /* records: what counts against the cap */
    bool full;   /* over the cap with nothing to evict: not accepting */
    bool paused; /* after an accept error */
};

static _Thread_local struct api_conns *loop_conns;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void move_to(struct api_conn *conn, enum conn_state to)
{
    struct api_conns *c = conn->owner;
    TAILQ_REMOVE(&c->lists[conn->state], conn, link);
    conn->state = to;
    TAILQ_INSERT_TAIL(&c->lists[to], conn, link);
}

static void accept_more(struct api_conns *c)
{
    if (c->lev == NULL || c->paused || c->full || evconnlistener_enable(c->lev) == 0)
        return;
    /* the kernel would not watch the socket again (epoll limits, memory): retry after a pause
     * instead of never accepting on this loop again */
    struct timeval pause = {0, QY_ACCEPT_PAUSE_MS * 1000};
    c->paused = true;
    evtimer_add(c->unpause, &pause);
}

/* evhttp closes the connection (or freed it before we knew it): the record goes. */
static void conn_closed(struct api_conn *conn)
{
    struct api_conns *c = conn->owner;
    TAILQ_REMOVE(&c->lists[conn->state], conn, link);
    c->open--;
    if (c->full && c->open < c->cfg.cap) {
        c->full = false;
        accept_more(c);
    }
    free(conn);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    conn_closed(arg);
}

/* Closes a WAITING connection: the client sees it closed, as after evhttp's own timeouts. */
static void evict(struct api_conn *conn)
{
    struct evhttp_connection *evcon = conn->evcon;
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    conn_closed(conn);
    evhttp_connection_free(evcon);
}

static size_t evict_oldest(struct api_conns *c, size_t n)
{
    size_t done = 0;
    struct api_conn *conn;
    while (done < n && (conn = TAILQ_FIRST(&c->lists[CONN_WAITING])) != NULL) {
        evict(conn);
        done++;
    }
    return done;
}

/* A PENDING connection's evhttp connection gets our close callback, or, when evhttp freed it
 * already, the record goes. */
static void adopt(struct api_conn *conn)
{
    struct bufferevent *bev = conn->bev;
    bufferevent_event_cb eventcb = NULL;
    void *evcon = NULL;
    bufferevent_getcb(bev, NULL, NULL, &eventcb, &evcon);
    if (eventcb == NULL || evcon == NULL) {
        conn_closed(conn);
    } else {
        conn->evcon = evcon;
        evhttp_connection_set_closecb(evcon, on_close, conn);
        move_to(conn, CONN_WAITING);
    }
    bufferevent_decref(bev);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct api_conns *c = arg;
    struct api_conn *conn;
    while ((conn = TAILQ_FIRST(&c->lists[CONN_PENDING])) != NULL)
        adopt(conn);
    accept_more(c);
}

static void on_unpause(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct api_conns *c = arg;
    c->paused = false;
    accept_more(c);
}

/* Bytes the kernel holds for us that the loop has not read yet. */
static int unread(const struct api_conn *conn)
{
    int n = 0;
    evutil_socket_t fd = bufferevent_getfd(conn->bev);
    return fd >= 0 && ioctl(fd, FIONREAD, &n) == 0 ? n : 0;
}

/* Past its deadline a waiting connection is closed - unless bytes the client sent are still unread:
 * then the delay is this loop's, busy with others, not the client's, and it gets up to twice the
 * deadline. (A trickling client cannot count on that: the loop reads a byte as soon as it is
 * free, long before its sweep.) */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct api_conns *c = arg;
    double now = now_seconds(), deadline = c->cfg.request_timeout_seconds;
    struct api_conn *conn, *next;
    for (conn = TAILQ_FIRST(&c->lists[CONN_WAITING]); conn != NULL && conn->since <= now - deadline;
         conn = next) {
        next = TAILQ_NEXT(conn, link);
        if (conn->since <= now - 2 * deadline || unread(conn) == 0)
            evict(conn);
    }
}

/* One line per server and QY_ACCEPT_LOG_SECONDS, however many loops fail how often. */
static void log_accept_error(struct api_conns *c, int e, size_t evicted)
{
    unsigned long long suppressed;
    unsigned since;
    if (log_limit_take(c->cfg.log, &suppressed, &since))
        log_warn("api", "cannot accept connections: pausing and closing idle ones",
                 LF_STR("server", c->cfg.name), LF_STR("error", strerror(e)),
                 LF_UINT("connections", c->open), LF_UINT("closed", evicted),
                 LF_UINT("suppressed", suppressed));
}

/* The listener's user data is evhttp's, so the loop is found through its thread. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)arg;
    int e = EVUTIL_SOCKET_ERROR();
    struct api_conns *c = loop_conns;
    if (c == NULL || c->lev != lev) { /* cannot happen: each loop's thread entered its conns */
        evconnlistener_disable(lev);
        return;
    }
    evconnlistener_disable(lev);
    c->paused = true;
    size_t evicted = 0;
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
        evicted = evict_oldest(c, QY_ACCEPT_EVICT_BATCH);
    struct timeval pause = {0, QY_ACCEPT_PAUSE_MS * 1000};
    evtimer_add(c->unpause, &pause);
    log_accept_error(c, e, evicted);
}

int api_conns_new(struct event_base *base, struct evhttp *http, int fd,
                  const struct api_conns_config *cfg, struct api_conns **out)
{
    *out = NULL;
    struct api_conns *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        FAIL(ERR_NOMEM, "cannot allocate a connection table");
    }
    c->cfg = *cfg;
    for (int i = 0; i < CONN_STATES; i++)
        TAILQ_INIT(&c->lists[i]);
    c->resume = event_new(base, -1, 0, on_resume, c);
    c->unpause = evtimer_new(base, on_unpause, c);
    c->sweep = event_new(base, -1, EV_PERSIST, on_sweep, c);
    /* backlog 0: the socket listens already */
    c->lev =
        evconnlistener_new(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (c->lev == NULL)
        close(fd);
    struct timeval second = {1, 0};
    if (c->resume == NULL || c->unpause == NULL || c->sweep == NULL || c->lev == NULL ||
        evtimer_add(c->sweep, &second) != 0) {
        if (c->lev != NULL)
            evconnlistener_free(c->lev);
        api_conns_free(c);
        FAIL(ERR_NOMEM, "cannot set up accepting connections");
    }
    evconnlistener_set_error_cb(c->lev, on_accept_error);
    if (evhttp_bind_listener(http, c->lev) == NULL) {
        evconnlistener_free(c->lev);
        api_conns_free(c);
        FAIL(ERR_NOMEM, "cannot bind the listener");
    }
    *out = c;
    return 0;
}

void api_conns_free(struct api_conns *c)
{
    if (c == NULL)
        return;
    if (c->resume)
        event_free(c->resume);
    if (c->unpause)
        event_free(c->unpause);
    if (c->sweep)
        event_free(c->sweep);
    /* evhttp_free closed every adopted connection; what is left was still PENDING */
    struct api_conn *conn;
    while ((conn = TAILQ_FIRST(&c->lists[CONN_PENDING])) != NULL)
        adopt(conn);
    for (int i = 0; i < CONN_STATES; i++) {
        while ((conn = TAILQ_FIRST(&c->lists[i])) != NULL) {
            TAILQ_REMOVE(&c->lists[i], conn, link);
            free(conn);
        }
    }
    free(c);
}

void api_conns_unbind(struct api_conns *c)
{
    if (c != NULL)
        c->lev = NULL;
}

void api_conns_enter(struct api_conns *c)
{
    loop_conns = c;
}

struct api_conn *api_conns_accepted(struct api_conns *c)
{
    /* one accept per wake-up: the loops share one listening socket, and whichever is free first
     * takes the next connection; a loop that took a burst would serve it alone */
    evconnlistener_disable(c->lev);
    event_active(c->resume, 0, 0);
    struct api_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return NULL;
    conn->owner = c;
    conn->since = now_seconds();
    conn->state = CONN_PENDING;
    TAILQ_INSERT_TAIL(&c->lists[CONN_PENDING], conn, link);
    c->open++;
    if (c->open > c->cfg.cap && evict_oldest(c, 1) == 0)
        c->full = true; /* every other connection is answering a request: wait for one to close */
    return conn;
}

void api_conn_attach(struct api_conn *conn, struct bufferevent *bev)
{
    if (conn == NULL)
        return;
    if (bev == NULL) {
        conn_closed(conn);
        return;
    }
    conn->bev = bev;
    bufferevent_incref(bev); /* until adopt() */
}

static void on_response_sent(struct evhttp_request *req, void *arg)
{
    (void)req;
    struct api_conn *conn = arg;
    if (conn->state != CONN_BUSY)
        return;
    conn->since = now_seconds(); /* the deadline for the next request starts now */
    move_to(conn, CONN_WAITING);
    struct api_conns *c = conn->owner;
    /* there is one to evict again - unless the loop is already over its share (the one admitted
     * while all were busy): then it waits for a close, so the cap stays a cap */
    if (c->full && c->open <= c->cfg.cap) {
        c->full = false;
        accept_more(c);
    }
}

void api_conns_request(struct api_conns *c, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    struct api_conn *conn;
    TAILQ_FOREACH(conn, &c->lists[CONN_WAITING], link)
    {
        if (bev != NULL && conn->bev == bev) {
            move_to(conn, CONN_BUSY);
            evhttp_request_set_on_complete_cb(req, on_response_sent, conn);
            return;
        }
    }
}
