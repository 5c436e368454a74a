/* Fuzz target: a marble's CSR (DER). What parses is certified by a test CA, and the certificate
 * must carry the CSR's key. The same bytes are parsed again with a known key, as the Coordinator
 * does with the TLS client's: once with the CSR's own key and once with an unrelated one, which
 * must change neither the verdict nor the key, and a known key may stand in only for its own
 * encoding. OpenSSL's X509_REQ is the oracle: what we accept, it must verify. */
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdlib.h>

#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pki_ca *ca;
static struct crypto_key *unrelated;

static void drop_globals(void)
{
    pki_ca_free(ca);
    crypto_key_free(unrelated);
}

static void check_certificate(const struct pki_csr *csr)
{
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
}

/* Parsing with `known` gives the verdict `want` and the key of `ref`; `known` stands in only for
 * its own encoding. */
static void check_with(struct view in, const struct crypto_key *known, int want, const struct pki_csr *ref)
{
    struct pki_csr *csr = NULL;
    int r = pki_csr_parse_with(in, known, &csr);
    if (r != want)
        __builtin_trap();
    if (r == 0) {
        struct buf der = BUF_INIT;
        if (!crypto_key_public_eq(pki_csr_key(csr), pki_csr_key(ref)) ||
            !view_eq(pki_csr_spki_der(csr), pki_csr_spki_der(ref)) || crypto_key_public_der(known, &der) != 0 ||
            (pki_csr_key(csr) == known && !view_eq(pki_csr_spki_der(csr), buf_view(&der))))
            __builtin_trap();
        buf_free(&der);
    }
    pki_csr_free(csr);
}

/* OpenSSL's own reading of the bytes: a CSR whose signature verifies under its key (or NULL). */
static EVP_PKEY *openssl_verified_key(struct view in, X509_REQ **req)
{
    const unsigned char *p = in.ptr;
    *req = in.size ? d2i_X509_REQ(NULL, &p, (long)in.size) : NULL;
    EVP_PKEY *pk = *req != NULL && p == in.ptr + in.size ? X509_REQ_get0_pubkey(*req) : NULL;
    bool ok = pk != NULL && X509_REQ_verify(*req, pk) == 1;
    ERR_clear_error();
    return ok ? pk : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ca == NULL) {
        if (pki_ca_generate(NULL, &ca) != 0 || crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &unrelated) != 0)
            __builtin_trap();
        atexit(drop_globals);
    }
    struct view in = view_of(data, size);
    struct pki_csr *csr = NULL;
    int r = pki_csr_parse(in, &csr);
    X509_REQ *req = NULL;
    EVP_PKEY *verified = openssl_verified_key(in, &req);
    struct crypto_key *own = NULL;
    if (r == 0 && verified == NULL)
        __builtin_trap(); /* we accept what OpenSSL's X509_REQ_verify refuses */
    if (r == 0) {
        check_certificate(csr);
        if (crypto_key_wrap_evp(verified, &own) != 0)
            __builtin_trap();
        check_with(in, own, 0, csr);
    }
    if (r == 0 || r == ERR_BAD_SIGNATURE)
        check_with(in, unrelated, r, csr);
    crypto_key_free(own);
    X509_REQ_free(req);
    pki_csr_free(csr);
    return 0;
}
