/* crypto: keys, signatures, HKDF (RFC 5869 vectors), AES-GCM, RSA-OAEP. */
#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#include "crypto/crypto.h"
#include "qt.h"

static void hex(const char *h, struct buf *out)
{
    cr_assert_eq(enc_hex_decode(out, view_str(h)), 0);
}

Test(crypto, sha256_of_parts_matches_known_digest)
{
    uint8_t d[32];
    struct view parts[] = {view_str("a"), view_str("bc")};
    cr_assert_eq(crypto_sha256(parts, 2, d), 0);
    struct buf want = BUF_INIT;
    hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", &want); /* FIPS 180-2 "abc" */
    cr_assert_eq(memcmp(d, want.ptr, 32), 0);
    buf_free(&want);
}

Test(crypto, hkdf_sha256_rfc5869_case1)
{
    struct buf ikm = BUF_INIT, salt = BUF_INIT, info = BUF_INIT, want = BUF_INIT;
    hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", &ikm);
    hex("000102030405060708090a0b0c", &salt);
    hex("f0f1f2f3f4f5f6f7f8f9", &info);
    hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865", &want);
    uint8_t okm[42];
    cr_assert_eq(crypto_hkdf_sha256(buf_view(&ikm), buf_view(&salt), buf_view(&info), okm, sizeof(okm)), 0);
    cr_assert_eq(memcmp(okm, want.ptr, 42), 0);
    buf_free(&ikm), buf_free(&salt), buf_free(&info), buf_free(&want);
}

Test(crypto, hkdf_sha256_rfc5869_case3_no_salt_no_info)
{
    struct buf ikm = BUF_INIT, want = BUF_INIT;
    hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", &ikm);
    hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8", &want);
    uint8_t okm[42];
    cr_assert_eq(crypto_hkdf_sha256(buf_view(&ikm), VIEW_EMPTY, VIEW_EMPTY, okm, sizeof(okm)), 0);
    cr_assert_eq(memcmp(okm, want.ptr, 42), 0);
    buf_free(&ikm), buf_free(&want);
}

Test(crypto, hmac_sha256_rfc4231_cases_1_and_2_over_parts)
{
    struct buf key = BUF_INIT, want = BUF_INIT;
    uint8_t mac[32];
    hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", &key);
    struct view one = view_str("Hi There");
    cr_assert_eq(crypto_hmac_sha256(buf_view(&key), &one, 1, mac), 0);
    hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", &want);
    cr_assert_eq(memcmp(mac, want.ptr, 32), 0);
    struct view parts[] = {view_str("what do ya"), VIEW_EMPTY, view_str(" want for nothing?")};
    cr_assert_eq(crypto_hmac_sha256(view_str("Jefe"), parts, 3, mac), 0);
    buf_reset(&want);
    hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", &want);
    cr_assert_eq(memcmp(mac, want.ptr, 32), 0);
    struct crypto_hmac *h; /* keyed once, run again and again: the same MAC each time */
    cr_assert_eq(crypto_hmac_new(view_str("Jefe"), &h), 0);
    for (int i = 0; i < 3; i++) {
        memset(mac, 0, sizeof(mac));
        cr_assert_eq(crypto_hmac_run(h, parts, 3, mac), 0);
        cr_assert_eq(memcmp(mac, want.ptr, 32), 0, "run %d", i);
    }
    crypto_hmac_free(h);
    buf_free(&key), buf_free(&want);
}

static void round_trip(enum crypto_key_type t, unsigned bits, enum crypto_sig_alg alg)
{
    struct crypto_key *k, *priv, *pub;
    cr_assert_eq(crypto_key_generate(t, bits, &k), 0);
    cr_assert_eq(crypto_key_type(k), t);
    cr_assert(crypto_key_has_private(k));
    struct buf pk = BUF_INIT, spki = BUF_INIT, sig = BUF_INIT;
    cr_assert_eq(crypto_key_private_der(k, &pk), 0);
    cr_assert_eq(crypto_key_public_der(k, &spki), 0);
    cr_assert_eq(crypto_key_from_private_der(buf_view(&pk), &priv), 0);
    cr_assert_eq(crypto_key_from_public_der(buf_view(&spki), &pub), 0);
    cr_assert_not(crypto_key_has_private(pub));
    cr_assert(crypto_key_public_eq(k, pub));
    cr_assert_eq(crypto_sign(priv, alg, view_str("message"), &sig), 0);
    cr_assert_eq(crypto_verify(pub, alg, view_str("message"), buf_view(&sig)), 0);
    cr_assert_eq(crypto_verify(pub, alg, view_str("messagE"), buf_view(&sig)), ERR_BAD_SIGNATURE);
    sig.ptr[sig.size / 2] ^= 1;
    cr_assert_eq(crypto_verify(pub, alg, view_str("message"), buf_view(&sig)), ERR_BAD_SIGNATURE);
    cr_assert_eq(crypto_sign(pub, alg, view_str("m"), &sig), ERR_KEY, "no private key");
    crypto_key_free(k), crypto_key_free(priv), crypto_key_free(pub);
    buf_free(&pk), buf_free(&spki), buf_free(&sig);
}

