/* The client and mesh API bodies decoded without a connection (api_int.h), for what the fuzz
 * targets in fuzz/api found: exact errors, and (under ASan) no leak on any refusal. */
#include <criterion/criterion.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "coordinator/coordinator.h"
#include "qt.h"

/* fuzz/corpus/client_api/regress-nonce-std-alphabet-leak: refusing a '+' or '/' once leaked the
 * bytes converted so far, on an unauthenticated route (GET /api/v2/quote?nonce=). */
Test(bodies, a_nonce_in_the_standard_alphabet_is_refused_without_leaking)
{
    struct buf out = BUF_INIT;
    cr_assert_eq(api_decode_nonce("ab+/", &out), ERR_ENCODING);
    cr_assert_str_eq(err_detail(ERR_ENCODING), "illegal base64 data at input byte 2");
    cr_assert_eq(api_decode_nonce("abc/", &out), ERR_ENCODING);
    cr_assert_str_eq(err_detail(ERR_ENCODING), "illegal base64 data at input byte 3");
    cr_assert_eq(out.size, 0);
    cr_assert_eq(api_decode_nonce("-_8=", &out), 0);
    cr_assert_eq(out.size, 2);
    cr_assert_eq(out.ptr[0], 0xfb);
    cr_assert_eq(out.ptr[1], 0xff);
    buf_free(&out);
    cr_assert_eq(api_decode_nonce("a", &out), ERR_ENCODING);
    buf_free(&out);
}

Test(bodies, activation_requests_are_checked_member_by_member)
{
    json_t *j = NULL;
    struct buf csr = BUF_INIT, quote = BUF_INIT;
    struct coord_activation_request ar;
    memset(&ar, 0, sizeof(ar));
    const char *nul = "{\"marbleType\":\"a\\u0000b\",\"uuid\":\"u\",\"csr\":\"MA==\"}";
    cr_assert_eq(api_mesh_parse_activation(view_str(nul), &j, &ar, &csr, &quote), ERR_BAD_REQUEST);
    cr_assert_str_eq(err_detail(ERR_BAD_REQUEST), "\"marbleType\" is malformed");
    json_decref(j);
    const char *twice = "{\"marbleType\":\"a\",\"uuid\":\"u\",\"UUID\":\"v\",\"csr\":\"MA==\"}";
    cr_assert_eq(api_mesh_parse_activation(view_str(twice), &j, &ar, &csr, &quote), ERR_DUPLICATE);
    cr_assert_str_eq(err_detail(ERR_DUPLICATE),
                     "duplicate key: \"uuid\" and \"UUID\" are the same field (keys are case-insensitive)");
    json_decref(j);
    const char *ok = "{\"MarbleType\":\"backend\",\"UUID\":\"u\",\"csr\":\"MAE=\",\"quote\":null}";
    cr_assert_eq(api_mesh_parse_activation(view_str(ok), &j, &ar, &csr, &quote), 0);
    cr_assert_str_eq(ar.marble_type, "backend");
    cr_assert_eq(ar.csr.size, 2);
    cr_assert_eq(ar.quote.size, 0);
    json_decref(j);
    buf_free(&csr);
    buf_free(&quote);
}
