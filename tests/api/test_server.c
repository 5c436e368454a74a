/* The HTTPS server and client over real TLS on loopback. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "crypto/crypto.h"
#include "qt.h"
#include "qt_net.h"

struct seen {
    size_t peer_certs;
    struct buf peer;
    uint8_t exporter[32];
};

static struct seen seen;

static void echo(void *ctx, struct api_request *req, struct api_response *resp)
{
    (void)ctx;
    json_t *q = json_array();
    for (size_t i = 0; api_req_query(req, "s", i) != NULL; i++)
        json_array_append_new(q, json_string(api_req_query(req, "s", i)));
    struct view body = api_req_body(req);
    struct view leaf = api_req_peer_leaf(req);
    seen.peer_certs = leaf.size > 0;
    buf_reset(&seen.peer);
    if (buf_append_view(&seen.peer, leaf) < 0)
        abort();
    if (api_req_tls_exporter(req, "EXPORTER-test", seen.exporter, 32) < 0)
        abort();
    api_jsend_success(resp, json_pack("{s:s,s:s,s:o,s:s#}", "method", api_req_method(req) == API_POST ? "POST" : "GET",
                                      "path", api_req_path(req), "s", q, "body", body.size ? (const char *)body.ptr : "",
                                      body.size));
}

static struct crypto_key *server_key;
static struct buf server_cert;
static char server_pem[8192];

static struct api_server *start_with(const struct api_server_config *cfg, bool identity)
{
    struct api_server *s;
    int r = api_server_start(cfg, &s);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    if (identity) {
        cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &server_key), 0);
        buf_reset(&server_cert);
        qt_make_cert("localhost", server_key, NULL, NULL, &server_cert);
        struct view chain[1] = {buf_view(&server_cert)};
        cr_assert_eq(api_server_set_identity(s, chain, 1, server_key), 0);
        struct buf pem = BUF_INIT;
        cr_assert_eq(enc_pem(&pem, "CERTIFICATE", buf_view(&server_cert)), 0);
        snprintf(server_pem, sizeof(server_pem), "%.*s", (int)pem.size, (const char *)pem.ptr);
        buf_free(&pem);
    }
    return s;
}

static struct api_server *start(enum api_client_auth auth, int threads, bool identity)
{
    struct api_server_config cfg = {"test", "127.0.0.1:0", true, auth, threads, 1024, 5, echo, NULL};
    return start_with(&cfg, identity);
}

static void stop(struct api_server *s)
{
    api_server_stop(s);
    crypto_key_free(server_key);
    server_key = NULL;
    buf_free(&server_cert);
    buf_free(&seen.peer);
}

static struct api_client *client(struct api_server *s, const char *cert_pem, const char *key_pem)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "localhost:%u", api_server_port(s));
    struct api_client_config cfg = {addr, view_str(server_pem), false, view_str(cert_pem), view_str(key_pem), 5000};
    struct api_client *c;
    cr_assert_eq(api_client_new(&cfg, &c), 0);
    return c;
}

static json_t *call(struct api_client *c, enum api_method m, const char *target, const char *body, long want)
{
    long status;
    struct buf out = BUF_INIT;
    int r = api_client_call(c, m, target, view_str(body), &status, &out);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    cr_assert_eq(status, want, "status %ld: %.*s", status, (int)out.size, (const char *)out.ptr);
    json_t *j = json_loadb((const char *)out.ptr, out.size, 0, NULL);
    buf_free(&out);
    return j;
}

Test(server, get_and_post_over_tls_with_jsend)
{
    struct api_server *s = start(API_CLIENT_CERT_REQUEST, 2, true);
    struct api_client *c = client(s, "", "");
    json_t *j = call(c, API_GET, "/api/v2/echo?s=a&s=b%20c", "", 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "success");
    json_t *d = json_object_get(j, "data");
    cr_assert_str_eq(json_string_value(json_object_get(d, "path")), "/api/v2/echo");
    cr_assert_eq(json_array_size(json_object_get(d, "s")), 2);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(d, "s"), 1)), "b c");
    json_decref(j);
    j = call(c, API_POST, "/x", "{\"k\":1}", 200);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "data"), "body")), "{\"k\":1}");
    json_decref(j);
    cr_assert_eq(seen.peer_certs, 0, "no client certificate was sent");
    api_client_free(c);
    stop(s);
}

Test(server, client_certificates_reach_the_handler)
{
    struct api_server *s = start(API_CLIENT_CERT_REQUEST, 1, true);
    struct buf cert = BUF_INIT, key = BUF_INIT;
    qt_read(qt_data_path("certs/alice.crt"), &cert);
    qt_read(qt_data_path("certs/alice.key"), &key);
    cr_assert_eq(buf_terminate(&cert), 0);
    cr_assert_eq(buf_terminate(&key), 0);
    struct api_client *c = client(s, (const char *)cert.ptr, (const char *)key.ptr);
    json_decref(call(c, API_GET, "/whoami", "", 200));
    cr_assert_eq(seen.peer_certs, 1);
    struct buf der = BUF_INIT;
    cr_assert_eq(crypto_cert_pem_to_der(buf_view(&cert), &der), 0);
    cr_assert(view_eq(buf_view(&der), buf_view(&seen.peer)), "the DER the client presented");
    uint8_t first[32];
    memcpy(first, seen.exporter, 32);
    api_client_free(c);
    c = client(s, (const char *)cert.ptr, (const char *)key.ptr);
    json_decref(call(c, API_GET, "/whoami", "", 200));
    cr_assert_neq(memcmp(first, seen.exporter, 32), 0, "each TLS session exports its own value");
    api_client_free(c);
    buf_free(&cert), buf_free(&key), buf_free(&der);
    stop(s);
}

Test(server, required_client_certificate_and_tls13_only)
{
    struct api_server *s = start(API_CLIENT_CERT_REQUIRE, 1, true);
    struct api_client *c = client(s, "", "");
    long status;
    struct buf out = BUF_INIT;
    cr_assert_eq(api_client_call(c, API_GET, "/", VIEW_EMPTY, &status, &out), ERR_NETWORK);
    api_client_free(c);
    /* a TLS 1.2 client is refused */
    char url[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/", api_server_port(s));
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
    cr_assert_neq(curl_easy_perform(h), CURLE_OK);
    /* plain HTTP to the TLS port gets no answer */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", api_server_port(s));
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 3L);
    cr_assert_neq(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);
    buf_free(&out);
    stop(s);
}

