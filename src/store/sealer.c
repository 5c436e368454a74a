/*
 * Sealers: where the key that wraps the DEK comes from.
 *
 * Gramine exposes the SGX seal keys as files: /dev/attestation/keys/_sgx_mrsigner (bound to the
 * enclave's signer and product: survives upgrades by the same signer) and _sgx_mrenclave (bound to the
 * exact enclave). Both are 128-bit; the wrapping key is HKDF-SHA256 of them. Outside an enclave a
 * key file stands in for them: anyone who can read it can read the state, which is why its name says
 * "insecure" and the Coordinator says so at start.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/crypto.h"
#include "store_int.h"

struct key_sealer {
    struct sealer base;
    uint8_t kek[CRYPTO_AEAD_KEY_SIZE];
};

static int ks_seal(struct sealer *s, struct view dek, struct view aad, struct buf *out)
{
    return crypto_aead_seal(((struct key_sealer *)s)->kek, aad, dek, out);
}

static int ks_unseal(struct sealer *s, struct view blob, struct view aad, struct buf *dek)
{
    int r = crypto_aead_open(((struct key_sealer *)s)->kek, aad, blob, dek);
    ENSURE(r != ERR_CORRUPT, ERR_CORRUPT, "the data key was sealed by another key (%s)", s->name);
    return r;
}

static void ks_free(struct sealer *s)
{
    if (s == NULL)
        return;
    mem_wipe(((struct key_sealer *)s)->kek, CRYPTO_AEAD_KEY_SIZE);
    free(s);
}

static struct key_sealer *key_sealer_new(const char *name, bool insecure)
{
    struct key_sealer *k = calloc(1, sizeof(*k));
    if (k != NULL)
        k->base = (struct sealer){name, insecure, true, ks_seal, ks_unseal, ks_free};
    return k;
}

/* The key file: 32 random bytes, created 0600 on first use. */
static int keyfile_load(const char *path, uint8_t kek[CRYPTO_AEAD_KEY_SIZE])
{
    struct buf b = BUF_INIT;
    int r = file_read(path, 64, &b);
    if (r == ERR_NOT_FOUND) {
        uint8_t fresh[CRYPTO_AEAD_KEY_SIZE];
        TRY(crypto_random(fresh, sizeof(fresh)));
        r = file_write_atomic(path, view_of(fresh, sizeof(fresh)), 0600);
        mem_wipe(fresh, sizeof(fresh));
        TRY(r);
        r = file_read(path, 64, &b);
    }
    if (r == 0 && b.size != CRYPTO_AEAD_KEY_SIZE)
        r = err_fail(ERR_CORRUPT, __func__, "%s holds %zu bytes, not a %d-byte key", path, b.size,
                     CRYPTO_AEAD_KEY_SIZE);
    if (r == 0)
        memcpy(kek, b.ptr, CRYPTO_AEAD_KEY_SIZE);
    buf_free(&b);
    return r;
}

static int gramine_load(const char *dir, const char *file, uint8_t kek[CRYPTO_AEAD_KEY_SIZE])
{
    char path[QY_PATH_MAX];
    struct buf seal_key = BUF_INIT;
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int r = file_read(path, 64, &seal_key);
    if (r == 0 && seal_key.size != 16)
        r = err_fail(ERR_IO, __func__, "%s holds %zu bytes, expected a 16-byte seal key", path, seal_key.size);
    if (r == 0)
        r = crypto_hkdf_sha256(buf_view(&seal_key), VIEW_EMPTY, view_str("quarry-store-kek-v1"), kek,
                               CRYPTO_AEAD_KEY_SIZE);
    buf_free(&seal_key);
    return r;
}

static int none_seal(struct sealer *s, struct view dek, struct view aad, struct buf *out)
{
    (void)s, (void)dek, (void)aad, (void)out;
    return 0;
}

static int none_unseal(struct sealer *s, struct view blob, struct view aad, struct buf *dek)
{
    (void)s, (void)blob, (void)aad, (void)dek;
    FAIL(ERR_CORRUPT, "sealing is disabled: nothing can be unsealed");
}

static void none_free(struct sealer *s)
{
    free(s);
}

int sealer_new(const char *spec, struct sealer **out)
{
    *out = NULL;
    if (strcmp(spec, "none") == 0) {
        struct sealer *s = calloc(1, sizeof(*s));
        ENSURE(s != NULL, ERR_NOMEM, "cannot allocate a sealer");
        *s = (struct sealer){"disabled", false, false, none_seal, none_unseal, none_free};
        *out = s;
        return 0;
    }
    const char *colon = strchr(spec, ':');
    size_t kind = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *arg = colon ? colon + 1 : "";
    struct key_sealer *k = NULL;
    int r;
    if (kind == 7 && strncmp(spec, "keyfile", 7) == 0 && arg[0] != '\0') {
        k = key_sealer_new("insecure-key-file", true);
        r = k ? keyfile_load(arg, k->kek) : ERR_NOMEM;
    } else if ((kind == 15 && strncmp(spec, "gramine-product", 15) == 0) ||
               (kind == 14 && strncmp(spec, "gramine-unique", 14) == 0)) {
        bool product = kind == 15;
        k = key_sealer_new(product ? "gramine-product-key" : "gramine-unique-key", false);
        r = k ? gramine_load(arg[0] ? arg : "/dev/attestation/keys", product ? "_sgx_mrsigner" : "_sgx_mrenclave",
                             k->kek)
              : ERR_NOMEM;
    } else {
        FAIL(ERR_INVALID_ARG, "unknown sealer \"%s\" (keyfile:PATH, gramine-product[:DIR], "
                              "gramine-unique[:DIR] or none)", spec);
    }
    if (r < 0) {
        ks_free(k ? &k->base : NULL);
        return r;
    }
    *out = &k->base;
    return 0;
}

void sealer_free(struct sealer *s)
{
    if (s != NULL)
        s->free(s);
}
