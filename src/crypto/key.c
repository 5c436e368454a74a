/* Asymmetric keys: generation, import and export, comparison. */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_int.h"

static int wrap(EVP_PKEY *pkey, struct crypto_key **out)
{
    struct crypto_key *k = malloc(sizeof(*k));
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        FAIL(ERR_NOMEM, "cannot allocate a key");
    }
    k->pkey = pkey;
    atomic_init(&k->refs, 1);
    *out = k;
    return 0;
}

struct crypto_key *crypto_key_ref(struct crypto_key *k)
{
    atomic_fetch_add(&k->refs, 1);
    return k;
}

void crypto_key_free(struct crypto_key *k)
{
    if (k == NULL || atomic_fetch_sub(&k->refs, 1) != 1)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

struct evp_pkey_st *crypto_key_evp(const struct crypto_key *k)
{
    return k->pkey;
}

int crypto_key_wrap_evp(struct evp_pkey_st *pkey, struct crypto_key **out)
{
    *out = NULL;
    ENSURE(EVP_PKEY_up_ref(pkey) == 1, ERR_CRYPTO, "EVP_PKEY_up_ref failed");
    return wrap(pkey, out);
}

int crypto_key_generate(enum crypto_key_type type, unsigned rsa_bits, struct crypto_key **out)
{
    EVP_PKEY *p = NULL;
    *out = NULL;
    switch (type) {
    case CRYPTO_KEY_EC_P224:
        p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224");
        break;
    case CRYPTO_KEY_EC_P256:
        p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case CRYPTO_KEY_EC_P384:
        p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    case CRYPTO_KEY_EC_P521:
        p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
        break;
    case CRYPTO_KEY_ED25519:
        p = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    case CRYPTO_KEY_RSA:
        ENSURE(rsa_bits >= 1024 && rsa_bits <= 16384, ERR_INVALID_ARG, "RSA size %u out of range", rsa_bits);
        p = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
        break;
    case CRYPTO_KEY_UNKNOWN:
    default:
        FAIL(ERR_INVALID_ARG, "unknown key type %d", (int)type);
    }
    ENSURE(p != NULL, ERR_CRYPTO, "key generation failed: %s", crypto_last_error());
    return wrap(p, out);
}

int crypto_key_from_private_der(struct view pkcs8, struct crypto_key **out)
{
    *out = NULL;
    ENSURE(pkcs8.size > 0 && pkcs8.size <= QY_PEM_MAX_SIZE, ERR_KEY, "private key of %zu bytes", pkcs8.size);
    const unsigned char *p = pkcs8.ptr;
    PKCS8_PRIV_KEY_INFO *info = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)pkcs8.size);
    ENSURE(info != NULL, ERR_KEY, "not a PKCS#8 private key: %s", crypto_last_error());
    bool whole = p == pkcs8.ptr + pkcs8.size;
    EVP_PKEY *k = whole ? EVP_PKCS82PKEY(info) : NULL;
    PKCS8_PRIV_KEY_INFO_free(info);
    ENSURE(whole, ERR_KEY, "trailing bytes after the private key");
    ENSURE(k != NULL, ERR_KEY, "unsupported private key: %s", crypto_last_error());
    return wrap(k, out);
}

int crypto_key_from_public_der(struct view spki, struct crypto_key **out)
{
    *out = NULL;
    ENSURE(spki.size > 0 && spki.size <= QY_PEM_MAX_SIZE, ERR_KEY, "public key of %zu bytes", spki.size);
    const unsigned char *p = spki.ptr;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)spki.size);
    ENSURE(k != NULL, ERR_KEY, "not a SubjectPublicKeyInfo: %s", crypto_last_error());
    if (p != spki.ptr + spki.size) {
        EVP_PKEY_free(k);
        FAIL(ERR_KEY, "trailing bytes after the public key");
    }
    return wrap(k, out);
}

int crypto_key_from_pem(struct view pem, struct crypto_key **out)
{
    int r = ERR_INTERNAL;
    char *label = NULL;
    struct buf der = BUF_INIT;
    EVP_PKEY *k = NULL;
    *out = NULL;
    r = crypto_pem_first(pem, &label, &der);
    ENSURE_OUT(r == 0, r == ERR_ENCODING ? ERR_KEY : r, "%s", err_detail(r));
    const unsigned char *p = der.ptr;
    if (strcmp(label, "PRIVATE KEY") == 0) {
        r = crypto_key_from_private_der(buf_view(&der), out);
        goto out;
    } else if (strcmp(label, "PUBLIC KEY") == 0) {
        r = crypto_key_from_public_der(buf_view(&der), out);
        goto out;
    } else if (strcmp(label, "EC PRIVATE KEY") == 0) {
        k = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, (long)der.size);
    } else if (strcmp(label, "RSA PRIVATE KEY") == 0) {
        k = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, (long)der.size);
    } else if (strcmp(label, "RSA PUBLIC KEY") == 0) {
        k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)der.size);
    } else {
        FAIL_OUT(ERR_KEY, "PEM block \"%s\" is not a key", label);
    }
    ENSURE_OUT(k != NULL, ERR_KEY, "cannot parse the %s: %s", label, crypto_last_error());
    ENSURE_OUT(p == der.ptr + der.size, ERR_KEY, "trailing bytes after the %s", label);
    r = wrap(k, out);
    k = NULL;
