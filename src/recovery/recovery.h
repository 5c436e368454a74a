/*
 * recovery - bringing sealed state back when its seal key is gone (reference/marblerun.md §8).
 *
 * When a manifest is set, the data key (DEK) that encrypts the Coordinator's state is made
 * recoverable by the owners of the manifest's RSA recovery keys:
 *   one key       the DEK itself is that key's secret;
 *   n keys        n random 32-byte shares whose XOR is the DEK (all n needed);
 *   k of n keys   Shamir's scheme over GF(256) as HashiCorp Vault does it (33-byte shares: 32 y-bytes
 *                 then the x coordinate); any k shares give the DEK, k-1 reveal nothing.
 * Each secret is RSA-OAEP-SHA256 encrypted to its key and handed to the caller as the manifest's
 * RecoverySecrets. What is kept in the clear (the "recovery data", stored next to the sealed state)
 * is each key's public key and the SHA-256 of its share, so a recovery session can check every
 * upload at once: the signature (RSA PKCS#1 v1.5 over SHA-256(share)) by that very key, that the share
 * belongs to this state, and that it was not used before. A bad upload is refused with its reason
 * and changes nothing.
 *
 * What it does not do: it never sees the state, only the DEK, and does not test a recovered DEK
 * against the store (the coordinator does, with store_check_dek).
 *
 * Ownership: sessions are owned by the caller and used by one thread at a time; shares and DEKs are
 * wiped when freed.
 */
#ifndef QUARRY_RECOVERY_RECOVERY_H
#define QUARRY_RECOVERY_RECOVERY_H

#include <stdint.h>

#include "base/base.h"
#include "crypto/crypto.h"

#define REC_DEK_SIZE 32
#define REC_SHAMIR_SHARE_SIZE 33

/* Shamir's secret sharing over GF(2^8) (reduction polynomial 0x11B), HashiCorp Vault's format:
 * `count` shares of secret.size + 1 bytes each (y bytes, then x), x coordinates a random permutation
 * of 1..255. shares must hold count * (secret.size + 1) bytes. 2 <= threshold <= count <= 255. */
QY_API int rec_shamir_split(struct view secret, unsigned count, unsigned threshold, uint8_t *shares) QY_MUST_USE;
/* Lagrange interpolation at 0 of `count` shares of `share_size` bytes each; appends the secret.
 * ERR_BAD_REQUEST for duplicate x coordinates or fewer than 2 shares. */
QY_API int rec_shamir_combine(const uint8_t *shares, size_t count, size_t share_size, struct buf *secret) QY_MUST_USE;

struct rec_key {
    const char *name;
    const struct crypto_key *public_key; /* RSA, borrowed */
};

/* Makes `dek` recoverable with `keys` (threshold 0: all). On success: *secrets is an owned JSON
 * object name -> base64 ciphertext (MarbleRun's RecoverySecrets), `recovery_data` gets the JSON to
 * keep in the clear, and dek holds the new data key (random). With no keys: a random DEK, no
 * secrets, empty recovery data (recovery impossible, as in MarbleRun). */
QY_API int rec_generate(const struct rec_key *keys, size_t count, unsigned threshold, uint8_t dek[REC_DEK_SIZE],
                        json_t **secrets, struct buf *recovery_data) QY_MUST_USE;

/* A recovery in progress. */
struct rec_session;

/* From the stored recovery data (untrusted bytes: parsed strictly). ERR_UNSUPPORTED when there is
 * none (the state cannot be recovered). */
QY_API int rec_session_new(struct view recovery_data, struct rec_session **out) QY_MUST_USE;
QY_API void rec_session_free(struct rec_session *s);

/* Offers one plain share with its signature. 0 and *remaining (shares still needed; 0 when the DEK
 * is in *dek); ERR_BAD_SIGNATURE, or ERR_POLICY for a share that is not one of this state's or was
 * already used - with nothing changed. */
QY_API int rec_session_add(struct rec_session *s, struct view share, struct view signature, unsigned *remaining,
                           uint8_t dek[REC_DEK_SIZE]) QY_MUST_USE;
/* Shares still needed. */
QY_API unsigned rec_session_remaining(const struct rec_session *s);
/* Forgets the shares offered so far (after a recovered DEK failed to open the store). */
QY_API void rec_session_reset(struct rec_session *s);

#endif
