/*
 * The client REST API: MarbleRun's v2 routes (and the cheap v1 ones) over the coordinator
 * (reference/marblerun.md §3). One route table carries, per route, the method, the states it is
 * served in and who may call it; both are checked before the handler runs. Status codes and JSend
 * shapes are MarbleRun's: bad requests 400 fail, unauthenticated 401 fail, everything the Coordinator
 * refuses 500 error (MarbleRun's choice, kept for its clients), unknown paths and methods 405 error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_int.h"
#include "coordinator/coordinator.h"

enum auth { AUTH_NONE, AUTH_USER };

#define ANY_STATE 0xf
#define ST(s) (1u << (s))
#define SERVING (ST(COORD_RECOVERY) | ST(COORD_ACCEPTING_MANIFEST) | ST(COORD_ACCEPTING_MARBLES))
#define MARBLES ST(COORD_ACCEPTING_MARBLES)

struct call {
    struct coord *coord;
    struct api_request *req;
    struct api_response *resp;
    char *user; /* for AUTH_USER routes */
    bool v1;
};

struct route {
    enum api_method method;
    const char *path;
    unsigned states;
    enum auth auth;
    void (*handler)(struct call *c);
};

/* The coordinator's refusal as MarbleRun sends it: a 500 JSend error with the reason. */
static void refuse(struct call *c, int r)
{
    int status = r == ERR_AUTH ? 401 : r == ERR_NOT_FOUND && !c->v1 ? 404 : c->v1 ? 400 : 500;
    api_jsend_error(c->resp, status, "%s", err_detail(r));
}

/* A request body as a JSON object; 400 fail otherwise. NULL when it failed (answered). */
int api_body_object(struct view body, json_t **out)
{
    json_t *j = NULL;
    *out = NULL;
    int r = js_parse(body, QY_API_BODY_MAX, &j);
    if (r == 0 && !json_is_object(j)) {
        json_decref(j);
        r = err_fail(ERR_TYPE, __func__, "expected a JSON object");
    }
    if (r == 0)
        *out = j;
    return r;
}

static json_t *body_object(struct call *c)
{
    json_t *j = NULL;
    int r = api_body_object(api_req_body(c->req), &j);
    if (r < 0) {
        if (c->v1)
            api_jsend_error(c->resp, 400, "%s", err_detail(r));
        else
            api_jsend_fail(c->resp, 400, NULL, "%s", err_detail(r));
        return NULL;
    }
    return j;
}

/* A base64 member, found case-insensitively as Go does. */
int api_b64_member(const json_t *obj, const char *name, bool required, struct buf *out)
{
    json_t *v;
    TRY(js_member_ci(obj, name, &v));
    if (!required && (v == NULL || json_is_null(v)))
        return 0;
    ENSURE(v != NULL && !json_is_null(v), ERR_BAD_REQUEST, "missing \"%s\"", name);
    ENSURE(json_is_string(v), ERR_BAD_REQUEST, "\"%s\" must be a base64 string", name);
    int r = enc_b64_decode(out, js_string_view(v));
    ENSURE(r == 0, ERR_BAD_REQUEST, "\"%s\" is not valid base64: %s", name, err_detail(r));
    return 0;
}

/* Routes ----------------------------------------------------------------------------------------- */

static void get_status(struct call *c)
{
    int code;
    const char *msg;
    coord_status(c->coord, &code, &msg);
    if (c->v1) {
        api_jsend_success(c->resp, json_pack("{s:i,s:s}", "StatusCode", code, "StatusMessage", msg));
        return;
    }
    /* MarbleRun's code and message, and beside them how this Coordinator attests: a client must be
     * able to see that it talks to a Coordinator whose attestation proves nothing. */
    unsigned insecure = coord_insecure(c->coord);
    json_t *reasons = json_array();
    for (unsigned bit = 1; reasons != NULL && bit != 0 && bit <= insecure; bit <<= 1)
        if ((insecure & bit) && coord_insecure_name(bit) != NULL)
            json_array_append_new(reasons, json_string(coord_insecure_name(bit)));
    api_jsend_success(c->resp, json_pack("{s:i,s:s,s:s,s:b,s:o}", "code", code, "message", msg, "attestationMode",
                                         coord_mode(c->coord), "insecure", insecure != 0, "insecureReasons",
                                         reasons));
}

