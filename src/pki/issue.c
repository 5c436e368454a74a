/*
 * Building certificates: the one builder (pki_build_cert) and the issuance verbs on top of it -
 * generated secrets from a template, TLS server certificates, marble certificates from CSRs. Each
 * verb only decides what the certificate says; the builder owns the X.509 mechanics, so every
 * certificate gets a random serial, the signer's AuthorityKeyIdentifier and Go's criticality rules.
 */
#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/objects.h>
#include <string.h>

#include "pki_int.h"

int64_t pki_now(int64_t now)
{
    return now != 0 ? now : qtime_now();
}

int pki_x509_der(X509 *x, struct buf *out)
{
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    ENSURE(len > 0, ERR_CRYPTO, "cannot encode a certificate: %s", crypto_last_error());
    int r = buf_append(out, der, (size_t)len);
    OPENSSL_free(der);
    return r;
}

int pki_x509_parse(struct view der, int code, const char *what, X509 **out)
{
    *out = NULL;
    ENSURE(der.size > 0 && der.size <= QY_CERT_DER_MAX_SIZE, code, "%s of %zu bytes (1..%u)", what, der.size,
           QY_CERT_DER_MAX_SIZE);
    const unsigned char *p = der.ptr;
    X509 *x = d2i_X509(NULL, &p, (long)der.size);
    ENSURE(x != NULL, code, "%s does not parse: %s", what, crypto_last_error());
    if (p != der.ptr + der.size) {
        X509_free(x);
        FAIL(code, "trailing bytes after %s", what);
    }
    *out = x;
    return 0;
}

int pki_keyid(const struct crypto_key *key, uint8_t out[PKI_KEYID_SIZE])
{
    X509_PUBKEY *xpk = NULL;
    const unsigned char *bits = NULL;
    int bits_len = 0;
    TRY(crypto_key_x509_pubkey(key, &xpk));
    int r = ERR_CRYPTO;
    if (X509_PUBKEY_get0_param(NULL, &bits, &bits_len, NULL, xpk) == 1 && bits_len > 0) {
        uint8_t digest[CRYPTO_SHA256_SIZE];
        struct view part = view_of(bits, (size_t)bits_len);
        r = crypto_sha256(&part, 1, digest);
        if (r == 0)
            memcpy(out, digest, PKI_KEYID_SIZE);
    } else {
        r = err_fail(ERR_CRYPTO, __func__, "cannot read a public key: %s", crypto_last_error());
    }
    X509_PUBKEY_free(xpk);
    return r;
}

int pki_name_cn(const char *cn, X509_NAME **out)
{
    *out = X509_NAME_new();
    ENSURE(*out != NULL, ERR_NOMEM, "cannot allocate a name");
    if (X509_NAME_add_entry_by_NID(*out, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn,
                                   -1, -1, 0) != 1) {
        X509_NAME_free(*out);
        *out = NULL;
        FAIL(ERR_CERT, "cannot use \"%s\" as a common name: %s", cn, crypto_last_error());
    }
    return 0;
}

/* SAN values travel as IA5String: printable ASCII only, as Go's x509 requires. */
static int check_ia5(const char *what, const char *s)
{
    size_t n = strlen(s);
    ENSURE(n > 0 && n <= QY_PATH_MAX, ERR_CERT, "%s of %zu bytes", what, n);
    for (size_t i = 0; i < n; i++)
        ENSURE(s[i] >= 0x20 && s[i] < 0x7f, ERR_CERT, "%s \"%s\" is not printable ASCII", what, s);
    return 0;
}

static int add_general_name(GENERAL_NAMES *gens, int type, const char *value)
{
    GENERAL_NAME *g = a2i_GENERAL_NAME(NULL, NULL, NULL, type, value, 0);
    if (g == NULL) {
        const char *what = type == GEN_IPADD   ? "IP address"
                           : type == GEN_EMAIL ? "e-mail address"
                           : type == GEN_URI   ? "URI"
                                               : "DNS name";
        FAIL(ERR_CERT, "invalid %s \"%s\": %s", what, value, crypto_last_error());
    }
    if (sk_GENERAL_NAME_push(gens, g) <= 0) {
        GENERAL_NAME_free(g);
        FAIL(ERR_NOMEM, "cannot add a SAN");
    }
    return 0;
}

