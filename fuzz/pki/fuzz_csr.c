/* Fuzz target: a marble's CSR (DER). What parses is certified by a test CA, and the certificate
 * must carry the CSR's key. */
#include <stdint.h>
#include <stdlib.h>

#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pki_ca *ca;

static void drop_ca(void)
{
    pki_ca_free(ca);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ca == NULL) {
        if (pki_ca_generate(NULL, &ca) != 0)
            __builtin_trap();
        atexit(drop_ca);
    }
    struct pki_csr *csr = NULL;
    if (pki_csr_parse(view_of(data, size), &csr) != 0)
        return 0;
    const struct pki_sans *s = pki_csr_sans(csr);
    if (s->dns_count + s->ip_count > QY_CSR_MAX_SANS)
        __builtin_trap();
    struct buf cert = BUF_INIT;
    struct crypto_key *k = NULL;
    if (pki_issue_marble_cert(ca, csr, "00000000-0000-4000-8000-000000000000", "fuzz", 1700000000,
                              &cert) == 0) {
        if (pki_cert_public_key(buf_view(&cert), &k) != 0 ||
            !crypto_key_public_eq(k, pki_csr_key(csr)))
            __builtin_trap();
    }
    crypto_key_free(k);
    buf_free(&cert);
    pki_csr_free(csr);
    return 0;
}
