/*
 * The testkit's emulated Intel PKI (TEST ONLY): certificates and CRLs shaped like Intel's
 * (reference/dcap.md §1, §5, §6) - a self-signed root, a PCK Processor or Platform CA, a PCK
 * certificate with a real SGX extension, a TCB Signing certificate - so that quotes and collateral
 * made with them exercise exactly the verifier's real path. Nothing here is trusted unless a
 * verifier is given the root explicitly as an insecure extra root.
 */
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "testkit_int.h"

static int add_name(X509_NAME *n, const char *field, const char *value)
{
    ENSURE(X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8, (const unsigned char *)value, -1, -1,
                                      0) == 1,
           ERR_CRYPTO, "cannot build a certificate name");
    return 0;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    ENSURE(e != NULL, ERR_CRYPTO, "cannot build extension %s", value);
    int ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    ENSURE(ok == 1, ERR_CRYPTO, "cannot add extension %s", value);
    return 0;
}

static int random_serial(ASN1_INTEGER *serial)
{
    uint8_t b[16];
    TRY(crypto_random(b, sizeof(b)));
    b[0] &= 0x7f; /* positive */
    b[0] |= 0x01; /* and 16 bytes long */
    BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
    bool ok = bn != NULL && BN_to_ASN1_INTEGER(bn, serial) != NULL;
    BN_free(bn);
    ENSURE(ok, ERR_CRYPTO, "cannot set a serial number");
    return 0;
}

static int sign_cert(X509 *x, const struct crypto_key *k)
{
    bool ok;
    const struct evp_md_st *md = crypto_x509_md(k, &ok);
    ENSURE(ok && X509_sign(x, crypto_key_evp(k), md) > 0, ERR_CRYPTO,
           "cannot sign a certificate: %s", crypto_last_error());
    return 0;
}

int tk_cert_new(const struct tk_cert_spec *s, X509 **out)
{
    int r = ERR_INTERNAL;
    X509_NAME *name = NULL;
    *out = NULL;
    X509 *x = X509_new();
    ENSURE(x != NULL, ERR_NOMEM, "cannot allocate a certificate");
    ENSURE_OUT(X509_set_version(x, X509_VERSION_3) == 1, ERR_CRYPTO, "cannot set the version");
    TRY_OUT(random_serial(X509_get_serialNumber(x)));
    name = X509_NAME_new();
    ENSURE_OUT(name != NULL, ERR_NOMEM, "cannot allocate a name");
    TRY_OUT(add_name(name, "CN", s->cn));
    TRY_OUT(add_name(name, "O", "Quarry Testkit (INSECURE, TEST ONLY)"));
    TRY_OUT(add_name(name, "C", "US"));
    ENSURE_OUT(X509_set_subject_name(x, name) == 1, ERR_CRYPTO, "cannot set the subject");
    ENSURE_OUT(X509_set_issuer_name(x, s->issuer ? X509_get_subject_name(s->issuer) : name) == 1,
               ERR_CRYPTO, "cannot set the issuer");
    ENSURE_OUT(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)s->not_before) != NULL &&
                   ASN1_TIME_set(X509_getm_notAfter(x), (time_t)s->not_after) != NULL,
               ERR_CRYPTO, "cannot set the validity");
    ENSURE_OUT(X509_set_pubkey(x, crypto_key_evp(s->key)) == 1, ERR_CRYPTO, "cannot set the key");
    X509 *issuer = s->issuer ? s->issuer : x;
    TRY_OUT(add_ext(x, issuer, NID_subject_key_identifier, "hash"));
    TRY_OUT(add_ext(x, issuer, NID_authority_key_identifier, "keyid:always"));
    if (s->ca) {
        TRY_OUT(add_ext(x, issuer, NID_basic_constraints,
                        s->issuer ? "critical,CA:TRUE,pathlen:0" : "critical,CA:TRUE,pathlen:1"));
        TRY_OUT(add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign"));
    } else {
        TRY_OUT(add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE"));
        TRY_OUT(add_ext(x, issuer, NID_key_usage, "critical,digitalSignature,nonRepudiation"));
    }
    if (s->sgx_ext != NULL) {
        ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        X509_EXTENSION *e = NULL;
        bool ok = oid != NULL && os != NULL &&
                  ASN1_OCTET_STRING_set(os, s->sgx_ext->ptr, (int)s->sgx_ext->size) == 1 &&
                  (e = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os)) != NULL &&
                  X509_add_ext(x, e, -1) == 1;
        X509_EXTENSION_free(e);
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(oid);
        ENSURE_OUT(ok, ERR_CRYPTO, "cannot add the SGX extension");
    }
    TRY_OUT(sign_cert(x, s->issuer_key));
    *out = x;
    x = NULL;
    r = 0;
out:
    X509_NAME_free(name);
    X509_free(x);
    return r;
}

