/*
 * The marble side of activation (docs/mesh-protocol.md). libcurl makes the TLS 1.3 connection in
 * connect-only mode, so the exporter of *this* session is known before the quote is made, and the
 * request goes over the same session with curl_easy_send/recv; the HTTP exchange is one request,
 * one Content-Length response, parsed by api_http_parse_response.
 *
 * A pinned Coordinator (ca_pem, or the root an attested quote covers) is checked during the
 * handshake, before anything is sent: the server's certificate must be issued directly by that root
 * (verify depth 0). The Coordinator root signs only the intermediate and the Coordinator's own
 * server certificates; marble and secret certificates, whose keys marbles and users hold, sit
 * under the intermediate and so cannot pass. The name in the certificate is not checked: it is the
 * root's key, held by the Coordinator alone, that identifies it, and a marble may reach it by a
 * name that is not among its --dns-names.
 */
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "api_int.h"
#include "attestation/attestation.h"
#include "coordinator/coordinator.h"
#include "crypto/crypto.h"
#include "pki/pki.h"
#include "template/template.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* What one attempt works with. */
struct attempt {
    const struct api_activation_config *cfg;
    struct crypto_key *key;
    X509 *cert; /* the self-signed bootstrap certificate of key, for the handshake */
    struct buf spki, csr;
    struct buf pin;  /* PEM of the Coordinator root the server must chain to directly; empty: none */
    bool attested;   /* cfg->attest verified the Coordinator, and pin is its root */
    CURL *curl;
    char err[CURL_ERROR_SIZE];
    uint8_t exporter[32]; /* of the current connection, taken when its handshake completes */
    bool have_exporter;
};

/* HTTP ------------------------------------------------------------------------------------------ */

int api_http_parse_response(struct view in, int *status, struct view *body)
{
    *status = 0;
    *body = VIEW_EMPTY;
    const uint8_t *end = in.size >= 4 ? memmem(in.ptr, in.size, "\r\n\r\n", 4) : NULL;
    if (end == NULL) {
        ENSURE(in.size <= QY_HTTP_HEADER_MAX, ERR_TOO_LARGE, "response headers exceed %u bytes", QY_HTTP_HEADER_MAX);
        FAIL(ERR_TRUNCATED, "response headers incomplete");
    }
    size_t head = (size_t)(end - in.ptr) + 4;
    ENSURE(head <= QY_HTTP_HEADER_MAX, ERR_TOO_LARGE, "response headers exceed %u bytes", QY_HTTP_HEADER_MAX);
    ENSURE(head >= 12 && memcmp(in.ptr, "HTTP/1.", 7) == 0 && (in.ptr[7] == '0' || in.ptr[7] == '1') &&
               in.ptr[8] == ' ',
           ERR_SYNTAX, "not an HTTP/1.x response");
    int code = 0;
    for (size_t i = 9; i < 12; i++) {
        ENSURE(in.ptr[i] >= '0' && in.ptr[i] <= '9', ERR_SYNTAX, "malformed status code");
        code = code * 10 + (in.ptr[i] - '0');
    }
    /* Content-Length, case-insensitively, exactly once */
    bool have = false;
    uint64_t length = 0;
    const uint8_t *p = in.ptr, *stop = in.ptr + head - 4;
    while (p < stop) {
        const uint8_t *eol = memmem(p, (size_t)(stop - p) + 2, "\r\n", 2);
        size_t n = (size_t)(eol - p);
        if (n > 15 && strncasecmp((const char *)p, "content-length:", 15) == 0) {
            ENSURE(!have, ERR_SYNTAX, "two Content-Length headers");
            have = true;
            size_t i = 15;
            while (i < n && (p[i] == ' ' || p[i] == '\t'))
                i++;
            ENSURE(i < n, ERR_SYNTAX, "empty Content-Length");
            for (; i < n && p[i] != ' ' && p[i] != '\t'; i++) {
                ENSURE(p[i] >= '0' && p[i] <= '9' && length <= QY_API_RESPONSE_MAX, ERR_SYNTAX,
                       "malformed Content-Length");
                length = length * 10 + (uint64_t)(p[i] - '0');
            }
        } else if (n > 18 && strncasecmp((const char *)p, "transfer-encoding:", 18) == 0) {
            FAIL(ERR_UNSUPPORTED, "chunked responses are not expected");
        }
        p = eol + 2;
    }
    ENSURE(have, ERR_SYNTAX, "response without Content-Length");
    ENSURE(length <= QY_API_RESPONSE_MAX, ERR_TOO_LARGE, "response body of %llu bytes", (unsigned long long)length);
    ENSURE(in.size - head >= length, ERR_TRUNCATED, "response body incomplete");
    ENSURE(in.size - head == length, ERR_TRAILING, "bytes after the response");
    *status = code;
    *body = view_of(in.ptr + head, (size_t)length);
    return 0;
}

