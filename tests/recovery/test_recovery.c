/* recovery: Shamir and XOR shares, RSA-OAEP secrets, sessions that refuse bad uploads. */
#include <criterion/criterion.h>
#include <string.h>

#include "crypto/crypto.h"
#include "qt.h"
#include "recovery/recovery.h"

static struct crypto_key *load_key(const char *name, const char *ext)
{
    char rel[64];
    struct buf pem = BUF_INIT;
    struct crypto_key *k;
    snprintf(rel, sizeof(rel), "certs/%s.%s", name, ext);
    qt_read(qt_data_path(rel), &pem);
    cr_assert_eq(crypto_key_from_pem(buf_view(&pem), &k), 0);
    buf_free(&pem);
    return k;
}

/* Every subset of size k of n shares gives the secret; every subset of size k-1 does not. */
Test(shamir, any_k_of_n_reconstruct_and_k_minus_1_do_not)
{
    uint8_t secret[32], shares[6 * 33];
    cr_assert_eq(crypto_random(secret, sizeof(secret)), 0);
    for (unsigned n = 2; n <= 6; n++)
        for (unsigned k = 2; k <= n; k++) {
            cr_assert_eq(rec_shamir_split(view_of(secret, 32), n, k, shares), 0);
            for (unsigned mask = 1; mask < (1u << n); mask++) {
                unsigned bits = (unsigned)__builtin_popcount(mask);
                if (bits != k && bits != k - 1)
                    continue;
                uint8_t picked[6 * 33];
                size_t m = 0;
                for (unsigned i = 0; i < n; i++)
                    if (mask & (1u << i))
                        memcpy(picked + 33 * m++, shares + 33 * i, 33);
                struct buf out = BUF_INIT;
                if (m < 2) {
                    cr_assert_eq(rec_shamir_combine(picked, m, 33, &out), ERR_BAD_REQUEST);
                    continue;
                }
                cr_assert_eq(rec_shamir_combine(picked, m, 33, &out), 0);
                bool same = memcmp(out.ptr, secret, 32) == 0;
                cr_assert_eq(same, bits == k, "n=%u k=%u subset %x", n, k, mask);
                buf_free(&out);
            }
        }
}

Test(shamir, x_coordinates_are_distinct_and_nonzero)
{
    uint8_t secret[1] = {7}, shares[255 * 2];
    cr_assert_eq(rec_shamir_split(view_of(secret, 1), 255, 3, shares), 0);
    bool seen[256] = {false};
    for (int i = 0; i < 255; i++) {
        uint8_t x = shares[2 * i + 1];
        cr_assert_neq(x, 0);
        cr_assert_not(seen[x]);
        seen[x] = true;
    }
    uint8_t dup[4] = {1, 5, 2, 5};
    struct buf out = BUF_INIT;
    cr_assert_eq(rec_shamir_combine(dup, 2, 2, &out), ERR_BAD_REQUEST);
    cr_assert_eq(rec_shamir_split(view_of(secret, 1), 3, 4, shares), ERR_INVALID_ARG);
    cr_assert_eq(rec_shamir_split(view_of(secret, 1), 3, 1, shares), ERR_INVALID_ARG);
}

/* With threshold 2 a single share's y byte is uniform whatever the secret: chi-square over 256 bins.
 * The bound (420 for 255 degrees of freedom) fails by chance with probability below 1e-9. */
Test(shamir, fewer_than_k_shares_are_uniform, .timeout = 120)
{
    const unsigned rounds = 25600;
    for (int secret_byte = 0; secret_byte <= 255; secret_byte += 255) {
        unsigned bins[256] = {0};
        uint8_t secret[1] = {(uint8_t)secret_byte}, shares[2 * 2];
        for (unsigned i = 0; i < rounds; i++) {
            cr_assert_eq(rec_shamir_split(view_of(secret, 1), 2, 2, shares), 0);
            bins[shares[0]]++;
        }
        double chi2 = 0, expect = rounds / 256.0;
        for (int b = 0; b < 256; b++)
            chi2 += (bins[b] - expect) * (bins[b] - expect) / expect;
        cr_assert_lt(chi2, 420.0, "secret %02x: chi2 %.1f", secret_byte, chi2);
    }
}

struct kit {
    struct crypto_key *pub[5], *priv[5];
    struct rec_key keys[5];
};

static void kit_load(struct kit *k, size_t n)
{
    static const char *names[] = {"rec1", "rec2", "rec3", "rec4", "rec5"};
    for (size_t i = 0; i < n; i++) {
        k->pub[i] = load_key(names[i], "pub");
        k->priv[i] = load_key(names[i], "key");
        k->keys[i] = (struct rec_key){names[i], k->pub[i]};
    }
}

