/* pki: the CA hierarchy, its serialised form, marble certificates from CSRs, server and template
 * certificates, root signatures. Certificates are checked with OpenSSL's own parser and `openssl
 * verify`, not with our code. */
#include <criterion/criterion.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <string.h>

#include "../../fuzz/pki/marble_cert_ca.h" /* the fuzz target's fixed CA, which issued its seeds */
#include "pki/pki.h"
#include "qt.h"
#include "qt_ossl.h"

static const char uuid[] = "f0e1d2c3-b4a5-4697-8899-aabbccddeeff";

static X509 *parse(struct view der)
{
    const unsigned char *p = der.ptr;
    X509 *x = d2i_X509(NULL, &p, (long)der.size);
    cr_assert_not_null(x);
    cr_assert_eq(p, der.ptr + der.size);
    return x;
}

static void name_cn(const X509_NAME *n, char out[256])
{
    out[0] = '\0';
    X509_NAME_get_text_by_NID((X509_NAME *)n, NID_commonName, out, 256);
}

static struct pki_ca *new_ca(enum pki_curve curve)
{
    struct pki_ca_options o = {.curve = curve};
    struct pki_ca *ca = NULL;
    int r = pki_ca_generate(&o, &ca);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    return ca;
}

/* "DNS:a, IP Address:1.2.3.4" as OpenSSL prints SANs. */
static void sans_text(X509 *x, struct buf *out)
{
    GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; g && i < sk_GENERAL_NAME_num(g); i++) {
        GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
        if (n->type == GEN_DNS)
            cr_assert_eq(
                buf_appendf(out, "%sDNS:%s", i ? "," : "", ASN1_STRING_get0_data(n->d.dNSName)), 0);
        else if (n->type == GEN_IPADD) {
            char *s = i2s_ASN1_OCTET_STRING(NULL, n->d.iPAddress);
            const unsigned char *b = ASN1_STRING_get0_data(n->d.iPAddress);
            int len = ASN1_STRING_length(n->d.iPAddress);
            if (len == 4)
                cr_assert_eq(
                    buf_appendf(out, "%sIP:%d.%d.%d.%d", i ? "," : "", b[0], b[1], b[2], b[3]), 0);
            else
                cr_assert_eq(buf_appendf(out, "%sIP6:%d", i ? "," : "", b[15]), 0);
            OPENSSL_free(s);
        } else if (n->type == GEN_EMAIL)
            cr_assert_eq(buf_appendf(out, "%sEMAIL:%s", i ? "," : "",
                                     ASN1_STRING_get0_data(n->d.rfc822Name)),
                         0);
        else if (n->type == GEN_URI)
            cr_assert_eq(buf_appendf(out, "%sURI:%s", i ? "," : "",
                                     ASN1_STRING_get0_data(n->d.uniformResourceIdentifier)),
                         0);
    }
    GENERAL_NAMES_free(g);
    cr_assert_eq(buf_terminate(out), 0);
}