Test(crypto, keys_and_signatures_round_trip)
{
    round_trip(CRYPTO_KEY_EC_P256, 0, CRYPTO_SIG_ECDSA_SHA256);
    round_trip(CRYPTO_KEY_EC_P256, 0, CRYPTO_SIG_ECDSA_SHA256_RAW);
    round_trip(CRYPTO_KEY_EC_P384, 0, CRYPTO_SIG_ECDSA_SHA384);
    round_trip(CRYPTO_KEY_EC_P521, 0, CRYPTO_SIG_ECDSA_SHA256_RAW);
    round_trip(CRYPTO_KEY_EC_P224, 0, CRYPTO_SIG_ECDSA_SHA256);
    round_trip(CRYPTO_KEY_ED25519, 0, CRYPTO_SIG_ED25519);
    round_trip(CRYPTO_KEY_RSA, 2048, CRYPTO_SIG_RSA_PKCS1_SHA256);
}

/* crypto_key_public_der builds EC and Ed25519 SPKIs without OpenSSL's encoder: the bytes must be
 * exactly what i2d_PUBKEY writes, compressed points included. */
static void spki_matches_openssl(struct crypto_key *k)
{
    struct buf mine = BUF_INIT;
    unsigned char *theirs = NULL;
    int len = i2d_PUBKEY(crypto_key_evp(k), &theirs);
    cr_assert_gt(len, 0);
    cr_assert_eq(crypto_key_public_der(k, &mine), 0);
    cr_assert_eq(mine.size, (size_t)len, "type %d: %zu vs %d bytes", crypto_key_type(k), mine.size, len);
    cr_assert_eq(memcmp(mine.ptr, theirs, mine.size), 0, "type %d", crypto_key_type(k));
    X509_PUBKEY *x = NULL;
    cr_assert_eq(crypto_key_x509_pubkey(k, &x), 0);
    unsigned char *again = NULL;
    cr_assert_eq(i2d_X509_PUBKEY(x, &again), len);
    cr_assert_eq(memcmp(again, theirs, (size_t)len), 0);
    OPENSSL_free(again);
    X509_PUBKEY_free(x);
    OPENSSL_free(theirs);
    buf_free(&mine);
}

Test(crypto, public_der_is_what_openssl_encodes)
{
    static const enum crypto_key_type types[] = {CRYPTO_KEY_EC_P256, CRYPTO_KEY_EC_P384, CRYPTO_KEY_EC_P521,
                                                 CRYPTO_KEY_EC_P224, CRYPTO_KEY_ED25519, CRYPTO_KEY_RSA};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct crypto_key *k;
        cr_assert_eq(crypto_key_generate(types[i], 2048, &k), 0);
        spki_matches_openssl(k);
        if (types[i] == CRYPTO_KEY_EC_P256) { /* the same point, compressed, from a decoded SPKI */
            cr_assert_eq(EVP_PKEY_set_utf8_string_param(crypto_key_evp(k), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                                        "compressed"),
                         1);
            unsigned char *der = NULL;
            int len = i2d_PUBKEY(crypto_key_evp(k), &der);
            cr_assert_eq(len, 59, "a compressed P-256 SPKI is 59 bytes");
            struct crypto_key *pub;
            cr_assert_eq(crypto_key_from_public_der(view_of(der, (size_t)len), &pub), 0);
            spki_matches_openssl(pub);
            crypto_key_free(pub);
            OPENSSL_free(der);
            /* and with explicit curve parameters, as a key uploaded in that form would be */
            cr_assert_eq(EVP_PKEY_set_utf8_string_param(crypto_key_evp(k), OSSL_PKEY_PARAM_EC_ENCODING,
                                                        OSSL_PKEY_EC_ENCODING_EXPLICIT),
                         1);
            der = NULL;
            len = i2d_PUBKEY(crypto_key_evp(k), &der);
            cr_assert_gt(len, 200, "explicit parameters are written out");
            cr_assert_eq(crypto_key_from_public_der(view_of(der, (size_t)len), &pub), 0);
            spki_matches_openssl(pub);
            crypto_key_free(pub);
            OPENSSL_free(der);
        }
        crypto_key_free(k);
    }
}

