/* Fuzz target: manifest parsing and validation. The first byte picks the format (JSON, YAML, or
 * auto-detect, which also reaches the legacy converter); the rest is the document. */
#include <stdint.h>

#include "manifest/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum mf_format f = data[0] % 3 == 0 ? MF_FORMAT_JSON : data[0] % 3 == 1 ? MF_FORMAT_YAML : MF_FORMAT_AUTO;
    struct diag d = DIAG_INIT;
    struct manifest *m = NULL;
    if (manifest_load(view_of(data + 1, size - 1), f, NULL, 0, &d, &m) == 0) {
        (void)manifest_is_update(m);
        for (size_t i = 0; i < m->marbles.count; i++)
            (void)manifest_package(m, m->marbles.items[i].package);
    }
    manifest_free(m);
    diag_free(&d);
    struct buf out = BUF_INIT;
    if (manifest_migrate(view_of(data + 1, size - 1), &d, &out) == 0 && out.size == 0)
        __builtin_trap(); /* a successful migration always produces a document */
    buf_free(&out);
    diag_free(&d);
    return 0;
}