static bool looks_like_ip(const char *s)
{
    uint8_t tmp[16];
    return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

int pki_sans_from_names(const char *const *names, size_t count, bool loopback, GENERAL_NAMES *gens)
{
    static const char *const localhost[] = {"localhost"};
    if (names == NULL || count == 0) {
        names = localhost;
        count = 1;
    }
    ENSURE(count <= QY_CSR_MAX_SANS, ERR_TOO_LARGE, "%zu names, the limit is %u", count,
           QY_CSR_MAX_SANS);
    /* DNS names first, then IPs (loopback first), as MarbleRun's certificates list them. */
    for (size_t i = 0; i < count; i++) {
        if (looks_like_ip(names[i]))
            continue;
        TRY(check_ia5("DNS name", names[i]));
        TRY(add_general_name(gens, GEN_DNS, names[i]));
    }
    if (loopback) {
        TRY(add_general_name(gens, GEN_IPADD, "127.0.0.1"));
        TRY(add_general_name(gens, GEN_IPADD, "::1"));
    }
    for (size_t i = 0; i < count; i++)
        if (looks_like_ip(names[i]))
            TRY(add_general_name(gens, GEN_IPADD, names[i]));
    return 0;
}

static int set_random_serial(X509 *x)
{
    uint8_t rnd[16];
    TRY(crypto_random(rnd, sizeof(rnd)));
    BIGNUM *bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
    bool ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    ENSURE(ok, ERR_CRYPTO, "cannot set a serial number: %s", crypto_last_error());
    return 0;
}

static int add_key_usage(X509 *x, unsigned ku)
{
    ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();
    bool ok = bs != NULL;
    for (int i = 0; ok && i < 9; i++)
        if (ku & (1u << i))
            ok = ASN1_BIT_STRING_set_bit(bs, i, 1) == 1;
    ok = ok && X509_add1_ext_i2d(x, NID_key_usage, bs, 1, X509V3_ADD_DEFAULT) == 1;
    ASN1_BIT_STRING_free(bs);
    ENSURE(ok, ERR_CRYPTO, "cannot add KeyUsage: %s", crypto_last_error());
    return 0;
}

static int add_basic_constraints(X509 *x, bool is_ca, int64_t max_path_len)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    bool ok = bc != NULL;
    if (ok) {
        bc->ca = is_ca ? 0xff : 0;
        if (max_path_len >= 0) {
            bc->pathlen = ASN1_INTEGER_new();
            ok = bc->pathlen != NULL && ASN1_INTEGER_set_int64(bc->pathlen, max_path_len) == 1;
        }
    }
    ok = ok && X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1;
    BASIC_CONSTRAINTS_free(bc);
    ENSURE(ok, ERR_CRYPTO, "cannot add BasicConstraints: %s", crypto_last_error());
    return 0;
}

static int add_keyid(X509 *x, bool authority, const uint8_t id[PKI_KEYID_SIZE])
{
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    bool ok = os != NULL && ASN1_OCTET_STRING_set(os, id, PKI_KEYID_SIZE) == 1;
    if (ok && authority) {
        AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
        ok = akid != NULL;
        if (ok) {
            akid->keyid = os;
            os = NULL;
            ok = X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) ==
                 1;
        }
        AUTHORITY_KEYID_free(akid);
    } else if (ok) {
        ok = X509_add1_ext_i2d(x, NID_subject_key_identifier, os, 0, X509V3_ADD_DEFAULT) == 1;
    }
    ASN1_OCTET_STRING_free(os);
    ENSURE(ok, ERR_CRYPTO, "cannot add a key identifier: %s", crypto_last_error());
    return 0;
}

