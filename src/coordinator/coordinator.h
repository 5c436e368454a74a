/*
 * coordinator - the Coordinator's logic: the state machine, manifests, users and their permissions,
 * secrets, marble activation, the update log. No sockets, no files, no clock: the store, the quote
 * source, the quote verifier and the clock come in through coord_config; the api component turns
 * HTTP requests into these calls and results back into MarbleRun's wire shapes.
 *
 * States (reference/marblerun.md §4.1): ACCEPTING_MANIFEST on a fresh start (a new CA, nothing
 * persisted), ACCEPTING_MARBLES once a manifest is set (everything persisted, sealed), RECOVERY when
 * sealed state exists that this host cannot unseal (a temporary CA until recovery or a new manifest).
 *
 * Concurrency. Admin operations (set manifest, secrets, updates, recovery) are serialised by one
 * mutex, as MarbleRun does. Activations run concurrently on any number of threads: they read an
 * immutable snapshot of the current configuration (manifest, CA, shared secrets) taken by reference,
 * and meet only at the activation counters (MaxActivations, reserved before and settled after the
 * durable commit) and at the store's group commit. An activation is answered only after its record
 * is durable.
 *
 * Errors. Every function returns 0 or a negative ERR_*; err_detail() says why in words the api
 * passes to the client (MarbleRun's messages where MarbleRun has one).
 */
#ifndef QUARRY_COORDINATOR_COORDINATOR_H
#define QUARRY_COORDINATOR_COORDINATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "attestation/attestation.h"
#include "base/base.h"
#include "crypto/crypto.h"
#include "manifest/manifest.h"
#include "store/store.h"

enum coord_state {
    COORD_UNINITIALIZED = 0,
    COORD_RECOVERY = 1,
    COORD_ACCEPTING_MANIFEST = 2,
    COORD_ACCEPTING_MARBLES = 3,
};

/* Which of the Coordinator's servers a TLS identity is for. */
enum coord_server { COORD_SERVER_CLIENT_API, COORD_SERVER_MESH_API };

struct coord_config {
    struct store *store;            /* borrowed; outlives the coordinator */
    struct att_source *quote_source; /* the Coordinator's own quotes; borrowed */
    struct att_verifier *verifier;  /* verifies marble quotes; borrowed; NULL only in simulation */
    bool simulation;                /* accept marbles without quotes (MarbleRun's simulation mode) */
    /* Names for the CA and server certificates (EDG_COORDINATOR_DNS_NAMES); borrowed. */
    const char *const *dns_names;
    size_t dns_names_count;
    /* Makes the sealer for a manifest's SealMode (ProductKey, UniqueKey, Disabled). */
    int (*make_sealer)(void *ctx, enum mf_seal_mode mode, struct sealer **out);
    void *sealer_ctx;
    /* Called whenever a server's TLS identity changes (start, recovery, updates): DER chain, leaf
     * first, and its key (both borrowed for the call). */
    void (*on_identity)(void *ctx, enum coord_server server, const struct view *chain, size_t chain_len,
                        struct crypto_key *key);
    void *identity_ctx;
    /* Unix seconds; NULL: the system clock. Tests pin it. */
    int64_t (*now)(void *ctx);
    void *now_ctx;
    /* The verifier also trusts a root other than Intel's (--insecure-extra-root). */
    bool insecure_extra_root;
    /* In recovery, refuse a new manifest: only the recovery keys lead out (--recovery-manifest
     * refuse). false: MarbleRun's behaviour, where a new manifest discards the sealed state. */
    bool recovery_keys_only;
    /* Monotonic counters one marble may create; 0: QY_COUNTERS_PER_MARBLE_DEFAULT. */
    uint64_t counters_per_marble_max;
};

/* What makes a Coordinator insecure, as GET /api/v2/status, the metrics and every log line say. */
enum coord_insecure {
    COORD_INSECURE_SIMULATION = 1u << 0, /* no quotes at all: marbles are not attested */
    COORD_INSECURE_EMULATED = 1u << 1,   /* the Coordinator's own quotes come from a software testkit */
    COORD_INSECURE_EXTRA_ROOT = 1u << 2, /* marble quotes may chain to a root other than Intel's */
};
/* The attestation mode of a quote source ("sgx", "emulated", "simulation") and the COORD_INSECURE_*
 * bits of a Coordinator using it (0: hardware quotes checked against Intel's root only). Both
 * borrow `source`; the mode is a static string. */
