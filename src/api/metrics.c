/*
 * Prometheus metrics: the Coordinator's state, mode and what makes it insecure, activations by
 * marble type and result, collateral fetches by item kind and outcome, and request counts and
 * latencies per server and route. Label values are bounded: routes are static
 * strings, marble types are manifest names or "unknown" (at most QY_METRICS_SERIES_MAX series; beyond
 * that they fold into "other").
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

static const double buckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct req_series {
    const char *server, *route;
    int status;
    uint64_t count;
    uint64_t bucket[NBUCKETS];
    double sum;
};

struct act_series {
    char type[QY_NAME_MAX + 1];
    const char *result;
    uint64_t count;
};

/* Four kinds times four outcomes, all static strings. */
#define FETCH_SERIES_MAX 16
struct fetch_series {
    const char *kind, *outcome;
    uint64_t count;
};

static struct {
    pthread_mutex_t lock;
    struct req_series req[QY_METRICS_SERIES_MAX];
    size_t nreq;
    struct act_series act[QY_METRICS_SERIES_MAX];
    size_t nact;
    struct fetch_series fetch[FETCH_SERIES_MAX];
    size_t nfetch;
} m = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0, {{{0}}}, 0, {{0}}, 0};

void api_metrics_request(const char *server, const char *route, int status, double seconds)
{
    route = route ? route : "unmatched";
    pthread_mutex_lock(&m.lock);
    struct req_series *s = NULL;
    for (size_t i = 0; i < m.nreq && s == NULL; i++)
        if (m.req[i].status == status && strcmp(m.req[i].route, route) == 0 && strcmp(m.req[i].server, server) == 0)
            s = &m.req[i];
    if (s == NULL && m.nreq < QY_METRICS_SERIES_MAX) {
        s = &m.req[m.nreq++];
        *s = (struct req_series){server, route, status, 0, {0}, 0};
    }
    if (s != NULL) {
        s->count++;
        s->sum += seconds;
        for (size_t b = 0; b < NBUCKETS; b++)
            if (seconds <= buckets[b])
                s->bucket[b]++;
    }
    pthread_mutex_unlock(&m.lock);
}

static struct act_series *act_find(const char *type, const char *result)
{
    for (size_t i = 0; i < m.nact; i++)
        if (strcmp(m.act[i].result, result) == 0 && strcmp(m.act[i].type, type) == 0)
            return &m.act[i];
    return NULL;
}

void api_metrics_activation(const char *marble_type, const char *result)
{
    pthread_mutex_lock(&m.lock);
    struct act_series *s = act_find(marble_type, result);
    if (s == NULL && m.nact >= QY_METRICS_SERIES_MAX - 8) /* full: fold into "other" */
        marble_type = "other", s = act_find(marble_type, result);
    if (s == NULL && m.nact < QY_METRICS_SERIES_MAX) {
        s = &m.act[m.nact++];
        snprintf(s->type, sizeof(s->type), "%s", marble_type);
        s->result = result;
        s->count = 0;
    }
    if (s != NULL)
        s->count++;
    pthread_mutex_unlock(&m.lock);
}

void api_metrics_collateral_fetch(const char *kind, const char *outcome)
{
    pthread_mutex_lock(&m.lock);
    struct fetch_series *s = NULL;
    for (size_t i = 0; i < m.nfetch && s == NULL; i++)
        if (strcmp(m.fetch[i].kind, kind) == 0 && strcmp(m.fetch[i].outcome, outcome) == 0)
            s = &m.fetch[i];
    if (s == NULL && m.nfetch < FETCH_SERIES_MAX) {
        s = &m.fetch[m.nfetch++];
        *s = (struct fetch_series){kind, outcome, 0};
    }
    if (s != NULL)
        s->count++;
    pthread_mutex_unlock(&m.lock);
}

static int render_fetches(struct buf *out)
{
    TRY(buf_append_str(out, "# HELP quarry_collateral_fetches_total Collateral fetches by item and outcome (ok, "
                            "absent, failed: the source failed, rejected: what it served failed a check).\n"
                            "# TYPE quarry_collateral_fetches_total counter\n"));
    for (size_t i = 0; i < m.nfetch; i++)
        TRY(buf_appendf(out, "quarry_collateral_fetches_total{kind=\"%s\",outcome=\"%s\"} %llu\n", m.fetch[i].kind,
                        m.fetch[i].outcome, (unsigned long long)m.fetch[i].count));
    return 0;
}