int pki_spki_set(X509_PUBKEY *dst, const X509_ALGOR *algor, const unsigned char *bits, int bits_len)
{
    const ASN1_OBJECT *alg = NULL;
    int ptype = V_ASN1_UNDEF;
    const void *pval = NULL;
    void *param = NULL;
    ENSURE(bits_len > 0, ERR_CRYPTO, "empty public key");
    X509_ALGOR_get0(&alg, &ptype, &pval, algor);
    if (ptype == V_ASN1_OBJECT)
        param = OBJ_dup(pval);
    else if (ptype == V_ASN1_SEQUENCE)
        param = ASN1_STRING_dup(pval);
    else
        ENSURE(ptype == V_ASN1_NULL || ptype == V_ASN1_UNDEF, ERR_UNSUPPORTED,
               "unsupported public key parameters");
    unsigned char *enc = OPENSSL_memdup(bits, (size_t)bits_len);
    ASN1_OBJECT *oid = OBJ_dup(alg);
    bool ok = enc != NULL && oid != NULL &&
              (param != NULL || ptype == V_ASN1_NULL || ptype == V_ASN1_UNDEF);
    if (ok && X509_PUBKEY_set0_param(dst, oid, ptype, param, enc, bits_len) == 1)
        return 0;
    if (ptype == V_ASN1_OBJECT)
        ASN1_OBJECT_free(param);
    else
        ASN1_STRING_free(param);
    ASN1_OBJECT_free(oid);
    OPENSSL_free(enc);
    FAIL(ERR_CRYPTO, "cannot copy a public key: %s", crypto_last_error());
}

int pki_spki_copy(X509_PUBKEY *dst, const X509_PUBKEY *src)
{
    const unsigned char *bits = NULL;
    int bits_len = 0;
    X509_ALGOR *algor = NULL;
    ENSURE(X509_PUBKEY_get0_param(NULL, &bits, &bits_len, &algor, src) == 1, ERR_CRYPTO,
           "cannot read a public key");
    return pki_spki_set(dst, algor, bits, bits_len);
}

int pki_build_cert(const struct pki_spec *s, X509 **out)
{
    int r = ERR_INTERNAL;
    X509 *x = X509_new();
    *out = NULL;
    ENSURE(x != NULL, ERR_NOMEM, "cannot allocate a certificate");
    bool md_ok = false;
    const EVP_MD *md = crypto_x509_md(s->signer, &md_ok);
    ENSURE_OUT(md_ok, ERR_INVALID_ARG, "unsupported signing key");
    ENSURE_OUT(s->not_after >= s->not_before, ERR_CERT, "the validity ends before it starts");
    const X509_NAME *issuer = s->issuer ? s->issuer : s->subject;
    bool ok = X509_set_version(x, X509_VERSION_3) == 1 &&
              X509_set_subject_name(x, s->subject) == 1 && X509_set_issuer_name(x, issuer) == 1 &&
              (s->subject_spki != NULL || X509_set_pubkey(x, crypto_key_evp(s->subject_key)) == 1);
    ENSURE_OUT(ok, ERR_CRYPTO, "cannot set certificate fields: %s", crypto_last_error());
    if (s->subject_spki != NULL)
        TRY_OUT(pki_spki_copy(X509_get_X509_PUBKEY(x), s->subject_spki));
    ENSURE_OUT(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)s->not_before) != NULL &&
                   ASN1_TIME_set(X509_getm_notAfter(x), (time_t)s->not_after) != NULL,
               ERR_CERT, "cannot represent the validity period");
    TRY_OUT(set_random_serial(x));
    /* Extensions in the order Go's x509 writes them. */
    if (s->key_usage != 0)
        TRY_OUT(add_key_usage(x, s->key_usage));
    if (s->eku != NULL &&
        X509_add1_ext_i2d(x, NID_ext_key_usage, (void *)s->eku, 0, X509V3_ADD_DEFAULT) != 1)
        FAIL_OUT(ERR_CRYPTO, "cannot add ExtKeyUsage: %s", crypto_last_error());
    TRY_OUT(add_basic_constraints(x, s->is_ca, s->max_path_len));
    if (s->subject_keyid != NULL)
        TRY_OUT(add_keyid(x, false, s->subject_keyid));
    if (s->authority_keyid != NULL)
        TRY_OUT(add_keyid(x, true, s->authority_keyid));
    if (s->sans != NULL && sk_GENERAL_NAME_num(s->sans) > 0) {
        /* RFC 5280 4.2.1.6: critical when the subject is empty. */
        int critical = X509_NAME_entry_count(s->subject) == 0;
        if (X509_add1_ext_i2d(x, NID_subject_alt_name, (void *)s->sans, critical,
                              X509V3_ADD_DEFAULT) != 1)
            FAIL_OUT(ERR_CRYPTO, "cannot add SANs: %s", crypto_last_error());
    }
    if (s->extra != NULL && X509_add_ext(x, s->extra, -1) != 1)
        FAIL_OUT(ERR_CRYPTO, "cannot add an extension: %s", crypto_last_error());
    ENSURE_OUT(X509_sign(x, crypto_key_evp(s->signer), md) > 0, ERR_CRYPTO,
               "cannot sign a certificate: %s", crypto_last_error());
    *out = x;
    x = NULL;
    r = 0;
