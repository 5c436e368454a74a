/*
 * frontend: a sample marble (make demo, docs/getting-started.md). It calls backend over mutual TLS
 * with the marble certificate its manifest renders to DIR/tls/, accepting only a server whose
 * certificate chains to the same mesh and carries the marble type "backend", sends the fingerprint
 * of its API_TOKEN (a user-defined secret) and prints the answer.
 *
 *   frontend --backend HOST:PORT [--files DIR]    (DIR: default "frontend")
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mesh_tls.h"

/* backend may still be starting: a few tries over five seconds. */
static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    int fd = -1;
    for (int i = 0; i < 50 && fd < 0; i++) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    freeaddrinfo(ai);
    return fd;
}

int main(int argc, char **argv)
{
    const char *backend = NULL, *dir = "frontend";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--backend") == 0)
            backend = argv[i + 1];
        else if (strcmp(argv[i], "--files") == 0)
            dir = argv[i + 1];
    }
    const char *colon = backend ? strrchr(backend, ':') : NULL;
    if (colon == NULL || colon - backend >= 256) {
        fprintf(stderr, "usage: frontend --backend HOST:PORT [--files DIR]\n");
        return 2;
    }
    const char *token = getenv("API_TOKEN");
    if (token == NULL) {
        fprintf(stderr, "frontend: no API_TOKEN: was I started under quarry-premain?\n");
        return 1;
    }
    char host[256], fp[17], line[512], err[256], me[128], peer_cn[128];
    snprintf(host, sizeof(host), "%.*s", (int)(colon - backend), backend);
    mesh_fingerprint(token, strlen(token), fp);
    SSL_CTX *ctx = mesh_tls_ctx(false, dir, "backend");
    if (ctx == NULL)
        return 1;
    mesh_cert_cn(SSL_CTX_get0_certificate(ctx), me, sizeof(me));
    int rc = 1, fd = connect_to(host, colon + 1);
    SSL *ssl = fd >= 0 ? SSL_new(ctx) : NULL;
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 ||
        (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
               : SSL_set1_host(ssl, host)) != 1 ||
        SSL_connect(ssl) != 1) {
        fprintf(stderr, "frontend: cannot call backend at %s: %s\n", backend,
                fd < 0 ? "no connection" : mesh_tls_error(ssl, err, sizeof(err)));
        goto out;
    }
    X509 *peer = SSL_get1_peer_certificate(ssl);
    mesh_cert_cn(peer, peer_cn, sizeof(peer_cn));
    X509_free(peer);
    snprintf(line, sizeof(line), "HELLO %s\n", fp);
    if (SSL_write(ssl, line, (int)strlen(line)) <= 0 || !mesh_read_line(ssl, line, sizeof(line))) {
        fprintf(stderr, "frontend: backend did not answer: %s\n",
                mesh_tls_error(ssl, err, sizeof(err)));
        goto out;
    }
    printf("frontend %s -> backend %s over mutual TLS (%s)\n", me, peer_cn, SSL_get_version(ssl));
    printf("backend answered: %s\n", line);
    rc = strstr(line, "matches") != NULL ? 0 : 1;
out:
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx);
    return rc;
}
