/* Hostile inputs, each refused with a precise error: quotes (header, v5 descriptor, lengths,
 * certification data), PEM chains, the PCK certificate's SGX extension, collateral JSON and CRLs.
 */
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <string.h>

#include "att_test.h"
#include "crypto/crypto.h"

static void put16(struct buf *b, size_t off, uint16_t v)
{
    b->ptr[off] = (uint8_t)v;
    b->ptr[off + 1] = (uint8_t)(v >> 8);
}

static void put32(struct buf *b, size_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b->ptr[off + i] = (uint8_t)(v >> (8 * i));
}

static void expect_parse(struct view q, int code, const char *detail)
{
    struct att_quote p;
    int r = att_quote_parse(q, &p);
    cr_expect_eq(r, code, "%s (%s), expected %s", err_name(r), err_detail(r), err_name(code));
    if (r == code)
        cr_expect(strstr(err_detail(r), detail) != NULL, "\"%s\" lacks \"%s\"", err_detail(r),
                  detail);
}

/* The testkit's quote: v3, N = 32, so the certification data type sits at 1046 (dcap.md §10). */
static void kit_quote(struct at_kit *k, struct buf *q)
{
    at_kit_new(NULL, k);
    at_kit_quote(k, 0, 0, q);
}

Test(malformed, quote_header)
{
    struct at_kit k;
    struct buf q = BUF_INIT, m = BUF_INIT;
    kit_quote(&k, &q);
    expect_parse(VIEW_EMPTY, ERR_QUOTE_FORMAT, "header: input truncated at offset 0");
    expect_parse(view_of(q.ptr, 47), ERR_QUOTE_FORMAT,
                 "header: input truncated at offset 0: need 48 bytes, 47 left");
#define CASE(off, kind, val, code, text)                                                           \
    do {                                                                                           \
        cr_assert_eq(buf_set(&m, buf_view(&q)), 0);                                                \
        kind(&m, off, val);                                                                        \
        expect_parse(buf_view(&m), code, text);                                                    \
    } while (0)
    CASE(0, put16, 2, ERR_UNSUPPORTED, "quote version 2 is not supported (3, 4, 5)");
    CASE(0, put16, 6, ERR_UNSUPPORTED, "quote version 6 is not supported");
    CASE(2, put16, 3, ERR_UNSUPPORTED,
         "attestation key type 3 is not supported (2 = ECDSA-256-with-P-256)");
    CASE(4, put32, 0x81, ERR_QUOTE_FORMAT,
         "a version 3 quote must have TEE type SGX, not 0x00000081");
    CASE(4, put32, 0x82, ERR_UNSUPPORTED, "TEE type 0x00000082 is not supported (0 SGX, 0x81 TDX)");
    CASE(12, put16, 0x9394, ERR_UNSUPPORTED, "QE vendor ID is not Intel's");
    CASE(432, put32, 1 << 20, ERR_QUOTE_FORMAT, "signature data: input truncated at offset 436");
    CASE(432, put32, (uint32_t)(q.size - 436 - 1), ERR_QUOTE_FORMAT,
         "certification data: input truncated");
    CASE(1012, put16, 0xffff, ERR_QUOTE_FORMAT, "QE auth data: input truncated");
    CASE(1046, put16, 7, ERR_QUOTE_FORMAT,
         "certification data type 7 is unknown (1-5 expected here)");
    CASE(1046, put16, 6, ERR_QUOTE_FORMAT, "certification data type 6 is unknown");
    CASE(1046, put16, 3, ERR_QUOTE_FORMAT, "certification data of type 3 must be 404 bytes, not");
    CASE(1048, put32, 0xffffffff, ERR_QUOTE_FORMAT, "certification data: input truncated");
#undef CASE
    /* Too large to look at. */
    buf_reset(&m);
    cr_assert_eq(buf_reserve(&m, QY_ATT_QUOTE_MAX_SIZE + 1), 0);
    memset(m.ptr, 0, QY_ATT_QUOTE_MAX_SIZE + 1);
    m.size = QY_ATT_QUOTE_MAX_SIZE + 1;
    expect_parse(buf_view(&m), ERR_TOO_LARGE, "quote is 65537 bytes, the limit is 65536");
    buf_free(&m);
    buf_free(&q);
    at_kit_free(&k);
}