out:
    X509_free(x);
    return r;
}

/* Go's ExtKeyUsage values, in order (reference §1.5.1). */
static const char *const eku_oids[] = {
    "2.5.29.37.0",            /* Any */
    "1.3.6.1.5.5.7.3.1",      /* ServerAuth */
    "1.3.6.1.5.5.7.3.2",      /* ClientAuth */
    "1.3.6.1.5.5.7.3.3",      /* CodeSigning */
    "1.3.6.1.5.5.7.3.4",      /* EmailProtection */
    "1.3.6.1.5.5.7.3.5",      /* IPSECEndSystem */
    "1.3.6.1.5.5.7.3.6",      /* IPSECTunnel */
    "1.3.6.1.5.5.7.3.7",      /* IPSECUser */
    "1.3.6.1.5.5.7.3.8",      /* TimeStamping */
    "1.3.6.1.5.5.7.3.9",      /* OCSPSigning */
    "1.3.6.1.4.1.311.10.3.3", /* MicrosoftServerGatedCrypto */
    "2.16.840.1.113730.4.1",  /* NetscapeServerGatedCrypto */
    "1.3.6.1.4.1.311.2.1.22", /* MicrosoftCommercialCodeSigning */
    "1.3.6.1.4.1.311.61.1.1", /* MicrosoftKernelCodeSigning */
};

int pki_make_eku(const uint64_t *values, size_t count, EXTENDED_KEY_USAGE **out)
{
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    *out = NULL;
    ENSURE(eku != NULL, ERR_NOMEM, "cannot allocate ExtKeyUsage");
    for (size_t i = 0; i < count; i++) {
        if (values[i] >= QY_ARRAY_LEN(eku_oids)) {
            sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
            FAIL(ERR_CERT, "unknown ExtKeyUsage %llu (0..%zu)", (unsigned long long)values[i],
                 QY_ARRAY_LEN(eku_oids) - 1);
        }
        ASN1_OBJECT *o = OBJ_txt2obj(eku_oids[values[i]], 1);
        if (o == NULL || sk_ASN1_OBJECT_push(eku, o) <= 0) {
            ASN1_OBJECT_free(o);
            sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
            FAIL(ERR_NOMEM, "cannot build ExtKeyUsage");
        }
    }
    *out = eku;
    return 0;
}

void pki_free_eku(EXTENDED_KEY_USAGE *eku)
{
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
}

