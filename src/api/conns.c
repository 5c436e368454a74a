/*
 * Connection admission for the HTTP servers: a loop's share of the connection cap, eviction of
 * connections without a request in progress (oldest first), the whole-request deadline, and accept
 * errors that pause instead of spinning. See conns_int.h, and api.h (Servers) for the policy.
 *
 * A connection is WAITING (for a complete request: handshake, headers, body) from its accept or
 * from its last response; BUSY from the complete request until its response is sent; CLOSING once
 * we shut its socket down, until evhttp notices and frees it. Each state is a list; WAITING is in
 * order of `since`, so the oldest is at its head, for eviction and for the deadline alike.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conns_int.h"

enum conn_state { CONN_WAITING, CONN_BUSY, CONN_CLOSING, CONN_STATES };

struct api_conn {
    struct api_conns *owner;
    struct bufferevent *bev; /* NULL until attached */
    double since;            /* WAITING: accepted or last response sent, monotonic seconds */
    enum conn_state state;
    TAILQ_ENTRY(api_conn) link;
};

TAILQ_HEAD(conn_list, api_conn);

struct api_conns {
    struct api_conns_config cfg;
    struct evconnlistener *lev; /* owned by the evhttp once bound */
    struct event *resume;       /* re-enables accepting after one accept */
    struct event *unpause;      /* ends the pause after an accept error */
    struct event *sweep;        /* enforces the request deadline, every second */
    struct conn_list lists[CONN_STATES];
    size_t open; /* WAITING and BUSY: what counts against the cap */
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
    if (to == CONN_CLOSING && conn->state != CONN_CLOSING)
        c->open--;
    conn->state = to;
    TAILQ_INSERT_TAIL(&c->lists[to], conn, link);
}

/* Shuts the socket down for reading: evhttp reads end-of-file and frees the connection, which ends
 * in api_conn_closed. Not for writing: OpenSSL still sends its alert, and a write on a socket shut
 * for writing would raise SIGPIPE. */
static void evict(struct api_conn *conn)
{
    evutil_socket_t fd = bufferevent_getfd(conn->bev);
    if (fd >= 0)
        shutdown(fd, SHUT_RD);
    move_to(conn, CONN_CLOSING);
}

/* The oldest WAITING connection whose socket is set (not the one being accepted right now). */
static struct api_conn *oldest_waiting(struct api_conns *c)
{
    struct api_conn *conn;
    TAILQ_FOREACH(conn, &c->lists[CONN_WAITING], link)
    {
        if (conn->bev != NULL && bufferevent_getfd(conn->bev) >= 0)
            return conn;
    }
    return NULL;
}

static size_t evict_oldest(struct api_conns *c, size_t n)
{
    size_t done = 0;
    struct api_conn *conn;
    while (done < n && (conn = oldest_waiting(c)) != NULL) {
        evict(conn);
        done++;
    }
    return done;
}

static void accept_more(struct api_conns *c)
{
    if (!c->paused && !c->full)
        evconnlistener_enable(c->lev);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    accept_more(arg);
}

static void on_unpause(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct api_conns *c = arg;
    c->paused = false;
    accept_more(c);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct api_conns *c = arg;
    double cutoff = now_seconds() - c->cfg.request_timeout_seconds;
    struct api_conn *conn;
    while ((conn = TAILQ_FIRST(&c->lists[CONN_WAITING])) != NULL && conn->since <= cutoff &&
           conn->bev != NULL)
        evict(conn);
}

bool api_log_limit_allow(struct api_log_limit *l, double period_seconds, unsigned long *suppressed)
{
    double now = now_seconds();
    pthread_mutex_lock(&l->lock);
    bool allow = l->last == 0 || now - l->last >= period_seconds;
    *suppressed = l->suppressed;
    if (allow) {
        l->last = now;
        l->suppressed = 0;
    } else {
        l->suppressed++;
    }
    pthread_mutex_unlock(&l->lock);
    return allow;
}

/* One line per server and QY_ACCEPT_LOG_SECONDS, however many loops fail how often. */
static void log_accept_error(struct api_conns *c, int e, size_t evicted)
{
    unsigned long suppressed;
    if (api_log_limit_allow(c->cfg.log, QY_ACCEPT_LOG_SECONDS, &suppressed))
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
    /* evhttp_free freed every connection and the loop ran their finalizers; a record left is one
     * whose bufferevent outlives us: it forgets its owner and frees itself when it closes */
    for (int i = 0; i < CONN_STATES; i++) {
        struct api_conn *conn;
        while ((conn = TAILQ_FIRST(&c->lists[i])) != NULL) {
            TAILQ_REMOVE(&c->lists[i], conn, link);
            conn->owner = NULL;
        }
    }
    free(c);
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
    conn->state = CONN_WAITING;
    TAILQ_INSERT_TAIL(&c->lists[CONN_WAITING], conn, link);
    c->open++;
    if (c->open > c->cfg.cap && evict_oldest(c, 1) == 0)
        c->full = true; /* every other connection is answering a request: wait for one to close */
    return conn;
}

void api_conn_attach(struct api_conn *conn, struct bufferevent *bev)
{
    if (conn != NULL)
        conn->bev = bev;
}

void api_conn_closed(struct api_conn *conn)
{
    if (conn == NULL)
        return;
    struct api_conns *c = conn->owner;
    if (c != NULL) {
        TAILQ_REMOVE(&c->lists[conn->state], conn, link);
        if (conn->state != CONN_CLOSING)
            c->open--;
        if (c->full && c->open < c->cfg.cap) {
            c->full = false;
            accept_more(c);
        }
    }
    free(conn);
}

static void on_response_sent(struct evhttp_request *req, void *arg)
{
    (void)req;
    struct api_conn *conn = arg;
    if (conn->owner == NULL || conn->state != CONN_BUSY)
        return;
    conn->since = now_seconds(); /* the deadline for the next request starts now */
    move_to(conn, CONN_WAITING);
}

void api_conns_request(struct api_conns *c, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    struct api_conn *conn;
    TAILQ_FOREACH(conn, &c->lists[CONN_WAITING], link)
    {
        if (conn->bev == bev && bev != NULL) {
            move_to(conn, CONN_BUSY);
            evhttp_request_set_on_complete_cb(req, on_response_sent, conn);
            return;
        }
    }
}