Test(malformed, quote_v4_v5_structure)
{
    QT_REQUIRE_SHARED();
    struct buf v4 = BUF_INIT, v5 = BUF_INIT, m = BUF_INIT;
    qt_read(at_vector_path("phala-tdx-v4", "quote.dat"), &v4);
    qt_read(at_vector_path("gotdx-tdx-v5", "quote.dat"), &v5);
    cr_assert_eq(buf_set(&m, buf_view(&v5)), 0);
    put16(&m, 48, 4);
    expect_parse(buf_view(&m), ERR_QUOTE_FORMAT,
                 "v5 body type 4 is unknown (1 SGX, 2 TD 1.0, 3 TD 1.5)");
    cr_assert_eq(buf_set(&m, buf_view(&v5)), 0);
    put32(&m, 50, 584);
    expect_parse(buf_view(&m), ERR_QUOTE_FORMAT, "v5 body type 3 must be 648 bytes, not 584");
    cr_assert_eq(buf_set(&m, buf_view(&v5)), 0);
    put16(&m, 48, 1);
    put32(&m, 50, 384);
    expect_parse(buf_view(&m), ERR_QUOTE_FORMAT, "v5 body type 1 does not fit TEE type 0x00000081");
    cr_assert_eq(buf_set(&m, buf_view(&v4)), 0);
    put16(&m, 764, 5);
    expect_parse(buf_view(&m), ERR_QUOTE_FORMAT,
                 "a version 4 quote needs certification data type 6 (QE report), not 5");
    /* The type-6 wrapper must be filled exactly by what it wraps (QVL's
     * QEReportCertificationData::insert refuses "additional, not expected data"). */
    cr_assert_eq(buf_set(&m, buf_view(&v4)), 0);
    put32(&m, 632, 4300 + 1);
    put32(&m, 766, 4166 + 1);
    expect_parse(buf_view(&m), ERR_QUOTE_FORMAT,
                 "1 bytes after the certification data inside the QE report certification data "
                 "(type 6)");
    /* After the wrapper, the signature data may reach into the quote's 70 bytes of padding (QVL's
     * Ecdsa256BitQuoteV4AuthData::insert reads the wrapper by its own size), and no further. */
    struct att_quote p;
    cr_assert_eq(buf_set(&m, buf_view(&v4)), 0);
    put32(&m, 632, 4300 + 70);
    cr_assert_eq(att_quote_parse(buf_view(&m), &p), 0, "%s", err_detail(ERR_QUOTE_FORMAT));
    cr_expect_eq(p.signature_data_surplus, 70);
    cr_expect_eq(p.trailing_size, 0);
    cr_expect_eq(p.cert_data.size, 3678);
    put32(&m, 632, 4300 + 71);
    expect_parse(buf_view(&m), ERR_QUOTE_FORMAT,
                 "signature data: input truncated at offset 636: need 4371 bytes, 4370 left");
    buf_free(&m);
    buf_free(&v4);
    buf_free(&v5);
}

/* The kit's quote with other certification data and `surplus` after it inside the signature data
 * (lengths fixed up). Only the chain is affected: certification data is not covered by the quote
 * signature, the chain's own signatures cover it. */
static void with_cert_data(const struct buf *q, struct view cert, struct view surplus,
                           struct buf *out)
{
    buf_reset(out);
    cr_assert_eq(buf_append(out, q->ptr, 1052), 0);
    cr_assert_eq(buf_append_view(out, cert), 0);
    cr_assert_eq(buf_append_view(out, surplus), 0);
    put32(out, 432, (uint32_t)(out->size - 436));
    put32(out, 1048, (uint32_t)cert.size);
}

static void expect_chain_with(const struct at_kit *k, const struct buf *q, struct view cert,
                              struct view surplus, enum att_step step, int code, const char *detail)
{
    struct buf m = BUF_INIT;
    struct att_result res;
    with_cert_data(q, cert, surplus, &m);
    at_kit_verify(k, buf_view(&m), &res);
    if (code == 0) {
        cr_expect(res.verified, "%s: %s", att_step_name(res.failed_step), res.detail);
    } else {
        cr_expect(!res.verified);
        cr_expect_eq(res.failed_step, step, "%s: %s", att_step_name(res.failed_step), res.detail);
        cr_expect_eq(res.error, code, "%s", err_name(res.error));
        cr_expect(strstr(res.detail, detail) != NULL, "\"%s\" lacks \"%s\"", res.detail, detail);
    }
    buf_free(&m);
}