/* Adds one RDN holding every value (Go puts multi-valued fields in one set). */
static int add_rdn(X509_NAME *n, int nid, const char *what, const char *const *values, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8, (const unsigned char *)values[i], -1,
                                       -1, i == 0 ? 0 : -1) != 1)
            FAIL(ERR_CERT, "cannot use \"%s\" as %s: %s", values[i], what, crypto_last_error());
    return 0;
}

/* Go's pkix.Name.ToRDNSequence order. */
static int make_subject(const struct pki_subject *s, X509_NAME **out)
{
    int r = ERR_INTERNAL;
    X509_NAME *n = X509_NAME_new();
    *out = NULL;
    ENSURE(n != NULL, ERR_NOMEM, "cannot allocate a name");
    TRY_OUT(add_rdn(n, NID_countryName, "Country", s->country.items, s->country.count));
    TRY_OUT(add_rdn(n, NID_stateOrProvinceName, "Province", s->province.items, s->province.count));
    TRY_OUT(add_rdn(n, NID_localityName, "Locality", s->locality.items, s->locality.count));
    TRY_OUT(add_rdn(n, NID_streetAddress, "StreetAddress", s->street_address.items,
                    s->street_address.count));
    TRY_OUT(add_rdn(n, NID_postalCode, "PostalCode", s->postal_code.items, s->postal_code.count));
    TRY_OUT(add_rdn(n, NID_organizationName, "Organization", s->organization.items,
                    s->organization.count));
    TRY_OUT(add_rdn(n, NID_organizationalUnitName, "OrganizationalUnit",
                    s->organizational_unit.items, s->organizational_unit.count));
    if (s->common_name != NULL && s->common_name[0] != '\0')
        TRY_OUT(add_rdn(n, NID_commonName, "CommonName", &s->common_name, 1));
    if (s->serial_number != NULL && s->serial_number[0] != '\0')
        TRY_OUT(add_rdn(n, NID_serialNumber, "SerialNumber", &s->serial_number, 1));
    *out = n;
    n = NULL;
    r = 0;
out:
    X509_NAME_free(n);
    return r;
}

static int add_template_sans(const struct pki_cert_template *t, GENERAL_NAMES *gens)
{
    size_t total =
        t->dns_names.count + t->email_addresses.count + t->ip_addresses.count + t->uris.count;
    ENSURE(total <= QY_CERT_MAX_NAMES, ERR_CERT, "%zu SANs, the limit is %u", total,
           QY_CERT_MAX_NAMES);
    for (size_t i = 0; i < t->dns_names.count; i++) {
        TRY(check_ia5("DNS name", t->dns_names.items[i]));
        TRY(add_general_name(gens, GEN_DNS, t->dns_names.items[i]));
    }
    for (size_t i = 0; i < t->email_addresses.count; i++) {
        TRY(check_ia5("e-mail address", t->email_addresses.items[i]));
        TRY(add_general_name(gens, GEN_EMAIL, t->email_addresses.items[i]));
    }
    for (size_t i = 0; i < t->ip_addresses.count; i++)
        TRY(add_general_name(gens, GEN_IPADD, t->ip_addresses.items[i]));
    for (size_t i = 0; i < t->uris.count; i++) {
        TRY(check_ia5("URI", t->uris.items[i]));
        TRY(add_general_name(gens, GEN_URI, t->uris.items[i]));
    }
    return 0;
}

/* A certificate that leaves as DER: its SubjectPublicKeyInfo set directly (pki_spki_copy). */
static int build_der(struct pki_spec *s, struct buf *cert_der)
{
    X509_PUBKEY *spki = NULL;
    X509 *x = NULL;
    if (s->subject_spki == NULL) {
        TRY(crypto_key_x509_pubkey(s->subject_key, &spki));
        s->subject_spki = spki;
    }
    int r = pki_build_cert(s, &x);
    if (r == 0)
        r = pki_x509_der(x, cert_der);
    X509_free(x);
    X509_PUBKEY_free(spki);
    if (spki != NULL)
        s->subject_spki = NULL;
    return r;
}

