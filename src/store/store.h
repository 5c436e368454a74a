/*
 * store - the Coordinator's persistent state: an encrypted key-value map, sealed to this host and
 * authenticated as a whole.
 *
 * What it does. Values are kept in a backend (SQLite file, or memory) as AES-256-GCM ciphertexts
 * under a value key derived from a 32-byte data key (the DEK), each bound to its own key name as
 * associated data. The DEK itself is stored wrapped by a key-encryption key from a sealer: the SGX
 * seal key through Gramine (ProductKey = MRSIGNER-bound, UniqueKey = MRENCLAVE-bound), or an
 * insecure key file for emulated and simulation runs. A store whose DEK cannot be unwrapped (new
 * host, new enclave identity, lost key file) opens "sealed": its data is there but unreadable until
 * the DEK is supplied by recovery (store_unlock). Recovery data (share hashes) is kept in the clear
 * next to the wrapped DEK.
 *
 * Writes are transactions: a set of puts and deletes, each optionally guarded by the revision the
 * caller last saw (compare-and-swap), applied atomically and durably (fsync) before store_commit
 * returns. Concurrent commits are grouped: one thread commits for all that are waiting, so many
 * activations share one fsync. A transaction whose guard fails is refused alone (ERR_CONFLICT).
 * A revision is the store's commit counter at the commit that wrote the row.
 *
 * The state digest. Sealing each value on its own binds it to its name, but says nothing about the
 * set of rows: deleting the rows that count activations, or putting back an old copy of a row,
 * would go unnoticed. So every commit also updates, in the same backend transaction, one reserved
 * row, sys:digest, sealed under the value key:
 *
 *     counter  the revision of the last commit (every row's revision is at most this)
 *     count    the number of rows it covers
 *     sum      sum of MAC(key, rev, stored value) over those rows, modulo 2^256, where
 *              MAC = HMAC-SHA256 under a second key derived from the DEK (HKDF-SHA256, RFC 5869),
 *              over u32be(key size) || key || u64be(rev) || the stored bytes
 *
 * It covers every row except itself and the DEK's envelope (sys:dek, sys:sealer: rewritten on each
 * re-wrap; changing them can only make the store open sealed, which a host can always do).
 * Opening the store (or store_unlock, for a sealed one: without the DEK nothing can be checked)
 * recomputes the sum from the rows and refuses a mismatch with ERR_TAMPERED, before anything is
 * served or written, naming what it can: a row whose revision is above the counter (the digest is
 * older than the rows), a row that does not open under its own name (edited, or moved or copied
 * from another key), rows missing or added, or else a row replaced by another copy of itself.
 *
 * Why a sum of MACs. It is an incremental multiset hash (MSet-Add-Hash, Clarke, Devadas, van Dijk,
 * Gassend, Suh: "Incremental Multiset Hash Functions and Their Application to Memory Integrity
 * Checking", ASIACRYPT 2003): a commit subtracts the MAC of each row it replaces and adds the MAC
 * of each row it writes, O(its own writes) whatever the size of the state (round.c reads the row a
 * write replaces; new rows, expected absent, are not even read), and the order of the additions
 * does not matter, so groups of a round, or several writers, fold in their writes independently.
 * A Merkle tree would authenticate single rows too, but each write would rewrite O(log n) node
 * rows, every one of them a point of contention for concurrent writers. Forging: without the DEK
 * nobody can compute a MAC (HMAC is a PRF), and the sum itself is encrypted, so no MAC value is
 * ever visible. Any state that differs from the recorded one as a multiset of (key, revision,
 * value) entries changes the sum by a combination of unpredictable 256-bit values, which cancels
 * with probability about 2^-256. Deleting a row removes its MAC; adding one (even a copy of a
 * valid row under a new key: the key is inside the MAC) adds one; a reverted row is another
 * entry, with an older revision and other ciphertext (random nonces); a moved row has another key.
 *
 * What it does not detect. The digest row is itself a row: put back together with an older copy
 * of every other row, as they all were at that same commit, it matches. That is a rollback of the
 * whole state to an earlier commit, which a host that keeps copies of the files can do, as with
 * MarbleRun's single sealed blob; only a monotonic counter outside the host's reach (SGX, TPM)
 * closes it. Any other mix - the digest rolled back alone, or with some of the rows - is refused:
 * rows written since carry revisions above its counter, rows deleted since are missing from its
 * count, and anything else changes the sum. Changes made to the files while the Coordinator runs
 * are found at its next start (a replaced row's MAC no longer cancels); until then reads check
 * each value's own authentication only.
 *
 * Several writers. Every round writes sys:digest guarded by the revision it was computed from, and
 * guards each key's first write by the revision it read, all in one backend transaction: two
 * writers cannot both extend the digest from the same base, and a round refused for that reason
 * is recomputed from fresh reads (QY_STORE_ROUND_RETRIES). Callers' guards are evaluated by the
 * round; a transaction refused for its own guard changes neither the rows nor the digest.
 *
 * Key names stay readable on disk. They are fixed names (state, manifest, secrets, ...), the
 * manifest's marble types and secret names (GET /api/v2/manifest serves the manifest to anyone),
 * sequence numbers of activation records and update-log entries, and hashes of monotonic-counter
 * names; marble UUIDs are in the encrypted values. What the names add - how many activations of
 * each type - the number and size of rows and the file's growth show anyway. Hiding them would
 * need keyed names and an index for the prefix scans the Coordinator runs at start. Their integrity
 * is covered: the name is bound into each value's authentication and into its MAC.
 *
 * The previous format (values sealed under the DEK itself, revisions per key, no digest) is
 * recognised by its check value and migrated once, at open or at unlock: every value must still
 * authenticate under its name (else ERR_TAMPERED), then everything is written again under the
 * value key with a digest in one commit, and a warning is logged. A host that kept a copy from
 * before the upgrade can still present it, with the old format's per-row guarantee only (as it
 * could before); rows written after the migration do not open in that format, so a migrated state
 * cannot be passed off as an old one.
 *
 * What it does not do. It knows nothing of manifests or marbles (key names are the caller's), keeps
 * no cache, and does not decide when the DEK changes (the coordinator does, at manifest set).
 *
 * Ownership and threads. A struct store is safe to use from several threads. Keys are NUL-terminated
 * names up to QY_STORE_KEY_MAX bytes; values up to QY_STORE_VALUE_MAX. Plaintexts handed back are
 * appended to caller buffers (wiped on buf_free). The SQLite backend's files are 0600.
 */
