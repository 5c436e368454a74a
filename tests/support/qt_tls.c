/* Test certificates made directly with OpenSSL (tests may; the product goes through pki). */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "qt.h"

void qt_make_cert(const char *cn, struct crypto_key *key, struct crypto_key *issuer_key, const char *issuer_cn,
                  struct buf *der)
{
    X509 *x = X509_new();
    cr_assert_not_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *subj = X509_NAME_new(), *iss = X509_NAME_new();
    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    const char *icn = issuer_cn ? issuer_cn : cn;
    X509_NAME_add_entry_by_txt(iss, "CN", MBSTRING_UTF8, (const unsigned char *)icn, -1, -1, 0);
    X509_set_subject_name(x, subj);
    X509_set_issuer_name(x, iss);
    X509_NAME_free(subj);
    X509_NAME_free(iss);
    X509_set_pubkey(x, crypto_key_evp(key));
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    if (issuer_key == NULL) {
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    cr_assert(X509_sign(x, crypto_key_evp(issuer_key ? issuer_key : key), EVP_sha256()) > 0);
    unsigned char *p = NULL;
    int len = i2d_X509(x, &p);
    cr_assert_gt(len, 0);
    cr_assert_eq(buf_append(der, p, (size_t)len), 0);
    OPENSSL_free(p);
    X509_free(x);
}