int pki_issue_from_template(const struct pki_ca *ca, const struct pki_cert_template *t,
                            const struct crypto_key *key, struct buf *cert_der)
{
    int r = ERR_INTERNAL;
    X509_NAME *subject = NULL;
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    EXTENDED_KEY_USAGE *eku = NULL;
    ENSURE_OUT(gens != NULL, ERR_NOMEM, "cannot allocate SANs");
    ENSURE_OUT(t->key_usage < (1u << 9), ERR_CERT, "unknown KeyUsage bits 0x%x", t->key_usage);
    TRY_OUT(make_subject(&t->subject, &subject));
    TRY_OUT(add_template_sans(t, gens));
    if (t->ext_key_usage_count > 0)
        TRY_OUT(pki_make_eku(t->ext_key_usage, t->ext_key_usage_count, &eku));
    uint8_t keyid[PKI_KEYID_SIZE]; /* as Go: CAs get a SubjectKeyIdentifier (encoding the key costs) */
    if (t->is_ca)
        TRY_OUT(pki_keyid(key, keyid));
    struct pki_spec s = {
        .subject = subject,
        .issuer = X509_get_subject_name(ca->marble_root),
        .subject_key = key,
        .signer = ca->intermediate_key,
        .authority_keyid = ca->intermediate_keyid,
        .subject_keyid = t->is_ca ? keyid : NULL,
        .sans = gens,
        .key_usage = t->key_usage,
        .eku = eku,
        .is_ca = t->is_ca,
        .max_path_len = t->max_path_len,
        .not_before = t->not_before,
        .not_after = t->not_after,
    };
    TRY_OUT(build_der(&s, cert_der));
    r = 0;
out:
    pki_free_eku(eku);
    GENERAL_NAMES_free(gens);
    X509_NAME_free(subject);
    return r;
}

/* The leaves (server, bootstrap and marble certificates): a CN-only subject, the given extended
 * key usages, not a CA; `s` says the rest. */
static int issue_leaf(const char *cn, const uint64_t *eku_values, size_t eku_count,
                      struct pki_spec *s, struct buf *cert_der)
{
    int r = ERR_INTERNAL;
    X509_NAME *subject = NULL;
    EXTENDED_KEY_USAGE *eku = NULL;
    TRY_OUT(pki_name_cn(cn, &subject));
    TRY_OUT(pki_make_eku(eku_values, eku_count, &eku));
    s->subject = subject;
    s->eku = eku;
    s->is_ca = false;
    s->max_path_len = -1;
    TRY_OUT(build_der(s, cert_der));
    r = 0;
out:
    pki_free_eku(eku);
    X509_NAME_free(subject);
    return r;
}

static const uint64_t server_auth[] = {1}, server_client_auth[] = {1, 2};

int pki_issue_server_cert(const struct pki_ca *ca, enum pki_signer signer,
                          const struct crypto_key *key, const struct pki_server_options *o,
                          struct buf *cert_der)
{
    static const struct pki_server_options defaults = {0};
    if (o == NULL)
        o = &defaults;
    bool root = signer == PKI_SIGNER_ROOT;
    ENSURE(root || signer == PKI_SIGNER_INTERMEDIATE, ERR_INVALID_ARG, "unknown signer %d",
           (int)signer);
    ENSURE(o->valid_seconds >= 0, ERR_INVALID_ARG, "negative validity");
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    ENSURE(gens != NULL, ERR_NOMEM, "cannot allocate SANs");
    int r = pki_sans_from_names(o->names, o->names_count, o->names == NULL || o->names_count == 0,
                                gens);
    int64_t now = pki_now(o->now);
    struct pki_spec s = {
        .issuer = X509_get_subject_name(root ? ca->root : ca->intermediate),
        .subject_key = key,
        .signer = root ? ca->root_key : ca->intermediate_key,
        .authority_keyid = root ? ca->root_keyid : ca->intermediate_keyid,
        .sans = gens,
        .key_usage = 1u | (crypto_key_type(key) == CRYPTO_KEY_RSA ? 4u : 0u),
        .not_before = now,
        .not_after = now + (o->valid_seconds ? o->valid_seconds : PKI_FOREVER_SECONDS),
    };
    if (r == 0)
        r = issue_leaf(o->common_name ? o->common_name : PKI_ROOT_CN, server_auth, 1, &s, cert_der);
    GENERAL_NAMES_free(gens);
    return r;
}