static void expect_chain(const struct at_kit *k, const struct buf *q, struct view cert,
                         enum att_step step, int code, const char *detail)
{
    expect_chain_with(k, q, cert, VIEW_EMPTY, step, code, detail);
}

/* The PEM blocks of the kit's chain: leaf, CA, root. */
static void chain_blocks(const struct at_kit *k, struct buf blocks[3])
{
    struct buf pem = BUF_INIT;
    char path[128];
    snprintf(path, sizeof(path), "%s/pck_chain.pem", k->dir);
    qt_read(path, &pem);
    const char *end = "-----END CERTIFICATE-----\n";
    const uint8_t *p = pem.ptr;
    for (int i = 0; i < 3; i++) {
        const uint8_t *e = memmem(p, (size_t)(pem.ptr + pem.size - p), end, strlen(end));
        cr_assert_not_null(e);
        cr_assert_eq(buf_append(&blocks[i], p, (size_t)(e - p) + strlen(end)), 0);
        p = e + strlen(end);
    }
    buf_free(&pem);
}

Test(malformed, pem_chains)
{
    struct at_kit k;
    struct buf q = BUF_INIT, c = BUF_INIT, b[3] = {BUF_INIT, BUF_INIT, BUF_INIT};
    kit_quote(&k, &q);
    chain_blocks(&k, b);
#define CHAIN(...)                                                                                 \
    do {                                                                                           \
        const struct buf *parts[] = {__VA_ARGS__};                                                 \
        buf_reset(&c);                                                                             \
        for (size_t i_ = 0; i_ < QY_ARRAY_LEN(parts); i_++)                                        \
            cr_assert_eq(buf_append_view(&c, buf_view(parts[i_])), 0);                             \
    } while (0)
    /* Any stored order, with or without the trailing NUL. */
    CHAIN(&b[2], &b[0], &b[1]);
    expect_chain(&k, &q, buf_view(&c), 0, 0, NULL);
    CHAIN(&b[1], &b[2], &b[0]);
    cr_assert_eq(buf_append_byte(&c, 0), 0);
    expect_chain(&k, &q, buf_view(&c), 0, 0, NULL);
    /* Missing or extra certificates. */
    CHAIN(&b[0], &b[1]);
    expect_chain(&k, &q, buf_view(&c), ATT_STEP_PCK_CHAIN, ERR_ATT_UNTRUSTED,
                 "the chain has 2 certificates, expected 3");
    CHAIN(&b[0], &b[1], &b[2], &b[2]);
    expect_chain(&k, &q, buf_view(&c), ATT_STEP_PCK_CHAIN, ERR_ATT_UNTRUSTED,
                 "the chain has 4 certificates, expected 3");
    CHAIN(&b[0], &b[1], &b[2], &b[2], &b[2]);
    expect_chain(&k, &q, buf_view(&c), ATT_STEP_PCK_CHAIN, ERR_CERT, "more than 4 certificates");
    CHAIN(&b[0], &b[0], &b[2]);
    expect_chain(&k, &q, buf_view(&c), ATT_STEP_PCK_CHAIN, ERR_ATT_UNTRUSTED,
                 "the chain is broken below level 1");
    /* Base64 with spare bits set in its last character is not the same certificate text. */
    CHAIN(&b[0], &b[1], &b[2]);
    uint8_t *eq = memmem(c.ptr, c.size, "=\n-----END", 10);
    if (eq != NULL) {
        eq[-1] ^= 0x01;
        expect_chain(&k, &q, buf_view(&c), ATT_STEP_PCK_CHAIN, ERR_CERT, "");
    }
    /* Line breaks as CRLF are still the same certificates. */
    buf_reset(&c);
    for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < b[i].size; j++) {
            if (b[i].ptr[j] == '\n')
                cr_assert_eq(buf_append_byte(&c, '\r'), 0);
            cr_assert_eq(buf_append_byte(&c, b[i].ptr[j]), 0);
        }
    expect_chain(&k, &q, buf_view(&c), 0, 0, NULL);
#undef CHAIN
    for (int i = 0; i < 3; i++)
        buf_free(&b[i]);
    buf_free(&c);
    buf_free(&q);
    at_kit_free(&k);
}

