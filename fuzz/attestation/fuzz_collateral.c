/* Fuzz target: collateral as a PCCS or a directory would hand it over. The first byte picks the
 * kind (TCB Info, QE Identity, PCK CRL, Root CA CRL); the rest is the body, optionally followed by
 * "\n--CHAIN--\n" and an issuer chain. Parsing, span location, chain building and signature checks
 * run (the seeds' emulated root is trusted, so signatures are really checked); nothing may crash
 * or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attestation/attestation.h"
#include "fuzz_root.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum att_collateral_kind kind = (enum att_collateral_kind)(data[0] % 4);
    struct view rest = view_of(data + 1, size - 1);
    static const char sep[] = "\n--CHAIN--\n";
    const uint8_t *cut = memmem(rest.ptr, rest.size, sep, sizeof(sep) - 1);
    struct att_collateral_item it = {BUF_INIT, BUF_INIT};
    size_t body = cut ? (size_t)(cut - rest.ptr) : rest.size;
    if (buf_append(&it.body, rest.ptr, body) < 0)
        abort();
    if (cut != NULL && buf_append(&it.issuer_chain, cut + sizeof(sep) - 1,
                                  rest.size - body - (sizeof(sep) - 1)) < 0)
        abort();
    struct view root = view_str(fuzz_testkit_root);
    int r = att_collateral_check(kind, &it, &root, 1);
    if (r > 0 || (r < 0 && err_category(r) == ERRC_BUG))
        __builtin_trap();
    att_collateral_item_free(&it);
    return 0;
}
