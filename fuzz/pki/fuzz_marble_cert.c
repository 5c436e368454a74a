/* Fuzz target: a certificate anyone may present to the client API as a marble's (monotonic
 * counters), checked against a fixed CA at a fixed time. marble_cert_seeds.sh made the CA
 * (marble_cert_ca.h) and the seeds its intermediate signed (fuzz/corpus/marble_cert/issued-* and
 * regress-identity-*, each stopping at a different check), so they reach the checks behind the
 * signature: validity, CA flags, the marble type extension, the common name.
 *
 * Every input is checked twice. As it is: only what the CA's intermediate signed may pass - here
 * only certificates for the one identity below, in whatever encoding - and anything else must be
 * refused as malformed or unauthorised, leaving the identity empty. And, when it parses as a
 * certificate, re-signed with the intermediate key, so that mutations inside the signed part reach
 * the later checks too: then a refusal may not be a bad signature unless the issuer name is not the
 * marble root's, and what passes is no CA. */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "marble_cert_ca.h"
#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW  INT64_C(1767225600) /* 2026-01-01T00:00:00Z: issued-valid is valid then */
#define FUZZ_UUID "00000000-0000-4000-8000-000000000000"
#define FUZZ_TYPE "fuzz"

static struct pki_ca *ca;
static EVP_PKEY *intermediate_key;
static X509_NAME *marble_root_name;

static void drop_globals(void)
{
    pki_ca_free(ca);
    EVP_PKEY_free(intermediate_key);
    X509_NAME_free(marble_root_name);
}

static X509 *parse_x509(struct view der)
{
    const unsigned char *p = der.ptr;
    X509 *x = der.size ? d2i_X509(NULL, &p, (long)der.size) : NULL;
    if (x != NULL && p != der.ptr + der.size) {
        X509_free(x);
        x = NULL;
    }
    ERR_clear_error();
    return x;
}

/* `x` signed again with the intermediate key, as DER appended to `out`; false when OpenSSL
 * cannot sign or encode what it parsed. */
static bool resign(X509 *x, struct buf *out)
{
    unsigned char *der = NULL;
    int n = X509_sign(x, intermediate_key, EVP_sha256()) > 0 ? i2d_X509(x, &der) : -1;
    bool ok = n > 0 && buf_append(out, der, (size_t)n) == 0;
    OPENSSL_free(der);
    ERR_clear_error();
    return ok;
}

static void load_fixed_ca(void)
{
    struct buf blob = BUF_INIT;
    BIO *bio = BIO_new_mem_buf(marble_cert_intermediate_key_pem, -1);
    X509 *root = NULL;
    if (enc_b64_decode(&blob, view_str(marble_cert_ca_b64)) != 0 || pki_ca_load(buf_view(&blob), &ca) != 0 ||
        bio == NULL || (intermediate_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL ||
        (root = parse_x509(pki_ca_marble_root_der(ca))) == NULL ||
        (marble_root_name = X509_NAME_dup(X509_get_subject_name(root))) == NULL)
        __builtin_trap();
    X509_free(root);
    BIO_free(bio);
    buf_free(&blob);
}

/* A marble certificate the CA issues as the Coordinator does must pass, and pass again re-signed
 * with the embedded key (which is so the CA's intermediate). */
static void check_fixed_ca(void)
{
    struct crypto_key *k = NULL;
    struct buf csr = BUF_INIT, own = BUF_INIT, again = BUF_INIT;
    struct pki_csr *c = NULL;
    struct pki_marble_identity id;
    if (crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k) != 0 || pki_csr_build(k, NULL, 0, &csr) != 0 ||
        pki_csr_parse(buf_view(&csr), &c) != 0 ||
        pki_issue_marble_cert(ca, c, FUZZ_UUID, FUZZ_TYPE, FUZZ_NOW - 86400, &own) != 0 ||
        pki_ca_verify_marble_cert(ca, buf_view(&own), FUZZ_NOW, &id) != 0 || strcmp(id.marble_type, FUZZ_TYPE) != 0)
        __builtin_trap();
    X509 *x = parse_x509(buf_view(&own));
    if (x == NULL || !resign(x, &again) || pki_ca_verify_marble_cert(ca, buf_view(&again), FUZZ_NOW, &id) != 0)
        __builtin_trap();
    X509_free(x);
    pki_csr_free(c);
    buf_free(&csr), buf_free(&own), buf_free(&again);
    crypto_key_free(k);
}

/* A refusal is of bad input or policy and leaves the identity empty. */
static void check_refusal(int r, const struct pki_marble_identity *id)
{
    enum err_category cat = err_category(r);
    if ((cat != ERRC_INPUT && cat != ERRC_POLICY) || id->common_name[0] != '\0' || id->marble_type[0] != '\0')
        __builtin_trap();
}

static void check_as_is(struct view in)
{
    struct pki_marble_identity id;
    int r = pki_ca_verify_marble_cert(ca, in, FUZZ_NOW, &id);
    if (r == 0 && (strcmp(id.marble_type, FUZZ_TYPE) != 0 || strcmp(id.common_name, FUZZ_UUID) != 0))
        __builtin_trap(); /* the CA issued no other identity that is valid at FUZZ_NOW */
    if (r != 0)
        check_refusal(r, &id);
}

static void check_resigned(struct view in)
{
    X509 *x = parse_x509(in);
    struct buf der = BUF_INIT;
    if (x != NULL && resign(x, &der)) {
        struct pki_marble_identity id;
        int r = pki_ca_verify_marble_cert(ca, buf_view(&der), FUZZ_NOW, &id);
        bool our_name = X509_NAME_cmp(X509_get_issuer_name(x), marble_root_name) == 0;
        if (r == ERR_BAD_SIGNATURE && our_name)
            __builtin_trap(); /* the intermediate signed it under the marble root's name */
        if (r == 0 && (!our_name || X509_check_ca(x) != 0))
            __builtin_trap();
        if (r != 0)
            check_refusal(r, &id);
        ERR_clear_error();
    }
    buf_free(&der);
    X509_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ca == NULL) {
        load_fixed_ca();
        atexit(drop_globals);
        check_fixed_ca();
    }
    struct view in = view_of(data, size);
    check_as_is(in);
    check_resigned(in);
    return 0;
}