/* Appends the three blocks, leaf first. */
static void append_chain(const struct buf b[3], struct buf *out)
{
    for (int i = 0; i < 3; i++)
        cr_assert_eq(buf_append_view(out, buf_view(&b[i])), 0);
}

/* Text around the certificates, as Intel's verifier splits the chain: QvE reads the certification
 * data as a C string (qve.cpp extract_chain_from_quote), QVL's CertificateChain::splitChain starts
 * at the first BEGIN marker, skips bytes other than '-' after each END marker and stops at the last
 * one. Accepted exactly there; a '-' elsewhere between blocks is refused with its offset. */
Test(malformed, pem_chain_text_intel_skips)
{
    struct at_kit k;
    struct buf q = BUF_INIT, c = BUF_INIT, b[3] = {BUF_INIT, BUF_INIT, BUF_INIT};
    kit_quote(&k, &q);
    chain_blocks(&k, b);
    static const char nul_tail[] = "\0-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n";
    static const char odd[] = "\v\f\x01\x7f\xff\n";
    struct {
        const char *before, *between1, *between2, *after;
        size_t after_size; /* 0: strlen(after) */
    } ok[] = {
        {"", " \t\r\n", "\r\n\r\n", "\n\n", 0},
        {"garbage before, no dash\r\n", "\t# between, no dash\r\n", "", "trailing, no dash", 0},
        {"", "", "", "\0\0", 2},                              /* two NULs */
        {"", "", "", nul_tail, sizeof(nul_tail) - 1},         /* after the NUL nothing is read */
        {"--- PCK chain ---\n", "", "", "", 0},               /* before the first BEGIN: anything */
        {"", "", "", "\n-- end of the chain --\n", 0},        /* no END marker after the last */
        {"", "", "", "-----BEGIN CERTIFICATE-----\nMIIB", 0}, /* an unfinished block, ditto */
        {"", odd, odd, odd, 0},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(ok); i++) {
        buf_reset(&c);
        cr_assert_eq(buf_append_str(&c, ok[i].before), 0);
        cr_assert_eq(buf_append_view(&c, buf_view(&b[0])), 0);
        cr_assert_eq(buf_append_str(&c, ok[i].between1), 0);
        cr_assert_eq(buf_append_view(&c, buf_view(&b[1])), 0);
        cr_assert_eq(buf_append_str(&c, ok[i].between2), 0);
        cr_assert_eq(buf_append_view(&c, buf_view(&b[2])), 0);
        size_t n = ok[i].after_size ? ok[i].after_size : strlen(ok[i].after);
        cr_assert_eq(buf_append(&c, ok[i].after, n), 0);
        expect_chain(&k, &q, buf_view(&c), 0, 0, NULL);
    }
    /* A '-' between blocks that does not begin the next one (OpenSSL's reader, to which splitChain
     * hands such text, skips whole lines; Quarry does not guess). */
    char want[96];
    buf_reset(&c);
    cr_assert_eq(buf_append_view(&c, buf_view(&b[0])), 0);
    cr_assert_eq(buf_append_str(&c, "-- note --\n"), 0);
    cr_assert_eq(buf_append_view(&c, buf_view(&b[1])), 0);
    cr_assert_eq(buf_append_view(&c, buf_view(&b[2])), 0);
    snprintf(want, sizeof(want),
             "PCK chain: expected \"-----BEGIN CERTIFICATE-----\" at offset %zu", b[0].size);
    expect_chain(&k, &q, buf_view(&c), ATT_STEP_PCK_CHAIN, ERR_CERT, want);
    /* An END marker before the first BEGIN: splitChain finds no certificate either. */
    buf_reset(&c);
    cr_assert_eq(buf_append_str(&c, "x -----END CERTIFICATE-----\n"), 0);
    append_chain(b, &c);
    expect_chain(&k, &q, buf_view(&c), ATT_STEP_PCK_CHAIN, ERR_CERT,
                 "PCK chain: expected \"-----BEGIN CERTIFICATE-----\" at offset 2");
    /* A NUL inside the root's block ends the text there: two certificates. */
    buf_reset(&c);
    append_chain(b, &c);
    c.ptr[b[0].size + b[1].size + 40] = 0;
    expect_chain(&k, &q, buf_view(&c), ATT_STEP_PCK_CHAIN, ERR_ATT_UNTRUSTED,
                 "the chain has 2 certificates, expected 3");
    /* Nothing past the declared certification data is read: the root's END marker in the
     * signature data's surplus does not complete its block. */
    buf_reset(&c);
    append_chain(b, &c);
    static const char end[] = "-----END CERTIFICATE-----\n";
    c.size -= strlen(end);
    expect_chain_with(&k, &q, buf_view(&c), view_str(end), ATT_STEP_PCK_CHAIN, ERR_ATT_UNTRUSTED,
                      "the chain has 2 certificates, expected 3");
    for (int i = 0; i < 3; i++)
        buf_free(&b[i]);
    buf_free(&c);
    buf_free(&q);
    at_kit_free(&k);
}

