/*
 * The CA hierarchy: generation, rotation of the intermediate, the serialised form and its
 * validation, and the root key's signatures. The root, the intermediate and the marble root are
 * made by the same function; they differ only in who signs and whose name is the issuer.
 */
#include <openssl/asn1.h>
#include <stdlib.h>
#include <string.h>

#include "pki_int.h"

static const uint8_t blob_magic[4] = {'Q', 'Y', 'C', 'A'};
#define BLOB_VERSION 1
#define BLOB_ITEMS   5

static enum crypto_key_type curve_key_type(enum pki_curve c)
{
    return c == PKI_CURVE_P384 ? CRYPTO_KEY_EC_P384 : CRYPTO_KEY_EC_P256;
}

static struct pki_ca *ca_new(void)
{
    struct pki_ca *ca = calloc(1, sizeof(*ca));
    if (ca != NULL)
        atomic_init(&ca->refs, 1);
    return ca;
}

struct pki_ca *pki_ca_ref(struct pki_ca *ca)
{
    atomic_fetch_add(&ca->refs, 1);
    return ca;
}

void pki_ca_free(struct pki_ca *ca)
{
    if (ca == NULL || atomic_fetch_sub(&ca->refs, 1) != 1)
        return;
    X509_free(ca->root);
    X509_free(ca->intermediate);
    X509_free(ca->marble_root);
    crypto_key_free(ca->root_key);
    crypto_key_free(ca->intermediate_key);
    buf_free(&ca->root_der);
    buf_free(&ca->intermediate_der);
    buf_free(&ca->marble_root_der);
    mem_wipe(ca, sizeof(*ca));
    free(ca);
}

struct view pki_ca_root_der(const struct pki_ca *ca)
{
    return buf_view(&ca->root_der);
}

struct view pki_ca_intermediate_der(const struct pki_ca *ca)
{
    return buf_view(&ca->intermediate_der);
}

struct view pki_ca_marble_root_der(const struct pki_ca *ca)
{
    return buf_view(&ca->marble_root_der);
}

enum pki_curve pki_ca_curve(const struct pki_ca *ca)
{
    return ca->curve;
}

/* One CA certificate as MarbleRun makes them (§7.1): IsCA, KeyUsage DigitalSignature|CertSign,
 * ExtKeyUsage ServerAuth+ClientAuth, no path length, the SANs, valid "forever". */
static int make_ca_cert(const X509_NAME *subject, const X509_NAME *issuer,
                        const struct crypto_key *key, const struct crypto_key *signer,
                        const uint8_t *subject_keyid, const uint8_t *authority_keyid,
                        const GENERAL_NAMES *sans, int64_t now, X509 **out)
{
    static const uint64_t server_client_auth[] = {1, 2};
    EXTENDED_KEY_USAGE *eku;
    *out = NULL;
    TRY(pki_make_eku(server_client_auth, 2, &eku));
    struct pki_spec s = {
        .subject = subject,
        .issuer = issuer,
        .subject_key = key,
        .signer = signer,
        .authority_keyid = authority_keyid,
        .subject_keyid = subject_keyid,
        .sans = sans,
        .key_usage = 1u | 32u, /* DigitalSignature | CertSign */
        .eku = eku,
        .is_ca = true,
        .max_path_len = -1,
        .not_before = now,
        .not_after = now + PKI_FOREVER_SECONDS,
    };
    int r = pki_build_cert(&s, out);
    pki_free_eku(eku);
    return r;
}

/* The intermediate (signed by the root) and the marble root (self-signed, same key and name) on a
 * fresh key; stored into ca, which already has its root. */
static int make_intermediates(struct pki_ca *ca, const X509_NAME *name, const GENERAL_NAMES *sans,
                              int64_t now)
{
    TRY(crypto_key_generate(curve_key_type(ca->curve), 0, &ca->intermediate_key));
    TRY(pki_keyid(ca->intermediate_key, ca->intermediate_keyid));
    TRY(make_ca_cert(name, X509_get_subject_name(ca->root), ca->intermediate_key, ca->root_key,
                     ca->intermediate_keyid, ca->root_keyid, sans, now, &ca->intermediate));
    TRY(make_ca_cert(name, NULL, ca->intermediate_key, ca->intermediate_key, ca->intermediate_keyid,
                     NULL, sans, now, &ca->marble_root));
    TRY(pki_x509_der(ca->intermediate, &ca->intermediate_der));
    return pki_x509_der(ca->marble_root, &ca->marble_root_der);
}