QY_API const char *coord_mode_of(const struct att_source *source);
QY_API unsigned coord_insecure_of(const struct att_source *source, bool extra_root);
/* The names of the bits ("simulation", "emulated", "extra-root"), comma-separated, into `out`;
 * "" for 0. COORD_INSECURE_TEXT_SIZE is always enough. */
#define COORD_INSECURE_TEXT_SIZE 40
QY_API void coord_insecure_text(unsigned insecure, char *out, size_t size);
/* Each bit's name, for callers that list them one by one; NULL for anything else. */
QY_API const char *coord_insecure_name(unsigned bit);

struct coord;

/* Starts from the store: fresh, resumed, or in recovery. Calls on_identity for both servers before
 * returning. Returns an owned coordinator (coord_free). */
QY_API int coord_new(const struct coord_config *cfg, struct coord **out) QY_MUST_USE;
QY_API void coord_free(struct coord *c);
QY_API enum coord_state coord_state(const struct coord *c);

/* GET /status: code and MarbleRun's message. */
QY_API void coord_status(const struct coord *c, int *code, const char **message);
/* This Coordinator's attestation mode (static string) and its COORD_INSECURE_* bits. */
QY_API const char *coord_mode(const struct coord *c);
QY_API unsigned coord_insecure(const struct coord *c);

/* The Coordinator's quote and certificate chain (PEM intermediate then root). With a nonce the quote
 * is fresh and its report data is SHA-256(root DER || nonce); without, the cached quote over
 * SHA-256(root DER). The quote is in the OpenEnclave "remote report" envelope MarbleRun's clients
 * expect; empty in simulation mode. */
QY_API int coord_quote(struct coord *c, struct view nonce, struct buf *quote, struct buf *chain_pem) QY_MUST_USE;

/* Manifests ------------------------------------------------------------------------------------ */

/* Sets the first manifest (or a new one in recovery). `raw` is the JSON as uploaded (YAML is the
 * client's business). On success the recovery secrets (name -> RSA-OAEP ciphertext) are returned as
 * an owned JSON object. Problems with the manifest: ERR_MANIFEST, detail "checking manifest: ...". */
QY_API int coord_set_manifest(struct coord *c, struct view raw, json_t **recovery_secrets) QY_MUST_USE;

struct coord_manifest_info {
    struct buf raw;         /* the manifest bytes */
    struct buf signature;   /* ECDSA (root key) over SHA-256(raw), DER */
    char fingerprint[65];   /* hex SHA-256(raw) */
};
QY_API int coord_get_manifest(struct coord *c, struct coord_manifest_info *out) QY_MUST_USE;
QY_API void coord_manifest_info_free(struct coord_manifest_info *info);

/* Recovery (reference/marblerun.md §8) ------------------------------------------------------------ */

/* GET /recover/public-key: the ephemeral RSA-4096 key (SPKI DER appended) secrets may be encrypted
 * to on their way; made on first use and kept until a recovery completes. Recovery state only. */
QY_API int coord_recovery_public_key(struct coord *c, struct buf *spki_der) QY_MUST_USE;
/* POST /recover: one recovery secret (plain, or encrypted to the ephemeral key) with its signature
 * (RSA PKCS#1 v1.5 over SHA-256 of the plain secret, by its recovery key). *remaining counts the
 * secrets still needed; at 0 the state is unsealed, re-sealed to this host, and served again.
 * Refusals (bad signature, foreign or reused secret) change nothing. */
QY_API int coord_recover(struct coord *c, struct view secret, struct view signature, unsigned *remaining)
    QY_MUST_USE;

/* Users and secrets ------------------------------------------------------------------------------ */