int pki_bootstrap_cert(const struct crypto_key *key, const char *const *names, size_t names_count,
                       int64_t now, struct buf *cert_der)
{
    ENSURE(crypto_key_has_private(key), ERR_INVALID_ARG, "the key has no private half");
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    ENSURE(gens != NULL, ERR_NOMEM, "cannot allocate SANs");
    int r = pki_sans_from_names(names, names_count, true, gens);
    now = pki_now(now);
    struct pki_spec s = {
        .subject_key = key,
        .signer = key,
        .sans = gens,
        .key_usage = 1u | 16u, /* DigitalSignature | KeyAgreement */
        .not_before = now,
        .not_after = now + PKI_FOREVER_SECONDS,
    };
    if (r == 0)
        r = issue_leaf("MarbleRun Marble", server_client_auth, 2, &s, cert_der);
    GENERAL_NAMES_free(gens);
    return r;
}

/* 1.3.9903.2.1, non-critical, extnValue = the type's raw bytes (not DER-wrapped), as MarbleRun. */
static int marble_type_ext(const char *marble_type, X509_EXTENSION **out)
{
    ASN1_OBJECT *oid = OBJ_txt2obj(PKI_MARBLE_TYPE_OID, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    *out = NULL;
    bool ok = oid != NULL && os != NULL &&
              ASN1_OCTET_STRING_set(os, (const unsigned char *)marble_type,
                                    (int)strlen(marble_type)) == 1;
    if (ok)
        *out = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(os);
    ENSURE(*out != NULL, ERR_CRYPTO, "cannot build the marble type extension: %s",
           crypto_last_error());
    return 0;
}

int pki_issue_marble_cert(const struct pki_ca *ca, const struct pki_csr *csr, const char *uuid,
                          const char *marble_type, int64_t now, struct buf *cert_der)
{
    ENSURE(uuid_is_canonical(uuid), ERR_INVALID_ARG, "the UUID is not in canonical form");
    size_t type_len = marble_type ? strlen(marble_type) : 0;
    ENSURE(type_len > 0 && type_len <= QY_NAME_MAX, ERR_INVALID_ARG, "marble type of %zu bytes",
           type_len);
    X509_EXTENSION *ext = NULL;
    TRY(marble_type_ext(marble_type, &ext));
    now = pki_now(now);
    struct pki_spec s = {
        .issuer = X509_get_subject_name(ca->marble_root),
        .subject_spki = pki_csr_spki(csr),
        .signer = ca->intermediate_key,
        .authority_keyid = ca->intermediate_keyid,
        .sans = pki_csr_gens(csr),
        .key_usage = 1u | 16u, /* DigitalSignature | KeyAgreement */
        .not_before = now,
        .not_after = now + PKI_FOREVER_SECONDS,
        .extra = ext,
    };
    int r = issue_leaf(uuid, server_client_auth, 2, &s, cert_der);
    X509_EXTENSION_free(ext);
    return r;
}

int pki_cert_public_key(struct view cert_der, struct crypto_key **out)
{
    *out = NULL;
    X509 *x = NULL;
    TRY(pki_x509_parse(cert_der, ERR_CERT, "the certificate", &x));
    int r = ERR_CERT;
    EVP_PKEY *k = X509_get0_pubkey(x);
    if (k == NULL)
        r = err_fail(ERR_CERT, __func__, "unsupported public key: %s", crypto_last_error());
    else
        r = crypto_key_wrap_evp(k, out);
    X509_free(x);
    return r;
}