Test(ca, generates_marbleruns_hierarchy)
{
    struct pki_ca *ca = new_ca(PKI_CURVE_P256);
    X509 *root = parse(pki_ca_root_der(ca)), *in = parse(pki_ca_intermediate_der(ca)),
         *mr = parse(pki_ca_marble_root_der(ca));
    char cn[256];
    name_cn(X509_get_subject_name(root), cn);
    cr_assert_str_eq(cn, "MarbleRun Coordinator");
    name_cn(X509_get_issuer_name(root), cn);
    cr_assert_str_eq(cn, "MarbleRun Coordinator");
    name_cn(X509_get_subject_name(in), cn);
    cr_assert_str_eq(cn, "MarbleRun Coordinator - Intermediate CA");
    name_cn(X509_get_issuer_name(in), cn);
    cr_assert_str_eq(cn, "MarbleRun Coordinator");
    name_cn(X509_get_subject_name(mr), cn);
    cr_assert_str_eq(cn, "MarbleRun Coordinator - Intermediate CA");
    name_cn(X509_get_issuer_name(mr), cn);
    cr_assert_str_eq(cn, "MarbleRun Coordinator - Intermediate CA");
    /* the marble root shares the intermediate's key */
    cr_assert_eq(EVP_PKEY_eq(X509_get0_pubkey(in), X509_get0_pubkey(mr)), 1);
    cr_assert_neq(EVP_PKEY_eq(X509_get0_pubkey(in), X509_get0_pubkey(root)), 1);
    cr_assert_eq(EVP_PKEY_get_bits(X509_get0_pubkey(root)), 256);
    /* CA flags, key usage, SANs */
    X509 *all[] = {root, in, mr};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(X509_check_ca(all[i]), 1);
        cr_assert_eq(X509_get_key_usage(all[i]), KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN);
        cr_assert_eq(X509_get_extended_key_usage(all[i]), XKU_SSL_SERVER | XKU_SSL_CLIENT);
        struct buf s = BUF_INIT;
        sans_text(all[i], &s);
        cr_assert_str_eq((char *)s.ptr, "DNS:localhost,IP:127.0.0.1,IP6:1");
        buf_free(&s);
        /* serial < 2^128, validity "forever" */
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(all[i]), NULL);
        cr_assert(BN_num_bits(bn) <= 128);
        BN_free(bn);
        int days = 0, secs = 0;
        ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(all[i]), X509_get0_notAfter(all[i]));
        cr_assert_eq((int64_t)days * 86400 + secs, PKI_FOREVER_SECONDS);
    }
    /* openssl verify: intermediate under root, marble root self-signed */
    struct buf out = BUF_INIT;
    cr_assert(qt_openssl_verify(pki_ca_root_der(ca), VIEW_EMPTY, pki_ca_intermediate_der(ca), false,
                                &out),
              "%s", out.ptr);
    buf_reset(&out);
    cr_assert(qt_openssl_verify(pki_ca_marble_root_der(ca), VIEW_EMPTY, pki_ca_marble_root_der(ca),
                                false, &out),
              "%s", out.ptr);
    buf_free(&out);
    X509_free(root), X509_free(in), X509_free(mr);
    pki_ca_free(ca);
}

Test(ca, options_curve_names_and_sans)
{
    const char *names[] = {"coordinator.example", "10.0.0.7", "alt.example"};
    struct pki_ca_options o = {.curve = PKI_CURVE_P384,
                               .root_cn = "Root X",
                               .intermediate_cn = "Inter Y",
                               .names = names,
                               .names_count = 3,
                               .now = 1700000000};
    struct pki_ca *ca = NULL;
    cr_assert_eq(pki_ca_generate(&o, &ca), 0);
    cr_assert_eq(pki_ca_curve(ca), PKI_CURVE_P384);
    X509 *root = parse(pki_ca_root_der(ca)), *mr = parse(pki_ca_marble_root_der(ca));
    char cn[256];
    name_cn(X509_get_subject_name(root), cn);
    cr_assert_str_eq(cn, "Root X");
    name_cn(X509_get_subject_name(mr), cn);
    cr_assert_str_eq(cn, "Inter Y");
    cr_assert_eq(EVP_PKEY_get_bits(X509_get0_pubkey(mr)), 384);
    struct buf s = BUF_INIT;
    sans_text(root, &s);
    cr_assert_str_eq((char *)s.ptr,
                     "DNS:coordinator.example,DNS:alt.example,IP:127.0.0.1,IP6:1,IP:10.0.0.7");
    buf_free(&s);
    cr_assert_eq(ASN1_TIME_cmp_time_t(X509_get0_notBefore(root), 1700000000), 0);
    X509_free(root), X509_free(mr);
    pki_ca_free(ca);
}

Test(ca, serialize_load_round_trip)
{
    struct pki_ca *ca = new_ca(PKI_CURVE_P256), *back = NULL;
    struct buf blob = BUF_INIT, again = BUF_INIT;
    cr_assert_eq(pki_ca_serialize(ca, &blob), 0);
    int r = pki_ca_load(buf_view(&blob), &back);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    cr_assert(view_eq(pki_ca_root_der(ca), pki_ca_root_der(back)));
    cr_assert(view_eq(pki_ca_intermediate_der(ca), pki_ca_intermediate_der(back)));
    cr_assert(view_eq(pki_ca_marble_root_der(ca), pki_ca_marble_root_der(back)));
    cr_assert_eq(pki_ca_serialize(back, &again), 0);
    cr_assert(view_eq(buf_view(&blob), buf_view(&again)));
    /* the loaded CA signs: a root signature verifies with the original root certificate */
    struct buf sig = BUF_INIT;
    cr_assert_eq(pki_ca_sign_root(back, view_str("manifest"), &sig), 0);
    cr_assert_eq(
        pki_verify_root_signature(pki_ca_root_der(ca), view_str("manifest"), buf_view(&sig)), 0);
    buf_free(&sig), buf_free(&blob), buf_free(&again);
    pki_ca_free(back);
    pki_ca_free(ca);
}