static json_t *b64_string(struct view v)
{
    struct buf b = BUF_INIT;
    json_t *s = enc_b64(&b, v) == 0 ? json_stringn(b.ptr ? (const char *)b.ptr : "", b.size) : NULL;
    buf_free(&b);
    return s;
}

static void get_manifest(struct call *c)
{
    struct coord_manifest_info info = {BUF_INIT, BUF_INIT, ""};
    int r = coord_get_manifest(c->coord, &info);
    if (r == ERR_NOT_FOUND && c->v1) {
        api_jsend_success(c->resp, json_pack("{s:n,s:s,s:n}", "ManifestSignatureRootECDSA", "ManifestSignature", "",
                                             "Manifest"));
    } else if (r < 0) {
        api_jsend_error(c->resp, 500, "%s", r == ERR_NOT_FOUND ? "requested value not set" : err_detail(r));
    } else {
        const char *k[3] = {"manifestSignatureRootECDSA", "manifestFingerprint", "manifest"};
        if (c->v1)
            k[0] = "ManifestSignatureRootECDSA", k[1] = "ManifestSignature", k[2] = "Manifest";
        api_jsend_success(c->resp, json_pack("{s:o,s:s,s:o}", k[0], b64_string(buf_view(&info.signature)), k[1],
                                             info.fingerprint, k[2], b64_string(buf_view(&info.raw))));
    }
    coord_manifest_info_free(&info);
}

static void set_manifest_raw(struct call *c, struct view raw)
{
    json_t *secrets = NULL;
    int r = coord_set_manifest(c->coord, raw, &secrets);
    if (r < 0) {
        refuse(c, r);
        return;
    }
    if (c->v1 && json_object_size(secrets) == 0) {
        json_decref(secrets);
        api_jsend_success(c->resp, NULL);
        return;
    }
    api_jsend_success(c->resp, json_pack("{s:o}", "RecoverySecrets", secrets));
}

static void post_manifest(struct call *c)
{
    if (c->v1) { /* v1 takes the raw manifest as the body */
        set_manifest_raw(c, api_req_body(c->req));
        return;
    }
    json_t *body = body_object(c);
    if (body == NULL)
        return;
    struct buf raw = BUF_INIT;
    int r = api_b64_member(body, "manifest", true, &raw);
    if (r < 0)
        api_jsend_fail(c->resp, 400, NULL, "%s", err_detail(r));
    else
        set_manifest_raw(c, buf_view(&raw));
    buf_free(&raw);
    json_decref(body);
}

/* MarbleRun decodes the nonce with URL-safe base64 with padding (Go's base64.URLEncoding). */
int api_decode_nonce(const char *s, struct buf *out)
{
    struct buf std = BUF_INIT;
    int r = 0;
    for (const char *p = s; *p != '\0' && r == 0; p++) {
        if (*p == '+' || *p == '/')
            r = err_fail(ERR_ENCODING, __func__, "illegal base64 data at input byte %zu", (size_t)(p - s));
        else
            r = buf_append_byte(&std, (uint8_t)(*p == '-' ? '+' : *p == '_' ? '/' : *p));
    }
    if (r == 0 && (r = enc_b64_decode(out, buf_view(&std))) < 0)
        r = err_fail(ERR_ENCODING, __func__, "%s", err_detail(r));
    buf_free(&std); /* on every path: the nonce comes with unauthenticated requests */
    TRY(r);
    ENSURE(out->size <= QY_NONCE_MAX, ERR_TOO_LARGE, "nonce is longer than %u bytes", QY_NONCE_MAX);
    return 0;
}

static void get_quote(struct call *c)
{
    struct buf nonce = BUF_INIT, quote = BUF_INIT, chain = BUF_INIT;
    const char *n = c->v1 ? NULL : api_req_query(c->req, "nonce", 0);
    int r = n ? api_decode_nonce(n, &nonce) : 0;
    if (r < 0) {
        api_jsend_fail(c->resp, 400, NULL, "invalid query: bad nonce format: %s", err_detail(r));
        goto out;
    }
    r = coord_quote(c->coord, buf_view(&nonce), &quote, &chain);
    if (r < 0) {
        refuse(c, r);
        goto out;
    }
    json_t *q = quote.size ? b64_string(buf_view(&quote)) : json_null();
    json_t *cert = json_stringn((const char *)chain.ptr, chain.size);
    api_jsend_success(c->resp, json_pack("{s:o,s:o}", c->v1 ? "Cert" : "cert", cert, c->v1 ? "Quote" : "quote", q));
out:
    buf_free(&nonce);
    buf_free(&quote);
    buf_free(&chain);
}