int pki_ca_generate(const struct pki_ca_options *o, struct pki_ca **out)
{
    int r = ERR_INTERNAL;
    static const struct pki_ca_options defaults = {0};
    X509_NAME *root_name = NULL, *int_name = NULL;
    GENERAL_NAMES *sans = sk_GENERAL_NAME_new_null();
    struct pki_ca *ca = ca_new();
    *out = NULL;
    if (o == NULL)
        o = &defaults;
    ENSURE_OUT(ca != NULL && sans != NULL, ERR_NOMEM, "cannot allocate a CA");
    ENSURE_OUT(o->curve == PKI_CURVE_P256 || o->curve == PKI_CURVE_P384, ERR_INVALID_ARG,
               "unknown curve %d", (int)o->curve);
    ca->curve = o->curve;
    int64_t now = pki_now(o->now);
    TRY_OUT(pki_name_cn(o->root_cn ? o->root_cn : PKI_ROOT_CN, &root_name));
    TRY_OUT(pki_name_cn(o->intermediate_cn ? o->intermediate_cn : PKI_INTERMEDIATE_CN, &int_name));
    TRY_OUT(pki_sans_from_names(o->names, o->names_count, true, sans));
    TRY_OUT(crypto_key_generate(curve_key_type(ca->curve), 0, &ca->root_key));
    TRY_OUT(pki_keyid(ca->root_key, ca->root_keyid));
    TRY_OUT(make_ca_cert(root_name, NULL, ca->root_key, ca->root_key, ca->root_keyid, NULL, sans,
                         now, &ca->root));
    TRY_OUT(pki_x509_der(ca->root, &ca->root_der));
    TRY_OUT(make_intermediates(ca, int_name, sans, now));
    *out = ca;
    ca = NULL;
    r = 0;
out:
    pki_ca_free(ca);
    GENERAL_NAMES_free(sans);
    X509_NAME_free(root_name);
    X509_NAME_free(int_name);
    return r;
}

int pki_ca_rotate_intermediate(const struct pki_ca *ca, int64_t now, struct pki_ca **out)
{
    int r = ERR_INTERNAL;
    GENERAL_NAMES *sans = X509_get_ext_d2i(ca->intermediate, NID_subject_alt_name, NULL, NULL);
    struct pki_ca *n = ca_new();
    *out = NULL;
    ENSURE_OUT(n != NULL, ERR_NOMEM, "cannot allocate a CA");
    n->curve = ca->curve;
    ENSURE_OUT(X509_up_ref(ca->root) == 1, ERR_CRYPTO, "X509_up_ref failed");
    n->root = ca->root;
    n->root_key = crypto_key_ref(ca->root_key);
    memcpy(n->root_keyid, ca->root_keyid, PKI_KEYID_SIZE);
    TRY_OUT(buf_set(&n->root_der, buf_view(&ca->root_der)));
    TRY_OUT(make_intermediates(n, X509_get_subject_name(ca->intermediate), sans, pki_now(now)));
    *out = n;
    n = NULL;
    r = 0;
out:
    pki_ca_free(n);
    GENERAL_NAMES_free(sans);
    return r;
}

static int put_item(struct buf *out, struct view item)
{
    uint8_t len[4] = {(uint8_t)(item.size >> 24), (uint8_t)(item.size >> 16),
                      (uint8_t)(item.size >> 8), (uint8_t)item.size};
    TRY(buf_append(out, len, sizeof(len)));
    return buf_append_view(out, item);
}

int pki_ca_serialize(const struct pki_ca *ca, struct buf *out)
{
    int r = ERR_INTERNAL;
    struct buf b = BUF_INIT, root_key = BUF_INIT, int_key = BUF_INIT;
    TRY_OUT(crypto_key_private_der(ca->root_key, &root_key));
    TRY_OUT(crypto_key_private_der(ca->intermediate_key, &int_key));
    const uint8_t head[2] = {BLOB_VERSION, (uint8_t)(ca->curve == PKI_CURVE_P384 ? 2 : 1)};
    TRY_OUT(buf_append(&b, blob_magic, sizeof(blob_magic)));
    TRY_OUT(buf_append(&b, head, sizeof(head)));
    TRY_OUT(put_item(&b, buf_view(&ca->root_der)));
    TRY_OUT(put_item(&b, buf_view(&root_key)));
    TRY_OUT(put_item(&b, buf_view(&ca->intermediate_der)));
    TRY_OUT(put_item(&b, buf_view(&int_key)));
    TRY_OUT(put_item(&b, buf_view(&ca->marble_root_der)));
    uint8_t digest[CRYPTO_SHA256_SIZE];
    struct view all = buf_view(&b);
    TRY_OUT(crypto_sha256(&all, 1, digest));
    TRY_OUT(buf_append(&b, digest, sizeof(digest)));
    TRY_OUT(buf_append_view(out, buf_view(&b)));
    r = 0;
out:
    buf_free(&b);
    buf_free(&root_key);
    buf_free(&int_key);
    return r;
}

