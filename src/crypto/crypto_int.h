/* Private to crypto/. */
#ifndef QUARRY_CRYPTO_INT_H
#define QUARRY_CRYPTO_INT_H

#include <openssl/evp.h>
#include <stdatomic.h>

#include "crypto.h"

struct crypto_key {
    EVP_PKEY *pkey;
    atomic_int refs;
};

/* Algorithms fetched once per process (explicit fetching avoids a name lookup per operation). */
const EVP_MD *crypto_md_sha256(void);
const EVP_MD *crypto_md_sha384(void);
const EVP_CIPHER *crypto_cipher_aes256gcm(void);

/* A fresh RSA key pair of `bits` bits, e = 65537, from random probable primes (rsagen.c). */
int crypto_rsa_generate(unsigned bits, EVP_PKEY **out) QY_MUST_USE;

/* Reads the first PEM block: its label (owned, OPENSSL_free) and DER (appended to der). */
int crypto_pem_first(struct view pem, char **label, struct buf *der);

#endif