/* The user whose certificate (DER) is `leaf`, the client certificate whose key the TLS handshake
 * proved; ERR_AUTH otherwise. Only the leaf: other certificates a client sends are bytes of its
 * choosing, and users' certificates are public (they are in the manifest) - MarbleRun also matches
 * them, which would let anyone log in as any user. The name is owned by the caller (free). */
QY_API int coord_authenticate(struct coord *c, struct view leaf, char **user) QY_MUST_USE;

/* GET /secrets: the named secrets as MarbleRun's Secret JSON, in an owned object name -> secret.
 * ERR_PERMISSION unless the user may read every one of them. */
QY_API int coord_get_secrets(struct coord *c, const char *user, const char *const *names, size_t count,
                             json_t **out) QY_MUST_USE;
/* POST /secrets: user-defined secrets in MarbleRun's UserSecret JSON (name -> {Cert, Private, Key}). */
QY_API int coord_set_secrets(struct coord *c, const char *user, const json_t *secrets) QY_MUST_USE;

/* The update log ----------------------------------------------------------------------------------- */

/* The log's lines, oldest first, as an owned JSON array of strings. */
QY_API int coord_update_log(struct coord *c, json_t **lines) QY_MUST_USE;
/* The log's head: {"entries", "sha256" (of the last line), "signature" (root key, base64 DER over
 * "quarry-update-log-v1" || entries as 8 bytes big-endian || sha256)}, owned. */
QY_API int coord_update_log_head(struct coord *c, json_t **head) QY_MUST_USE;
/* Checks a log offline (`quarry update log --verify`): `lines` (the JSON array of GET /api/v2/update's
 * updateLog) and `head` (GET /api/v2/update-log-head's data) are untrusted; `root_der` is the root
 * certificate the caller verified. Each line must name the SHA-256 of the one before it (nothing
 * changed, removed or reordered: ERR_CORRUPT naming the entry), the chain must end at the head, and
 * the head must be signed by the root key (ERR_BAD_SIGNATURE). */
QY_API int coord_log_verify(const json_t *lines, const json_t *head, struct view root_der) QY_MUST_USE;

/* Updates (reference/marblerun.md §9.5, §10) ------------------------------------------------------ */

struct coord_update_status {
    uint64_t missing;         /* acknowledgements still needed; 0 once applied */
    json_t *missing_users;    /* array of the required users who have not acknowledged; NULL for
                               * package updates */
    json_t *recovery_secrets; /* new RecoverySecrets (name -> base64) when the update changed the
                               * recovery keys; NULL otherwise */
    struct buf manifest;      /* coord_update_pending: the pending manifest's bytes */
};
QY_API void coord_update_status_free(struct coord_update_status *s);

/* POST /update by an authenticated `user` with a manifest (JSON bytes, borrowed). A package-only
 * manifest (§1.12) raises SecurityVersions at once (UpdateSecurityVersion on every package named;
 * ERR_MANIFEST "checking update manifest: ..." for downgrades and the other refusals of §10.1). A
 * full manifest (UpdateManifest) becomes the pending update, acknowledged by its submitter, and is
 * applied once UpdateThreshold users acknowledged it (§9.5, §10.2). ERR_CONFLICT while another update
 * is pending, ERR_PERMISSION without the permission. `out` is owned by the caller. */
QY_API int coord_update(struct coord *c, const char *user, struct view raw, struct coord_update_status *out)
    QY_MUST_USE;
/* POST /update-manifest: acknowledges the pending update with its exact bytes. ERR_NOT_FOUND "no
 * update in progress"; a user acknowledging twice counts once. */
QY_API int coord_update_ack(struct coord *c, const char *user, struct view raw, struct coord_update_status *out)
    QY_MUST_USE;
/* POST /update-cancel, by a user holding UpdateManifest. */
QY_API int coord_update_cancel(struct coord *c, const char *user) QY_MUST_USE;
/* GET /update-manifest: the pending update (manifest, missing, missing_users). */
QY_API int coord_update_pending(struct coord *c, struct coord_update_status *out) QY_MUST_USE;

/* Feature gates (reference/marblerun.md §11) -------------------------------------------------------- */