static void get_secrets(struct call *c)
{
    const char *names[QY_SECRET_QUERY_MAX];
    size_t n = 0;
    for (; n < QY_SECRET_QUERY_MAX && api_req_query(c->req, "s", n) != NULL; n++) {
        names[n] = api_req_query(c->req, "s", n);
        if (names[n][0] == '\0') {
            api_jsend_fail(c->resp, 400, NULL, "malformed query string: empty query parameter");
            return;
        }
    }
    if (n == 0) {
        api_jsend_fail(c->resp, 400, NULL, "invalid query: endpoint requires at least one query parameter");
        return;
    }
    json_t *secrets = NULL;
    int r = coord_get_secrets(c->coord, c->user, names, n, &secrets);
    if (r < 0)
        refuse(c, r);
    else
        api_jsend_success(c->resp, c->v1 ? secrets : json_pack("{s:o}", "secrets", secrets));
}

static void post_secrets(struct call *c)
{
    json_t *body = body_object(c);
    if (body == NULL)
        return;
    json_t *secrets = body;
    int r = c->v1 ? 0 : js_member_ci(body, "secrets", &secrets);
    if (r == 0)
        r = secrets && json_is_object(secrets)
                ? coord_set_secrets(c->coord, c->user, secrets)
                : err_fail(ERR_BAD_REQUEST, __func__, "expected {\"secrets\": {name: secret, ...}}");
    if (r == ERR_BAD_REQUEST || r == ERR_DUPLICATE)
        api_jsend_fail(c->resp, 400, NULL, "%s", err_detail(r));
    else if (r < 0)
        refuse(c, r);
    else
        api_jsend_success(c->resp, NULL);
    json_decref(body);
}

static void get_update_log(struct call *c)
{
    json_t *lines = NULL;
    int r = coord_update_log(c->coord, &lines);
    if (r < 0) {
        refuse(c, r);
        return;
    }
    if (!c->v1) {
        api_jsend_success(c->resp, json_pack("{s:o}", "updateLog", lines));
        return;
    }
    struct buf all = BUF_INIT; /* v1: one string, lines joined by \n with a trailing \n */
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) {
        if (buf_append_view(&all, js_string_view(l)) < 0 || buf_append_byte(&all, '\n') < 0)
            break;
    }
    api_jsend_success(c->resp, json_stringn(all.ptr ? (const char *)all.ptr : "", all.size));
    buf_free(&all);
    json_decref(lines);
}

static void get_update_log_head(struct call *c)
{
    json_t *head = NULL;
    int r = coord_update_log_head(c->coord, &head);
    if (r < 0)
        refuse(c, r);
    else
        api_jsend_success(c->resp, head);
}

static void get_recover_key(struct call *c)
{
    struct buf spki = BUF_INIT;
    int r = coord_recovery_public_key(c->coord, &spki);
    if (r < 0)
        refuse(c, r);
    else
        api_jsend_success(c->resp, json_pack("{s:s,s:o}", "algorithm", "RSA", "ephemeralPublicKey",
                                             b64_string(buf_view(&spki))));
    buf_free(&spki);
}

static void post_recover(struct call *c)
{
    if (api_req_body(c->req).size > QY_RECOVER_BODY_MAX) {
        api_jsend_fail(c->resp, 413, NULL, "request body is larger than %u bytes", QY_RECOVER_BODY_MAX);
        return;
    }
    json_t *body = body_object(c);
    if (body == NULL)
        return;
    struct buf secret = BUF_INIT, sig = BUF_INIT;
    unsigned remaining = 0;
    int r = api_b64_member(body, "recoverySecret", true, &secret);
    if (r == 0)
        r = api_b64_member(body, "recoverySecretSignature", true, &sig);
    if (r < 0) {
        api_jsend_fail(c->resp, 400, NULL, "%s", err_detail(r));
        goto out;
    }
    r = coord_recover(c->coord, buf_view(&secret), buf_view(&sig), &remaining);
    if (r == ERR_BAD_REQUEST) {
        api_jsend_fail(c->resp, 400, NULL, "%s", err_detail(r));
    } else if (r < 0) {
        refuse(c, r);
    } else {
        char msg[128];
        if (remaining == 0)
            snprintf(msg, sizeof(msg), "Recovery successful.");
        else
            snprintf(msg, sizeof(msg), "Secret was processed successfully. Upload the next secret. Remaining secrets: %u",
                     remaining);
        api_jsend_success(c->resp, json_pack("{s:i,s:s}", "remaining", (int)remaining, "message", msg));
    }
out:
    json_decref(body);
    buf_free(&secret);
    buf_free(&sig);
}