Test(ca, corrupted_blobs_fail_cleanly)
{
    struct pki_ca *ca = new_ca(PKI_CURVE_P256);
    struct buf blob = BUF_INIT;
    cr_assert_eq(pki_ca_serialize(ca, &blob), 0);
    /* every flipped byte: the digest catches it */
    for (size_t i = 0; i < blob.size; i++) {
        struct pki_ca *back = NULL;
        blob.ptr[i] ^= 0xff;
        int r = pki_ca_load(buf_view(&blob), &back);
        blob.ptr[i] ^= 0xff;
        cr_assert_eq(r, ERR_CORRUPT, "byte %zu: %s", i, err_name(r));
        cr_assert_null(back);
    }
    /* every truncation */
    for (size_t n = 0; n < blob.size; n++) {
        struct pki_ca *back = NULL;
        cr_assert_eq(pki_ca_load(view_of(blob.ptr, n), &back), ERR_CORRUPT, "length %zu", n);
    }
    pki_ca_free(ca);
    buf_free(&blob);
}

/* Past the digest (as if a blob were forged with a valid digest): the structural checks alone must
 * refuse it, or load a CA that is byte-for-byte the original hierarchy with working keys. Every
 * header and length byte, and a spread of the rest (each load verifies signatures and key pairs,
 * which is slow under ASan; the digest test above covers every byte). */
Test(ca, forged_blobs_with_valid_digest_are_validated)
{
    struct pki_ca *ca = new_ca(PKI_CURVE_P256);
    struct buf blob = BUF_INIT;
    cr_assert_eq(pki_ca_serialize(ca, &blob), 0);
    size_t body = blob.size - 32;
    size_t loaded = 0;
    bool structural[8192] = {false};
    cr_assert_lt(body, sizeof(structural));
    for (size_t i = 0, off = 6; i < 6 || (off < body && i < 11); i++) {
        if (i < 6) {
            structural[i] = true;
            continue;
        }
        for (int k = 0; k < 4; k++)
            structural[off + (size_t)k] = true;
        const uint8_t *p = blob.ptr + off;
        off += 4 + ((size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]);
    }
    for (size_t i = 0; i < body; i++) {
        if (!structural[i] && i % 29 != 0)
            continue;
        struct pki_ca *back = NULL;
        blob.ptr[i] ^= 0xff;
        struct view v = view_of(blob.ptr, body);
        cr_assert_eq(crypto_sha256(&v, 1, blob.ptr + body), 0);
        int r = pki_ca_load(buf_view(&blob), &back);
        blob.ptr[i] ^= 0xff;
        if (r == 0) {
            loaded++;
            cr_assert(view_eq(pki_ca_root_der(ca), pki_ca_root_der(back)), "byte %zu", i);
            cr_assert(view_eq(pki_ca_intermediate_der(ca), pki_ca_intermediate_der(back)),
                      "byte %zu", i);
            struct buf sig = BUF_INIT;
            cr_assert_eq(pki_ca_sign_root(back, view_str("x"), &sig), 0);
            cr_assert_eq(
                pki_verify_root_signature(pki_ca_root_der(ca), view_str("x"), buf_view(&sig)), 0);
            buf_free(&sig);
        } else {
            cr_assert(r == ERR_CORRUPT || r == ERR_NOMEM, "byte %zu: %s", i, err_name(r));
        }
        pki_ca_free(back);
    }
    cr_log_info("forged single-byte changes that still load an identical CA: %zu of %zu", loaded,
                body);
    pki_ca_free(ca);
    buf_free(&blob);
}

