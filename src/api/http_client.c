/*
 * Bounded HTTP GET over libcurl, for collateral. Everything a server controls is bounded: how long
 * it may take to connect and to answer, how many bytes of body and headers it may send, where it
 * may send us (no redirects, http/https only). Failed transfers are retried a few times with a
 * growing pause; a server that answers, even with an error status, is not asked again unless the
 * status says "try later" (429, 5xx). The whole call, tries and pauses included, ends by one
 * deadline: each try gets at most what is left of it.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"

static pthread_once_t http_once = PTHREAD_ONCE_INIT;

static void http_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct transfer {
    const struct api_http_get *req;
    struct api_http_result *out;
    size_t max_body;
    size_t header_bytes;
    bool too_large;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;
    if (n > t->max_body - t->out->body.size) {
        t->too_large = true;
        return 0;
    }
    return buf_append(&t->out->body, ptr, n) == 0 ? n : 0;
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nitems;
    t->header_bytes += n;
    if (t->header_bytes > QY_PCCS_HEADER_MAX_SIZE) {
        t->too_large = true;
        return 0;
    }
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue or a retry): forget captured headers. */
        for (size_t i = 0; i < t->req->capture_count; i++)
            buf_reset(&t->out->headers[i]);
        return n;
    }
    const char *colon = memchr(ptr, ':', n);
    if (colon == NULL)
        return n;
    size_t name_len = (size_t)(colon - ptr);
    for (size_t i = 0; i < t->req->capture_count; i++) {
        const char *want = t->req->capture[i];
        if (strlen(want) != name_len || strncasecmp(ptr, want, name_len) != 0)
            continue;
        size_t start = name_len + 1, end = n;
        while (start < end && (ptr[start] == ' ' || ptr[start] == '\t'))
            start++;
        while (end > start && (ptr[end - 1] == '\r' || ptr[end - 1] == '\n' || ptr[end - 1] == ' '))
            end--;
        buf_reset(&t->out->headers[i]);
        if (buf_append(&t->out->headers[i], ptr + start, end - start) < 0)
            return 0;
    }
    return n;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int once(CURL *curl, struct transfer *t, long timeout_ms, bool *retry)
{
    *retry = false;
    ENSURE(curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK, ERR_INVALID_ARG,
           "%s: cannot set the timeout", t->req->url);
    buf_reset(&t->out->body);
    t->header_bytes = 0;
    t->too_large = false;
    t->out->status = 0;
    CURLcode c = curl_easy_perform(curl);
    if (t->too_large || c == CURLE_FILESIZE_EXCEEDED)
        FAIL(ERR_TOO_LARGE, "%s: the response exceeds %zu bytes of body or %u of headers",
             t->req->url, t->max_body, QY_PCCS_HEADER_MAX_SIZE);
    if (c != CURLE_OK) {
        *retry = true;
        FAIL(c == CURLE_OPERATION_TIMEDOUT ? ERR_TIMEOUT : ERR_NETWORK, "%s: %s", t->req->url,
             curl_easy_strerror(c));
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t->out->status);
    *retry = t->out->status == 429 || t->out->status >= 500;
    return 0;
}

int api_http_get(const struct api_http_get *req, struct api_http_result *out)
{
    int r = ERR_INTERNAL;
    memset(out, 0, sizeof(*out));
    ENSURE(req->capture_count <= API_HTTP_MAX_CAPTURE, ERR_INVALID_ARG,
           "too many headers to capture");
    pthread_once(&http_once, http_init_once);
    CURL *curl = curl_easy_init();
    ENSURE(curl != NULL, ERR_NOMEM, "cannot create a curl handle");
    struct transfer t = {req, out, req->max_body ? req->max_body : QY_PCCS_BODY_MAX_SIZE, 0, false};
    long connect_ms =
        req->connect_timeout_ms ? req->connect_timeout_ms : QY_PCCS_CONNECT_TIMEOUT_MS;
    long total_ms = req->timeout_ms ? req->timeout_ms : QY_PCCS_TIMEOUT_MS;
    long deadline = now_ms() + (req->deadline_ms ? req->deadline_ms : QY_PCCS_DEADLINE_MS);
    int retries = req->retries < 0 ? 0 : req->retries ? req->retries : QY_PCCS_RETRIES;
    bool ok =
        curl_easy_setopt(curl, CURLOPT_URL, req->url) == CURLE_OK &&
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) == CURLE_OK &&
        curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t.max_body) == CURLE_OK &&
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t) == CURLE_OK &&
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t) == CURLE_OK &&
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "quarry") == CURLE_OK;
    if (ok && req->ca_file != NULL)
        ok = curl_easy_setopt(curl, CURLOPT_CAINFO, req->ca_file) == CURLE_OK;
    if (ok && req->insecure_skip_tls_verify)
        ok = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L) == CURLE_OK &&
             curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L) == CURLE_OK;
    ENSURE_OUT(ok, ERR_INVALID_ARG, "%s: cannot configure the transfer", req->url);
    for (int attempt = 0;; attempt++) {
        bool retry;
        long left = deadline - now_ms(), pause = QY_PCCS_RETRY_DELAY_MS * (attempt + 1);
        r = once(curl, &t, left < total_ms ? (left > 1 ? left : 1) : total_ms, &retry);
        if (!retry || attempt >= retries || deadline - now_ms() <= pause)
            break;
        pause_ms(pause);
    }
out:
    curl_easy_cleanup(curl);
    if (r < 0)
        api_http_result_free(out);
    return r;
}

void api_http_result_free(struct api_http_result *r)
{
    buf_free(&r->body);
    for (size_t i = 0; i < API_HTTP_MAX_CAPTURE; i++)
        buf_free(&r->headers[i]);
    r->status = 0;
}
