/* Private to store/. */
#ifndef QUARRY_STORE_INT_H
#define QUARRY_STORE_INT_H

#include <pthread.h>

#include "crypto/crypto.h"
#include "store.h"

int kv_sqlite_open(const char *path, struct kv_backend **out) QY_MUST_USE;
int kv_memory_open(struct kv_backend **out) QY_MUST_USE;

/* Reserved keys (store.c's header comment says what each holds). */
#define STORE_KEY_DEK "sys:dek"
#define STORE_KEY_SEALER "sys:sealer"
#define STORE_KEY_CHECK "sys:check"
#define STORE_KEY_RECOVERY "sys:recovery"
#define STORE_KEY_DIGEST "sys:digest"

/* The keys of an open store: the DEK and the two keys derived from it (HKDF-SHA256). */
struct store_keys {
    uint8_t dek[STORE_DEK_SIZE];
    uint8_t value[CRYPTO_AEAD_KEY_SIZE];   /* AES-256-GCM of every value (aad: the key name) */
    uint8_t mac[CRYPTO_SHA256_SIZE];       /* HMAC-SHA256 of the digest's entries */
};

/* The state digest (store.h's essay): every row but sys:digest, sys:dek and sys:sealer counts. */
struct store_digest {
    uint64_t counter; /* revision of the last commit; every row's revision is at most this */
    uint64_t count;   /* rows counted */
    uint8_t sum[32];  /* sum of their MACs modulo 2^256, little-endian */
};

struct pending;

struct store {
    pthread_rwlock_t lock; /* write-locked while the DEK, sealer or backend change */
    struct kv_backend *kv;
    struct sealer *sealer;
    enum store_status status;
    struct store_keys keys;
    /* As committed; changed only by store_round, which its callers serialise (the commit queue's
     * leader under the read lock, or the write lock). */
    struct store_digest digest;
    bool digest_stored; /* sys:digest exists (else the next round's guard on it is "absent") */

    pthread_mutex_t queue_lock;
    pthread_cond_t queue_cond;
    struct pending *queue, **queue_tail;
    bool committing;
    uint64_t groups;
};

/* A transaction: owned copies of its writes (store.c). */
struct txn_op {
    char *key;
    struct buf value;
    bool del;
    uint64_t expect_rev;
};

struct store_txn {
    struct txn_op *ops;
    size_t count, cap;
};

/* store.c */
bool store_key_is_reserved(const char *key);
/* Encrypts t's writes under k into ops (values into sealed[], owned by the caller). */
int store_seal_ops(const struct store_keys *k, const struct store_txn *t, struct kv_op *ops, struct buf *sealed)
    QY_MUST_USE;
/* Decrypts the stored value of key (plaintext appended to out); ERR_CORRUPT when it fails. */
int store_open_value(const struct store_keys *k, const char *key, struct view sealed, struct buf *out) QY_MUST_USE;
/* Appends one write, unchecked (the store's own copies of what it holds). */
int store_txn_push(struct store_txn *t, const char *key, struct view value, bool del, uint64_t expect_rev)
    QY_MUST_USE;

/* digest.c */
int store_keys_derive(const uint8_t dek[STORE_DEK_SIZE], struct store_keys *out) QY_MUST_USE;
bool store_digest_counts(const char *key);
/* Adds (sign +1) or removes (-1) the entry (key, rev, value) from d; mac is keyed with the mac key. */
int store_digest_entry(struct store_digest *d, struct crypto_hmac *mac, const char *key, uint64_t rev,
                       struct view value, int sign) QY_MUST_USE;
/* The sys:digest value for d (appended to out). */
int store_digest_seal(const struct store_keys *k, const struct store_digest *d, struct buf *out) QY_MUST_USE;
/* Checks the backend's rows against sys:digest under k; sets s->digest. ERR_TAMPERED, naming what
 * it can, when they differ. */
int store_digest_verify(struct store *s, const struct store_keys *k) QY_MUST_USE;

/* Reads sys:digest again (another writer may have moved it on) into s->digest. */
int store_digest_reload(struct store *s, const struct store_keys *k) QY_MUST_USE;

/* round.c: applies groups of writes (values sealed already) as one backend commit with sys:digest
 * updated under k, in the same transaction, by the writes of the groups whose guards hold; the
 * others get result[g] = ERR_CONFLICT and change nothing. A leading wipe op (key NULL) must be the
 * first op of the first group. Callers serialise rounds. */
int store_round(struct store *s, const struct store_keys *k, const struct kv_op *ops, const size_t *start,
                size_t groups, int *result) QY_MUST_USE;

#endif
