/*
 * The mesh API: marble activation over mutual TLS (docs/mesh-protocol.md).
 *
 * POST /api/v2/activate {"marbleType", "uuid", "csr": base64 DER, "quote": base64}. The TLS client
 * certificate's key and the connection's exporter come from this very connection, so the quote the
 * marble made over them cannot be relayed or replayed elsewhere. Answers: 200 success with the
 * activation; 503 fail while the Coordinator does not accept marbles yet, while the collateral for
 * the marble's platform is being fetched or cannot be had, or when the activation could not be
 * committed within QY_MESH_ANSWER_DEADLINE_MS (the premain retries; the message says why); 403 fail
 * when the marble is refused, with the reason; 400 fail for malformed requests.
 */
#include <string.h>
#include <time.h>

#include "api.h"
#include "api_int.h"
#include "coordinator/coordinator.h"

static int member_string(const json_t *body, const char *name, const char **out)
{
    json_t *v;
    *out = NULL;
    TRY(js_member_ci(body, name, &v));
    ENSURE(v != NULL && json_is_string(v), ERR_BAD_REQUEST, "\"%s\" must be a string", name);
    ENSURE(memchr(json_string_value(v), 0, json_string_length(v)) == NULL && json_string_length(v) <= QY_NAME_MAX,
           ERR_BAD_REQUEST, "\"%s\" is malformed", name);
    *out = json_string_value(v);
    return 0;
}

int api_mesh_parse_activation(struct view body, json_t **json, struct coord_activation_request *ar,
                              struct buf *csr, struct buf *quote)
{
    *json = NULL;
    int r = js_parse(body, QY_API_BODY_MAX, json);
    if (r == 0 && !json_is_object(*json))
        r = err_fail(ERR_BAD_REQUEST, __func__, "expected a JSON object");
    if (r == 0)
        r = member_string(*json, "marbleType", &ar->marble_type);
    if (r == 0)
        r = member_string(*json, "uuid", &ar->uuid);
    if (r == 0)
        r = api_b64_member(*json, "csr", true, csr);
    if (r == 0)
        r = api_b64_member(*json, "quote", false, quote);
    ar->csr = buf_view(csr);
    ar->quote = buf_view(quote);
    return r;
}

static void answer_error(struct api_response *resp, int r)
{
    if (r == ERR_ATT_NO_COLLATERAL) { /* the collateral service failed, not the marble: retry */
        api_jsend_fail(resp, 503, NULL, "%s", err_detail(r));
        return;
    }
    switch (err_category(r)) {
    case ERRC_STATE:
        api_jsend_fail(resp, 503, NULL, "%s", err_detail(r));
        break;
    case ERRC_POLICY:
    case ERRC_PERM:
        api_jsend_fail(resp, 403, NULL, "%s", err_detail(r));
        break;
    case ERRC_AUTH:
        api_jsend_fail(resp, 401, NULL, "%s", err_detail(r));
        break;
    case ERRC_INPUT:
    case ERRC_NOTFOUND:
        api_jsend_fail(resp, 400, NULL, "%s", err_detail(r));
        break;
    case ERRC_NONE:
    case ERRC_BUG:
    case ERRC_SYSTEM:
    default:
        api_jsend_error(resp, 500, "%s", err_detail(r));
        break;
    }
}

/* The metric of one activation. A type the manifest does not have is the sender's choice, so all of
 * those share one label: the series stay bounded by the manifest. */
static void count_activation(struct coord *coord, const char *type, int r)
{
    const char *result = r == 0                              ? "ok"
                         : r == ERR_ATT_COLLATERAL_PENDING   ? "collateral_pending"
                         : r == ERR_ATT_NO_COLLATERAL        ? "collateral_unavailable"
                         : err_category(r) == ERRC_STATE  ? "not_ready"
                         : err_category(r) == ERRC_POLICY ? "refused"
                                                          : "error";
    api_metrics_activation(r == 0 || coord_marble_type_known(coord, type) ? type : "unknown", result);
}

static void activate(struct coord *coord, struct api_request *req, struct api_response *resp)
{
    json_t *body = NULL;
    struct buf csr = BUF_INIT, quote = BUF_INIT, spki = BUF_INIT;
    struct coord_activation_response *act = NULL;
    struct coord_activation_request ar = {0};
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ar.answer_by_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + QY_MESH_ANSWER_DEADLINE_MS;
    int r = api_mesh_parse_activation(api_req_body(req), &body, &ar, &csr, &quote);
    if (r == 0)
        r = api_req_peer_spki(req, &spki);
    if (r == 0)
        r = api_req_tls_exporter(req, COORD_EXPORTER_LABEL, ar.exporter, sizeof(ar.exporter));
    if (r == 0) {
        struct crypto_key *peer = api_req_peer_key(req);
        ar.peer_spki = buf_view(&spki);
        ar.peer_key = peer;
        r = coord_activate(coord, &ar, &act);
        crypto_key_free(peer);
    }
    if (r < 0)
        answer_error(resp, r);
    else
        api_jsend_success(resp, coord_activation_json(act));
    if (ar.marble_type != NULL)
        count_activation(coord, ar.marble_type, r);
    coord_activation_response_free(act);
    json_decref(body);
    buf_free(&csr);
    buf_free(&quote);
    buf_free(&spki);
}

void api_mesh_api_handler(void *ctx, struct api_request *req, struct api_response *resp)
{
    if (api_req_method(req) == API_POST && strcmp(api_req_path(req), "/api/v2/activate") == 0) {
        resp->route = "/api/v2/activate";
        activate(ctx, req, resp);
    }
    else
        api_jsend_error(resp, 405, "%s", "");
}