/* Label values escaped as the text format wants: backslash, quote, newline. */
static int label(struct buf *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            TRY(buf_append_byte(out, '\\'));
        if (*v == '\n') {
            TRY(buf_append_str(out, "\\n"));
            continue;
        }
        TRY(buf_append_byte(out, (uint8_t)*v));
    }
    return 0;
}

static int render_activations(struct buf *out)
{
    TRY(buf_append_str(out, "# HELP coordinator_marble_activations_total Marble activations by type and result.\n"
                            "# TYPE coordinator_marble_activations_total counter\n"));
    for (size_t i = 0; i < m.nact; i++) {
        TRY(buf_append_str(out, "coordinator_marble_activations_total{type=\""));
        TRY(label(out, m.act[i].type));
        TRY(buf_appendf(out, "\",result=\"%s\"} %llu\n", m.act[i].result, (unsigned long long)m.act[i].count));
    }
    return 0;
}

static int render_requests(struct buf *out)
{
    TRY(buf_append_str(out, "# HELP quarry_http_request_duration_seconds Request latency by server and route.\n"
                            "# TYPE quarry_http_request_duration_seconds histogram\n"));
    for (size_t i = 0; i < m.nreq; i++) {
        const struct req_series *s = &m.req[i];
        for (size_t b = 0; b < NBUCKETS; b++)
            TRY(buf_appendf(out,
                            "quarry_http_request_duration_seconds_bucket{server=\"%s\",route=\"%s\",code=\"%d\","
                            "le=\"%g\"} %llu\n",
                            s->server, s->route, s->status, buckets[b], (unsigned long long)s->bucket[b]));
        TRY(buf_appendf(out,
                        "quarry_http_request_duration_seconds_bucket{server=\"%s\",route=\"%s\",code=\"%d\",le=\"+Inf\"} "
                        "%llu\nquarry_http_request_duration_seconds_sum{server=\"%s\",route=\"%s\",code=\"%d\"} %.6f\n"
                        "quarry_http_request_duration_seconds_count{server=\"%s\",route=\"%s\",code=\"%d\"} %llu\n",
                        s->server, s->route, s->status, (unsigned long long)s->count, s->server, s->route, s->status,
                        s->sum, s->server, s->route, s->status, (unsigned long long)s->count));
    }
    return 0;
}

int api_metrics_render(int state, const char *mode, const char *insecure, struct buf *out)
{
    TRY(buf_appendf(out,
                    "# HELP coordinator_state The Coordinator's state (1 recovery, 2 accepting manifest, 3 "
                    "accepting marbles).\n# TYPE coordinator_state gauge\ncoordinator_state %d\n"
                    "# HELP quarry_attestation_mode How marbles and the Coordinator attest; anything but sgx is "
                    "INSECURE.\n# TYPE quarry_attestation_mode gauge\nquarry_attestation_mode{mode=\"%s\"} 1\n"
                    "# HELP quarry_insecure 1 when attestation proves nothing: simulation mode, emulated quotes, or "
                    "a trusted root other than Intel's (the reasons label).\n# TYPE quarry_insecure gauge\n"
                    "quarry_insecure{reasons=\"%s\"} %d\n",
                    state, mode, insecure, insecure[0] != '\0'));
    pthread_mutex_lock(&m.lock);
    int r = render_activations(out);
    if (r == 0)
        r = render_fetches(out);
    if (r == 0)
        r = render_requests(out);
    pthread_mutex_unlock(&m.lock);
    return r;
}

void api_metrics_handler(void *ctx, struct api_request *req, struct api_response *resp)
{
    struct api_metrics_ctx *mc = ctx;
    if (api_req_method(req) != API_GET || strcmp(api_req_path(req), "/metrics") != 0) {
        resp->status = 404;
        resp->content_type = "text/plain; charset=utf-8";
        if (buf_append_str(&resp->body, "not found\n") < 0)
            resp->status = 500;
        return;
    }
    resp->route = "/metrics";
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    resp->status = api_metrics_render(mc->state(mc->state_ctx), mc->mode, mc->insecure ? mc->insecure : "", &resp->body) == 0
                       ? 200
                       : 500;
}