/* Re-assembles a blob with its five items in another order (or from another blob), re-digested. */
static void reassemble(struct view a, struct view b, const int from_b[5], const int order[5],
                       struct buf *out)
{
    struct view items[2][5];
    struct view src[2] = {a, b};
    for (int s = 0; s < 2; s++) {
        size_t off = 6;
        for (int i = 0; i < 5; i++) {
            const uint8_t *p = src[s].ptr + off;
            size_t len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
            items[s][i] = view_of(p + 4, len);
            off += 4 + len;
        }
    }
    cr_assert_eq(buf_append(out, a.ptr, 6), 0);
    for (int i = 0; i < 5; i++) {
        struct view v = items[from_b[i]][order[i]];
        uint8_t len[4] = {(uint8_t)(v.size >> 24), (uint8_t)(v.size >> 16), (uint8_t)(v.size >> 8),
                          (uint8_t)v.size};
        cr_assert_eq(buf_append(out, len, 4), 0);
        cr_assert_eq(buf_append_view(out, v), 0);
    }
    uint8_t d[32];
    struct view all = buf_view(out);
    cr_assert_eq(crypto_sha256(&all, 1, d), 0);
    cr_assert_eq(buf_append(out, d, 32), 0);
}

Test(ca, inconsistent_hierarchies_are_refused)
{
    struct pki_ca *a = new_ca(PKI_CURVE_P256), *b = new_ca(PKI_CURVE_P256), *back = NULL;
    struct buf ba = BUF_INIT, bb = BUF_INIT, forged = BUF_INIT;
    cr_assert_eq(pki_ca_serialize(a, &ba), 0);
    cr_assert_eq(pki_ca_serialize(b, &bb), 0);
    struct {
        const char *what;
        int from_b[5], order[5];
        const char *detail;
    } cases[] = {
        {"keys swapped", {0, 0, 0, 0, 0}, {0, 3, 2, 1, 4}, "does not belong to its certificate"},
        {"root key of another CA", {0, 1, 0, 0, 0}, {0, 1, 2, 3, 4}, "root key does not belong"},
        {"intermediate of another CA",
         {0, 0, 1, 1, 0},
         {0, 1, 2, 3, 4},
         "intermediate signature does not verify"},
        {"marble root of another CA",
         {0, 0, 0, 0, 1},
         {0, 1, 2, 3, 4},
         "marble root signature does not verify"},
        {"intermediate as marble root",
         {0, 0, 0, 0, 0},
         {0, 1, 2, 3, 2},
         "marble root has an unexpected issuer"},
        {"certificate where a key goes",
         {0, 0, 0, 0, 0},
         {0, 0, 2, 3, 4},
         "root key does not parse"},
    };
    for (size_t i = 0; i < QY_ARRAY_LEN(cases); i++) {
        buf_reset(&forged);
        reassemble(buf_view(&ba), buf_view(&bb), cases[i].from_b, cases[i].order, &forged);
        int r = pki_ca_load(buf_view(&forged), &back);
        cr_assert_eq(r, ERR_CORRUPT, "%s: %s", cases[i].what, err_name(r));
        cr_assert(strstr(err_detail(r), cases[i].detail) != NULL, "%s: %s", cases[i].what,
                  err_detail(r));
        cr_assert_null(back);
    }
    /* a P-384 key in a blob that says P-256 */
    struct pki_ca *c = new_ca(PKI_CURVE_P384);
    struct buf bc = BUF_INIT;
    cr_assert_eq(pki_ca_serialize(c, &bc), 0);
    bc.ptr[5] = 1; /* curve byte: P-256 */
    struct view body = view_of(bc.ptr, bc.size - 32);
    cr_assert_eq(crypto_sha256(&body, 1, bc.ptr + bc.size - 32), 0);
    cr_assert_eq(pki_ca_load(buf_view(&bc), &back), ERR_CORRUPT);
    cr_assert(strstr(err_detail(ERR_CORRUPT), "not a private key on the CA's curve") != NULL);
    buf_free(&bc);
    pki_ca_free(c);
    buf_free(&ba), buf_free(&bb), buf_free(&forged);
    pki_ca_free(a), pki_ca_free(b);
}

