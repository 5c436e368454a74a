/* HKDF, HMAC, AES-256-GCM and RSA-OAEP. */
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_int.h"

int crypto_hkdf_sha256(struct view ikm, struct view salt, struct view info, uint8_t *out, size_t out_size)
{
    int r = ERR_CRYPTO;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[5], *p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm.ptr, ikm.size);
    if (salt.size > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt.ptr, salt.size);
    if (info.size > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info.ptr, info.size);
    *p = OSSL_PARAM_construct_end();
    if (ctx != NULL && EVP_KDF_derive(ctx, out, out_size, params) == 1)
        r = 0;
    else
        r = err_fail(ERR_CRYPTO, __func__, "HKDF: %s", crypto_last_error());
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return r;
}

static EVP_MAC *mac_hmac;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void fetch_hmac(void)
{
    mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL); /* once: a fetch per MAC would cost more than the MAC */
}

struct crypto_hmac {
    EVP_MAC_CTX *ctx;
};

int crypto_hmac_new(struct view key, struct crypto_hmac **out)
{
    *out = NULL;
    pthread_once(&hmac_once, fetch_hmac);
    struct crypto_hmac *h = calloc(1, sizeof(*h));
    ENSURE(h != NULL, ERR_NOMEM, "cannot allocate an HMAC");
    h->ctx = mac_hmac ? EVP_MAC_CTX_new(mac_hmac) : NULL;
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                            OSSL_PARAM_construct_end()};
    if (h->ctx == NULL || EVP_MAC_init(h->ctx, key.ptr, key.size, params) != 1) {
        crypto_hmac_free(h);
        FAIL(ERR_CRYPTO, "HMAC init: %s", crypto_last_error());
    }
    *out = h;
    return 0;
}

/* Each run starts over with the key given at crypto_hmac_new (EVP_MAC_init without a key keeps it). */
int crypto_hmac_run(struct crypto_hmac *h, const struct view *parts, size_t count, uint8_t out[CRYPTO_SHA256_SIZE])
{
    size_t len = 0;
    ENSURE(EVP_MAC_init(h->ctx, NULL, 0, NULL) == 1, ERR_CRYPTO, "HMAC init: %s", crypto_last_error());
    for (size_t i = 0; i < count; i++)
        ENSURE(parts[i].size == 0 || EVP_MAC_update(h->ctx, parts[i].ptr, parts[i].size) == 1, ERR_CRYPTO,
               "HMAC update: %s", crypto_last_error());
    ENSURE(EVP_MAC_final(h->ctx, out, &len, CRYPTO_SHA256_SIZE) == 1 && len == CRYPTO_SHA256_SIZE, ERR_CRYPTO,
           "HMAC final: %s", crypto_last_error());
    return 0;
}

void crypto_hmac_free(struct crypto_hmac *h)
{
    if (h == NULL)
        return;
    EVP_MAC_CTX_free(h->ctx); /* OpenSSL cleanses the key schedule */
    free(h);
}

int crypto_hmac_sha256(struct view key, const struct view *parts, size_t count, uint8_t out[CRYPTO_SHA256_SIZE])
{
    struct crypto_hmac *h;
    TRY(crypto_hmac_new(key, &h));
    int r = crypto_hmac_run(h, parts, count, out);
    crypto_hmac_free(h);
    return r;
}

int crypto_aead_seal(const uint8_t key[CRYPTO_AEAD_KEY_SIZE], struct view aad, struct view plaintext,
                     struct buf *out)
{
    int r = ERR_CRYPTO, len = 0;
    ENSURE(plaintext.size <= INT32_MAX - 64 && aad.size <= INT32_MAX, ERR_TOO_LARGE, "too large to seal");
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    ENSURE(ctx != NULL, ERR_NOMEM, "cannot allocate a cipher context");
    size_t start = out->size;
    TRY_OUT(buf_reserve(out, CRYPTO_AEAD_NONCE_SIZE + plaintext.size + CRYPTO_AEAD_TAG_SIZE));
    uint8_t *nonce = out->ptr + start, *ct = nonce + CRYPTO_AEAD_NONCE_SIZE;
    TRY_OUT(crypto_random(nonce, CRYPTO_AEAD_NONCE_SIZE));
    ENSURE_OUT(EVP_EncryptInit_ex2(ctx, crypto_cipher_aes256gcm(), key, nonce, NULL) == 1, ERR_CRYPTO,
               "AES-GCM init: %s", crypto_last_error());
    ENSURE_OUT(aad.size == 0 || EVP_EncryptUpdate(ctx, NULL, &len, aad.ptr, (int)aad.size) == 1, ERR_CRYPTO,
               "AES-GCM aad");
    ENSURE_OUT(plaintext.size == 0 || EVP_EncryptUpdate(ctx, ct, &len, plaintext.ptr, (int)plaintext.size) == 1,
               ERR_CRYPTO, "AES-GCM encrypt");
    ENSURE_OUT(EVP_EncryptFinal_ex(ctx, ct + plaintext.size, &len) == 1, ERR_CRYPTO, "AES-GCM final");
    ENSURE_OUT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CRYPTO_AEAD_TAG_SIZE, ct + plaintext.size) == 1,
               ERR_CRYPTO, "AES-GCM tag");
    out->size = start + CRYPTO_AEAD_NONCE_SIZE + plaintext.size + CRYPTO_AEAD_TAG_SIZE;
    r = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return r;
}