out:
    EVP_PKEY_free(k);
    OPENSSL_free(label);
    buf_free(&der);
    return r;
}

/* SubjectPublicKeyInfo of an uncompressed P-256 point: this fixed prefix, then 04 || X || Y. */
static const uint8_t p256_spki_prefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                           0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};

int crypto_key_from_p256_xy(const uint8_t xy[64], struct crypto_key **out)
{
    uint8_t spki[sizeof(p256_spki_prefix) + 64];
    memcpy(spki, p256_spki_prefix, sizeof(p256_spki_prefix));
    memcpy(spki + sizeof(p256_spki_prefix), xy, 64);
    int r = crypto_key_from_public_der(view_of(spki, sizeof(spki)), out);
    ENSURE(r == 0, ERR_KEY, "not a point on P-256: %s", err_detail(r));
    return 0;
}

int crypto_key_p256_xy(const struct crypto_key *k, uint8_t out[64])
{
    uint8_t pt[65];
    size_t len = 0;
    ENSURE(crypto_key_type(k) == CRYPTO_KEY_EC_P256, ERR_INVALID_ARG, "not a P-256 key");
    ENSURE(EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &len) == 1 &&
               len == 65 && pt[0] == 0x04,
           ERR_CRYPTO, "cannot export the P-256 point");
    memcpy(out, pt + 1, 64);
    return 0;
}

int crypto_key_private_der(const struct crypto_key *k, struct buf *out)
{
    PKCS8_PRIV_KEY_INFO *info = EVP_PKEY2PKCS8(k->pkey);
    ENSURE(info != NULL, ERR_CRYPTO, "cannot export the private key: %s", crypto_last_error());
    unsigned char *der = NULL;
    int len = i2d_PKCS8_PRIV_KEY_INFO(info, &der);
    PKCS8_PRIV_KEY_INFO_free(info);
    ENSURE(len > 0, ERR_CRYPTO, "cannot encode the private key: %s", crypto_last_error());
    int r = buf_append(out, der, (size_t)len);
    OPENSSL_clear_free(der, (size_t)len);
    return r;
}

int crypto_key_public_der(const struct crypto_key *k, struct buf *out)
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(k->pkey, &der);
    ENSURE(len > 0, ERR_CRYPTO, "cannot encode the public key: %s", crypto_last_error());
    int r = buf_append(out, der, (size_t)len);
    OPENSSL_free(der);
    return r;
}

enum crypto_key_type crypto_key_type(const struct crypto_key *k)
{
    if (EVP_PKEY_is_a(k->pkey, "RSA"))
        return CRYPTO_KEY_RSA;
    if (EVP_PKEY_is_a(k->pkey, "ED25519"))
        return CRYPTO_KEY_ED25519;
    if (!EVP_PKEY_is_a(k->pkey, "EC"))
        return CRYPTO_KEY_UNKNOWN;
    char group[64];
    if (EVP_PKEY_get_utf8_string_param(k->pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1)
        return CRYPTO_KEY_UNKNOWN;
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
        return CRYPTO_KEY_EC_P256;
    if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
        return CRYPTO_KEY_EC_P384;
    if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
        return CRYPTO_KEY_EC_P521;
    if (strcmp(group, "secp224r1") == 0 || strcmp(group, "P-224") == 0)
        return CRYPTO_KEY_EC_P224;
    return CRYPTO_KEY_UNKNOWN;
}

int crypto_key_bits(const struct crypto_key *k)
{
    return EVP_PKEY_get_bits(k->pkey);
}

bool crypto_key_has_private(const struct crypto_key *k)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_is_a(k->pkey, "ED25519")) {
        size_t len = 0;
        return EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0, &len) == 1 && len > 0;
    }
    const char *param = EVP_PKEY_is_a(k->pkey, "RSA") ? OSSL_PKEY_PARAM_RSA_D : OSSL_PKEY_PARAM_PRIV_KEY;
    bool has = EVP_PKEY_get_bn_param(k->pkey, param, &bn) == 1;
    BN_clear_free(bn);
    ERR_clear_error();
    return has;
}

bool crypto_key_public_eq(const struct crypto_key *a, const struct crypto_key *b)
{
    return EVP_PKEY_eq(a->pkey, b->pkey) == 1;
}