Test(server, no_identity_no_handshake_then_identity_swap)
{
    struct api_server *s = start(API_CLIENT_CERT_NONE, 2, false);
    char addr[64];
    snprintf(addr, sizeof(addr), "localhost:%u", api_server_port(s));
    struct api_client_config cfg = {addr, VIEW_EMPTY, true, VIEW_EMPTY, VIEW_EMPTY, 3000};
    struct api_client *c;
    cr_assert_eq(api_client_new(&cfg, &c), 0);
    long status;
    struct buf out = BUF_INIT;
    cr_assert_eq(api_client_call(c, API_GET, "/", VIEW_EMPTY, &status, &out), ERR_NETWORK,
                 "without an identity no TLS handshake succeeds, and nothing is served in the clear");
    api_client_free(c);
    stop(s);
    s = start(API_CLIENT_CERT_NONE, 2, true);
    char old_pem[8192];
    snprintf(old_pem, sizeof(old_pem), "%s", server_pem);
    c = client(s, "", "");
    json_decref(call(c, API_GET, "/", "", 200));
    api_client_free(c);
    struct crypto_key *k2;
    struct buf cert2 = BUF_INIT;
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k2), 0);
    qt_make_cert("localhost", k2, NULL, NULL, &cert2);
    struct view chain[1] = {buf_view(&cert2)};
    cr_assert_eq(api_server_set_identity(s, chain, 1, k2), 0);
    c = client(s, "", ""); /* still trusts only the old certificate */
    cr_assert_eq(api_client_call(c, API_GET, "/", VIEW_EMPTY, &status, &out), ERR_NETWORK);
    api_client_free(c);
    struct buf pem2 = BUF_INIT; /* a client that trusts the new one is served */
    cr_assert_eq(enc_pem(&pem2, "CERTIFICATE", buf_view(&cert2)), 0);
    snprintf(server_pem, sizeof(server_pem), "%.*s", (int)pem2.size, (const char *)pem2.ptr);
    c = client(s, "", "");
    json_decref(call(c, API_GET, "/", "", 200));
    api_client_free(c);
    snprintf(server_pem, sizeof(server_pem), "%s", old_pem);
    buf_free(&pem2);
    crypto_key_free(k2);
    buf_free(&cert2), buf_free(&out);
    stop(s);
}

