/* Fuzz target: the DER of a PCK certificate's SGX extension (OID 1.2.840.113741.1.13.1). */
#include <stdint.h>

#include "attestation/attestation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct att_pck_ext x;
    int r = att_pck_ext_parse(view_of(data, size), &x);
    if (r != 0 && r != ERR_CERT)
        __builtin_trap(); /* every refusal is a certificate error with a reason */
    return 0;
}