static int wait_socket(CURL *h, bool for_write, int timeout_ms)
{
    curl_socket_t fd;
    ENSURE(curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK && fd != CURL_SOCKET_BAD, ERR_NETWORK,
           "no connection");
    struct pollfd pfd = {fd, (short)(for_write ? POLLOUT : POLLIN), 0};
    int n = poll(&pfd, 1, timeout_ms);
    ENSURE(n > 0, n == 0 ? ERR_TIMEOUT : ERR_NETWORK, "the Coordinator did not answer in time");
    return 0;
}

static int send_all(CURL *h, struct view data)
{
    size_t off = 0;
    while (off < data.size) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(h, data.ptr + off, data.size - off, &n);
        if (rc == CURLE_AGAIN) {
            TRY(wait_socket(h, true, 30000));
            continue;
        }
        ENSURE(rc == CURLE_OK, ERR_NETWORK, "sending the activation: %s", curl_easy_strerror(rc));
        off += n;
    }
    return 0;
}

static int recv_response(CURL *h, struct buf *in, int *status, struct view *body)
{
    for (;;) {
        int r = api_http_parse_response(buf_view(in), status, body);
        if (r != ERR_TRUNCATED)
            return r;
        TRY(buf_reserve(in, 16 * 1024));
        size_t n = 0;
        CURLcode rc = curl_easy_recv(h, in->ptr + in->size, in->cap - in->size - 1, &n);
        if (rc == CURLE_AGAIN) {
            TRY(wait_socket(h, false, 60000));
            continue;
        }
        ENSURE(rc == CURLE_OK, ERR_NETWORK, "reading the answer: %s", curl_easy_strerror(rc));
        ENSURE(n > 0, ERR_NETWORK, "the Coordinator closed the connection");
        in->size += n;
    }
}

/* One attempt ----------------------------------------------------------------------------------- */

/* libcurl hides the SSL of a connect-only handle; take the exporter when the handshake completes. */
static void on_tls_info(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if (!(where & SSL_CB_HANDSHAKE_DONE))
        return;
    struct attempt *a = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (a != NULL && !a->have_exporter)
        a->have_exporter = SSL_export_keying_material((SSL *)ssl, a->exporter, sizeof(a->exporter),
                                                      COORD_EXPORTER_LABEL, strlen(COORD_EXPORTER_LABEL), NULL, 0,
                                                      0) == 1;
}

/* The client certificate and key go in as objects: handed over as PEM, curl would have OpenSSL
 * decode them again on every attempt (OpenSSL 3.0's decoders cost more than a signature). */
static CURLcode on_ssl_ctx(CURL *h, void *ssl_ctx, void *arg)
{
    (void)h;
    struct attempt *a = arg;
    SSL_CTX_set_app_data((SSL_CTX *)ssl_ctx, a);
    SSL_CTX_set_info_callback((SSL_CTX *)ssl_ctx, on_tls_info);
    if (a->pin.size > 0)
        SSL_CTX_set_verify_depth((SSL_CTX *)ssl_ctx, 0); /* issued by the root itself (see the top) */
    if (SSL_CTX_use_certificate((SSL_CTX *)ssl_ctx, a->cert) != 1 ||
        SSL_CTX_use_PrivateKey((SSL_CTX *)ssl_ctx, crypto_key_evp(a->key)) != 1)
        return CURLE_SSL_CERTPROBLEM;
    return CURLE_OK;
}

static int connect_tls(struct attempt *a)
{
    char url[300];
    snprintf(url, sizeof(url), "https://%s/", a->cfg->coordinator);
    CURL *h = a->curl = curl_easy_init();
    ENSURE(h != NULL, ERR_NOMEM, "cannot create a curl handle");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, a->err);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     a->cfg->connect_timeout_ms > 0 ? (long)a->cfg->connect_timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, a);
    a->have_exporter = false;
    if (a->pin.size > 0) {
        struct curl_blob ca = {a->pin.ptr, a->pin.size, CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
        curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    } else { /* as MarbleRun: the marble trusts nothing yet; the quote binding protects the exchange */
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    }
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    CURLcode rc = curl_easy_perform(h);
    ENSURE(rc != CURLE_PEER_FAILED_VERIFICATION, ERR_ATT_UNTRUSTED,
           "the server at %s is not the pinned Coordinator: its certificate is not issued by the Coordinator root (%s)",
           a->cfg->coordinator, a->err[0] ? a->err : curl_easy_strerror(rc));
    ENSURE(rc == CURLE_OK, ERR_NETWORK, "cannot reach the Coordinator at %s: %s", a->cfg->coordinator,
           a->err[0] ? a->err : curl_easy_strerror(rc));
    return 0;
}

