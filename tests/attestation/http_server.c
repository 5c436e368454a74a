#include "http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"

#define MAX_ROUTES 32

struct ths {
    int fd;
    uint16_t port;
    const struct ths_route *routes;
    size_t count;
    atomic_size_t hits[MAX_ROUTES];
    atomic_int active;
    pthread_t accept_thread;
    SSL_CTX *tls; /* NULL: plain HTTP */
};

struct conn {
    struct ths *s;
    int fd;
    SSL *ssl;
};

static void send_all(struct conn *c, const void *p, size_t n)
{
    const char *b = p;
    while (n > 0) {
        ssize_t w = c->ssl ? SSL_write(c->ssl, b, (int)n) : send(c->fd, b, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        b += w;
        n -= (size_t)w;
    }
}

static ssize_t recv_some(struct conn *c, char *p, size_t n)
{
    return c->ssl ? SSL_read(c->ssl, p, (int)n) : recv(c->fd, p, n, 0);
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    char req[8192];
    size_t n = 0;
    if (c->s->tls != NULL) {
        c->ssl = SSL_new(c->s->tls);
        if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_accept(c->ssl) != 1)
            goto done; /* no handshake (the client did not trust us): nothing to answer */
    }
    while (n < sizeof(req) - 1) {
        ssize_t r = recv_some(c, req + n, sizeof(req) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    req[n] = '\0';
    char method[16] = "", target[4096] = "";
    sscanf(req, "%15s %4095s", method, target);
    char *q = strchr(target, '?');
    const char *query = q ? q + 1 : "";
    if (q)
        *q = '\0';
    const struct ths_route *route = NULL;
    for (size_t i = 0; i < c->s->count && route == NULL; i++) {
        const struct ths_route *r = &c->s->routes[i];
        if (strcmp(r->path, target) == 0 && (r->query == NULL || strstr(query, r->query) != NULL)) {
            route = r;
            atomic_fetch_add(&c->s->hits[i], 1);
        }
    }
    char head[1024];
    if (route == NULL) {
        int len =
            snprintf(head, sizeof(head),
                     "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        send_all(c, head, (size_t)len);
    } else {
        if (route->delay_ms > 0) {
            struct timespec ts = {route->delay_ms / 1000, (route->delay_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        int len = snprintf(head, sizeof(head),
                           "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n",
                           route->status, route->body.size);
        send_all(c, head, (size_t)len);
        if (route->header != NULL) {
            send_all(c, route->header, strlen(route->header));
            send_all(c, ": ", 2);
            send_all(c, route->header_value.ptr, route->header_value.size);
            send_all(c, "\r\n", 2);
        }
        send_all(c, "\r\n", 2);
        send_all(c, route->body.ptr, route->body.size);
    }
    if (c->ssl != NULL)
        SSL_shutdown(c->ssl);
done:
    SSL_free(c->ssl);
    shutdown(c->fd, SHUT_WR);
    close(c->fd);
    struct ths *s = c->s;
    free(c);
    atomic_fetch_sub(&s->active, 1);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct ths *s = arg;
    for (;;) {
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        struct conn *c = malloc(sizeof(*c));
        pthread_t th;
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->s = s;
        c->fd = fd;
        c->ssl = NULL;
        atomic_fetch_add(&s->active, 1);
        if (pthread_create(&th, NULL, conn_main, c) != 0) {
            atomic_fetch_sub(&s->active, 1);
            close(fd);
            free(c);
            continue;
        }
        pthread_detach(th);
    }
}

int ths_start(const struct ths_route *routes, size_t count, struct ths **out)
{
    *out = NULL;
    if (count > MAX_ROUTES)
        return ERR_INVALID_ARG;
    struct ths *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ERR_NOMEM;
    s->routes = routes;
    s->count = count;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->fd, 64) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &len) != 0) {
        if (s->fd >= 0)
            close(s->fd);
        free(s);
        return ERR_IO;
    }
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->accept_thread, NULL, accept_main, s) != 0) {
        close(s->fd);
        free(s);
        return ERR_IO;
    }
    *out = s;
    return 0;
}

int ths_start_tls(const struct ths_route *routes, size_t count, struct view cert_der,
                  struct crypto_key *key, struct ths **out)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_use_certificate_ASN1(ctx, (int)cert_der.size, cert_der.ptr) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, crypto_key_evp(key)) != 1) {
        SSL_CTX_free(ctx);
        return ERR_CRYPTO;
    }
    int r = ths_start(routes, count, out);
    if (r < 0) {
        SSL_CTX_free(ctx);
        return r;
    }
    (*out)->tls = ctx; /* before any request: the first one needs a client that connects */
    return 0;
}

uint16_t ths_port(const struct ths *s)
{
    return s->port;
}

size_t ths_hits(const struct ths *s, size_t route)
{
    return atomic_load(&((struct ths *)s)->hits[route]);
}

void ths_stop(struct ths *s)
{
    if (s == NULL)
        return;
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->accept_thread, NULL);
    while (atomic_load(&s->active) > 0)
        usleep(1000);
    SSL_CTX_free(s->tls);
    free(s);
}
