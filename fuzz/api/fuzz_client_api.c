/* Fuzz target: the client API's request bodies, decoded as client_api.c's handlers do before they
 * call the coordinator. The first byte picks the route: manifest (v2), secrets (v2 and v1, then
 * checked against a fixed manifest as coord_set_secrets does), recover, monotonic-counter,
 * sign-quote (then the quote parsed), and the quote nonce of GET /api/v2/quote. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "attestation/attestation.h"
#include "secrets/secrets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct manifest *m;

static void drop_manifest(void)
{
    manifest_free(m);
}

static const char manifest_json[] =
    "{\"Packages\":{\"p\":{\"Debug\":true}},\"Marbles\":{\"m\":{\"Package\":\"p\"}},\"Secrets\":{"
    "\"k\":{\"Type\":\"symmetric-key\",\"Size\":128,\"UserDefined\":true},"
    "\"p\":{\"Type\":\"plain\",\"UserDefined\":true},"
    "\"e\":{\"Type\":\"cert-ecdsa\",\"Size\":256,\"UserDefined\":true},"
    "\"s\":{\"Type\":\"symmetric-key\",\"Size\":128,\"Shared\":true}}}";

enum route { MANIFEST, SECRETS, SECRETS_V1, RECOVER, COUNTER, SIGN_QUOTE, NONCE, ROUTES };

static void secrets(const json_t *body, bool v1)
{
    const json_t *obj = v1 ? body : js_object_get_ci(body, "secrets");
    struct sec_set s = SEC_SET_INIT;
    if (json_is_object(obj) && sec_parse_user_secrets_json(m, obj, &s) == 0 && s.count == 0)
        __builtin_trap();
    sec_set_free(&s);
}

static void members(enum route rt, const json_t *body)
{
    struct buf a = BUF_INIT, b = BUF_INIT;
    struct view name;
    uint64_t value;
    struct att_quote q;
    int r = 0;
    if (rt == MANIFEST)
        r = api_b64_member(body, "manifest", true, &a);
    else if (rt == SECRETS || rt == SECRETS_V1)
        secrets(body, rt == SECRETS_V1);
    else if (rt == RECOVER && api_b64_member(body, "recoverySecret", true, &a) == 0)
        r = api_b64_member(body, "recoverySecretSignature", true, &b);
    else if (rt == COUNTER && api_counter_args(body, &name, &value) == 0 &&
             (value > INT64_MAX || !view_eq(name, js_string_view(js_object_get_ci(body, "name")))))
        __builtin_trap(); /* what the route stores is what was sent, and never "negative" */
    else if (rt == SIGN_QUOTE && api_b64_member(body, "sgxQuote", true, &a) == 0)
        r = att_quote_parse(buf_view(&a), &q);
    if (r < 0 && rt != SIGN_QUOTE && r != ERR_BAD_REQUEST && r != ERR_DUPLICATE)
        __builtin_trap(); /* the handlers answer any other error as a server fault */
    buf_free(&a);
    buf_free(&b);
}

static void nonce(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct buf out = BUF_INIT;
    if (s == NULL)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    if (api_decode_nonce(s, &out) == 0 && out.size > QY_NONCE_MAX)
        __builtin_trap();
    buf_free(&out);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (m == NULL) {
        struct diag d = DIAG_INIT;
        if (manifest_load(view_str(manifest_json), MF_FORMAT_JSON, NULL, 0, &d, &m) != 0)
            abort();
        diag_free(&d);
        atexit(drop_manifest);
    }
    enum route rt = (enum route)(data[0] % ROUTES);
    struct view in = view_of(data + 1, size - 1);
    if (rt == NONCE) {
        nonce(in.ptr, in.size);
        return 0;
    }
    if (rt == RECOVER && in.size > QY_RECOVER_BODY_MAX)
        return 0; /* refused with 413 before it is parsed */
    json_t *body = NULL;
    if (api_body_object(in, &body) == 0)
        members(rt, body);
    json_decref(body);
    return 0;
}