static int binding(struct attempt *a, uint8_t report_data[64])
{
    ENSURE(a->have_exporter, ERR_UNSUPPORTED, "no TLS exporter from the handshake (is libcurl built with OpenSSL?)");
    return coord_activation_binding(buf_view(&a->spki), a->exporter, report_data);
}

static int request_body(struct attempt *a, struct view quote, struct buf *out)
{
    struct buf csr64 = BUF_INIT, quote64 = BUF_INIT;
    int r = ERR_INTERNAL;
    TRY_OUT(enc_b64(&csr64, buf_view(&a->csr)));
    TRY_OUT(enc_b64(&quote64, quote));
    TRY_OUT(buf_appendf(out, "{\"marbleType\":"));
    json_t *t = json_string(a->cfg->marble_type), *u = json_string(a->cfg->uuid);
    r = t && u ? js_dump(out, t, JSON_ENCODE_ANY) : ERR_NOMEM;
    if (r == 0)
        r = buf_append_str(out, ",\"uuid\":");
    if (r == 0)
        r = js_dump(out, u, JSON_ENCODE_ANY);
    json_decref(t);
    json_decref(u);
    TRY_OUT(r);
    TRY_OUT(buf_appendf(out, ",\"csr\":\"%.*s\",\"quote\":\"%.*s\"}", (int)csr64.size, (const char *)csr64.ptr,
                        (int)quote64.size, quote64.size ? (const char *)quote64.ptr : ""));
    r = 0;
out:
    buf_free(&csr64);
    buf_free(&quote64);
    return r;
}

