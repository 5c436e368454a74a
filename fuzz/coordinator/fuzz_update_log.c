/* Fuzz target: what `quarry update log --verify` checks - the update log and its signed head as a
 * Coordinator sends them, and the root certificate to check them with, all from the input:
 * {"root": base64 DER, "updateLog": [lines], "head": {"entries", "sha256", "signature"}}. A log
 * that verifies must still verify with its last line dropped only if the head is re-signed, which
 * the input cannot do: so dropping it must fail. */
#include <stdint.h>

#include "coordinator/coordinator.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = NULL;
    struct buf root = BUF_INIT;
    if (js_parse(view_of(data, size), QY_JSON_MAX_SIZE, &in) == 0 && json_is_object(in) &&
        enc_b64_decode(&root, js_string_view(json_object_get(in, "root"))) == 0) {
        json_t *lines = json_object_get(in, "updateLog"), *head = json_object_get(in, "head");
        if (coord_log_verify(lines, head, buf_view(&root)) == 0 && json_array_size(lines) > 0) {
            json_t *shorter = json_copy(lines);
            if (shorter == NULL || json_array_remove(shorter, json_array_size(shorter) - 1) != 0 ||
                coord_log_verify(shorter, head, buf_view(&root)) == 0)
                __builtin_trap();
            json_decref(shorter);
        }
    }
    buf_free(&root);
    json_decref(in);
    return 0;
}
