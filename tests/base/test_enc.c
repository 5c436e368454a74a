#include <criterion/criterion.h>
#include <string.h>

#include "base/base.h"

static void check_b64(const char *plain, const char *encoded)
{
    struct buf b = BUF_INIT, d = BUF_INIT;
    cr_assert_eq(enc_b64(&b, view_str(plain)), 0);
    cr_assert_eq(b.size, strlen(encoded));
    cr_assert_eq(memcmp(b.ptr, encoded, b.size), 0, "b64(%s)", plain);
    cr_assert_eq(enc_b64_decode(&d, view_str(encoded)), 0);
    cr_assert(view_eq(buf_view(&d), view_str(plain)));
    buf_free(&b);
    buf_free(&d);
}

Test(enc, base64_rfc4648_vectors)
{
    check_b64("", "");
    check_b64("f", "Zg==");
    check_b64("fo", "Zm8=");
    check_b64("foo", "Zm9v");
    check_b64("foob", "Zm9vYg==");
    check_b64("fooba", "Zm9vYmE=");
    check_b64("foobar", "Zm9vYmFy");
}

Test(enc, base64_decode_rejects_malformed_input)
{
    const char *bad[] = {"Zg", "Zg=", "Z===", "Zm9v=", "Zm9vYg==Zg==", "Zm9*", "Zg==\x01", "=Zg="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf d = BUF_INIT;
        cr_assert_eq(enc_b64_decode(&d, view_str(bad[i])), ERR_ENCODING, "accepted \"%s\"", bad[i]);
        cr_assert_eq(d.size, 0, "output untouched on failure");
        buf_free(&d);
    }
}

Test(enc, base64_decode_skips_newlines_like_go)
{
    struct buf d = BUF_INIT;
    cr_assert_eq(enc_b64_decode(&d, view_str("Zm9v\r\nYmFy\n")), 0);
    cr_assert(view_eq(buf_view(&d), view_str("foobar")));
    buf_free(&d);
}

Test(enc, base64url_has_no_padding)
{
    struct buf b = BUF_INIT;
    const uint8_t in[] = {0xfb, 0xff};
    cr_assert_eq(enc_b64url(&b, view_of(in, 2)), 0);
    cr_assert(view_eq(buf_view(&b), view_str("-_8")));
    buf_free(&b);
}

Test(enc, hex_round_trip_and_errors)
{
    struct buf b = BUF_INIT, d = BUF_INIT;
    const uint8_t in[] = {0x00, 0x4d, 0xab, 0xff};
    cr_assert_eq(enc_hex(&b, view_of(in, 4)), 0);
    cr_assert(view_eq(buf_view(&b), view_str("004dabff")));
    cr_assert_eq(enc_hex_decode(&d, view_str("004DabFF")), 0);
    cr_assert(view_eq(buf_view(&d), view_of(in, 4)));
    buf_reset(&d);
    cr_assert_eq(enc_hex_decode(&d, view_str("abc")), ERR_ENCODING);
    cr_assert_eq(enc_hex_decode(&d, view_str("zz")), ERR_ENCODING);
    cr_assert_str_eq(err_detail(ERR_ENCODING), "invalid hex digit at offset 0");
    uint8_t fixed[2];
    cr_assert_eq(enc_hex_decode_fixed(fixed, 2, view_str("0102")), 0);
    cr_assert_eq(fixed[1], 2);
    cr_assert_eq(enc_hex_decode_fixed(fixed, 2, view_str("010203")), ERR_ENCODING);
    buf_free(&b);
    buf_free(&d);
}

Test(enc, pem_armour_wraps_at_64_columns)
{
    struct buf b = BUF_INIT;
    const uint8_t pub[] = {0, 0, 42};
    cr_assert_eq(enc_pem(&b, "PUBLIC KEY", view_of(pub, 3)), 0);
    cr_assert(view_eq(buf_view(&b), view_str("-----BEGIN PUBLIC KEY-----\nAAAq\n-----END PUBLIC KEY-----\n")));
    buf_reset(&b);
    uint8_t big[100] = {0};
    cr_assert_eq(enc_pem(&b, "X", view_of(big, sizeof(big))), 0);
    cr_assert_eq(buf_terminate(&b), 0);
    const char *line2 = strchr((const char *)b.ptr, '\n') + 1;
    cr_assert_eq(strchr(line2, '\n') - line2, 64);
    buf_free(&b);
}

Test(enc, utf8_validation)
{
    size_t at = 0;
    cr_assert(enc_utf8_valid(view_str("plain ascii"), &at));
    cr_assert(enc_utf8_valid(view_str("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), &at));
    const char *bad[] = {"\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                         "a\xc3", "\xe2\x82"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(enc_utf8_valid(view_str(bad[i]), &at), "accepted case %zu", i);
    cr_assert_not(enc_utf8_valid(view_str("ab\xff" "cd"), &at));
    cr_assert_eq(at, 2);
}

Test(enc, decimal_options_are_digits_in_range)
{
    uint64_t v = 7;
    cr_assert_eq(enc_dec_u64("--n", "16", 1, 256, &v), 0);
    cr_assert_eq(v, 16);
    cr_assert_eq(enc_dec_u64("--n", "18446744073709551615", 0, UINT64_MAX, &v), 0);
    cr_assert_eq(v, UINT64_MAX);
    const char *bad[] = {"", "0", "257", "abc", "16x", " 16", "+16", "-1", "1e3", "18446744073709551616"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 7;
        cr_assert_eq(enc_dec_u64("--n", bad[i], 1, 256, &v), ERR_RANGE, "\"%s\"", bad[i]);
        cr_assert_str_eq(err_detail(ERR_RANGE), "--n must be a number from 1 to 256");
        cr_assert_eq(v, 7, "untouched");
    }
}