Test(server, oversized_bodies_get_413)
{
    struct api_server *s = start(API_CLIENT_CERT_NONE, 1, true);
    struct api_client *c = client(s, "", "");
    char big[2048];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    json_t *j = call(c, API_POST, "/x", big, 413);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "fail");
    cr_assert_str_eq(json_string_value(json_object_get(j, "message")), "request body is 2047 bytes, the limit is 1024");
    json_decref(j);
    /* far above the limit evhttp itself refuses, and the server keeps serving */
    size_t n = 1024 * 1024;
    char *huge = malloc(n + 1);
    memset(huge, 'y', n);
    huge[n] = 0;
    long status;
    struct buf out = BUF_INIT;
    int r = api_client_call(c, API_POST, "/x", view_str(huge), &status, &out);
    cr_assert(r == ERR_NETWORK || status == 413, "status %ld", status);
    free(huge);
    buf_free(&out);
    api_client_free(c);
    c = client(s, "", "");
    json_decref(call(c, API_GET, "/still-alive", "", 200));
    api_client_free(c);
    stop(s);
}

Test(server, many_requests_across_loops)
{
    struct api_server *s = start(API_CLIENT_CERT_NONE, 4, true);
    for (int i = 0; i < 20; i++) {
        struct api_client *c = client(s, "", ""); /* new connection each time: spread over loops */
        json_decref(call(c, API_GET, "/", "", 200));
        api_client_free(c);
    }
    stop(s);
}

/* Issue 13, item 5: SO_REUSEPORT let a second server (another process) bind the same address and
 * take a share of the connections. */
Test(server, a_second_server_on_the_same_address_fails)
{
    struct api_server *s = start(API_CLIENT_CERT_NONE, 4, true);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", api_server_port(s));
    struct api_server_config cfg = {"second", addr, true, API_CLIENT_CERT_NONE, 2, 1024, 5, echo, NULL};
    struct api_server *s2 = NULL;
    int r = api_server_start(&cfg, &s2);
    cr_assert_eq(r, ERR_IO, "the second server started (%d)", r);
    cr_assert_null(s2);
    char want[128];
    snprintf(want, sizeof(want), "cannot listen on %s: the address is in use (another Coordinator?)", addr);
    cr_assert_str_eq(err_detail(r), want);
    for (int i = 0; i < 8; i++) { /* the first keeps serving, on all its loops */
        struct api_client *c = client(s, "", "");
        json_decref(call(c, API_GET, "/", "", 200));
        api_client_free(c);
    }
    stop(s);
}

Test(server, caps_and_timeouts_out_of_range_are_refused)
{
    struct api_server_config cfg = {"test", "127.0.0.1:0", true, API_CLIENT_CERT_NONE, 4, 1024, 5, echo, NULL, 3, 0};
    struct api_server *s = NULL;
    cr_assert_eq(api_server_start(&cfg, &s), ERR_RANGE);
    cr_assert_str_eq(err_detail(ERR_RANGE),
                     "the test server's connection cap is 3; it needs at least one per thread (4) and at most 65536");
    cfg.max_connections = 65537;
    cr_assert_eq(api_server_start(&cfg, &s), ERR_RANGE);
    cfg.max_connections = 0;
    cfg.request_timeout_seconds = 3601;
    cr_assert_eq(api_server_start(&cfg, &s), ERR_RANGE);
    cr_assert_str_eq(err_detail(ERR_RANGE), "a request timeout of 3601 s is above the limit of 3600 s");
    cr_assert_null(s);
}

