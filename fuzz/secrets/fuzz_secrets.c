/* Fuzz target: secret JSON from outside - a stored secret set (first byte even) or a user-secret
 * upload checked against a fixed manifest (first byte odd). A set that parses must write and parse
 * back to the same JSON. */
#include <stdint.h>
#include <stdlib.h>

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
    "\"z\":{\"Type\":\"symmetric-key\",\"UserDefined\":true},"
    "\"p\":{\"Type\":\"plain\",\"UserDefined\":true},"
    "\"r\":{\"Type\":\"cert-rsa\",\"UserDefined\":true},"
    "\"e\":{\"Type\":\"cert-ecdsa\",\"Size\":256,\"UserDefined\":true},"
    "\"d\":{\"Type\":\"cert-ed25519\",\"UserDefined\":true},"
    "\"s\":{\"Type\":\"symmetric-key\",\"Size\":128,\"Shared\":true}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (m == NULL) {
        struct diag d = DIAG_INIT;
        if (manifest_load(view_str(manifest_json), MF_FORMAT_JSON, NULL, 0, &d, &m) != 0)
            __builtin_trap();
        diag_free(&d);
        atexit(drop_manifest);
    }
    struct view in = view_of(data + 1, size - 1);
    struct sec_set s = SEC_SET_INIT, back = SEC_SET_INIT;
    if (data[0] & 1) {
        if (sec_parse_user_secrets(m, in, &s) == 0 && s.count == 0)
            __builtin_trap();
    } else if (sec_set_parse_json(in, &s) == 0) {
        struct buf a = BUF_INIT, b = BUF_INIT;
        if (sec_set_write_json(&s, NULL, 0, &a) != 0 ||
            sec_set_parse_json(buf_view(&a), &back) != 0 ||
            sec_set_write_json(&back, NULL, 0, &b) != 0 || !view_eq(buf_view(&a), buf_view(&b)))
            __builtin_trap();
        buf_free(&a);
        buf_free(&b);
    }
    sec_set_free(&s);
    sec_set_free(&back);
    return 0;
}
