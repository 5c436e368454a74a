/* The digest used to sign certificates and CSRs with a key (pki builds X.509 with OpenSSL's X509_*
 * API, but EVP stays here). */
#include "crypto_int.h"

#include <openssl/evp.h>
#include <pthread.h>

static EVP_MD *md_sha512;
static pthread_once_t sha512_once = PTHREAD_ONCE_INIT;

static void fetch_sha512(void)
{
    md_sha512 = EVP_MD_fetch(NULL, "SHA2-512", NULL);
}

const struct evp_md_st *crypto_x509_md(const struct crypto_key *k, bool *ok)
{
    *ok = true;
    switch (crypto_key_type(k)) {
    case CRYPTO_KEY_RSA:
    case CRYPTO_KEY_EC_P224:
    case CRYPTO_KEY_EC_P256:
        return crypto_md_sha256();
    case CRYPTO_KEY_EC_P384:
        return crypto_md_sha384();
    case CRYPTO_KEY_EC_P521:
        pthread_once(&sha512_once, fetch_sha512);
        return md_sha512;
    case CRYPTO_KEY_ED25519:
        return NULL;
    case CRYPTO_KEY_UNKNOWN:
    default:
        *ok = false;
        return NULL;
    }
}