Test(ca, rotation_keeps_the_root_and_replaces_the_intermediate)
{
    struct pki_ca *ca = new_ca(PKI_CURVE_P256), *rot = NULL;
    cr_assert_eq(pki_ca_rotate_intermediate(ca, 0, &rot), 0);
    cr_assert(view_eq(pki_ca_root_der(ca), pki_ca_root_der(rot)));
    cr_assert_not(view_eq(pki_ca_intermediate_der(ca), pki_ca_intermediate_der(rot)));
    cr_assert_not(view_eq(pki_ca_marble_root_der(ca), pki_ca_marble_root_der(rot)));
    X509 *a = parse(pki_ca_intermediate_der(ca)), *b = parse(pki_ca_intermediate_der(rot));
    cr_assert_eq(X509_NAME_cmp(X509_get_subject_name(a), X509_get_subject_name(b)), 0);
    cr_assert_neq(EVP_PKEY_eq(X509_get0_pubkey(a), X509_get0_pubkey(b)), 1);
    struct buf sa = BUF_INIT, sb = BUF_INIT;
    sans_text(a, &sa), sans_text(b, &sb);
    cr_assert_str_eq((char *)sa.ptr, (char *)sb.ptr);
    buf_free(&sa), buf_free(&sb);
    X509_free(a), X509_free(b);
    cr_assert(qt_openssl_verify(pki_ca_root_der(rot), VIEW_EMPTY, pki_ca_intermediate_der(rot),
                                false, NULL));
    /* a marble certificate issued before rotation no longer verifies under the new marble root */
    struct crypto_key *k = NULL;
    struct buf csr = BUF_INIT, leaf = BUF_INIT;
    struct pki_csr *c = NULL;
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k), 0);
    cr_assert_eq(pki_csr_build(k, NULL, 0, &csr), 0);
    cr_assert_eq(pki_csr_parse(buf_view(&csr), &c), 0);
    cr_assert_eq(pki_issue_marble_cert(ca, c, uuid, "web", 0, &leaf), 0);
    cr_assert(
        qt_openssl_verify(pki_ca_marble_root_der(ca), VIEW_EMPTY, buf_view(&leaf), false, NULL));
    cr_assert_not(
        qt_openssl_verify(pki_ca_marble_root_der(rot), VIEW_EMPTY, buf_view(&leaf), false, NULL));
    /* the blob of a rotated CA loads */
    struct buf blob = BUF_INIT;
    struct pki_ca *back = NULL;
    cr_assert_eq(pki_ca_serialize(rot, &blob), 0);
    cr_assert_eq(pki_ca_load(buf_view(&blob), &back), 0);
    pki_ca_free(back);
    pki_csr_free(c);
    crypto_key_free(k);
    buf_free(&csr), buf_free(&leaf), buf_free(&blob);
    pki_ca_free(ca);
    pki_ca_free(rot);
}

/* Root signatures: verified here, and by the openssl CLI (SHA-256 + ECDSA, DER). */
Test(sign, root_signature_verifies_and_tampering_fails)
{
    struct pki_ca *ca = new_ca(PKI_CURVE_P384);
    struct buf sig = BUF_INIT;
    const char *data = "{\"Packages\":{}}";
    cr_assert_eq(pki_ca_sign_root(ca, view_str(data), &sig), 0);
    cr_assert_eq(pki_verify_root_signature(pki_ca_root_der(ca), view_str(data), buf_view(&sig)), 0);
    cr_assert_eq(pki_verify_root_signature(pki_ca_root_der(ca), view_str("{}"), buf_view(&sig)),
                 ERR_BAD_SIGNATURE);
    cr_assert_eq(
        pki_verify_root_signature(pki_ca_intermediate_der(ca), view_str(data), buf_view(&sig)),
        ERR_BAD_SIGNATURE);
    cr_assert_eq(pki_verify_root_signature(view_str("junk"), view_str(data), buf_view(&sig)),
                 ERR_CERT);

    char dir[256], cmd[4096];
    qt_tmpdir(dir);
    char path_data[300], path_sig[300];
    snprintf(path_data, sizeof(path_data), "%s/data", dir);
    snprintf(path_sig, sizeof(path_sig), "%s/sig", dir);
    cr_assert_eq(file_write_atomic(path_data, view_str(data), 0600), 0);
    cr_assert_eq(file_write_atomic(path_sig, buf_view(&sig), 0600), 0);
    const char *cert = qt_write_pem(dir, "root.pem", "CERTIFICATE", pki_ca_root_der(ca));
    snprintf(cmd, sizeof(cmd),
             "openssl x509 -in '%s' -pubkey -noout > '%s/pub.pem' && openssl dgst -sha256 -verify "
             "'%s/pub.pem' "
             "-signature '%s' '%s' 2>&1",
             cert, dir, dir, path_sig, path_data);
    struct buf out = BUF_INIT;
    cr_assert_eq(qt_run(cmd, &out), 0, "%s", out.ptr);
    cr_assert(strstr((char *)out.ptr, "Verified OK") != NULL);
    qt_rmtree(dir);
    buf_free(&out), buf_free(&sig);
    pki_ca_free(ca);
}