/* Sends the activation over the connected session; the response JSON in *resp (owned). */
static int exchange(struct attempt *a, int *status, json_t **resp)
{
    uint8_t report_data[64];
    struct buf quote = BUF_INIT, body = BUF_INIT, req = BUF_INIT, in = BUF_INIT;
    struct view payload;
    int r = ERR_INTERNAL;
    *resp = NULL;
    TRY_OUT(binding(a, report_data));
    if (a->cfg->quote_fn != NULL)
        TRY_OUT(a->cfg->quote_fn(a->cfg->quote_ctx, report_data, &quote));
    else if (!att_source_is_simulation(a->cfg->quote_source)) {
        /* Not the Coordinator's fault, so not worth retrying (a premain outside its TEE would
         * otherwise wait out the whole deadline): fail at once, saying so. */
        r = att_source_quote(a->cfg->quote_source, report_data, &quote);
        ENSURE_OUT(r == 0, ERR_ATTESTATION, "cannot make a quote (%s): %s",
                   att_source_name(a->cfg->quote_source), err_detail(r));
    }
    TRY_OUT(request_body(a, buf_view(&quote), &body));
    TRY_OUT(buf_appendf(&req,
                        "POST /api/v2/activate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                        a->cfg->coordinator, body.size));
    TRY_OUT(buf_append_view(&req, buf_view(&body)));
    TRY_OUT(send_all(a->curl, buf_view(&req)));
    if (a->cfg->insecure_wire_tap != NULL)
        a->cfg->insecure_wire_tap(a->cfg->insecure_wire_tap_ctx, true, buf_view(&req));
    TRY_OUT(recv_response(a->curl, &in, status, &payload));
    if (a->cfg->insecure_wire_tap != NULL)
        a->cfg->insecure_wire_tap(a->cfg->insecure_wire_tap_ctx, false, buf_view(&in));
    r = js_parse(payload, QY_API_RESPONSE_MAX, resp);
    ENSURE_OUT(r == 0, ERR_BAD_REQUEST, "the Coordinator answered %d with malformed JSON", *status);
out:
    buf_free(&quote);
    buf_free(&body);
    buf_free(&req);
    buf_free(&in);
    return r;
}

/* Parameters ---------------------------------------------------------------------------------------- */

/* Appends one segment: literal bytes, or this marble's private key in the named encoding. */
static int fill_segment(struct view der, const json_t *seg, struct buf *out)
{
    json_t *data = json_object_get(seg, "data"), *hole = json_object_get(seg, "privateKey");
    if (json_is_string(data))
        return enc_b64_decode(out, js_string_view(data));
    ENSURE(json_is_string(hole), ERR_BAD_REQUEST, "a parameter segment is neither data nor privateKey");
    enum tpl_key_encoding enc;
    TRY(tpl_key_encoding_parse(json_string_value(hole), &enc));
    return tpl_key_encode(enc, der, out);
}

static int fill_params(struct view der, const json_t *obj, struct api_param **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (obj == NULL || json_is_null(obj))
        return 0;
    ENSURE(json_is_object(obj) && json_object_size(obj) <= QY_MANIFEST_MAX_ENTRIES, ERR_BAD_REQUEST,
           "malformed parameters");
    struct api_param *p = calloc(json_object_size(obj) + 1, sizeof(*p));
    ENSURE(p != NULL, ERR_NOMEM, "out of memory");
    *out = p;
    const char *name;
    json_t *segs;
    json_object_foreach((json_t *)obj, name, segs) {
        ENSURE(json_is_array(segs), ERR_BAD_REQUEST, "parameter \"%s\" is not a segment list", name);
        p[*count].name = strdup(name);
        ENSURE(p[*count].name != NULL, ERR_NOMEM, "out of memory");
        size_t i;
        json_t *seg;
        struct api_param *cur = &p[(*count)++];
        json_array_foreach(segs, i, seg)
            TRY(fill_segment(der, seg, &cur->value));
    }
    return 0;
}

static int build_result(const struct crypto_key *key, const json_t *data, struct api_activation **out)
{
    struct api_activation *res = calloc(1, sizeof(*res));
    ENSURE(res != NULL, ERR_NOMEM, "out of memory");
    struct buf der = BUF_INIT; /* the private key, PKCS#8: wiped on free */
    int r = ERR_BAD_REQUEST;
    const json_t *params = json_object_get(data, "parameters");
    const char *chain = json_string_value(json_object_get(data, "certificateChain"));
    json_t *argv = json_object_get(params, "argv");
    ENSURE_OUT(chain != NULL && json_is_object(params), ERR_BAD_REQUEST, "the activation answer lacks its parts");
    TRY_OUT(buf_append_str(&res->chain_pem, chain));
    TRY_OUT(crypto_key_private_der(key, &der)); /* once: every hole gets these bytes */
    TRY_OUT(enc_pem(&res->key_pem, "PRIVATE KEY", buf_view(&der)));
    TRY_OUT(fill_params(buf_view(&der), json_object_get(params, "files"), &res->files, &res->files_count));
    TRY_OUT(fill_params(buf_view(&der), json_object_get(params, "env"), &res->env, &res->env_count));
    size_t n = json_is_array(argv) ? json_array_size(argv) : 0;
    ENSURE_OUT(n <= QY_MANIFEST_MAX_ENTRIES, ERR_BAD_REQUEST, "argv too long");
    res->argv = calloc(n + 1, sizeof(char *));
    ENSURE_OUT(res->argv != NULL, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(argv, i));
        ENSURE_OUT(s != NULL && (res->argv[i] = strdup(s)) != NULL, ERR_BAD_REQUEST, "malformed argv");
        res->argc++;
    }
    *out = res;
    res = NULL;
    r = 0;
out:
    buf_free(&der);
    api_activation_free(res);
    return r;
}

/* The Coordinator's answer as an error code the retry loop understands. */
static int refusal(int status, const json_t *resp)
{
    const char *msg = json_string_value(json_object_get(resp, "message"));
    msg = msg ? msg : "no reason given";
    if (status == 503)
        FAIL(ERR_WRONG_STATE, "the Coordinator is not accepting marbles yet: %s", msg);
    if (status == 403 || status == 401)
        FAIL(ERR_POLICY, "the Coordinator refused this marble: %s", msg);
    if (status == 400)
        FAIL(ERR_BAD_REQUEST, "the Coordinator refused the request: %s", msg);
    FAIL(ERR_UNAVAILABLE, "the Coordinator failed (HTTP %d): %s", status, msg);
}

int api_activation_answer(const struct crypto_key *key, int status, const json_t *resp,
                          struct api_activation **out)
{
    *out = NULL;
    if (status != 200)
        return refusal(status, resp);
    return build_result(key, json_object_get(resp, "data"), out);
}

/* Verifies the Coordinator's quote (once per api_activate); the root it covers becomes the pin. */
static int attest(struct attempt *a)
{
    struct buf root = BUF_INIT, want = BUF_INIT, got = BUF_INIT;
    int r = ERR_INTERNAL;
    TRY_OUT(api_attest_coordinator(a->cfg->attest, &root));
    if (a->pin.size > 0) {
        TRY_OUT(crypto_cert_pem_to_der(buf_view(&a->pin), &want));
        TRY_OUT(crypto_cert_pem_to_der(buf_view(&root), &got));
        ENSURE_OUT(view_eq(buf_view(&want), buf_view(&got)), ERR_ATT_UNTRUSTED,
                   "the Coordinator at %s has another root certificate than the pinned one", a->cfg->attest->address);
    }
    buf_reset(&a->pin);
    TRY_OUT(buf_append_view(&a->pin, buf_view(&root)));
    a->attested = true;
    r = 0;
out:
    buf_free(&root), buf_free(&want), buf_free(&got);
    return r;
}

static int attempt_once(struct attempt *a, struct api_activation **out)
{
    int status = 0;
    json_t *resp = NULL;
    int r = a->cfg->attest != NULL && !a->attested ? attest(a) : 0;
    if (r < 0)
        return r;
    r = connect_tls(a);
    if (r == 0)
        r = exchange(a, &status, &resp);
    if (r == 0)
        r = api_activation_answer(a->key, status, resp, out);
    json_decref(resp);
    curl_easy_cleanup(a->curl);
    a->curl = NULL;
    return r;
}

/* Setup and the retry loop ------------------------------------------------------------------------ */

static int prepare(struct attempt *a)
{
    struct buf der = BUF_INIT;
    int r = ERR_INTERNAL;
    TRY_OUT(buf_append_view(&a->pin, a->cfg->ca_pem));
    TRY_OUT(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &a->key));
    TRY_OUT(crypto_key_public_der(a->key, &a->spki));
    TRY_OUT(pki_csr_build(a->key, a->cfg->names, a->cfg->names_count, &a->csr));
    TRY_OUT(pki_bootstrap_cert(a->key, a->cfg->names, a->cfg->names_count, 0, &der));
    const unsigned char *p = der.ptr;
    a->cert = d2i_X509(NULL, &p, (long)der.size);
    ENSURE_OUT(a->cert != NULL, ERR_CRYPTO, "the bootstrap certificate does not parse");
    r = 0;
out:
    buf_free(&der);
    return r;
}