static void recover_gone(struct call *c)
{
    api_jsend_error(c->resp, 410, "Recovering the Coordinator using the /recover API endpoint has been disabled. Use "
                                  "the /api/v2/recover endpoint instead.");
}

/* Updates (reference/marblerun.md §3.3, §3.4) -------------------------------------------------- */

/* The manifest of an update request: raw in v1, {"manifest": base64} in v2. 0, or answered. */
static int update_manifest_of(struct call *c, struct buf *raw)
{
    if (c->v1) {
        int r = buf_append_view(raw, api_req_body(c->req));
        if (r < 0)
            api_jsend_error(c->resp, 500, "%s", err_detail(r));
        return r;
    }
    json_t *body = body_object(c);
    if (body == NULL)
        return ERR_BAD_REQUEST;
    int r = api_b64_member(body, "manifest", true, raw);
    if (r < 0)
        api_jsend_fail(c->resp, 400, NULL, "%s", err_detail(r));
    json_decref(body);
    return r;
}

/* Around a pending update v1 answers as v2 does: 404 when there is none, 500 for the rest. */
static void refuse_pending(struct call *c, int r)
{
    api_jsend_error(c->resp, r == ERR_AUTH ? 401 : r == ERR_NOT_FOUND ? 404 : 500, "%s", err_detail(r));
}

/* {"missingAcknowledgments", "missingUsers", ["recoverySecrets"], ["message"]} */
static json_t *update_json(const struct coord_update_status *st, json_t *message)
{
    json_t *j = json_pack("{s:I,s:O?}", "missingAcknowledgments", (json_int_t)st->missing, "missingUsers",
                          st->missing_users);
    if (j != NULL && json_object_size(st->recovery_secrets) > 0)
        json_object_set(j, "recoverySecrets", st->recovery_secrets);
    if (j != NULL && message != NULL)
        json_object_set(j, "message", message);
    json_decref(message);
    return j;
}

/* "n users still need to acknowledge the update manifest", MarbleRun's wording (the v1 client reads
 * the first word), with the names in v2. */
static json_t *ack_message(const struct coord_update_status *st, bool with_names)
{
    struct buf b = BUF_INIT;
    int r = st->missing == 0 ? buf_append_str(&b, "All users have acknowledged the update manifest. Update "
                                                  "successfully applied")
            : st->missing == 1 ? buf_append_str(&b, "1 user still needs to acknowledge the update manifest")
                               : buf_appendf(&b, "%llu users still need to acknowledge the update manifest",
                                             (unsigned long long)st->missing);
    size_t i;
    json_t *name;
    if (r == 0 && st->missing > 0 && with_names) {
        r = buf_append_str(&b, ".\nThe following users have not yet accepted: ");
        json_array_foreach(st->missing_users, i, name) {
            if (r == 0)
                r = buf_appendf(&b, "%s%s", i ? ", " : "", json_string_value(name));
        }
    }
    json_t *j = r == 0 ? json_stringn((const char *)b.ptr, b.size) : NULL;
    buf_free(&b);
    return j;
}

static void post_update(struct call *c)
{
    struct buf raw = BUF_INIT;
    struct coord_update_status st;
    if (update_manifest_of(c, &raw) == 0) {
        int r = coord_update(c->coord, c->user, buf_view(&raw), &st);
        if (r < 0)
            refuse(c, r);
        else
            api_jsend_success(c->resp, c->v1 ? NULL : update_json(&st, NULL));
        coord_update_status_free(&st);
    }
    buf_free(&raw);
}

static void get_update_manifest(struct call *c)
{
    struct coord_update_status st;
    int r = coord_update_pending(c->coord, &st);
    if (r < 0) {
        refuse_pending(c, r);
    } else {
        json_t *msg = ack_message(&st, false);
        api_jsend_success(c->resp, json_pack("{s:o,s:o,s:O}", "manifest", b64_string(buf_view(&st.manifest)),
                                             "message", msg, "missingUsers", st.missing_users));
    }
    coord_update_status_free(&st);
}