/* Server certificates ---------------------------------------------------------------------------
 */

Test(server, root_and_intermediate_signed_server_certs_verify)
{
    struct pki_ca *ca = new_ca(PKI_CURVE_P256);
    struct crypto_key *k = NULL;
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k), 0);
    const char *names[] = {"coordinator.svc", "192.168.1.2"};
    struct pki_server_options o = {
        .common_name = "Quarry Coordinator", .names = names, .names_count = 2};
    struct buf a = BUF_INIT, b = BUF_INIT, out = BUF_INIT;
    cr_assert_eq(pki_issue_server_cert(ca, PKI_SIGNER_ROOT, k, &o, &a), 0);
    cr_assert_eq(pki_issue_server_cert(ca, PKI_SIGNER_INTERMEDIATE, k, NULL, &b), 0);
    cr_assert(qt_openssl_verify(pki_ca_root_der(ca), VIEW_EMPTY, buf_view(&a), false, &out), "%s",
              out.ptr);
    cr_assert(qt_openssl_verify(pki_ca_root_der(ca), pki_ca_intermediate_der(ca), buf_view(&b),
                                false, NULL));
    cr_assert(qt_openssl_verify(pki_ca_marble_root_der(ca), VIEW_EMPTY, buf_view(&b), false, NULL));
    cr_assert_not(qt_openssl_verify(pki_ca_root_der(ca), VIEW_EMPTY, buf_view(&b), false, NULL));
    X509 *x = parse(buf_view(&a));
    struct buf s = BUF_INIT;
    sans_text(x, &s);
    cr_assert_str_eq((char *)s.ptr, "DNS:coordinator.svc,IP:192.168.1.2");
    cr_assert_eq(X509_check_ca(x), 0);
    cr_assert_eq(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
    X509_free(x);
    x = parse(buf_view(&b));
    buf_reset(&s);
    sans_text(x, &s);
    cr_assert_str_eq((char *)s.ptr, "DNS:localhost,IP:127.0.0.1,IP6:1");
    X509_free(x);
    buf_free(&s), buf_free(&a), buf_free(&b), buf_free(&out);
    crypto_key_free(k);
    pki_ca_free(ca);
}

/* Template certificates (generated secrets) ------------------------------------------------------
 */

