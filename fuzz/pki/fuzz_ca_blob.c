/* Fuzz target: a serialised CA (what the store unseals). The target fixes up the trailing digest so
 * the fuzzer explores the structural checks behind it; whatever loads must sign with its root key
 * verifiably. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < CRYPTO_SHA256_SIZE || size > QY_PKI_BLOB_MAX_SIZE)
        return 0;
    uint8_t *blob = malloc(size);
    if (blob == NULL)
        return 0;
    memcpy(blob, data, size);
    struct view body = view_of(blob, size - CRYPTO_SHA256_SIZE);
    if (crypto_sha256(&body, 1, blob + body.size) != 0)
        __builtin_trap();
    struct pki_ca *ca = NULL;
    if (pki_ca_load(view_of(blob, size), &ca) == 0) {
        struct buf sig = BUF_INIT;
        if (pki_ca_sign_root(ca, view_str("x"), &sig) != 0 ||
            pki_verify_root_signature(pki_ca_root_der(ca), view_str("x"), buf_view(&sig)) != 0)
            __builtin_trap();
        buf_free(&sig);
        pki_ca_free(ca);
    }
    free(blob);
    return 0;
}
