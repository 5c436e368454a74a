/* Backends by name. */
#include <string.h>

#include "store_int.h"

int kv_backend_open(const char *spec, struct kv_backend **out)
{
    *out = NULL;
    if (strcmp(spec, "memory") == 0)
        return kv_memory_open(out);
    if (strncmp(spec, "sqlite:", 7) == 0 && spec[7] != '\0')
        return kv_sqlite_open(spec + 7, out);
    FAIL(ERR_INVALID_ARG, "unknown store \"%s\" (sqlite:PATH or memory)", spec);
}