/* Loading -------------------------------------------------------------------------------------- */

static int read_item(struct rd *rd, const char *what, struct view *out)
{
    uint32_t len;
    if (rd_u32be(rd, &len) < 0 || len == 0 || len > QY_CERT_DER_MAX_SIZE ||
        rd_bytes(rd, len, out) < 0)
        FAIL(ERR_CORRUPT, "CA blob: bad length for the %s", what);
    return 0;
}

static int parse_cert(struct view der, const char *what, X509 **out)
{
    char name[64];
    snprintf(name, sizeof(name), "the CA blob's %s", what);
    return pki_x509_parse(der, ERR_CORRUPT, name, out);
}

/* The key must be on the CA's curve, have its private half, and be the pair of `cert`'s key: the
 * public keys are equal and a signature made with it verifies with the certificate's key. */
static int check_pair(const struct crypto_key *key, enum pki_curve curve, X509 *cert,
                      const char *what)
{
    int r = ERR_INTERNAL;
    struct crypto_key *pub = NULL;
    struct buf sig = BUF_INIT;
    ENSURE(crypto_key_type(key) == curve_key_type(curve) && crypto_key_has_private(key),
           ERR_CORRUPT, "CA blob: the %s key is not a private key on the CA's curve", what);
    EVP_PKEY *pk = X509_get0_pubkey(cert);
    ENSURE(pk != NULL, ERR_CORRUPT, "CA blob: the %s certificate has no usable key", what);
    TRY(crypto_key_wrap_evp(pk, &pub));
    ENSURE_OUT(crypto_key_public_eq(key, pub), ERR_CORRUPT,
               "CA blob: the %s key does not belong to its certificate", what);
    static const char probe[] = "quarry CA key pair check";
    TRY_OUT(crypto_sign(key, CRYPTO_SIG_ECDSA_SHA256, view_str(probe), &sig));
    r = crypto_verify(pub, CRYPTO_SIG_ECDSA_SHA256, view_str(probe), buf_view(&sig));
    ENSURE_OUT(r == 0, ERR_CORRUPT, "CA blob: the %s private and public keys do not match", what);
out:
    crypto_key_free(pub);
    buf_free(&sig);
    return r;
}

/* `cert` is a CA certificate named `subject`, issued by `issuer_name` and signed by `signer`. */
static int check_link(X509 *cert, const X509_NAME *subject, const X509_NAME *issuer_name,
                      EVP_PKEY *signer, const char *what)
{
    ENSURE(X509_NAME_cmp(X509_get_subject_name(cert), subject) == 0, ERR_CORRUPT,
           "CA blob: the %s has an unexpected subject", what);
    ENSURE(X509_NAME_cmp(X509_get_issuer_name(cert), issuer_name) == 0, ERR_CORRUPT,
           "CA blob: the %s has an unexpected issuer", what);
    ENSURE(signer != NULL && X509_verify(cert, signer) == 1, ERR_CORRUPT,
           "CA blob: the %s signature does not verify", what);
    ENSURE(X509_check_ca(cert) >= 1, ERR_CORRUPT, "CA blob: the %s is not a CA certificate", what);
    (void)crypto_last_error(); /* X509_check_ca may leave queue entries */
    return 0;
}