static bool retryable(int r)
{
    return r == ERR_NETWORK || r == ERR_TIMEOUT || r == ERR_WRONG_STATE || r == ERR_UNAVAILABLE;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int api_activate(const struct api_activation_config *cfg, struct api_activation **out)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    ENSURE(cfg->coordinator && cfg->marble_type && cfg->uuid && (cfg->quote_source || cfg->quote_fn), ERR_INVALID_ARG,
           "activation needs a Coordinator, a marble type, a UUID and a quote source");
    ENSURE(strlen(cfg->coordinator) < 256, ERR_INVALID_ARG, "Coordinator address too long");
    struct attempt a = {.cfg = cfg};
    int r = prepare(&a);
    int64_t deadline = now_ms() + (int64_t)(cfg->deadline_seconds > 0 ? cfg->deadline_seconds : 300) * 1000;
    int wait = 100, cap = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : 10000;
    for (int attempt = 1; r == 0; attempt++) {
        r = attempt_once(&a, out);
        if (r == 0 || !retryable(r) || (cfg->max_attempts > 0 && attempt >= cfg->max_attempts) ||
            now_ms() + wait > deadline)
            break;
        if (cfg->on_retry)
            cfg->on_retry(cfg->on_retry_ctx, attempt, r, wait);
        struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000};
        nanosleep(&ts, NULL);
        wait = wait * 2 > cap ? cap : wait * 2;
        r = 0;
    }
    crypto_key_free(a.key);
    X509_free(a.cert);
    buf_free(&a.spki);
    buf_free(&a.csr);
    buf_free(&a.pin);
    return r;
}

static void params_free(struct api_param *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].name);
        buf_free(&p[i].value);
    }
    free(p);
}

void api_activation_free(struct api_activation *a)
{
    if (a == NULL)
        return;
    buf_free(&a->chain_pem);
    buf_free(&a->key_pem);
    params_free(a->files, a->files_count);
    params_free(a->env, a->env_count);
    for (size_t i = 0; a->argv && i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
    free(a);
}
