/* JSend envelopes, as MarbleRun's REST API writes them (reference/marblerun.md §3.1). */
#include <stdarg.h>
#include <stdio.h>

#include "api.h"

static void set_body(struct api_response *resp, json_t *env)
{
    buf_reset(&resp->body);
    if (env == NULL || js_dump(&resp->body, env, JSON_COMPACT) < 0 || buf_append_byte(&resp->body, '\n') < 0) {
        static const char oom[] = "{\"status\":\"error\",\"data\":null,\"message\":\"out of memory\"}\n";
        buf_reset(&resp->body);
        resp->status = 500;
        if (buf_append_str(&resp->body, oom) < 0)
            buf_free(&resp->body); /* an empty 500 is all that is left */
    }
    json_decref(env);
}

static json_t *with_message(json_t *env, const char *fmt, va_list ap) QY_PRINTF(2, 0);
static json_t *with_message(json_t *env, const char *fmt, va_list ap)
{
    char msg[QY_DIAG_MSG_MAX * 2];
    if (vsnprintf(msg, sizeof(msg), fmt, ap) > 0 && env != NULL)
        json_object_set_new(env, "message", json_string(msg));
    return env;
}

void api_jsend_success(struct api_response *resp, json_t *data)
{
    resp->status = 200;
    resp->content_type = "application/json";
    resp->nosniff = false;
    set_body(resp, json_pack("{s:s,s:o}", "status", "success", "data", data ? data : json_null()));
}

void api_jsend_fail(struct api_response *resp, int status, json_t *data, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    resp->status = status;
    resp->content_type = "application/json";
    resp->nosniff = false;
    set_body(resp, with_message(json_pack("{s:s,s:o}", "status", "fail", "data", data ? data : json_null()), fmt, ap));
    va_end(ap);
}

void api_jsend_error(struct api_response *resp, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    resp->nosniff = true;
    set_body(resp, with_message(json_pack("{s:s,s:n}", "status", "error", "data"), fmt, ap));
    va_end(ap);
}