#ifndef QUARRY_STORE_STORE_H
#define QUARRY_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

#define STORE_DEK_SIZE 32

/* Sealers --------------------------------------------------------------------------------------- */

/* Wraps and unwraps the DEK. `seal` appends an opaque blob; `unseal` fails with ERR_CORRUPT when the
 * blob was sealed elsewhere (another host or identity) or was tampered with. */
struct sealer {
    const char *name;   /* "gramine-product-key", "insecure-key-file", ... */
    bool insecure;      /* true when the key is not protected by hardware */
    bool persistent;    /* false: nothing may be written to disk (SealMode Disabled) */
    int (*seal)(struct sealer *s, struct view dek, struct view aad, struct buf *out);
    int (*unseal)(struct sealer *s, struct view blob, struct view aad, struct buf *dek);
    void (*free)(struct sealer *s);
};

/*
 * Sealers by name:
 *   "keyfile:PATH"        an insecure 32-byte key in PATH, created (0600) on first use
 *   "gramine-product:DIR" the Gramine MRSIGNER seal key, DIR/_sgx_mrsigner (DIR defaults to
 *                         /dev/attestation/keys); "gramine-unique:DIR" likewise with _sgx_mrenclave
 *   "none"                SealMode Disabled: nothing persisted
 * Returns an owned sealer; free with sealer_free.
 */
QY_API int sealer_new(const char *spec, struct sealer **out) QY_MUST_USE;
QY_API void sealer_free(struct sealer *s);

/* Backends -------------------------------------------------------------------------------------- */

/* One write of a transaction. expect_rev: STORE_REV_ANY (no guard), STORE_REV_ABSENT (the key must
 * not exist), or the exact revision the key must still have. rev: the revision a put records (the
 * store's commit counter; backends keep it as given and hand it back with the value). */
#define STORE_REV_ANY UINT64_MAX
#define STORE_REV_ABSENT 0

struct kv_op {
    const char *key; /* NULL with del: delete every key (the first op of a reset) */
    struct view value; /* ignored for deletes */
    bool del;
    uint64_t expect_rev;
    uint64_t rev;
};

/* Called for each entry of a scan, in key order; a negative return stops the scan and is returned. */
typedef int (*kv_scan_fn)(void *ctx, const char *key, struct view value, uint64_t rev);

/* A key-value backend: raw bytes, no encryption. Implementations: SQLite, memory. */
struct kv_backend {
    const char *name;
    /* value appended to out; ERR_NOT_FOUND when absent. rev may be NULL. */
    int (*get)(struct kv_backend *b, const char *key, struct buf *out, uint64_t *rev);
    int (*scan)(struct kv_backend *b, const char *prefix, kv_scan_fn fn, void *ctx);
    /* Applies groups of ops atomically and durably: group i is ops[start[i] .. start[i+1]); a
     * group whose guard fails is skipped and its result[i] set to ERR_CONFLICT, the others apply. */
    int (*commit)(struct kv_backend *b, const struct kv_op *ops, const size_t *start, size_t groups,
                  int *result);
    /* Deletes everything. */
    int (*wipe)(struct kv_backend *b);
    void (*free)(struct kv_backend *b);
};

/* "sqlite:PATH" or "memory". Returns an owned backend. */
QY_API int kv_backend_open(const char *spec, struct kv_backend **out) QY_MUST_USE;

/* The store --------------------------------------------------------------------------------------- */