Test(template, fields_as_requested_and_chain_verifies)
{
    struct pki_ca *ca = new_ca(PKI_CURVE_P256);
    struct crypto_key *k = NULL;
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_ED25519, 0, &k), 0);
    const char *c[] = {"DE"}, *org[] = {"Quarry", "Edgeless"}, *dns[] = {"a.example", "b.example"},
               *ips[] = {"10.1.2.3"}, *mail[] = {"ops@example.org"}, *uris[] = {"spiffe://x/y"};
    const uint64_t eku[] = {1, 4};
    struct pki_cert_template t = {
        .subject = {.country = {c, 1},
                    .organization = {org, 2},
                    .common_name = "Unit",
                    .serial_number = "42"},
        .not_before = 1700000000,
        .not_after = 1700000000 + 7 * 86400,
        .key_usage = 1 | 8,
        .ext_key_usage = eku,
        .ext_key_usage_count = 2,
        .dns_names = {dns, 2},
        .email_addresses = {mail, 1},
        .ip_addresses = {ips, 1},
        .uris = {uris, 1},
        .is_ca = true,
        .max_path_len = 0,
    };
    struct buf der = BUF_INIT, text = BUF_INIT;
    int r = pki_issue_from_template(ca, &t, k, &der);
    cr_assert_eq(r, 0, "%s", err_detail(r));
    qt_openssl_text(buf_view(&der), &text);
    const char *want[] = {
        "Subject: C = DE, O = Quarry + O = Edgeless, CN = Unit, serialNumber = 42",
        "Issuer: CN = MarbleRun Coordinator - Intermediate CA",
        "Digital Signature, Data Encipherment",
        "TLS Web Server Authentication, E-mail Protection",
        "CA:TRUE, pathlen:0",
        ("DNS:a.example, DNS:b.example, email:ops@example.org, IP Address:10.1.2.3, "
         "URI:spiffe://x/y"),
        "ED25519"};
    for (size_t i = 0; i < QY_ARRAY_LEN(want); i++)
        cr_assert(strstr((char *)text.ptr, want[i]) != NULL, "missing \"%s\" in\n%s", want[i],
                  text.ptr);
    X509 *x = parse(buf_view(&der));
    int days = 0, secs = 0;
    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x));
    cr_assert_eq(days, 7);
    X509_free(x);
    buf_free(&der);
    buf_free(&text);
    /* a certificate valid now verifies under the marble root and under root + intermediate */
    t.not_before = qtime_now();
    t.not_after = t.not_before + 86400;
    cr_assert_eq(pki_issue_from_template(ca, &t, k, &der), 0);
    cr_assert(
        qt_openssl_verify(pki_ca_marble_root_der(ca), VIEW_EMPTY, buf_view(&der), false, NULL));
    cr_assert(qt_openssl_verify(pki_ca_root_der(ca), pki_ca_intermediate_der(ca), buf_view(&der),
                                false, NULL));
    buf_free(&der);
    /* values X.509 cannot carry are clear errors */
    const char *bad_ip[] = {"10.1.2"};
    struct pki_cert_template t2 = t;
    t2.ip_addresses = (struct pki_strings){bad_ip, 1};
    cr_assert_eq(pki_issue_from_template(ca, &t2, k, &der), ERR_CERT);
    cr_assert(strstr(err_detail(ERR_CERT), "invalid IP address \"10.1.2\"") != NULL, "%s",
              err_detail(ERR_CERT));
    const char *bad_c[] = {"DEU"};
    t2 = t;
    t2.subject.country = (struct pki_strings){bad_c, 1};
    cr_assert_eq(pki_issue_from_template(ca, &t2, k, &der), ERR_CERT);
    cr_assert(strstr(err_detail(ERR_CERT), "as Country") != NULL, "%s", err_detail(ERR_CERT));
    const uint64_t bad_eku[] = {14};
    t2 = t;
    t2.ext_key_usage = bad_eku;
    t2.ext_key_usage_count = 1;
    cr_assert_eq(pki_issue_from_template(ca, &t2, k, &der), ERR_CERT);
    buf_free(&der);
    crypto_key_free(k);
    pki_ca_free(ca);
}

/* Certificates a marble presents (monotonic counters): only a marble certificate of the current
 * intermediate, valid now, names a marble; everything else is refused with its reason. */
