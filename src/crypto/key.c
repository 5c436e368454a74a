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
        TRY(crypto_rsa_generate(rsa_bits, &p));
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

/* Whether an EC key is written with its curve's name (not with explicit curve parameters). */
static bool named_curve(const struct crypto_key *k)
{
    char enc[32];
    return EVP_PKEY_get_utf8_string_param(k->pkey, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc), NULL) == 1 &&
           strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) == 0;
}

/* The SubjectPublicKeyInfo of an EC (named curve) or Ed25519 key is its algorithm and its encoded
 * point, set directly: no encoder, no decoder. 0 with *out NULL for other kinds of key. */
static int spki_direct(const struct crypto_key *k, X509_PUBKEY **out)
{
    int curve = NID_undef, alg;
    switch (crypto_key_type(k)) {
    case CRYPTO_KEY_EC_P256:
        curve = NID_X9_62_prime256v1;
        break;
    case CRYPTO_KEY_EC_P384:
        curve = NID_secp384r1;
        break;
    case CRYPTO_KEY_EC_P521:
        curve = NID_secp521r1;
        break;
    case CRYPTO_KEY_ED25519:
        break;
    default:
        return 0;
    }
    if (curve != NID_undef && !named_curve(k))
        return 0; /* explicit parameters: OpenSSL's encoder writes them */
    alg = curve == NID_undef ? NID_ED25519 : NID_X9_62_id_ecPublicKey;
    /* the point as the key holds it (compressed stays compressed, as i2d_PUBKEY writes it) */
    unsigned char point[1 + 2 * 66];
    size_t len = 0;
    ENSURE(EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, point,
                                           sizeof(point), &len) == 1 &&
               len > 0,
           ERR_CRYPTO, "cannot read the public key: %s", crypto_last_error());
    X509_PUBKEY *x = X509_PUBKEY_new();
    unsigned char *bits = OPENSSL_memdup(point, len);
    ASN1_OBJECT *param = curve == NID_undef ? NULL : OBJ_nid2obj(curve);
    if (x != NULL && bits != NULL &&
        X509_PUBKEY_set0_param(x, OBJ_nid2obj(alg), param ? V_ASN1_OBJECT : V_ASN1_UNDEF, param,
                               bits, (int)len) == 1) {
        *out = x;
        return 0;
    }
    X509_PUBKEY_free(x);
    OPENSSL_free(bits);
    FAIL(ERR_CRYPTO, "cannot build a public key structure: %s", crypto_last_error());
}

int crypto_key_x509_pubkey(const struct crypto_key *k, struct X509_pubkey_st **out)
{
    *out = NULL;
    TRY(spki_direct(k, out));
    if (*out == NULL) /* RSA and the rest: OpenSSL's encoder */
        ENSURE(X509_PUBKEY_set(out, k->pkey) == 1, ERR_CRYPTO, "cannot encode the public key: %s",
               crypto_last_error());
    return 0;
}

int crypto_key_public_der(const struct crypto_key *k, struct buf *out)
{
    X509_PUBKEY *x = NULL;
    TRY(crypto_key_x509_pubkey(k, &x));
    unsigned char *der = NULL;
    int len = i2d_X509_PUBKEY(x, &der);
    X509_PUBKEY_free(x);
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
