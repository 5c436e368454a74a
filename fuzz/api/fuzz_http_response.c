/* Fuzz target: the HTTP/1.1 response a marble reads from the Coordinator's mesh API
 * (api_http_parse_response). A parsed body must be the end of the input, and every shorter prefix
 * of a complete response must ask for more bytes (ERR_TRUNCATED): the marble's read loop relies on
 * it. */
#include <stdint.h>

#include "api/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int status = -1;
    struct view body;
    int r = api_http_parse_response(view_of(data, size), &status, &body);
    if (r < 0) {
        if (status != 0 || body.size != 0)
            __builtin_trap(); /* outputs cleared on failure */
        return 0;
    }
    if (status < 0 || status > 999 || body.size > size ||
        (body.size > 0 && body.ptr + body.size != data + size))
        __builtin_trap();
    if (size > 0 &&
        api_http_parse_response(view_of(data, size - 1), &status, &body) != ERR_TRUNCATED)
        __builtin_trap();
    return 0;
}