static BIGNUM *rsa_param(EVP_PKEY *k, const char *name)
{
    BIGNUM *v = NULL;
    cr_assert_eq(EVP_PKEY_get_bn_param(k, name, &v), 1, "%s", name);
    return v;
}

/* RSA keys come from rsagen.c (random probable primes): each must pass OpenSSL's full key check
 * (primality of both factors, the CRT values, the pair) and FIPS 186-4 B.3.3's conditions. */
Test(crypto, rsa_keys_are_sound)
{
    static const unsigned sizes[] = {2048, 3072, 2049, 1024};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct crypto_key *k;
        cr_assert_eq(crypto_key_generate(CRYPTO_KEY_RSA, sizes[i], &k), 0);
        EVP_PKEY *pk = crypto_key_evp(k);
        cr_assert_eq(crypto_key_bits(k), (int)sizes[i]);
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
        cr_assert_eq(EVP_PKEY_check(ctx), 1, "RSA-%u fails OpenSSL's key check", sizes[i]);
        EVP_PKEY_CTX_free(ctx);
        BIGNUM *e = rsa_param(pk, OSSL_PKEY_PARAM_RSA_E), *p = rsa_param(pk, OSSL_PKEY_PARAM_RSA_FACTOR1),
               *q = rsa_param(pk, OSSL_PKEY_PARAM_RSA_FACTOR2), *d = rsa_param(pk, OSSL_PKEY_PARAM_RSA_D),
               *diff = BN_new();
        cr_assert(BN_is_word(e, 65537));
        cr_assert_eq(BN_sub(diff, p, q), 1);
        cr_assert_gt(BN_num_bits(diff), (int)sizes[i] / 2 - 100, "|p - q| too small");
        cr_assert_gt(BN_num_bits(d), (int)sizes[i] / 2, "d too small");
        cr_assert_eq(BN_num_bits(p), ((int)sizes[i] + 1) / 2);
        cr_assert_eq(BN_num_bits(q), (int)sizes[i] / 2);
        BN_free(e), BN_free(p), BN_free(q), BN_clear_free(d), BN_free(diff);
        crypto_key_free(k);
    }
    struct crypto_key *k = NULL;
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_RSA, 512, &k), ERR_INVALID_ARG);
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_RSA, 16385, &k), ERR_INVALID_ARG);
    cr_assert_null(k);
}

Test(crypto, raw_p256_signatures_are_64_bytes_and_points_round_trip)
{
    struct crypto_key *k, *pub;
    struct buf sig = BUF_INIT;
    uint8_t xy[64];
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k), 0);
    cr_assert_eq(crypto_sign(k, CRYPTO_SIG_ECDSA_SHA256_RAW, view_str("q"), &sig), 0);
    cr_assert_eq(sig.size, 64);
    cr_assert_eq(crypto_key_p256_xy(k, xy), 0);
    cr_assert_eq(crypto_key_from_p256_xy(xy, &pub), 0);
    cr_assert_eq(crypto_verify(pub, CRYPTO_SIG_ECDSA_SHA256_RAW, view_str("q"), buf_view(&sig)), 0);
    cr_assert_eq(crypto_verify(pub, CRYPTO_SIG_ECDSA_SHA256_RAW, view_str("q"), view_of(sig.ptr, 63)),
                 ERR_BAD_SIGNATURE);
    xy[10] ^= 1;
    struct crypto_key *bad = NULL;
    cr_assert_eq(crypto_key_from_p256_xy(xy, &bad), ERR_KEY, "a point off the curve");
    crypto_key_free(k), crypto_key_free(pub);
    buf_free(&sig);
}

Test(crypto, wrong_algorithm_for_key_is_refused)
{
    struct crypto_key *k;
    struct buf sig = BUF_INIT;
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_ED25519, 0, &k), 0);
    cr_assert_eq(crypto_sign(k, CRYPTO_SIG_ECDSA_SHA256, view_str("m"), &sig), ERR_KEY);
    cr_assert_eq(crypto_verify(k, CRYPTO_SIG_RSA_PKCS1_SHA256, view_str("m"), view_str("x")), ERR_KEY);
    crypto_key_free(k);
}