int tk_crl_der(X509 *issuer, const struct crypto_key *key, int64_t this_update, int64_t next_update,
               X509 *const *revoked, size_t revoked_count, struct buf *out)
{
    int r = ERR_INTERNAL;
    ASN1_TIME *t1 = ASN1_TIME_set(NULL, (time_t)this_update),
              *t2 = ASN1_TIME_set(NULL, (time_t)next_update);
    unsigned char *der = NULL;
    X509_CRL *crl = X509_CRL_new();
    ENSURE_OUT(crl != NULL && t1 != NULL && t2 != NULL, ERR_NOMEM, "cannot allocate a CRL");
    ENSURE_OUT(X509_CRL_set_version(crl, 1) == 1 &&
                   X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) == 1 &&
                   X509_CRL_set1_lastUpdate(crl, t1) == 1 && X509_CRL_set1_nextUpdate(crl, t2) == 1,
               ERR_CRYPTO, "cannot build a CRL");
    for (size_t i = 0; i < revoked_count; i++) {
        X509_REVOKED *rv = X509_REVOKED_new();
        bool ok = rv != NULL &&
                  X509_REVOKED_set_serialNumber(rv, X509_get_serialNumber(revoked[i])) == 1 &&
                  X509_REVOKED_set_revocationDate(rv, t1) == 1 &&
                  X509_CRL_add0_revoked(crl, rv) == 1;
        if (!ok)
            X509_REVOKED_free(rv);
        ENSURE_OUT(ok, ERR_CRYPTO, "cannot add a revoked certificate");
    }
    bool ok;
    const struct evp_md_st *md = crypto_x509_md(key, &ok);
    ENSURE_OUT(ok && X509_CRL_sort(crl) == 1 && X509_CRL_sign(crl, crypto_key_evp(key), md) > 0,
               ERR_CRYPTO, "cannot sign a CRL: %s", crypto_last_error());
    int len = i2d_X509_CRL(crl, &der);
    ENSURE_OUT(len > 0, ERR_CRYPTO, "cannot encode a CRL");
    TRY_OUT(buf_append(out, der, (size_t)len));
    r = 0;
out:
    OPENSSL_free(der);
    X509_CRL_free(crl);
    ASN1_TIME_free(t1);
    ASN1_TIME_free(t2);
    return r;
}

int tk_cert_pem(X509 *x, struct buf *out)
{
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    ENSURE(len > 0, ERR_CRYPTO, "cannot encode a certificate");
    int r = enc_pem(out, "CERTIFICATE", view_of(der, (size_t)len));
    OPENSSL_free(der);
    return r;
}

int tk_key_pem(const struct crypto_key *k, struct buf *out)
{
    struct buf der = BUF_INIT;
    int r = crypto_key_private_der(k, &der);
    if (r == 0)
        r = enc_pem(out, "PRIVATE KEY", buf_view(&der));
    buf_free(&der);
    return r;
}

int tk_read_key(const char *dir, const char *name, struct crypto_key **out)
{
    struct buf pem = BUF_INIT;
    *out = NULL;
    TRY(tk_read(dir, name, QY_PEM_MAX_SIZE, &pem));
    int r = crypto_key_from_pem(buf_view(&pem), out);
    buf_free(&pem);
    ENSURE(r == 0, r, "%s/%s: %s", dir, name, err_detail(r));
    return 0;
}

int tk_read_cert(const char *dir, const char *name, X509 **out)
{
    struct buf pem = BUF_INIT;
    size_t n = 0;
    *out = NULL;
    TRY(tk_read(dir, name, QY_PEM_MAX_SIZE, &pem));
    int r = att_certs_parse(buf_view(&pem), ATT_CERTS_STRICT, out, 1, &n);
    buf_free(&pem);
    ENSURE(r == 0, r, "%s/%s: %s", dir, name, err_detail(r));
    return 0;
}

int tk_read(const char *dir, const char *name, size_t max, struct buf *out)
{
    char path[QY_PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    ENSURE(n > 0 && (size_t)n < sizeof(path), ERR_TOO_LARGE, "path too long");
    int r = file_read(path, max, out);
    ENSURE(r == 0, r, "%s: %s", path, err_detail(r));
    return 0;
}

int tk_write(const char *dir, const char *name, struct view data, bool secret)
{
    char path[QY_PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    ENSURE(n > 0 && (size_t)n < sizeof(path), ERR_TOO_LARGE, "path too long");
    int r = file_write_atomic(path, data, secret ? 0600 : 0644);
    ENSURE(r == 0, r, "%s: %s", path, err_detail(r));
    return 0;
}
