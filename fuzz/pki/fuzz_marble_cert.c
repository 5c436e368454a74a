/* Fuzz target: a certificate anyone may present to the client API as a marble's (monotonic
 * counters). Only what this CA's intermediate signed may pass, so anything else must be refused
 * as malformed or unauthorised, and a refusal must leave the identity empty. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pki_ca *ca;

static void drop_ca(void)
{
    pki_ca_free(ca);
}

static void setup(void)
{
    struct crypto_key *k = NULL;
    struct buf csr = BUF_INIT, own = BUF_INIT; /* a marble certificate of ca, which must pass */
    struct pki_csr *c = NULL;
    if (pki_ca_generate(NULL, &ca) != 0 || crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k) != 0 ||
        pki_csr_build(k, NULL, 0, &csr) != 0 || pki_csr_parse(buf_view(&csr), &c) != 0 ||
        pki_issue_marble_cert(ca, c, "00000000-0000-4000-8000-000000000000", "fuzz", 0, &own) != 0)
        __builtin_trap();
    struct pki_marble_identity id;
    if (pki_ca_verify_marble_cert(ca, buf_view(&own), 0, &id) != 0 || strcmp(id.marble_type, "fuzz") != 0)
        __builtin_trap();
    pki_csr_free(c);
    buf_free(&csr), buf_free(&own);
    crypto_key_free(k);
    atexit(drop_ca);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ca == NULL)
        setup();
    struct pki_marble_identity id;
    int r = pki_ca_verify_marble_cert(ca, view_of(data, size), 0, &id);
    /* what passes carries what ca signed: the one certificate it issued here (in whatever encoding) */
    if (r == 0 && (strcmp(id.marble_type, "fuzz") != 0 ||
                   strcmp(id.common_name, "00000000-0000-4000-8000-000000000000") != 0))
        __builtin_trap();
    enum err_category cat = r != 0 ? err_category(r) : ERRC_INPUT;
    if (r != 0 && ((cat != ERRC_INPUT && cat != ERRC_POLICY) || id.common_name[0] != '\0' || id.marble_type[0] != '\0'))
        __builtin_trap();
    return 0;
}