static int check_hierarchy(struct pki_ca *ca, struct view root_key_der, struct view int_key_der)
{
    if (crypto_key_from_private_der(root_key_der, &ca->root_key) < 0)
        FAIL(ERR_CORRUPT, "CA blob: the root key does not parse");
    if (crypto_key_from_private_der(int_key_der, &ca->intermediate_key) < 0)
        FAIL(ERR_CORRUPT, "CA blob: the intermediate key does not parse");
    TRY(check_pair(ca->root_key, ca->curve, ca->root, "root"));
    TRY(check_pair(ca->intermediate_key, ca->curve, ca->intermediate, "intermediate"));
    const X509_NAME *root_name = X509_get_subject_name(ca->root);
    const X509_NAME *int_name = X509_get_subject_name(ca->intermediate);
    EVP_PKEY *root_pub = X509_get0_pubkey(ca->root), *int_pub = X509_get0_pubkey(ca->intermediate);
    TRY(check_link(ca->root, root_name, root_name, root_pub, "root"));
    TRY(check_link(ca->intermediate, int_name, root_name, root_pub, "intermediate"));
    TRY(check_link(ca->marble_root, int_name, int_name, int_pub, "marble root"));
    return 0;
}

int pki_ca_load(struct view blob, struct pki_ca **out)
{
    int r = ERR_INTERNAL;
    struct pki_ca *ca = NULL;
    *out = NULL;
    ENSURE(blob.size > sizeof(blob_magic) + 2 + CRYPTO_SHA256_SIZE &&
               blob.size <= QY_PKI_BLOB_MAX_SIZE,
           ERR_CORRUPT, "CA blob of %zu bytes", blob.size);
    struct view body = view_of(blob.ptr, blob.size - CRYPTO_SHA256_SIZE);
    uint8_t digest[CRYPTO_SHA256_SIZE];
    TRY(crypto_sha256(&body, 1, digest));
    ENSURE(mem_eq_ct(digest, body.ptr + body.size, CRYPTO_SHA256_SIZE), ERR_CORRUPT,
           "CA blob: digest mismatch");
    struct rd rd = rd_init(body);
    struct view magic, items[BLOB_ITEMS];
    uint8_t version = 0, curve = 0;
    ENSURE(rd_bytes(&rd, sizeof(blob_magic), &magic) == 0 &&
               memcmp(magic.ptr, blob_magic, sizeof(blob_magic)) == 0,
           ERR_CORRUPT, "CA blob: bad magic");
    ENSURE(rd_u8(&rd, &version) == 0 && version == BLOB_VERSION, ERR_CORRUPT,
           "CA blob: unsupported version %u", version);
    ENSURE(rd_u8(&rd, &curve) == 0 && (curve == 1 || curve == 2), ERR_CORRUPT,
           "CA blob: unknown curve %u", curve);
    static const char *const what[BLOB_ITEMS] = {"root certificate", "root key",
                                                 "intermediate certificate", "intermediate key",
                                                 "marble root certificate"};
    for (int i = 0; i < BLOB_ITEMS; i++)
        TRY(read_item(&rd, what[i], &items[i]));
    ENSURE(rd_end(&rd) == 0, ERR_CORRUPT, "CA blob: trailing bytes");

    ca = ca_new();
    ENSURE(ca != NULL, ERR_NOMEM, "cannot allocate a CA");
    ca->curve = curve == 2 ? PKI_CURVE_P384 : PKI_CURVE_P256;
    TRY_OUT(parse_cert(items[0], what[0], &ca->root));
    TRY_OUT(parse_cert(items[2], what[2], &ca->intermediate));
    TRY_OUT(parse_cert(items[4], what[4], &ca->marble_root));
    TRY_OUT(check_hierarchy(ca, items[1], items[3]));
    TRY_OUT(pki_keyid(ca->root_key, ca->root_keyid));
    TRY_OUT(pki_keyid(ca->intermediate_key, ca->intermediate_keyid));
    TRY_OUT(pki_x509_der(ca->root, &ca->root_der));
    TRY_OUT(pki_x509_der(ca->intermediate, &ca->intermediate_der));
    TRY_OUT(pki_x509_der(ca->marble_root, &ca->marble_root_der));
    *out = ca;
    ca = NULL;
    r = 0;
out:
    pki_ca_free(ca);
    return r;
}

/* Root signatures -------------------------------------------------------------------------------
 */

int pki_ca_sign_root(const struct pki_ca *ca, struct view data, struct buf *sig)
{
    return crypto_sign(ca->root_key, CRYPTO_SIG_ECDSA_SHA256, data, sig);
}

int pki_verify_root_signature(struct view root_cert_der, struct view data, struct view sig)
{
    struct crypto_key *k = NULL;
    TRY(pki_cert_public_key(root_cert_der, &k));
    int r = crypto_verify(k, CRYPTO_SIG_ECDSA_SHA256, data, sig);
    crypto_key_free(k);
    return r;
}
