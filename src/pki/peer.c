/*
 * Marble certificates presented back to the Coordinator (reference/marblerun.md §11.1): a marble
 * authenticates to the client API with the leaf this CA issued at its activation. Only the current
 * intermediate counts, so leaves issued before the last update no longer authenticate, as in
 * MarbleRun (which verifies against the current marble root).
 */
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <string.h>
#include <time.h>

#include "pki_int.h"

/* The bytes of an ASN.1 string as a NUL-terminated text of at most size-1 bytes, without NULs. */
static int copy_text(const ASN1_STRING *s, char *out, size_t size, const char *what)
{
    int len = s ? ASN1_STRING_length(s) : -1;
    ENSURE(len > 0 && (size_t)len < size, ERR_CERT, "the %s is empty or longer than %zu bytes", what, size - 1);
    memcpy(out, ASN1_STRING_get0_data(s), (size_t)len);
    out[len] = '\0';
    ENSURE(strlen(out) == (size_t)len, ERR_CERT, "the %s contains a NUL byte", what);
    return 0;
}

static int marble_type_of(X509 *x, struct pki_marble_identity *out)
{
    ASN1_OBJECT *oid = OBJ_txt2obj(PKI_MARBLE_TYPE_OID, 1);
    ENSURE(oid != NULL, ERR_CRYPTO, "OBJ_txt2obj failed: %s", crypto_last_error());
    int idx = X509_get_ext_by_OBJ(x, oid, -1);
    ASN1_OBJECT_free(oid);
    ENSURE(idx >= 0, ERR_CERT, "the certificate has no marble type extension (%s)", PKI_MARBLE_TYPE_OID);
    return copy_text(X509_EXTENSION_get_data(X509_get_ext(x, idx)), out->marble_type, sizeof(out->marble_type),
                     "marble type");
}

static int common_name_of(X509 *x, struct pki_marble_identity *out)
{
    const X509_NAME *subject = X509_get_subject_name(x);
    int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    ENSURE(idx >= 0, ERR_CERT, "the certificate has no common name");
    return copy_text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)), out->common_name,
                     sizeof(out->common_name), "common name");
}

int pki_ca_verify_marble_cert(const struct pki_ca *ca, struct view cert_der, int64_t now,
                              struct pki_marble_identity *out)
{
    memset(out, 0, sizeof(*out));
    X509 *x = NULL;
    TRY(pki_x509_parse(cert_der, ERR_CERT, "the certificate", &x));
    int r = ERR_INTERNAL;
    time_t t = (time_t)pki_now(now);
    ENSURE_OUT(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca->marble_root)) == 0 &&
                   X509_verify(x, X509_get0_pubkey(ca->intermediate)) == 1,
               ERR_BAD_SIGNATURE, "the certificate was not issued by the Coordinator's current intermediate");
    ENSURE_OUT(X509_cmp_time(X509_get0_notBefore(x), &t) == -1 && X509_cmp_time(X509_get0_notAfter(x), &t) == 1,
               ERR_EXPIRED, "the certificate is not valid now");
    /* X509_check_ca says 0 for CA:TRUE without keyCertSign; a marble's certificate asserts neither */
    ENSURE_OUT(X509_check_ca(x) == 0 && (X509_get_extension_flags(x) & EXFLAG_CA) == 0, ERR_CERT,
               "a CA certificate is not a marble's");
    TRY_OUT(marble_type_of(x, out));
    TRY_OUT(common_name_of(x, out));
    r = 0;
out:
    (void)crypto_last_error(); /* X509_verify and X509_check_ca may leave queue entries */
    X509_free(x);
    if (r != 0)
        memset(out, 0, sizeof(*out)); /* a refusal names no one, not even the type read before it */
    return r;
}