static void kit_free(struct kit *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        crypto_key_free(k->pub[i]), crypto_key_free(k->priv[i]);
}

/* The plain share of key i: decrypt its RecoverySecret. */
static void share_of(const struct kit *k, size_t i, const json_t *secrets, struct buf *share)
{
    struct buf ct = BUF_INIT;
    const char *b64 = json_string_value(json_object_get(secrets, k->keys[i].name));
    cr_assert_not_null(b64);
    cr_assert_eq(enc_b64_decode(&ct, view_str(b64)), 0);
    cr_assert_eq(crypto_rsa_oaep_decrypt(k->priv[i], buf_view(&ct), share), 0);
    buf_free(&ct);
}

static void sign(const struct kit *k, size_t i, struct view share, struct buf *sig)
{
    cr_assert_eq(crypto_sign(k->priv[i], CRYPTO_SIG_RSA_PKCS1_SHA256, share, sig), 0);
}

static void recover_with(size_t n, unsigned threshold)
{
    struct kit k;
    kit_load(&k, n);
    uint8_t dek[REC_DEK_SIZE], got[REC_DEK_SIZE];
    json_t *secrets;
    struct buf data = BUF_INIT;
    cr_assert_eq(rec_generate(k.keys, n, threshold, dek, &secrets, &data), 0);
    cr_assert_eq(json_object_size(secrets), n);
    size_t need = n == 1 ? 1 : threshold == 0 ? n : threshold;
    /* start at every key so that different subsets are used */
    for (size_t first = 0; first < n; first++) {
        struct rec_session *s;
        cr_assert_eq(rec_session_new(buf_view(&data), &s), 0);
        cr_assert_eq(rec_session_remaining(s), need);
        for (size_t j = 0; j < need; j++) {
            size_t i = (first + j) % n;
            struct buf share = BUF_INIT, sig = BUF_INIT;
            unsigned remaining;
            share_of(&k, i, secrets, &share);
            sign(&k, i, buf_view(&share), &sig);
            cr_assert_eq(rec_session_add(s, buf_view(&share), buf_view(&sig), &remaining, got), 0);
            cr_assert_eq(remaining, need - j - 1, "k-1 shares leave it incomplete");
            if (remaining > 0) /* a reused share consumes nothing */
                cr_assert_eq(rec_session_add(s, buf_view(&share), buf_view(&sig), &remaining, got), ERR_POLICY);
            buf_free(&share), buf_free(&sig);
        }
        cr_assert_eq(memcmp(got, dek, REC_DEK_SIZE), 0, "n=%zu threshold=%u", n, threshold);
        rec_session_free(s);
    }
    json_decref(secrets);
    buf_free(&data);
    kit_free(&k, n);
}

Test(recovery, one_two_and_five_keys_with_every_threshold, .timeout = 300)
{
    recover_with(1, 0);
    recover_with(2, 0);
    recover_with(2, 2);
    for (unsigned t = 2; t <= 5; t++)
        recover_with(5, t);
    recover_with(5, 0);
}

Test(recovery, bad_uploads_are_refused_and_consume_nothing, .timeout = 120)
{
    struct kit k;
    kit_load(&k, 3);
    uint8_t dek[REC_DEK_SIZE], other_dek[REC_DEK_SIZE], got[REC_DEK_SIZE];
    json_t *secrets, *other;
    struct buf data = BUF_INIT, other_data = BUF_INIT, share = BUF_INIT, sig = BUF_INIT, foreign = BUF_INIT;
    cr_assert_eq(rec_generate(k.keys, 3, 2, dek, &secrets, &data), 0);
    cr_assert_eq(rec_generate(k.keys, 3, 2, other_dek, &other, &other_data), 0); /* another manifest */
    struct rec_session *s;
    cr_assert_eq(rec_session_new(buf_view(&data), &s), 0);
    unsigned remaining;
    share_of(&k, 0, secrets, &share);
    sign(&k, 1, buf_view(&share), &sig); /* signed with the wrong key */
    cr_assert_eq(rec_session_add(s, buf_view(&share), buf_view(&sig), &remaining, got), ERR_BAD_SIGNATURE);
    cr_assert_eq(remaining, 2);
    buf_reset(&sig);
    sign(&k, 0, view_str("something else"), &sig); /* right key, other data */
    cr_assert_eq(rec_session_add(s, buf_view(&share), buf_view(&sig), &remaining, got), ERR_BAD_SIGNATURE);
    share_of(&k, 0, other, &foreign);
    buf_reset(&sig);
    sign(&k, 0, buf_view(&foreign), &sig);
    cr_assert_eq(rec_session_add(s, buf_view(&foreign), buf_view(&sig), &remaining, got), ERR_POLICY,
                 "a share of another manifest");
    cr_assert_eq(rec_session_add(s, view_str("short"), buf_view(&sig), &remaining, got), ERR_POLICY);
    cr_assert_eq(rec_session_remaining(s), 2, "nothing was consumed");
    buf_reset(&sig);
    sign(&k, 0, buf_view(&share), &sig);
    cr_assert_eq(rec_session_add(s, buf_view(&share), buf_view(&sig), &remaining, got), 0);
    cr_assert_eq(remaining, 1);
    rec_session_reset(s);
    cr_assert_eq(rec_session_remaining(s), 2);
    rec_session_free(s);
    json_decref(secrets), json_decref(other);
    buf_free(&data), buf_free(&other_data), buf_free(&share), buf_free(&sig), buf_free(&foreign);
    kit_free(&k, 3);
}

