/* Private to coordinator/. */
#ifndef QUARRY_COORD_INT_H
#define QUARRY_COORD_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "coordinator.h"
#include "pki/pki.h"
#include "recovery/recovery.h"
#include "secrets/secrets.h"
#include "template/template.h"

/* Store keys (reference §4.3, in Quarry's spelling). */
#define KEY_STATE "state"
#define KEY_MANIFEST "manifest"
#define KEY_MANIFEST_SIG "manifestSignature"
#define KEY_CA "ca"
#define KEY_ROOT_SECRET "rootSecret"
#define KEY_PREV_ROOT_SECRET "previousRootSecret"
#define KEY_SECRETS "secrets"
#define KEY_PREV_SECRETS "previousSecrets"
#define KEY_LOG_PREFIX "log:"
#define KEY_LOG_HEAD "logHead"
#define KEY_COUNT_PREFIX "activations:" /* "activations:<type>:<slot>", one per counted activation */
#define KEY_RECORD_PREFIX "activation:"

#define ROOT_SECRET_SIZE 32

/* A package's SecurityVersion as raised by a package update (reference §10.1). */
struct coord_svn {
    char *package;
    uint64_t value;
};

/* The current manifest with its root signature, shared by the snapshots that use it. */
struct coord_mf {
    atomic_int refs;
    struct manifest *m;
    struct buf signature; /* ECDSA (root key) over SHA-256(raw) */
    struct coord_svn *svns; /* package updates since the manifest was set (coord_mf_svn) */
    size_t svns_count;
};

struct coord_mf *coord_mf_new(struct manifest *m); /* takes m over */
struct coord_mf *coord_mf_ref(struct coord_mf *mf);
void coord_mf_put(struct coord_mf *mf);

/* What activations read: immutable once published, shared by reference. */
struct coord_snapshot {
    atomic_int refs;
    struct coord_mf *mf; /* NULL before a manifest is set */
    struct pki_ca *ca;
    uint8_t root_secret[ROOT_SECRET_SIZE];
    uint8_t previous_root_secret[ROOT_SECRET_SIZE];
    struct sec_set secrets;          /* shared and user-defined values; per-marble placeholders */
    struct sec_set previous_secrets; /* .Previous.Secrets */
};

/* MaxActivations bookkeeping per marble type: committed (durable) and reserved (in flight); slots
 * number the store keys, so concurrent commits never overwrite each other. */
struct coord_counter {
    char *type;
    uint64_t committed;
    uint64_t reserved;
    uint64_t next_slot;
};

struct coord {
    struct coord_config cfg;
    unsigned insecure; /* COORD_INSECURE_* */
    pthread_mutex_t admin; /* serialises state-changing operations */
    _Atomic int state;

    pthread_mutex_t snap_lock;
    struct coord_snapshot *snap;

    struct buf quote;      /* cached quote over SHA-256(root DER) */
    pthread_mutex_t quote_lock;

    uint64_t log_entries;  /* update log head, in step with the store */
    uint8_t log_hash[32];

    pthread_mutex_t count_lock;
    struct coord_counter *counters;
    size_t counters_count;

    struct rec_session *recovery;   /* a recovery in progress (admin mutex) */
    struct crypto_key *ephemeral;   /* its ephemeral RSA key (admin mutex) */

    uint64_t epoch;        /* random per process: activation record keys never collide */
    atomic_uint_fast64_t seq;
};

int64_t coord_now(const struct coord *c);
/* A retryable error when `res` failed for its collateral, not for the quote (activate.c); 0 when
 * verified or refused on the quote's own merits. `what` names it in the message ("the marble"). */
struct att_result;
int coord_quote_retry_later(const struct att_result *res, const char *what) QY_MUST_USE;

/* Snapshots: take a reference to the current one (release with coord_snapshot_put); publish a new
 * one (takes over `s`). */
struct coord_snapshot *coord_snapshot_get(struct coord *c);
void coord_snapshot_put(struct coord_snapshot *s);
struct coord_snapshot *coord_snapshot_new(void);
void coord_snapshot_publish(struct coord *c, struct coord_snapshot *s);

/* Server identities and the cached quote, after the CA changed. */
int coord_refresh_identity(struct coord *c, const struct pki_ca *ca) QY_MUST_USE;

/* Users (users.c). */
const struct mf_user *coord_user_by_cert(const struct manifest *m, struct view cert);
bool coord_user_may(const struct manifest *m, const struct mf_user *u, enum mf_resource_type type,
                    const char *action, const char *name);

/* The update log (log.c): stage one entry in t (fields stolen); coord_log_commit after t commits. */
struct coord_log_stage {
    uint64_t entries;
    uint8_t hash[32];
};
int coord_log_append(struct coord *c, struct store_txn *t, const struct pki_ca *ca, struct coord_log_stage *stage,
                     const char *update, json_t *fields) QY_MUST_USE;
void coord_log_begin(struct coord *c, struct coord_log_stage *stage);  /* continue the current log */
void coord_log_reset(struct coord *c, struct coord_log_stage *stage);  /* start a new log */
void coord_log_commit(struct coord *c, const struct coord_log_stage *stage);
int coord_log_load(struct coord *c) QY_MUST_USE;

/* Loading state at start (load.c). */
int coord_load(struct coord *c) QY_MUST_USE;

/* Activation counters (counters.c). */
int coord_counters_load(struct coord *c) QY_MUST_USE;
void coord_counters_clear(struct coord *c);
/* Reserves one activation of `type` under `max` (0: unlimited, nothing reserved); *slot numbers
 * its store key. ERR_EXHAUSTED when used up. */
int coord_counter_reserve(struct coord *c, const char *type, uint64_t max, uint64_t *slot) QY_MUST_USE;
void coord_counter_settle(struct coord *c, const char *type, bool committed);

/* A short text of the first errors in d, for messages ("path: message; ..."). */
void coord_diag_summary(const struct diag *d, char *out, size_t size);

/* Template data over a snapshot and optional per-marble sets (for dry runs and activation). */
struct coord_tpl_ctx {
    const struct sec_set *sets[2];      /* current: per-marble then shared */
    const struct sec_set *prev_sets[2]; /* previous */
};
bool coord_tpl_find(void *ctx, bool previous, const char *name, struct tpl_secret *out);

/* Shared by setting and updating a manifest (admin.c): the checks (detail "<what>: ..."), new
 * recovery data for a manifest's keys, the manifest state's writes. */
int coord_check_manifest(struct view raw, const char *what, struct manifest **out) QY_MUST_USE;
int coord_make_recovery(const struct manifest *m, uint8_t dek[STORE_DEK_SIZE], json_t **secrets,
                        struct buf *data) QY_MUST_USE;
int coord_stage_manifest_state(struct store_txn *t, const struct coord_snapshot *s) QY_MUST_USE;
int coord_put_secrets(struct store_txn *t, const char *key, const struct sec_set *s) QY_MUST_USE;

/* Updates (update.c): the SecurityVersion a package requires now, and the raised ones at start. */
struct mf_opt_u64 coord_mf_svn(const struct coord_mf *mf, const struct mf_package *p);
void coord_svns_free(struct coord_mf *mf);
int coord_svns_load(struct coord *c, struct coord_mf *mf) QY_MUST_USE;

#endif