/* Issue 13, item 1: evhttp's timeout is idle time, so a client sending a byte a second held its
 * connection forever. The request deadline (2 s here) counts from the accept, whatever arrives.
 * The idle timeout is 60 s, so only the deadline can cut these. */
static void assert_cut(bool tls, const char *prefix, size_t prefix_size, const char *what)
{
    struct api_server_config cfg = {"test", "127.0.0.1:0", tls, API_CLIENT_CERT_NONE, 1, 1024, 60, echo, NULL, 0, 2};
    struct api_server *s = start_with(&cfg, tls);
    int fd = qt_tcp_connect(api_server_port(s));
    cr_assert_geq(fd, 0);
    double cut = qt_tcp_trickle(fd, prefix, prefix_size, 'a', 1.0, 15.0);
    fprintf(stderr, "%s, one byte a second: cut after %.2f s (deadline 2 s)\n", what, cut);
    cr_assert(cut >= 1.5 && cut < 15.0, "%s trickled one byte a second was not cut at its deadline (%.2f)", what, cut);
    close(fd);
    if (tls) { /* and a prompt client is served */
        struct api_client *c = client(s, "", "");
        json_decref(call(c, API_GET, "/after", "", 200));
        api_client_free(c);
    }
    stop(s);
}

Test(server, trickled_headers_are_cut_at_the_request_deadline)
{
    const char head[] = "GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    assert_cut(false, head, sizeof(head) - 1, "a header");
}

Test(server, a_trickled_body_is_cut_at_the_request_deadline)
{
    const char head[] = "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n";
    assert_cut(false, head, sizeof(head) - 1, "a body");
}

Test(server, a_trickled_tls_handshake_is_cut_at_the_request_deadline)
{
    const char record[] = {0x16, 0x03, 0x01, 0x02, 0x00}; /* a handshake record of 512 bytes, then slowly */
    assert_cut(true, record, sizeof(record), "a TLS handshake");
}

/* Issue 13, item 1: idle connections took every descriptor and the server answered nobody. At its
 * cap a server closes its oldest connection without a request in progress, so a real client gets in.
 * Timeouts of 60 s: nothing else closes a connection during the test. */
Test(server, at_the_cap_the_oldest_waiting_connection_makes_room)
{
    struct api_server_config cfg = {"test", "127.0.0.1:0", true, API_CLIENT_CERT_NONE, 1, 1024, 60, echo, NULL, 4, 60};
    struct api_server *s = start_with(&cfg, true);
    int idle[7];
    for (int i = 0; i < 4; i++) {
        idle[i] = qt_tcp_connect(api_server_port(s));
        cr_assert_geq(idle[i], 0);
    }
    for (int round = 0; round < 3; round++) { /* each client makes room by closing the oldest idle one */
        struct api_client *c = client(s, "", "");
        json_decref(call(c, API_GET, "/", "", 200));
        api_client_free(c);
        cr_assert(qt_tcp_closed_within(idle[round], 10.0), "idle connection %d was not closed", round);
        idle[4 + round] = qt_tcp_connect(api_server_port(s)); /* and the attacker fills the slot again */
        cr_assert_geq(idle[4 + round], 0);
    }
    /* the last three replacements are the newest: within the cap even while the server has yet to
     * see the previous client's close */
    for (int i = 4; i < 7; i++)
        cr_assert_not(qt_tcp_closed_within(idle[i], 0.2), "idle connection %d is within the cap: kept", i);
    for (int i = 0; i < 7; i++)
        close(idle[i]);
    stop(s);
}