/* The signature data may end after its certification data, as in Intel's QVL (Quote::parse checks
 * only that the declared size fits the input; Ecdsa256BitQuoteV3AuthData::insert reads each field
 * by its own length). The surplus is bounded by the input and never read. */
Test(malformed, signature_data_surplus)
{
    struct at_kit k;
    struct buf q = BUF_INIT, m = BUF_INIT;
    struct att_quote p;
    struct att_result want, res;
    kit_quote(&k, &q);
    at_kit_verify(&k, buf_view(&q), &want);
    cr_assert(want.verified, "%s", want.detail);
    size_t sig_size = q.size - 436;
    /* 46 zero bytes of padding counted in the signature data (the finding's case), then a
     * surplus of other bytes up to the end of the input. */
    for (int pass = 0; pass < 2; pass++) {
        cr_assert_eq(buf_set(&m, buf_view(&q)), 0);
        for (int i = 0; i < 46; i++)
            cr_assert_eq(buf_append_byte(&m, pass == 0 ? 0 : (uint8_t)(0xa5 ^ i)), 0);
        put32(&m, 432, (uint32_t)(sig_size + 46));
        cr_assert_eq(att_quote_parse(buf_view(&m), &p), 0, "%s", err_detail(ERR_QUOTE_FORMAT));
        cr_expect_eq(p.signature_data_surplus, 46);
        cr_expect_eq(p.trailing_size, 0);
        cr_expect_eq(p.signature_data_size, sig_size + 46);
        cr_expect_eq(p.cert_data.size, q.size - 1052, "the surplus is not certification data");
        at_kit_verify(&k, buf_view(&m), &res);
        cr_expect(res.verified, "%s: %s", att_step_name(res.failed_step), res.detail);
        cr_expect_eq(res.tcb_status, want.tcb_status);
        cr_expect_eq(memcmp(res.report_data, want.report_data, 64), 0);
    }
    /* Bounded: one byte more than the input holds is refused, whatever the surplus. */
    char detail[128];
    put32(&m, 432, (uint32_t)(sig_size + 47));
    snprintf(detail, sizeof(detail),
             "signature data: input truncated at offset 436: need %zu bytes, %zu left",
             sig_size + 47, sig_size + 46);
    expect_parse(buf_view(&m), ERR_QUOTE_FORMAT, detail);
    /* ... and so is an input over the quote limit, while a surplus up to the limit verifies. */
    cr_assert_eq(buf_set(&m, buf_view(&q)), 0);
    while (m.size < QY_ATT_QUOTE_MAX_SIZE)
        cr_assert_eq(buf_append_byte(&m, 0), 0);
    put32(&m, 432, (uint32_t)(QY_ATT_QUOTE_MAX_SIZE - 436));
    cr_assert_eq(att_quote_parse(buf_view(&m), &p), 0, "%s", err_detail(ERR_QUOTE_FORMAT));
    cr_expect_eq(p.signature_data_surplus, QY_ATT_QUOTE_MAX_SIZE - q.size);
    at_kit_verify(&k, buf_view(&m), &res);
    cr_expect(res.verified, "%s", res.detail);
    cr_assert_eq(buf_append_byte(&m, 0), 0);
    put32(&m, 432, (uint32_t)(QY_ATT_QUOTE_MAX_SIZE + 1 - 436));
    expect_parse(buf_view(&m), ERR_TOO_LARGE, "quote is 65537 bytes, the limit is 65536");
    buf_free(&m);
    buf_free(&q);
    at_kit_free(&k);
}