Test(peer, marble_certificates_from_outside)
{
    struct pki_ca *ca = new_ca(PKI_CURVE_P256), *rot = NULL;
    cr_assert_eq(pki_ca_rotate_intermediate(ca, 0, &rot), 0);
    struct crypto_key *k = NULL;
    struct buf csr = BUF_INIT, leaf = BUF_INIT, server = BUF_INIT, longer = BUF_INIT;
    struct pki_csr *c = NULL;
    cr_assert_eq(crypto_key_generate(CRYPTO_KEY_EC_P256, 0, &k), 0);
    cr_assert_eq(pki_csr_build(k, NULL, 0, &csr), 0);
    cr_assert_eq(pki_csr_parse(buf_view(&csr), &c), 0);
    cr_assert_eq(pki_issue_marble_cert(ca, c, uuid, "web", 0, &leaf), 0);
    struct pki_server_options so = {NULL, NULL, 0, 0, 0};
    cr_assert_eq(pki_issue_server_cert(ca, PKI_SIGNER_INTERMEDIATE, k, &so, &server), 0);
    cr_assert_eq(buf_append_view(&longer, buf_view(&leaf)), 0);
    cr_assert_eq(buf_append_byte(&longer, 0), 0);
    struct pki_marble_identity id;
    cr_assert_eq(pki_ca_verify_marble_cert(ca, buf_view(&leaf), 0, &id), 0);
    cr_assert_str_eq(id.common_name, uuid);
    cr_assert_str_eq(id.marble_type, "web");
    const struct {
        const struct pki_ca *ca;
        struct view der;
        int64_t now;
        int code;
        const char *why;
    } bad[] = {
        {ca, VIEW_EMPTY, 0, ERR_CERT, "certificate of 0 bytes"},
        {ca, view_str("not DER"), 0, ERR_CERT, "the certificate does not parse"},
        {ca, buf_view(&longer), 0, ERR_CERT, "trailing bytes after the certificate"},
        {rot, buf_view(&leaf), 0, ERR_BAD_SIGNATURE, "not issued by the Coordinator's current intermediate"},
        {ca, pki_ca_root_der(ca), 0, ERR_BAD_SIGNATURE, "not issued by the Coordinator's current intermediate"},
        {ca, buf_view(&leaf), 1, ERR_EXPIRED, "the certificate is not valid now"},
        {ca, pki_ca_marble_root_der(ca), 0, ERR_CERT, "a CA certificate is not a marble's"},
        {ca, buf_view(&server), 0, ERR_CERT, "marble type"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = pki_ca_verify_marble_cert(bad[i].ca, bad[i].der, bad[i].now, &id);
        cr_assert_eq(r, bad[i].code, "case %zu: %s: %s", i, err_name(r), err_detail(r));
        cr_assert(strstr(err_detail(r), bad[i].why) != NULL, "case %zu: %s", i, err_detail(r));
        cr_assert_str_eq(id.common_name, "");
    }
    pki_csr_free(c);
    crypto_key_free(k);
    buf_free(&csr), buf_free(&leaf), buf_free(&server), buf_free(&longer);
    pki_ca_free(ca);
    pki_ca_free(rot);
}

/* Certificates the CA's intermediate signed that fail the checks after the signature (made by
 * fuzz/pki/marble_cert_seeds.sh, which only the key's holder can make): each is refused with its
 * reason and leaves the identity empty, although the marble type was read before the refusal. */
Test(peer, refusals_after_the_signature_name_no_one)
{
    struct buf blob = BUF_INIT;
    struct pki_ca *ca = NULL;
    cr_assert_eq(enc_b64_decode(&blob, view_str(marble_cert_ca_b64)), 0);
    cr_assert_eq(pki_ca_load(buf_view(&blob), &ca), 0);
    const int64_t now = 1767225600; /* 2026-01-01, as fuzz_marble_cert.c */
    const struct {
        const char *seed;
        int code;
        const char *why;
    } cases[] = {
        {"issued-valid", 0, NULL},
        {"issued-expired", ERR_EXPIRED, "the certificate is not valid now"},
        {"issued-ca", ERR_CERT, "a CA certificate is not a marble's"},
        {"issued-ca-no-keycertsign", ERR_CERT, "a CA certificate is not a marble's"},
        {"regress-identity-nul-marble-type", ERR_CERT, "the marble type contains a NUL byte"},
        {"regress-identity-no-common-name", ERR_CERT, "the certificate has no common name"},
        {"regress-identity-empty-common-name", ERR_CERT, "the common name is empty or longer than 64 bytes"},
        {"regress-identity-long-common-name", ERR_CERT, "the common name is empty or longer than 64 bytes"},
        {"regress-identity-bmp-common-name", ERR_CERT, "the common name contains a NUL byte"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[512];
        struct buf der = BUF_INIT;
        struct pki_marble_identity id;
        snprintf(path, sizeof(path), "%s/fuzz/corpus/marble_cert/%s", getenv("QY_SOURCE_DIR"), cases[i].seed);
        qt_read(path, &der);
        int r = pki_ca_verify_marble_cert(ca, buf_view(&der), now, &id);
        cr_assert_eq(r, cases[i].code, "%s: %s: %s", cases[i].seed, err_name(r), err_detail(r));
        if (r == 0) {
            cr_assert_str_eq(id.common_name, "00000000-0000-4000-8000-000000000000");
            cr_assert_str_eq(id.marble_type, "fuzz");
        } else {
            cr_assert(strstr(err_detail(r), cases[i].why) != NULL, "%s: %s", cases[i].seed, err_detail(r));
            cr_assert_str_eq(id.common_name, "", "%s", cases[i].seed);
            cr_assert_str_eq(id.marble_type, "", "%s: %s", cases[i].seed, id.marble_type);
        }
        buf_free(&der);
    }
    pki_ca_free(ca);
    buf_free(&blob);
}
