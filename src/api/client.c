/* The CLI's HTTPS client, on libcurl. See api.h. */
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

struct api_client {
    CURL *curl;
    char base[300];
    struct buf ca, cert, key; /* kept alive for curl's blob options */
    char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink {
    struct buf *out;
    size_t start;
    bool too_large;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb;
    if (s->out->size - s->start + n > QY_API_RESPONSE_MAX) {
        s->too_large = true;
        return 0; /* aborts the transfer */
    }
    return buf_append(s->out, ptr, n) == 0 ? n : 0;
}

static void set_blob(CURL *curl, CURLoption opt, struct buf *keep, struct view v)
{
    if (v.size == 0 || buf_set(keep, v) < 0)
        return;
    struct curl_blob blob = {keep->ptr, keep->size, CURL_BLOB_NOCOPY};
    curl_easy_setopt(curl, opt, &blob);
}

/* The Coordinator's servers are issued by its root itself. Marble certificates and certificate
 * secrets chain to the same root through the intermediate, and marbles and users hold their keys:
 * a chain check alone would let any of them pose as the Coordinator. Depth 0 admits only a leaf
 * signed directly by the trust anchor. */
static CURLcode root_issued_only(CURL *curl, void *ssl_ctx, void *arg)
{
    (void)curl, (void)arg;
    SSL_CTX_set_verify_depth(ssl_ctx, 0);
    return CURLE_OK;
}

int api_client_new(const struct api_client_config *cfg, struct api_client **out)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    ENSURE(strlen(cfg->address) < 256, ERR_INVALID_ARG, "address too long");
    struct api_client *c = calloc(1, sizeof(*c));
    ENSURE(c != NULL, ERR_NOMEM, "cannot allocate a client");
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        free(c);
        FAIL(ERR_NOMEM, "cannot create a curl handle");
    }
    snprintf(c->base, sizeof(c->base), "https://%s", cfg->address);
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000L);
    if (cfg->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        set_blob(h, CURLOPT_CAINFO_BLOB, &c->ca, cfg->ca_pem);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL); /* only the given roots */
        curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, root_issued_only);
    }
    if (cfg->cert_pem.size > 0) {
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        set_blob(h, CURLOPT_SSLCERT_BLOB, &c->cert, cfg->cert_pem);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        set_blob(h, CURLOPT_SSLKEY_BLOB, &c->key, cfg->key_pem);
    }
    *out = c;
    return 0;
}

void api_client_free(struct api_client *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    buf_free(&c->ca);
    buf_free(&c->cert);
    buf_free(&c->key);
    free(c);
}

int api_client_call(struct api_client *c, enum api_method method, const char *target, struct view body,
                    long *status, struct buf *out)
{
    char url[QY_PATH_MAX];
    *status = 0;
    int n = snprintf(url, sizeof(url), "%s%s", c->base, target);
    ENSURE(n > 0 && (size_t)n < sizeof(url), ERR_INVALID_ARG, "request target too long");
    struct sink sink = {out, out->size, false};
    CURL *h = c->curl;
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    if (method == API_POST) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.size ? (const char *)body.ptr : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.size);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    c->errbuf[0] = '\0';
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    if (sink.too_large) {
        out->size = sink.start;
        FAIL(ERR_TOO_LARGE, "response from %s is larger than %u bytes", c->base, QY_API_RESPONSE_MAX);
    }
    if (rc != CURLE_OK) {
        out->size = sink.start;
        FAIL(rc == CURLE_OPERATION_TIMEDOUT ? ERR_TIMEOUT : ERR_NETWORK, "%s: %s", c->base,
             c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}