Test(crypto, keys_from_pem)
{
    struct buf pem = BUF_INIT;
    struct crypto_key *k;
    qt_read(qt_data_path("certs/alice.key"), &pem);
    cr_assert_eq(crypto_key_from_pem(buf_view(&pem), &k), 0);
    cr_assert_eq(crypto_key_type(k), CRYPTO_KEY_EC_P256);
    cr_assert(crypto_key_has_private(k));
    crypto_key_free(k);
    buf_reset(&pem);
    qt_read(qt_data_path("certs/rec1.pub"), &pem);
    cr_assert_eq(crypto_key_from_pem(buf_view(&pem), &k), 0);
    cr_assert_eq(crypto_key_bits(k), 2048);
    crypto_key_free(k);
    cr_assert_eq(crypto_key_from_pem(view_str("garbage"), &k), ERR_KEY);
    cr_assert_eq(crypto_key_from_pem(view_str("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), &k),
                 ERR_KEY);
    cr_assert_eq(crypto_key_from_private_der(view_str("\x30\x03\x02\x01\x00"), &k), ERR_KEY);
    buf_free(&pem);
}

Test(crypto, aead_round_trip_and_tampering)
{
    uint8_t key[32] = {1, 2, 3};
    struct buf sealed = BUF_INIT, opened = BUF_INIT;
    cr_assert_eq(crypto_aead_seal(key, view_str("state:manifest"), view_str("secret value"), &sealed), 0);
    cr_assert_eq(sealed.size, 12 + 12 + 16);
    cr_assert_eq(crypto_aead_open(key, view_str("state:manifest"), buf_view(&sealed), &opened), 0);
    cr_assert(view_eq(buf_view(&opened), view_str("secret value")));
    buf_reset(&opened);
    cr_assert_eq(crypto_aead_open(key, view_str("state:other"), buf_view(&sealed), &opened), ERR_CORRUPT,
                 "the name is bound as associated data");
    for (size_t i = 0; i < sealed.size; i++) {
        sealed.ptr[i] ^= 0x80;
        cr_assert_eq(crypto_aead_open(key, view_str("state:manifest"), buf_view(&sealed), &opened), ERR_CORRUPT);
        cr_assert_eq(opened.size, 0);
        sealed.ptr[i] ^= 0x80;
    }
    key[0] ^= 1;
    cr_assert_eq(crypto_aead_open(key, view_str("state:manifest"), buf_view(&sealed), &opened), ERR_CORRUPT);
    cr_assert_eq(crypto_aead_open(key, VIEW_EMPTY, view_of(sealed.ptr, 27), &opened), ERR_CORRUPT);
    buf_reset(&sealed);
    cr_assert_eq(crypto_aead_seal(key, VIEW_EMPTY, VIEW_EMPTY, &sealed), 0);
    cr_assert_eq(crypto_aead_open(key, VIEW_EMPTY, buf_view(&sealed), &opened), 0);
    cr_assert_eq(opened.size, 0);
    buf_free(&sealed), buf_free(&opened);
}

Test(crypto, rsa_oaep_round_trip)
{
    struct buf pem = BUF_INIT, ct = BUF_INIT, pt = BUF_INIT;
    struct crypto_key *priv, *pub;
    qt_read(qt_data_path("certs/rec1.key"), &pem);
    cr_assert_eq(crypto_key_from_pem(buf_view(&pem), &priv), 0);
    buf_reset(&pem);
    qt_read(qt_data_path("certs/rec1.pub"), &pem);
    cr_assert_eq(crypto_key_from_pem(buf_view(&pem), &pub), 0);
    uint8_t secret[33] = {7};
    cr_assert_eq(crypto_rsa_oaep_encrypt(pub, view_of(secret, 33), &ct), 0);
    cr_assert_eq(ct.size, 256);
    cr_assert_eq(crypto_rsa_oaep_decrypt(priv, buf_view(&ct), &pt), 0);
    cr_assert(view_eq(buf_view(&pt), view_of(secret, 33)));
    ct.ptr[5] ^= 1;
    buf_reset(&pt);
    cr_assert_eq(crypto_rsa_oaep_decrypt(priv, buf_view(&ct), &pt), ERR_CORRUPT);
    crypto_key_free(priv), crypto_key_free(pub);
    buf_free(&pem), buf_free(&ct), buf_free(&pt);
}