/* The DER of the kit's PCK certificate's SGX extension. */
static void kit_extension(const struct at_kit *k, struct buf *der)
{
    struct buf pem = BUF_INIT, b[3] = {BUF_INIT, BUF_INIT, BUF_INIT};
    chain_blocks(k, b);
    cr_assert_eq(crypto_cert_pem_to_der(buf_view(&b[0]), &pem), 0);
    const unsigned char *p = pem.ptr;
    X509 *x = d2i_X509(NULL, &p, (long)pem.size);
    cr_assert_not_null(x);
    ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    int i = X509_get_ext_by_OBJ(x, oid, -1);
    cr_assert_geq(i, 0);
    ASN1_OCTET_STRING *d = X509_EXTENSION_get_data(X509_get_ext(x, i));
    cr_assert_eq(buf_append(der, ASN1_STRING_get0_data(d), (size_t)ASN1_STRING_length(d)), 0);
    ASN1_OBJECT_free(oid);
    X509_free(x);
    for (int j = 0; j < 3; j++)
        buf_free(&b[j]);
    buf_free(&pem);
}

static void expect_ext(struct view der, const char *detail)
{
    struct att_pck_ext x;
    int r = att_pck_ext_parse(der, &x);
    cr_expect_eq(r, ERR_CERT, "%s", err_name(r));
    cr_expect(strstr(err_detail(r), detail) != NULL, "\"%s\" lacks \"%s\"", err_detail(r), detail);
}

Test(malformed, pck_extension)
{
    struct at_kit k;
    struct buf der = BUF_INIT, m = BUF_INIT;
    struct att_pck_ext x;
    at_kit_new(NULL, &k);
    kit_extension(&k, &der);
    cr_assert_eq(att_pck_ext_parse(buf_view(&der), &x), 0, "%s", err_detail(ERR_CERT));
    cr_expect_eq(x.pcesvn, 13);
    cr_expect_str_eq(at_hex(x.fmspc, 6), "00906ed50000");
    expect_ext(VIEW_EMPTY, "SGX extension: extension: input truncated at offset 0");
    expect_ext(view_of("\x31\x00", 2), "SGX extension: extension has DER tag 0x31, expected 0x30");
    expect_ext(view_of("\x30\x80", 2), "DER length with 0 length bytes is not supported");
    expect_ext(view_of("\x30\x81\x05", 3), "DER length 5 should use the short form");
    expect_ext(view_of("\x30\x00", 2), "SGX extension: missing PPID TCB PCE-ID FMSPC SGX-Type");
    expect_ext(view_of("\x1f\x00", 2), "DER high tag numbers are not used here");
    cr_assert_eq(buf_set(&m, buf_view(&der)), 0);
    cr_assert_eq(buf_append_byte(&m, 0), 0);
    expect_ext(buf_view(&m), "SGX extension: 1 bytes after its SEQUENCE");
    /* The FMSPC entry (OID ...1.13.1.4) turned into a second PCE-ID (...1.13.1.3). */
    static const uint8_t fmspc_oid[] = {0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86,
                                        0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x04};
    cr_assert_eq(buf_set(&m, buf_view(&der)), 0);
    uint8_t *o = memmem(m.ptr, m.size, fmspc_oid, sizeof(fmspc_oid));
    cr_assert_not_null(o);
    o[sizeof(fmspc_oid) - 1] = 0x03;
    expect_ext(buf_view(&m), "SGX extension: entry 3 appears twice");
    /* A component SVN of 256 (02 02 01 00) where 255 is the most. */
    static const uint8_t comp1[] = {0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d,
                                    0x01, 0x0d, 0x01, 0x02, 0x01, 0x02, 0x01};
    cr_assert_eq(buf_set(&m, buf_view(&der)), 0);
    o = memmem(m.ptr, m.size, comp1, sizeof(comp1));
    cr_assert_not_null(o);
    o[sizeof(comp1)] = 0x85; /* 5 -> 0x85: negative in one byte */
    expect_ext(buf_view(&m), "SGX extension: a TCB component SVN is negative");
    /* Every single-byte change is parsed or refused, never crashes. */
    for (size_t i = 0; i < der.size; i++) {
        cr_assert_eq(buf_set(&m, buf_view(&der)), 0);
        m.ptr[i] ^= 0x5a;
        int r = att_pck_ext_parse(buf_view(&m), &x);
        cr_assert(r == 0 || r == ERR_CERT, "%s", err_name(r));
    }
    buf_free(&der);
    buf_free(&m);
    at_kit_free(&k);
}

