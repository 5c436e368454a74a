#include "mesh_tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#define MARBLE_TYPE_OID "1.3.9903.2.1"

/* MarbleRun's marble-type extension holds the type's raw bytes (not DER-wrapped). */
static bool has_marble_type(X509 *x, const char *want)
{
    ASN1_OBJECT *oid = OBJ_txt2obj(MARBLE_TYPE_OID, 1);
    int at = oid ? X509_get_ext_by_OBJ(x, oid, -1) : -1;
    ASN1_OBJECT_free(oid);
    if (at < 0)
        return false;
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(x, at));
    size_t n = strlen(want);
    return v != NULL && (size_t)ASN1_STRING_length(v) == n &&
           memcmp(ASN1_STRING_get0_data(v), want, n) == 0;
}

/* The chain to the mesh root is OpenSSL's to check; the leaf must also be the right kind of marble.
 */
static int verify_peer(int ok, X509_STORE_CTX *store)
{
    if (!ok || X509_STORE_CTX_get_error_depth(store) != 0)
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    const char *want = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (!has_marble_type(X509_STORE_CTX_get_current_cert(store), want)) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

SSL_CTX *mesh_tls_ctx(bool server, const char *dir, const char *peer_type)
{
    char cert[512], key[512], ca[512];
    snprintf(cert, sizeof(cert), "%s/tls/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/tls/key.pem", dir);
    snprintf(ca, sizeof(ca), "%s/tls/ca.pem", dir);
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1 || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        char err[256];
        fprintf(stderr, "cannot set up TLS from %s/tls: %s\n", dir,
                mesh_tls_error(NULL, err, sizeof(err)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_app_data(ctx, (void *)peer_type);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       verify_peer);
    return ctx;
}

void mesh_cert_cn(X509 *x, char *out, size_t size)
{
    out[0] = '\0';
    if (x == NULL ||
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)size) < 0)
        snprintf(out, size, "?");
}

void mesh_fingerprint(const void *data, size_t size, char out[17])
{
    unsigned char md[32];
    unsigned int n = 0;
    out[0] = '\0';
    if (EVP_Digest(data, size, md, &n, EVP_sha256(), NULL) != 1)
        return;
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

bool mesh_read_line(SSL *ssl, char *out, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        char c;
        if (SSL_read(ssl, &c, 1) != 1)
            return false;
        if (c == '\n')
            break;
        out[n++] = c;
    }
    out[n] = '\0';
    return true;
}

const char *mesh_tls_error(SSL *ssl, char *out, size_t size)
{
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e = ERR_peek_last_error();
    if (v == X509_V_ERR_APPLICATION_VERIFICATION)
        snprintf(out, size, "the peer's certificate is not of the expected marble type");
    else if (v != X509_V_OK)
        snprintf(out, size, "%s", X509_verify_cert_error_string(v));
    else if (e != 0)
        ERR_error_string_n(e, out, size);
    else
        snprintf(out, size, "connection closed");
    ERR_clear_error();
    return out;
}

bool mesh_read_file(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(out, 1, size - 1, f) : 0;
    bool ok = f != NULL && !ferror(f) && feof(f);
    if (f != NULL)
        fclose(f);
    out[ok ? n : 0] = '\0';
    if (!ok)
        fprintf(stderr, "cannot read %s (or it is too large)\n", path);
    return ok;
}