static void post_update_ack(struct call *c)
{
    struct buf raw = BUF_INIT;
    struct coord_update_status st;
    if (update_manifest_of(c, &raw) == 0) {
        int r = coord_update_ack(c->coord, c->user, buf_view(&raw), &st);
        if (r < 0)
            refuse_pending(c, r);
        else
            api_jsend_success(c->resp, c->v1 ? ack_message(&st, false) : update_json(&st, ack_message(&st, true)));
        coord_update_status_free(&st);
    }
    buf_free(&raw);
}

static void post_update_cancel(struct call *c)
{
    int r = coord_update_cancel(c->coord, c->user);
    if (r < 0)
        refuse_pending(c, r);
    else if (c->v1)
        api_jsend_success(c->resp, json_string("Update successfully cancelled"));
    else
        api_jsend_success(c->resp, json_pack("{s:s}", "message", "Update successfully cancelled"));
}

/* Feature gates (reference/marblerun.md §11) ------------------------------------------------------ */

static void post_sign_quote(struct call *c)
{
    json_t *body = NULL;
    struct buf quote = BUF_INIT, sig = BUF_INIT;
    const char *status = NULL;
    int r = api_body_object(api_req_body(c->req), &body);
    if (r == 0)
        r = api_b64_member(body, "sgxQuote", true, &quote);
    if (r < 0) {
        api_jsend_fail(c->resp, 400, json_pack("{s:s}", "sgxQuote", "failed to parse JSON data"), "bad request: %s",
                       err_detail(r));
        goto out;
    }
    r = coord_sign_quote(c->coord, buf_view(&quote), &status, &sig);
    if (r == ERR_FEATURE_DISABLED)
        api_jsend_error(c->resp, 403, "%s", err_detail(r));
    else if (r == ERR_ATTESTATION)
        api_jsend_fail(c->resp, 400, json_pack("{s:s+}", "sgxQuote", "quote verification failed: ", err_detail(r)),
                       "quote verification failed");
    else if (r < 0)
        refuse(c, r);
    else
        api_jsend_success(c->resp, json_pack("{s:s,s:o}", "tcbStatus", status, "verificationSignature",
                                             b64_string(buf_view(&sig))));
out:
    json_decref(body);
    buf_free(&quote);
    buf_free(&sig);
}

int api_counter_args(const json_t *body, struct view *name, uint64_t *value)
{
    json_t *n, *v;
    *name = VIEW_EMPTY;
    *value = 0;
    TRY(js_member_ci(body, "name", &n));
    TRY(js_member_ci(body, "value", &v));
    ENSURE(json_is_string(n) && json_is_integer(v) && json_integer_value(v) >= 0, ERR_BAD_REQUEST,
           "expected {\"name\": string, \"value\": unsigned integer}");
    *name = js_string_view(n);
    *value = (uint64_t)json_integer_value(v);
    return 0;
}

/* Authenticated by the marble's certificate, not a user's: the coordinator checks the chain. */
static void post_monotonic_counter(struct call *c)
{
    json_t *body = body_object(c);
    if (body == NULL)
        return;
    struct view name;
    uint64_t value;
    int ar = api_counter_args(body, &name, &value);
    if (ar < 0) {
        api_jsend_fail(c->resp, 400, NULL, "bad request: %s", err_detail(ar));
        json_decref(body);
        return;
    }
    uint64_t previous = 0;
    int r = coord_monotonic_counter(c->coord, api_req_peer_leaf(c->req), name, value, &previous);
    if (r == ERR_FEATURE_DISABLED || r == ERR_EXHAUSTED)
        api_jsend_error(c->resp, 403, "%s", err_detail(r));
    else if (r == ERR_AUTH)
        api_jsend_fail(c->resp, 401, NULL, "%s", err_detail(r));
    else if (r == ERR_TOO_LARGE)
        api_jsend_fail(c->resp, 400, NULL, "%s", err_detail(r));
    else if (r < 0)
        refuse(c, r);
    else
        api_jsend_success(c->resp, json_pack("{s:I}", "value", (json_int_t)previous));
    json_decref(body);
}