int crypto_aead_open(const uint8_t key[CRYPTO_AEAD_KEY_SIZE], struct view aad, struct view sealed,
                     struct buf *out)
{
    int r = ERR_CRYPTO, len = 0;
    ENSURE(sealed.size >= CRYPTO_AEAD_NONCE_SIZE + CRYPTO_AEAD_TAG_SIZE, ERR_CORRUPT,
           "sealed value too short (%zu bytes)", sealed.size);
    ENSURE(sealed.size <= INT32_MAX && aad.size <= INT32_MAX, ERR_TOO_LARGE, "too large to open");
    size_t ct_size = sealed.size - CRYPTO_AEAD_NONCE_SIZE - CRYPTO_AEAD_TAG_SIZE;
    const uint8_t *nonce = sealed.ptr, *ct = nonce + CRYPTO_AEAD_NONCE_SIZE, *tag = ct + ct_size;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    ENSURE(ctx != NULL, ERR_NOMEM, "cannot allocate a cipher context");
    size_t start = out->size;
    TRY_OUT(buf_reserve(out, ct_size));
    ENSURE_OUT(EVP_DecryptInit_ex2(ctx, crypto_cipher_aes256gcm(), key, nonce, NULL) == 1, ERR_CRYPTO,
               "AES-GCM init: %s", crypto_last_error());
    ENSURE_OUT(aad.size == 0 || EVP_DecryptUpdate(ctx, NULL, &len, aad.ptr, (int)aad.size) == 1, ERR_CRYPTO,
               "AES-GCM aad");
    ENSURE_OUT(ct_size == 0 || EVP_DecryptUpdate(ctx, out->ptr + start, &len, ct, (int)ct_size) == 1,
               ERR_CRYPTO, "AES-GCM decrypt");
    ENSURE_OUT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CRYPTO_AEAD_TAG_SIZE, (void *)tag) == 1,
               ERR_CRYPTO, "AES-GCM tag");
    if (EVP_DecryptFinal_ex(ctx, out->ptr + start + ct_size, &len) != 1) {
        mem_wipe(out->ptr + start, ct_size);
        FAIL_OUT(ERR_CORRUPT, "authentication failed: wrong key, or the data or its name was changed");
    }
    out->size = start + ct_size;
    r = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return r;
}

static EVP_PKEY_CTX *oaep_ctx(const struct crypto_key *k, bool encrypt)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, crypto_key_evp(k), NULL);
    if (ctx == NULL)
        return NULL;
    int ok = (encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(ctx, crypto_md_sha256()) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, crypto_md_sha256()) == 1;
    if (!ok) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int oaep(const struct crypto_key *k, bool encrypt, struct view in, struct buf *out)
{
    ENSURE(crypto_key_type(k) == CRYPTO_KEY_RSA, ERR_KEY, "RSA-OAEP needs an RSA key");
    EVP_PKEY_CTX *ctx = oaep_ctx(k, encrypt);
    ENSURE(ctx != NULL, ERR_CRYPTO, "RSA-OAEP init: %s", crypto_last_error());
    int r = ERR_CRYPTO;
    size_t len = 0;
    int (*op)(EVP_PKEY_CTX *, unsigned char *, size_t *, const unsigned char *, size_t) =
        encrypt ? EVP_PKEY_encrypt : EVP_PKEY_decrypt;
    if (op(ctx, NULL, &len, in.ptr, in.size) == 1 && (r = buf_reserve(out, len)) == 0) {
        if (op(ctx, out->ptr + out->size, &len, in.ptr, in.size) == 1)
            out->size += len;
        else
            r = err_fail(encrypt ? ERR_CRYPTO : ERR_CORRUPT, __func__, "RSA-OAEP %s failed: %s",
                         encrypt ? "encryption" : "decryption", crypto_last_error());
    } else if (r != ERR_NOMEM) {
        r = err_fail(ERR_CRYPTO, __func__, "RSA-OAEP: %s", crypto_last_error());
    }
    EVP_PKEY_CTX_free(ctx);
    return r;
}

int crypto_rsa_oaep_encrypt(const struct crypto_key *pub, struct view msg, struct buf *out)
{
    return oaep(pub, true, msg, out);
}

int crypto_rsa_oaep_decrypt(const struct crypto_key *priv, struct view ct, struct buf *out)
{
    return oaep(priv, false, ct, out);
}
