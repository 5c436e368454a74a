/* Fuzz target: the body of a marble's activation request, POST /api/v2/activate, as the
 * Coordinator's mesh API decodes it (api_mesh_parse_activation), then the UUID as coord_activate
 * reads it. The CSR and the quote inside have their own targets (csr, quote). */
#include <stdint.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "coordinator/coordinator.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = NULL;
    struct buf csr = BUF_INIT, quote = BUF_INIT;
    struct coord_activation_request ar;
    memset(&ar, 0, sizeof(ar));
    int r = api_mesh_parse_activation(view_of(data, size), &body, &ar, &csr, &quote);
    if (r == 0) {
        /* the strings the Coordinator uses are all that was sent: no NUL cuts one short */
        json_t *type = js_object_get_ci(body, "marbleType"), *id = js_object_get_ci(body, "uuid");
        if (ar.marble_type == NULL || ar.uuid == NULL || strlen(ar.marble_type) != json_string_length(type) ||
            strlen(ar.uuid) != json_string_length(id) || strlen(ar.marble_type) > QY_NAME_MAX)
            __builtin_trap();
        char uuid[UUID_TEXT_SIZE];
        if (uuid_canonical(ar.uuid, uuid) == 0 && strlen(uuid) != UUID_TEXT_SIZE - 1)
            __builtin_trap();
    } else if (r != ERR_NOMEM && err_category(r) != ERRC_INPUT) {
        __builtin_trap(); /* a refusal of the body is the sender's fault: the mesh answers 400, not 500 */
    }
    json_decref(body);
    buf_free(&csr);
    buf_free(&quote);
    return 0;
}
