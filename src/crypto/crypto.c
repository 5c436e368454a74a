#include <pthread.h>

#include "crypto_int.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <string.h>

const char *crypto_last_error(void)
{
    static _Thread_local char msg[256];
    unsigned long e = ERR_get_error();
    if (e == 0)
        return "no details";
    ERR_error_string_n(e, msg, sizeof(msg));
    ERR_clear_error();
    return msg;
}

static EVP_MD *md_sha256, *md_sha384;
static EVP_CIPHER *cipher_gcm;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

/* Fetched for the life of the process; a failure here leaves NULL and every use reports it. */
static void fetch_algorithms(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    md_sha384 = EVP_MD_fetch(NULL, "SHA2-384", NULL);
    cipher_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

const EVP_MD *crypto_md_sha256(void)
{
    pthread_once(&fetch_once, fetch_algorithms);
    return md_sha256;
}

const EVP_MD *crypto_md_sha384(void)
{
    pthread_once(&fetch_once, fetch_algorithms);
    return md_sha384;
}

const EVP_CIPHER *crypto_cipher_aes256gcm(void)
{
    pthread_once(&fetch_once, fetch_algorithms);
    return cipher_gcm;
}

int crypto_sha256(const struct view *parts, size_t count, uint8_t out[CRYPTO_SHA256_SIZE])
{
    int r = ERR_CRYPTO;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ENSURE(ctx != NULL, ERR_NOMEM, "cannot allocate a digest context");
    if (EVP_DigestInit_ex(ctx, crypto_md_sha256(), NULL) != 1)
        FAIL_OUT(ERR_CRYPTO, "SHA-256 init: %s", crypto_last_error());
    for (size_t i = 0; i < count; i++)
        if (parts[i].size > 0 && EVP_DigestUpdate(ctx, parts[i].ptr, parts[i].size) != 1)
            FAIL_OUT(ERR_CRYPTO, "SHA-256 update: %s", crypto_last_error());
    if (EVP_DigestFinal_ex(ctx, out, NULL) != 1)
        FAIL_OUT(ERR_CRYPTO, "SHA-256 final: %s", crypto_last_error());
    r = 0;
out:
    EVP_MD_CTX_free(ctx);
    return r;
}

int crypto_random(void *out, size_t size)
{
    ENSURE(size <= INT32_MAX, ERR_INVALID_ARG, "random request too large");
    ENSURE(RAND_bytes(out, (int)size) == 1, ERR_CRYPTO, "RAND_bytes: %s", crypto_last_error());
    return 0;
}

int crypto_pem_first(struct view pem, char **label, struct buf *der)
{
    int r = ERR_INTERNAL;
    char *header = NULL;
    unsigned char *data = NULL;
    long len = 0;
    *label = NULL;
    ENSURE(pem.size <= QY_PEM_MAX_SIZE, ERR_TOO_LARGE, "PEM data is larger than %u bytes", QY_PEM_MAX_SIZE);
    BIO *bio = BIO_new_mem_buf(pem.ptr, (int)pem.size);
    ENSURE(bio != NULL, ERR_NOMEM, "cannot allocate a BIO");
    if (PEM_read_bio(bio, label, &header, &data, &len) != 1) {
        ERR_clear_error();
        FAIL_OUT(ERR_ENCODING, "no PEM block found");
    }
    TRY_OUT(buf_append(der, data, (size_t)len));
    r = 0;
out:
    if (r < 0) {
        OPENSSL_free(*label);
        *label = NULL;
    }
    OPENSSL_free(header);
    if (data != NULL)
        OPENSSL_clear_free(data, (size_t)len);
    BIO_free(bio);
    return r;
}

/* Reads the first PEM block; fails with `code` unless its label is `want`. */
static int pem_first_block(struct view pem, const char *want, int code, struct buf *der)
{
    char *label = NULL;
    int r = crypto_pem_first(pem, &label, der);
    if (r == ERR_ENCODING)
        FAIL(code, "no PEM block found");
    TRY(r);
    bool ok = strcmp(label, want) == 0;
    if (!ok)
        r = err_fail(code, __func__, "PEM block is \"%s\", expected \"%s\"", label, want);
    OPENSSL_free(label);
    return ok ? 0 : r;
}

int crypto_cert_pem_to_der(struct view pem, struct buf *der_out)
{
    int r = ERR_INTERNAL;
    struct buf der = BUF_INIT;
    X509 *x = NULL;
    TRY_OUT(pem_first_block(pem, "CERTIFICATE", ERR_CERT, &der));
    const unsigned char *p = der.ptr;
    x = d2i_X509(NULL, &p, (long)der.size);
    ENSURE_OUT(x != NULL, ERR_CERT, "not an X.509 certificate: %s", crypto_last_error());
    ENSURE_OUT(p == der.ptr + der.size, ERR_CERT, "trailing bytes after the certificate");
    TRY_OUT(buf_append_view(der_out, buf_view(&der)));
    r = 0;
out:
    X509_free(x);
    buf_free(&der);
    return r;
}

int crypto_rsa_pubkey_pem_bits(struct view pem, int *out_bits)
{
    int r = ERR_INTERNAL;
    struct buf der = BUF_INIT;
    EVP_PKEY *k = NULL;
    *out_bits = 0;
    TRY_OUT(pem_first_block(pem, "PUBLIC KEY", ERR_KEY, &der));
    const unsigned char *p = der.ptr;
    k = d2i_PUBKEY(NULL, &p, (long)der.size);
    ENSURE_OUT(k != NULL, ERR_KEY, "not a PKIX public key: %s", crypto_last_error());
    ENSURE_OUT(EVP_PKEY_is_a(k, "RSA"), ERR_KEY, "unsupported key type %s (RSA is required)",
               EVP_PKEY_get0_type_name(k));
    *out_bits = EVP_PKEY_get_bits(k);
    r = 0;
out:
    EVP_PKEY_free(k);
    buf_free(&der);
    return r;
}