enum store_status {
    STORE_EMPTY,  /* nothing stored yet: no DEK */
    STORE_OPEN,   /* DEK loaded: reads and writes work */
    STORE_SEALED, /* data present but the DEK cannot be unwrapped here: needs recovery */
};

struct store;

/* Makes the sealer called `name` (a struct sealer's name, as recorded next to the wrapped DEK). */
typedef int (*sealer_lookup_fn)(void *ctx, const char *name, struct sealer **out);

/* Opens a store over `backend` (taken over: freed with the store). The DEK is unwrapped with the
 * sealer `lookup` makes for the name recorded when it was wrapped; a lookup that fails (no such seal
 * key here) leaves the store sealed. An open store's rows are checked against the state digest:
 * ERR_TAMPERED (nothing returned) when they differ; a store of the previous format is migrated. */
QY_API int store_open(struct kv_backend *backend, sealer_lookup_fn lookup, void *lookup_ctx,
                      struct store **out) QY_MUST_USE;
QY_API void store_free(struct store *s);
QY_API enum store_status store_status(const struct store *s);
/* The sealer in use ("" while the store is empty or sealed). */
QY_API const char *store_sealer_name(const struct store *s);
QY_API bool store_sealer_insecure(const struct store *s);

/* Starts over with a new DEK, atomically: wipes everything stored, records `recovery_data` (kept in
 * the clear, may be empty), wraps the DEK with `sealer` (which replaces the current one; taken over)
 * and writes `initial` (may be NULL) under the new DEK. Used at manifest set. */
struct store_txn;
QY_API int store_reset(struct store *s, const uint8_t dek[STORE_DEK_SIZE], struct view recovery_data,
                       struct sealer *sealer, const struct store_txn *initial) QY_MUST_USE;
/* Re-encrypts everything stored under a new DEK, atomically and with `t` (borrowed) applied in the
 * same commit: like store_reset, but the data stays. New recovery data and sealer (taken over) go
 * with the new DEK. Commits wait meanwhile. Used when a manifest update changes the recovery keys. */
QY_API int store_rekey(struct store *s, const uint8_t dek[STORE_DEK_SIZE], struct view recovery_data,
                       struct sealer *sealer, const struct store_txn *t) QY_MUST_USE;
/* The recovery data stored in the clear (appended to out; empty when none). */
QY_API int store_recovery_data(struct store *s, struct buf *out) QY_MUST_USE;
/* Checks whether `dek` opens the sealed store (trial decryption); 0 if it does, ERR_CORRUPT if not. */
QY_API int store_check_dek(struct store *s, const uint8_t dek[STORE_DEK_SIZE]) QY_MUST_USE;
/* Opens a sealed store with a DEK obtained by recovery, and re-wraps it with `sealer` (taken over)
 * so the next start needs no recovery. ERR_CORRUPT when the DEK does not fit; ERR_TAMPERED when the
 * rows do not match the state digest (checked first: the store stays sealed, nothing written). */
QY_API int store_unlock(struct store *s, const uint8_t dek[STORE_DEK_SIZE], struct sealer *sealer) QY_MUST_USE;

/* Wraps the (open) store's DEK with another sealer (taken over), e.g. when the manifest's SealMode
 * asks for another seal key; a non-persistent sealer moves the store to memory. */
QY_API int store_rewrap(struct store *s, struct sealer *sealer) QY_MUST_USE;

/* Reads a value (plaintext appended to out). ERR_NOT_FOUND when absent; ERR_CORRUPT when it fails
 * authentication; ERR_WRONG_STATE unless the store is open. rev may be NULL. */
QY_API int store_get(struct store *s, const char *key, struct buf *out, uint64_t *rev) QY_MUST_USE;
/* Calls fn for every key starting with prefix, with the decrypted value. */
QY_API int store_scan(struct store *s, const char *prefix, kv_scan_fn fn, void *ctx) QY_MUST_USE;

/* A transaction under construction: an owned list of writes, plaintext values copied in (and wiped
 * when the transaction is freed). */
struct store_txn;
QY_API struct store_txn *store_txn_new(void);
QY_API int store_txn_put(struct store_txn *t, const char *key, struct view value, uint64_t expect_rev) QY_MUST_USE;
QY_API int store_txn_del(struct store_txn *t, const char *key, uint64_t expect_rev) QY_MUST_USE;
QY_API size_t store_txn_count(const struct store_txn *t);
QY_API void store_txn_free(struct store_txn *t);
/* Encrypts and applies t atomically and durably, grouped with other threads' commits. 0, or
 * ERR_CONFLICT when a guard failed (nothing of t applied), or an I/O error. Every guard of t is
 * compared with the state before t (not after t's own earlier writes). */
QY_API int store_commit(struct store *s, const struct store_txn *t) QY_MUST_USE;
/* Commits grouped so far (for benchmarks and metrics). */
QY_API uint64_t store_commit_groups(const struct store *s);

#endif