Test(recovery, no_keys_means_no_recovery)
{
    uint8_t dek[REC_DEK_SIZE];
    json_t *secrets;
    struct buf data = BUF_INIT;
    cr_assert_eq(rec_generate(NULL, 0, 0, dek, &secrets, &data), 0);
    cr_assert_eq(json_object_size(secrets), 0);
    cr_assert_eq(data.size, 0);
    struct rec_session *s;
    cr_assert_eq(rec_session_new(buf_view(&data), &s), ERR_UNSUPPORTED);
    json_decref(secrets);
}

Test(recovery, corrupted_recovery_data_is_refused_cleanly, .timeout = 120)
{
    struct kit k;
    kit_load(&k, 2);
    uint8_t dek[REC_DEK_SIZE];
    json_t *secrets;
    struct buf data = BUF_INIT;
    cr_assert_eq(rec_generate(k.keys, 2, 0, dek, &secrets, &data), 0);
    for (size_t i = 0; i < data.size; i++) {
        data.ptr[i] ^= 0x21;
        struct rec_session *s = NULL;
        int r = rec_session_new(buf_view(&data), &s);
        cr_assert(r == 0 || r == ERR_CORRUPT || r == ERR_UNSUPPORTED, "byte %zu: %s", i, err_name(r));
        rec_session_free(s);
        data.ptr[i] ^= 0x21;
    }
    for (size_t len = 0; len < data.size; len++) {
        struct rec_session *s = NULL;
        int r = rec_session_new(view_of(data.ptr, len), &s);
        cr_assert(r == ERR_CORRUPT || r == ERR_UNSUPPORTED, "length %zu: %s", len, err_name(r));
    }
    json_decref(secrets);
    buf_free(&data);
    kit_free(&k, 2);
}

/* fuzz/corpus/recovery/regress-ec-recovery-key-leak: an entry whose key parses but is not RSA once
 * leaked that key; refused with the reason, and (under ASan) nothing leaks. */
Test(recovery, a_recovery_key_that_is_not_rsa_is_refused_cleanly, .timeout = 120)
{
    struct kit k;
    kit_load(&k, 2);
    uint8_t dek[REC_DEK_SIZE];
    json_t *secrets, *doc;
    struct buf data = BUF_INIT, spki = BUF_INIT, spki64 = BUF_INIT, edited = BUF_INIT;
    struct crypto_key *ec = NULL;
    cr_assert_eq(rec_generate(k.keys, 2, 0, dek, &secrets, &data), 0);
    cr_assert_eq(js_parse(buf_view(&data), QY_JSON_MAX_SIZE, &doc), 0);
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &ec), 0);
    cr_assert_eq(crypto_key_public_der(ec, &spki), 0);
    cr_assert_eq(enc_b64(&spki64, buf_view(&spki)), 0);
    json_t *entry = json_array_get(json_object_get(doc, "shares"), 1);
    cr_assert_eq(json_object_set_new(entry, "publicKey", json_stringn((const char *)spki64.ptr, spki64.size)), 0);
    cr_assert_eq(js_dump(&edited, doc, JSON_COMPACT), 0);
    struct rec_session *s = NULL;
    cr_assert_eq(rec_session_new(buf_view(&edited), &s), ERR_CORRUPT);
    cr_assert_null(s);
    cr_assert_str_eq(err_detail(ERR_CORRUPT), "recovery data: recovery key rec2 is not RSA");
    crypto_key_free(ec);
    json_decref(doc);
    json_decref(secrets);
    buf_free(&data), buf_free(&spki), buf_free(&spki64), buf_free(&edited);
    kit_free(&k, 2);
}