/* POST /sign-quote: verifies `quote` (raw DCAP or in the OE envelope; not checked against any
 * package) and signs SHA-256(base64(quote as given) || status) with the root key (DER appended to
 * `signature`); *tcb_status is a static string. ERR_FEATURE_DISABLED without SignQuoteEndpoint,
 * ERR_ATTESTATION with the failing step when the quote does not verify. */
QY_API int coord_sign_quote(struct coord *c, struct view quote, const char **tcb_status, struct buf *signature)
    QY_MUST_USE;
/* POST /monotonic-counter: the marble authenticated by its TLS client certificate (`leaf`, DER, the
 * one the handshake proved; as for users, never another certificate the client sent) of the current
 * intermediate; its counter `name` becomes max(current, value) and *previous
 * is the value before (0 when new). ERR_FEATURE_DISABLED without MonotonicCounter, ERR_AUTH
 * "unauthorized marble: ...". Safe from any number of threads. */
QY_API int coord_monotonic_counter(struct coord *c, struct view leaf, struct view name,
                                   uint64_t value, uint64_t *previous) QY_MUST_USE;

/* Activation ------------------------------------------------------------------------------------- */

#define COORD_EXPORTER_LABEL "EXPORTER-quarry-activation"
#define COORD_BINDING_CONTEXT "quarry-activation-v1"

/* The report data a marble's quote must carry: SHA-256(COORD_BINDING_CONTEXT || SHA-256(spki) ||
 * exporter), zero-padded to 64 bytes - its TLS key and this TLS session (the marble makes it, the
 * Coordinator checks it). */
QY_API int coord_activation_binding(struct view spki, const uint8_t exporter[32], uint8_t report_data[64]) QY_MUST_USE;

struct coord_activation_request {
    const char *marble_type;
    const char *uuid;        /* any form Go's uuid.Parse accepts */
    struct view csr;         /* PKCS#10 DER */
    struct view quote;       /* DCAP quote (optionally in the OE envelope); empty in simulation */
    struct view peer_spki;   /* SubjectPublicKeyInfo DER of the TLS client certificate */
    const struct crypto_key *peer_key; /* its key as the handshake decoded it, or NULL */
    uint8_t exporter[32];    /* TLS exporter COORD_EXPORTER_LABEL of the connection */
    /* CLOCK_MONOTONIC milliseconds by which the answer must be on its way (the caller knows its
     * connection's timeout); 0: none. Checked just before the commit. */
    int64_t answer_by_ms;
};

/* A parameter value: literal bytes, or a hole the marble fills with its own private key. */
enum coord_segment_kind { COORD_SEG_BYTES, COORD_SEG_PRIVATE_KEY };
enum coord_key_encoding { COORD_KEY_PEM, COORD_KEY_RAW, COORD_KEY_HEX, COORD_KEY_BASE64 };

struct coord_activation_response; /* opaque, owned by the caller */

/* Activates a marble. On success *resp holds the certificate chain and the rendered parameters;
 * coord_activation_json() turns it into the wire JSON. Refusals: ERR_WRONG_STATE, ERR_POLICY (with
 * the reason: unknown type, quote, binding, package policy), ERR_EXHAUSTED (MaxActivations),
 * ERR_BAD_REQUEST (UUID, CSR); and, worth retrying, ERR_ATT_COLLATERAL_PENDING or
 * ERR_ATT_NO_COLLATERAL (the quote could not be verified yet: collateral is being fetched, or its
 * source failed; the detail says which and why) and ERR_TOO_LATE (answer_by_ms passed before the
 * commit). A refusal records nothing and spends no activation. */
QY_API int coord_activate(struct coord *c, const struct coord_activation_request *req,
                          struct coord_activation_response **resp) QY_MUST_USE;
QY_API json_t *coord_activation_json(const struct coord_activation_response *resp);
/* Whether the current manifest has a marble type `name` (for labels: a request's type is the
 * sender's choice until this says it exists). */
QY_API bool coord_marble_type_known(struct coord *c, const char *name);
QY_API void coord_activation_response_free(struct coord_activation_response *resp);

#endif
