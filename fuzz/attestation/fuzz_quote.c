/* Fuzz target: DCAP quotes. Parses, then verifies without collateral (which also walks the PEM
 * chain, the X.509 path and the SGX extension) with a verifier kept across inputs, as the
 * Coordinator keeps one, trusting the seeds' emulated root. Nothing may crash or leak. */
#include <stdint.h>
#include <stdlib.h>

#include "attestation/attestation.h"
#include "fuzz_root.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct att_verifier *v;
    if (v == NULL) {
        struct view root = view_str(fuzz_testkit_root);
        struct att_verifier_config cfg = {
            .no_collateral = true, .insecure_extra_roots = &root, .insecure_extra_root_count = 1};
        if (att_verifier_new(&cfg, &v) < 0)
            abort();
    }
    struct att_quote q;
    int parsed = att_quote_parse(view_of(data, size), &q);
    struct att_result res;
    if (att_verify(v, view_of(data, size), 1749945600 /* 2025-06-15, inside the seeds' validity */,
                   &res) < 0)
        abort();
    if (parsed < 0 && res.failed_step != ATT_STEP_PARSE)
        __builtin_trap(); /* what does not parse cannot get further */
    json_t *j = NULL;
    if (att_result_to_json(&res, &j) == 0)
        json_decref(j);
    return 0;
}
