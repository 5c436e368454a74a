/* The HTTPS server and client over real TLS on loopback. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <string.h>

#include "api/api.h"
#include "crypto/crypto.h"
#include "qt.h"

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

static struct api_server *start(enum api_client_auth auth, int threads, bool identity)
{
    struct api_server_config cfg = {"test", "127.0.0.1:0", true, auth, threads, 1024, 5, echo, NULL};
    struct api_server *s;
    cr_assert_eq(api_server_start(&cfg, &s), 0, "%s", err_detail(-4));
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