/* Collateral documents built from the kit's TCB Info by text substitution. */
static void expect_collateral(enum att_collateral_kind kind, const char *body, int code,
                              const char *detail)
{
    struct att_collateral_item it = {BUF_INIT, BUF_INIT};
    cr_assert_eq(buf_append_str(&it.body, body), 0);
    int r = att_collateral_check(kind, &it, NULL, 0);
    cr_expect_eq(r, code, "%s (%s), expected %s", err_name(r), err_detail(r), err_name(code));
    cr_expect(strstr(err_detail(r), detail) != NULL, "\"%s\" lacks \"%s\"", err_detail(r), detail);
    att_collateral_item_free(&it);
}

static char *replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    cr_assert_not_null(p, "no \"%s\"", from);
    struct buf b = BUF_INIT;
    char *out;
    cr_assert_eq(buf_append(&b, s, (size_t)(p - s)), 0);
    cr_assert_eq(buf_append_str(&b, to), 0);
    cr_assert_eq(buf_append_str(&b, p + strlen(from)), 0);
    cr_assert_eq(buf_steal_str(&b, &out), 0);
    return out;
}

Test(malformed, collateral_documents)
{
    struct at_kit k;
    struct buf tcb = BUF_INIT, qe = BUF_INIT;
    char path[128];
    at_kit_new(NULL, &k);
    snprintf(path, sizeof(path), "%s/tcb_info.json", k.dir);
    qt_read(path, &tcb);
    cr_assert_eq(buf_terminate(&tcb), 0);
    snprintf(path, sizeof(path), "%s/qe_identity.json", k.dir);
    qt_read(path, &qe);
    cr_assert_eq(buf_terminate(&qe), 0);
    const char *t = (const char *)tcb.ptr;
    enum att_collateral_kind T = ATT_COLLATERAL_TCB_INFO, Q = ATT_COLLATERAL_QE_IDENTITY;

    expect_collateral(T, "", ERR_COLLATERAL, "empty input, expected JSON");
    expect_collateral(T, "{}", ERR_COLLATERAL, "\"signature\" is missing or not a string");
    expect_collateral(T, "{\"tcbInfo\":{},\"signature\":\"zz\"}", ERR_COLLATERAL,
                      "\"signature\" is not 64 bytes of hex");
    expect_collateral(T, "{\"tcbInfo\":{},\"tcbInfo\":{}}", ERR_COLLATERAL, "duplicate object key");
    expect_collateral(T, "[1]", ERR_COLLATERAL, "the document is not a JSON object");
    /* No issuer chain: parsed, then refused for want of a signer. */
    expect_collateral(T, t, ERR_COLLATERAL, "the source gave no issuer chain");
    struct {
        const char *from, *to;
        int code;
        const char *detail;
    } cases[] = {
        {"\"version\":3", "\"version\":4", ERR_UNSUPPORTED,
         "TCB Info version 4 is not supported (2, 3)"},
        {"\"version\":3", "\"version\":\"3\"", ERR_COLLATERAL,
         "tcbInfo.version: not an integer in range"},
        {"\"id\":\"SGX\"", "\"id\":\"SEV\"", ERR_COLLATERAL,
         "tcbInfo.id: not \"SGX\" or (v3) \"TDX\""},
        {"\"fmspc\":", "\"fmspx\":", ERR_COLLATERAL, "tcbInfo.fmspc: missing"},
        {"\"fmspc\":\"00906ED50000\"", "\"fmspc\":\"00906ED500\"", ERR_COLLATERAL,
         "tcbInfo.fmspc: not hex of the right size"},
        {"\"tcbType\":0", "\"tcbType\":1", ERR_UNSUPPORTED, "TCB type 1 is not supported (0)"},
        {"\"issueDate\":\"", "\"issueDate\":\"x", ERR_COLLATERAL,
         "tcbInfo.issueDate: not an RFC 3339 time"},
        {"\"tcbStatus\":\"UpToDate\"", "\"tcbStatus\":\"Great\"", ERR_COLLATERAL,
         "tcbInfo.tcbLevels[0].tcbStatus: not a known TCB status"},
        {"{\"svn\":5}", "{\"svn\":256}", ERR_COLLATERAL,
         "tcbInfo.tcbLevels[0].tcb.sgxtcbcomponents[0].svn: not an integer in range"},
        {"\"pcesvn\":13", "\"pcesvn\":-1", ERR_COLLATERAL,
         "tcbInfo.tcbLevels[0].tcb.pcesvn: not an integer in range"},
        {"\"id\":\"SGX\"", "\"id\":\"TDX\"", ERR_COLLATERAL,
         "tcbInfo.tcbLevels[0].tcb.tdxtcbcomponents: missing"},
        {"\"tcbLevels\":[", "\"tcbLevels\":[],\"x\":[", ERR_COLLATERAL,
         "tcbInfo.tcbLevels: not an array of the expected length"},
        {"{\"tcbInfo\":", "{\"tcb\\u0049nfo\":", ERR_COLLATERAL,
         "no \"tcbInfo\" member (written without escapes)"},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(cases); i++) {
        char *doc = replace(t, cases[i].from, cases[i].to);
        expect_collateral(T, doc, cases[i].code, cases[i].detail);
        free(doc);
    }
    char *doc = replace((const char *)qe.ptr, "\"id\":\"QE\"", "\"id\":\"QVE\"");
    expect_collateral(Q, doc, ERR_ATT_MISMATCH, "enclaveIdentity.id is not \"QE\" or \"TD_QE\"");
    free(doc);
    doc = replace((const char *)qe.ptr, "\"isvsvn\":8", "\"isvsvn\":true");
    expect_collateral(Q, doc, ERR_COLLATERAL,
                      "enclaveIdentity.tcbLevels[0].tcb.isvsvn: not an integer in range");
    free(doc);
    doc = replace((const char *)qe.ptr, "\"version\":2", "\"version\":1");
    expect_collateral(Q, doc, ERR_UNSUPPORTED, "QE Identity version 1 is not supported (2)");
    free(doc);
    /* Deep nesting is refused before anything looks inside. */
    struct buf deep = BUF_INIT;
    cr_assert_eq(buf_append_str(&deep, "{\"tcbInfo\":"), 0);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(buf_append_str(&deep, "["), 0);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(buf_append_str(&deep, "]"), 0);
    cr_assert_eq(buf_append_str(&deep, "}"), 0);
    cr_assert_eq(buf_terminate(&deep), 0);
    expect_collateral(T, (const char *)deep.ptr, ERR_COLLATERAL, "nested deeper than 32 levels");
    buf_free(&deep);
    /* CRLs. */
    expect_collateral(ATT_COLLATERAL_PCK_CRL, "garbage", ERR_COLLATERAL,
                      "not a CRL (PEM, DER or hex-encoded DER)");
    expect_collateral(ATT_COLLATERAL_PCK_CRL,
                      "-----BEGIN X509 CRL-----\n!!\n-----END X509 CRL-----\n", ERR_ENCODING,
                      "invalid base64 character");
    expect_collateral(ATT_COLLATERAL_PCK_CRL, "3082", ERR_COLLATERAL, "not a CRL");
    buf_free(&tcb);
    buf_free(&qe);
    at_kit_free(&k);
}

/* The OpenEnclave envelope is taken off only when it is exactly one: anything else is left to the
 * quote parser, which refuses it with its own reason. */
Test(malformed, oe_envelope_only_when_exact)
{
    uint8_t in[20] = {1, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 'q', 'u', 'o', 't'};
    struct view v = att_strip_oe_envelope(view_of(in, 20));
    cr_assert(view_eq(v, view_str("quot")));
    cr_assert_eq(att_strip_oe_envelope(view_of(in, 19)).size, 19, "length field does not match");
    cr_assert_eq(att_strip_oe_envelope(view_of(in, 15)).size, 15, "shorter than the header");
    in[0] = 3;
    cr_assert_eq(att_strip_oe_envelope(view_of(in, 20)).size, 20, "another version");
    in[0] = 1, in[4] = 1;
    cr_assert_eq(att_strip_oe_envelope(view_of(in, 20)).size, 20, "another report type");
    in[4] = 2, in[15] = 0x80;
    cr_assert_eq(att_strip_oe_envelope(view_of(in, 20)).size, 20, "a huge length");
}
