/*
 * backend: a sample marble (make demo, docs/getting-started.md). It serves one-line requests over
 * mutual TLS with the marble certificate its manifest renders to DIR/tls/, and accepts only clients
 * whose certificate chains to the same mesh and carries the marble type "frontend". A request
 * "HELLO <fingerprint of the API token>" is answered with who asked and whether that token matches
 * backend's own API_TOKEN: a user-defined secret both marbles received from the Coordinator.
 *
 *   backend --listen HOST:PORT [--files DIR]      (DIR: default "backend")
 */
#include <netdb.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mesh_tls.h"

static int listen_on(const char *addr)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
        return -1;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *ai;
    if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
                    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0)) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void serve(SSL_CTX *ctx, int client, const char *token_fp)
{
    char line[256], reply[512], err[256], cn[128];
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, client) != 1 || SSL_accept(ssl) != 1) {
        printf("backend: refused a client: %s\n", mesh_tls_error(ssl, err, sizeof(err)));
        SSL_free(ssl);
        return;
    }
    X509 *peer = SSL_get1_peer_certificate(ssl);
    mesh_cert_cn(peer, cn, sizeof(cn));
    X509_free(peer);
    if (!mesh_read_line(ssl, line, sizeof(line)) || strncmp(line, "HELLO ", 6) != 0) {
        snprintf(reply, sizeof(reply), "unknown request\n");
    } else {
        bool same = strlen(line + 6) == 16 && CRYPTO_memcmp(line + 6, token_fp, 16) == 0;
        snprintf(reply, sizeof(reply), "hello frontend %s; your API token %s mine (sha256 %s...)\n",
                 cn, same ? "matches" : "does NOT match", token_fp);
        printf("backend: answered frontend %s (token %s)\n", cn, same ? "matches" : "differs");
    }
    if (SSL_write(ssl, reply, (int)strlen(reply)) > 0)
        SSL_shutdown(ssl);
    SSL_free(ssl);
}

int main(int argc, char **argv)
{
    const char *listen_addr = NULL, *dir = "backend";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--listen") == 0)
            listen_addr = argv[i + 1];
        else if (strcmp(argv[i], "--files") == 0)
            dir = argv[i + 1];
    }
    if (listen_addr == NULL) {
        fprintf(stderr, "usage: backend --listen HOST:PORT [--files DIR]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    const char *token = getenv("API_TOKEN");
    char key[256], path[512], token_fp[17], key_fp[17], cn[128];
    snprintf(path, sizeof(path), "%s/data.key", dir);
    if (token == NULL || !mesh_read_file(path, key, sizeof(key))) {
        fprintf(stderr, "backend: no API_TOKEN or no %s: was I started under quarry-premain?\n",
                path);
        return 1;
    }
    mesh_fingerprint(token, strlen(token), token_fp);
    mesh_fingerprint(key, strlen(key), key_fp);
    SSL_CTX *ctx = mesh_tls_ctx(true, dir, "frontend");
    int fd = ctx ? listen_on(listen_addr) : -1;
    if (fd < 0) {
        fprintf(stderr, "backend: cannot serve on %s\n", listen_addr);
        SSL_CTX_free(ctx);
        return 1;
    }
    mesh_cert_cn(SSL_CTX_get0_certificate(ctx), cn, sizeof(cn));
    printf("backend: marble %s listening on %s (its data key: sha256 %s...)\n", cn, listen_addr,
           key_fp);
    for (;;) {
        int client = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0)
            continue;
        serve(ctx, client, token_fp);
        close(client);
    }
}