static const struct route routes[] = {
    {API_GET, "/api/v2/status", ANY_STATE, AUTH_NONE, get_status},
    {API_GET, "/api/v2/manifest", ANY_STATE, AUTH_NONE, get_manifest},
    {API_POST, "/api/v2/manifest", ANY_STATE, AUTH_NONE, post_manifest},
    {API_GET, "/api/v2/quote", SERVING, AUTH_NONE, get_quote},
    {API_GET, "/api/v2/secrets", MARBLES, AUTH_USER, get_secrets},
    {API_POST, "/api/v2/secrets", MARBLES, AUTH_USER, post_secrets},
    {API_GET, "/api/v2/update", MARBLES, AUTH_NONE, get_update_log},
    {API_GET, "/api/v2/update-log-head", MARBLES, AUTH_NONE, get_update_log_head},
    {API_GET, "/api/v2/recover/public-key", ST(COORD_RECOVERY), AUTH_NONE, get_recover_key},
    {API_POST, "/api/v2/recover", ST(COORD_RECOVERY), AUTH_NONE, post_recover},
    {API_POST, "/api/v2/update", MARBLES, AUTH_USER, post_update},
    {API_GET, "/api/v2/update-manifest", MARBLES, AUTH_NONE, get_update_manifest},
    {API_POST, "/api/v2/update-manifest", MARBLES, AUTH_USER, post_update_ack},
    {API_POST, "/api/v2/update-cancel", MARBLES, AUTH_USER, post_update_cancel},
    {API_POST, "/api/v2/sign-quote", MARBLES, AUTH_NONE, post_sign_quote},
    {API_POST, "/api/v2/monotonic-counter", MARBLES, AUTH_NONE, post_monotonic_counter},
    /* v1 */
    {API_GET, "/status", ANY_STATE, AUTH_NONE, get_status},
    {API_GET, "/manifest", ANY_STATE, AUTH_NONE, get_manifest},
    {API_POST, "/manifest", ANY_STATE, AUTH_NONE, post_manifest},
    {API_GET, "/quote", SERVING, AUTH_NONE, get_quote},
    {API_GET, "/secrets", MARBLES, AUTH_USER, get_secrets},
    {API_POST, "/secrets", MARBLES, AUTH_USER, post_secrets},
    {API_GET, "/update", MARBLES, AUTH_NONE, get_update_log},
    {API_POST, "/update", MARBLES, AUTH_USER, post_update},
    {API_GET, "/update-manifest", MARBLES, AUTH_NONE, get_update_manifest},
    {API_POST, "/update-manifest", MARBLES, AUTH_USER, post_update_ack},
    {API_POST, "/update-cancel", MARBLES, AUTH_USER, post_update_cancel},
    {API_POST, "/recover", ANY_STATE, AUTH_NONE, recover_gone},
};

/* 0 with c->user set, or answered with 401 (fail in v2, error in v1). */
static int authenticate(struct call *c)
{
    struct view leaf = api_req_peer_leaf(c->req);
    int r = leaf.size == 0 ? err_fail(ERR_AUTH, __func__, "unauthorized user: no client certificate provided")
                           : coord_authenticate(c->coord, leaf, &c->user);
    if (r == ERR_AUTH && leaf.size > 0)
        r = err_fail(ERR_AUTH, __func__, "unauthorized user: client certificate did not match any MarbleRun users");
    if (r < 0) {
        if (c->v1)
            api_jsend_error(c->resp, 401, "%s", err_detail(r));
        else
            api_jsend_fail(c->resp, 401, NULL, "%s", err_detail(r));
    }
    return r;
}

void api_client_api_handler(void *ctx, struct api_request *req, struct api_response *resp)
{
    struct call c = {ctx, req, resp, NULL, false};
    const char *path = api_req_path(req);
    const struct route *rt = NULL;
    for (size_t i = 0; i < QY_ARRAY_LEN(routes); i++)
        if (routes[i].method == api_req_method(req) && strcmp(routes[i].path, path) == 0)
            rt = &routes[i];
    if (rt == NULL) { /* MarbleRun's catch-all: unknown paths and wrong methods alike */
        api_jsend_error(resp, 405, "%s", "");
        return;
    }
    resp->route = rt->path;
    c.v1 = strncmp(path, "/api/", 5) != 0;
    if (!api_req_query_ok(req)) {
        api_jsend_fail(resp, 400, NULL, "malformed query string");
        return;
    }
    if (!(rt->states & ST(coord_state(c.coord)))) {
        api_jsend_error(resp, c.v1 ? 400 : 500, "server is not in expected state");
        return;
    }
    if (rt->auth == AUTH_USER && authenticate(&c) < 0)
        return;
    rt->handler(&c);
    free(c.user);
}
