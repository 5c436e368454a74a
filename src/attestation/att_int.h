/* Private to attestation/: parsed collateral, verified chains, caches. */
#ifndef QUARRY_ATTESTATION_ATT_INT_H
#define QUARRY_ATTESTATION_ATT_INT_H

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdio.h>

#include "attestation.h"
#include "crypto/crypto.h"

/* quote.c */
int att_parse_sgx_report(struct rd *r, struct att_sgx_report *s, struct view *raw) QY_MUST_USE;

/* pck_ext.c: the DER of an SGX extension (testkit). */
int att_pck_ext_write(const struct att_pck_ext *x, struct buf *out) QY_MUST_USE;

/* Reference-counted immutable objects shared by caches and verifications in flight. -------- */
struct att_obj {
    atomic_int refs;
    void (*destroy)(struct att_obj *o);
};
void att_obj_init(struct att_obj *o, void (*destroy)(struct att_obj *o));
struct att_obj *att_obj_ref(struct att_obj *o);
void att_obj_unref(struct att_obj *o); /* NULL-safe */

/* x509.c: certificates, paths, CRLs --------------------------------------------------------- */

/* Trusted root keys: [0] is Intel's pinned key (dcap.md §6), the rest insecure extra roots. */
struct att_roots {
    size_t count;
    struct crypto_key *keys[1 + QY_ATT_EXTRA_ROOTS_MAX];
};
int att_roots_init(struct att_roots *roots, const struct view *extra,
                   size_t extra_count) QY_MUST_USE;
void att_roots_free(struct att_roots *roots);

/* Certificates of a PEM text (ATT_CERTS_STRICT: a quote's certification data), split as Intel's
 * verifier splits them: the text ends at its first NUL; it starts at the first BEGIN marker if no
 * END marker comes before; between blocks, bytes other than '-' are skipped; after the last
 * "-----END CERTIFICATE-----" everything is ignored. Inside a block only canonical base64 and line
 * breaks; between blocks a '-' must begin the next one. Never reads past `in`.
 * ATT_CERTS_LENIENT: text around the blocks is ignored, as OpenSSL's PEM reader does (issuer chain
 * files, roots). ATT_CERTS_DER: one DER certificate is accepted too. X509s are owned by the caller
 * (X509_free each). */
enum { ATT_CERTS_STRICT = 0, ATT_CERTS_DER = 1, ATT_CERTS_LENIENT = 2 };
int att_certs_parse(struct view in, unsigned flags, X509 **certs, size_t max,
                    size_t *count) QY_MUST_USE;
void att_certs_free(X509 **certs, size_t count);

/* A verified path leaf..root: each certificate signed (ecdsa-with-SHA256) by the next, the last
 * self-signed with a trusted root key; every certificate used exactly once. */
struct att_path {
    X509 *certs[3]; /* leaf first; owned */
    size_t len;
    size_t root_index;             /* into att_roots */
    int64_t not_before, not_after; /* the intersection of the certificates' validity windows */
};
/* Builds and verifies a path of exactly `len` certificates from `certs` (consumed into the path
 * or freed), checking each certificate's CN contains the phrase in `cn[i]` (leaf first). */
int att_path_build(X509 **certs, size_t count, size_t len, const char *const *cn,
                   const struct att_roots *roots, struct att_path *out) QY_MUST_USE;
void att_path_free(struct att_path *p);
/* 0 when from <= t <= to; ERR_EXPIRED naming `what` and the window otherwise. */
int att_check_window(int64_t from, int64_t to, int64_t t, const char *what) QY_MUST_USE;
/* 0 when t is inside the path's window; ERR_EXPIRED naming `what` otherwise. */
int att_path_check_time(const struct att_path *p, int64_t t, const char *what) QY_MUST_USE;

int att_asn1_time(const ASN1_TIME *t, int64_t *out) QY_MUST_USE;
/* RFC 3339 for messages (the number when out of range). Returns buf. */
const char *att_fmt_time(int64_t t, char buf[32]);
/* The CN of a certificate's subject (truncated) for messages and role checks. */
void att_cert_cn(X509 *x, char *out, size_t size);

/* A CRL in PEM, DER or hex-encoded DER (dcap.md §9.12). */
struct att_crl {
    X509_CRL *crl;
    int64_t this_update, next_update;
};
int att_crl_parse(struct view in, struct att_crl *out) QY_MUST_USE;
void att_crl_free(struct att_crl *c);
/* The CRL's issuer name is the subject of `issuer` and its signature verifies with its key. */
int att_crl_check_issuer(const struct att_crl *c, X509 *issuer) QY_MUST_USE;
int att_crl_check_time(const struct att_crl *c, int64_t t, const char *what) QY_MUST_USE;
/* ERR_REVOKED when x's serial is listed. */
int att_crl_check_cert(const struct att_crl *c, X509 *x, const char *what) QY_MUST_USE;

/* A verified PCK chain, cached by the hash of the certification data. */
struct att_pck {
    struct att_obj obj;
    struct att_path path; /* leaf, PCK CA, root */
    struct crypto_key *leaf_key;
    struct att_pck_ext ext;
    enum att_pck_ca ca;
    uint8_t ca_hash[32]; /* SHA-256 of the PCK CA's DER, for CRL-signature memos */
};
/* `step` says where it failed: ATT_STEP_PCK_CHAIN or ATT_STEP_PCK_EXTENSION. */
int att_pck_new(struct view cert_data, const struct att_roots *roots, struct att_pck **out,
                enum att_step *step) QY_MUST_USE;

/* collateral.c: TCB Info and QE Identity (dcap.md §7.2, §7.3) -------------------------------- */

struct att_advisories {
    size_t count;
    char (*ids)[QY_ATT_ADVISORY_ID_MAX + 1];
};

struct att_tcb_level {
    uint8_t sgx[16];
    uint16_t pcesvn;
    bool has_tdx;
    uint8_t tdx[16];
    enum att_tcb_status status;
    int64_t date;
    struct att_advisories advisories;
};

/* A QE Identity or TDX module level: one SVN. */
struct att_svn_level {
    uint16_t isvsvn;
    enum att_tcb_status status;
    int64_t date;
    struct att_advisories advisories;
};

struct att_module_identity {
    char id[16]; /* "TDX_01" */
    uint8_t mrsigner[48];
    uint8_t attributes[8], attributes_mask[8];
    size_t level_count;
    struct att_svn_level *levels;
};

struct att_tcb_info {
    int version;       /* 2 or 3 */
    uint32_t tee_type; /* id "SGX" (or v2) / "TDX" */
    int64_t issue_date, next_update;
    uint8_t fmspc[6];
    uint8_t pceid[2];
    uint64_t tcb_type, evaluation_number;
    size_t level_count;
    struct att_tcb_level *levels;
    bool has_tdx_module;
    uint8_t module_mrsigner[48], module_attributes[8], module_attributes_mask[8];
    size_t module_count;
    struct att_module_identity *modules;
};

struct att_qe_identity {
    uint32_t tee_type; /* id "QE" -> SGX, "TD_QE" -> TDX */
    int version;
    int64_t issue_date, next_update;
    uint64_t evaluation_number;
    uint32_t miscselect, miscselect_mask;
    uint8_t attributes[16], attributes_mask[16];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    size_t level_count;
    struct att_svn_level *levels;
};

/* The exact bytes of top-level member `key`'s value and the 64-byte signature in "signature". */
int att_signed_json_split(struct view body, const char *key, struct view *value,
                          uint8_t sig[64]) QY_MUST_USE;
/* Parse the (already split) value. Allocations come from `arena`. */
int att_tcb_info_parse(struct view value, struct arena *arena,
                       struct att_tcb_info *out) QY_MUST_USE;
int att_qe_identity_parse(struct view value, struct arena *arena,
                          struct att_qe_identity *out) QY_MUST_USE;

/* A fetched, parsed and verified collateral item. When `error` is set the item failed to load and
 * says why (remembered as a failure, never as usable: see collateral_cache.c). */
struct att_coll {
    struct att_obj obj;
    enum att_collateral_kind kind;
    int error;
    bool fetch_failed; /* the source failed (error is not about the item's content) */
    bool absent;       /* the source has no such item (a Root CA CRL): nothing to check */
    bool not_admitted; /* it loaded but is not what was asked for (its detail names the item) */
    char detail[ATT_DETAIL_MAX];
    uint8_t hash[32];     /* SHA-256 of the body as served */
    int64_t next_update;  /* freshness limit */
    int64_t fetched_mono; /* CLOCK_MONOTONIC seconds at fetch */
    struct arena arena;
    struct att_path signer; /* TCB Info / QE Identity: TCB Signing cert + root */
    struct att_tcb_info tcb;
    struct att_qe_identity qe;
    struct att_crl crl;
    size_t crl_root_index; /* Root CA CRL: which root signed it */
};
/* Parses and verifies what a source returned (consumes nothing); always returns an object, with
 * `error` set on failure, or NULL when out of memory. */
struct att_coll *att_coll_load(enum att_collateral_kind kind,
                               const struct att_collateral_item *item,
                               const struct att_roots *roots);
/* An item standing for a failed fetch (error `code`, fetch_failed set), or NULL. */
struct att_coll *att_coll_failed(enum att_collateral_kind kind, int code, const char *detail);

/* collateral_cache.c: collateral per item, fetched once, kept only when it passed every check -- */

/* What an item is cached under: the request, and what must have signed it - the trusted root of
 * the platform's PCK chain (TCB Info, QE Identity, Root CA CRL), the PCK CA itself (PCK CRL, by the
 * SHA-256 of its DER). Zero-filled before use: compared with memcmp. */
struct att_coll_key {
    struct att_collateral_request req;
    uint64_t root_index;
    uint8_t issuer[32];
};

struct att_ccache_config {
    struct att_collateral_source *source; /* borrowed; outlives the cache */
    const struct att_roots *roots;        /* borrowed */
    bool background;
    void (*on_fetch)(void *ctx, enum att_collateral_kind kind, enum att_fetch_outcome outcome);
    void *on_fetch_ctx;
};
struct att_ccache;
/* Starts the fetcher threads in background mode. Returns an owned cache (att_ccache_free). */
int att_ccache_new(const struct att_ccache_config *cfg, struct att_ccache **out) QY_MUST_USE;
/* Stops and joins the fetcher threads (fetches in flight finish first), frees. NULL-safe. */
void att_ccache_free(struct att_ccache *cc);
/* The item under `key` for a verification at `at`, checked against `pck` (borrowed; referenced by
 * a background fetch while queued). 0 with *out a new reference: usable, or the failure that keeps
 * it from being usable (error set; fetched again after the backoff), or a stale item fetched too
 * recently to ask again. ERR_ATT_COLLATERAL_PENDING (background mode; a fetch is under way), or
 * ERR_NOMEM. */
int att_ccache_get(struct att_ccache *cc, const struct att_coll_key *key, const struct att_pck *pck,
                   int64_t at, struct att_coll **out) QY_MUST_USE;
int64_t att_mono_ms(void);
/* collateral_dir.c: whether the source's fetches may wait on the network. */
bool att_collateral_source_is_remote(const struct att_collateral_source *s);

/* tcb.c: TCB level evaluation (dcap.md §8.4-8.5) --------------------------------------------- */

struct att_tcb_eval {
    enum att_tcb_status status, platform, qe, module;
    const struct att_tcb_level *level;
    const struct att_svn_level *qe_level, *module_level;
};
/* The QE report against the QE Identity (§8.4 step 4): ERR_ATT_QE_IDENTITY on a mismatch,
 * ERR_ATT_TCB_NOT_SUPPORTED when the QE's ISVSVN is below every level. */
int att_qe_match(const struct att_qe_identity *id, const struct att_sgx_report *qe,
                 const struct att_svn_level **out) QY_MUST_USE;
/* TDX module identity (§8.4 step 1): ERR_ATT_TDX_MODULE, or ERR_ATT_TCB_NOT_SUPPORTED when no
 * module level matches. `out` NULL-able level (NULL: module major version 0, status UpToDate). */
int att_tdx_module_match(const struct att_tcb_info *ti, const struct att_td_report *td,
                         const struct att_svn_level **out) QY_MUST_USE;
/* The platform's level and the combined status (§8.5). */
int att_tcb_evaluate(const struct att_tcb_info *ti, const struct att_pck_ext *pck,
                     const struct att_quote *q, const struct att_svn_level *qe_level,
                     const struct att_svn_level *module_level,
                     struct att_tcb_eval *out) QY_MUST_USE;
/* ERR_ATT_TCB_REVOKED when the platform's, the TDX module's or the QE's level is Revoked (Intel's
 * QvE treats STATUS_TCB_REVOKED as terminal), `step` naming which, checked in that order. */
int att_tcb_check_revoked(const struct att_tcb_eval *ev, bool tdx, enum att_step *step) QY_MUST_USE;
/* Status names in TCB Info / QE Identity: Intel's strings only. */
int att_status_from_json(const char *s, enum att_tcb_status *out) QY_MUST_USE;

/* cache.c: a bounded, thread-safe map from 32-byte keys to att_objs ---------------------------- */
struct att_memo;
int att_memo_new(size_t max, struct att_memo **out) QY_MUST_USE;
void att_memo_free(struct att_memo *m);
/* A new reference to the object stored under key, or NULL. */
struct att_obj *att_memo_get(struct att_memo *m, const uint8_t key[32]);
/* Stores a new reference to o under key (replacing any). Empties the map first when full. */
int att_memo_put(struct att_memo *m, const uint8_t key[32], struct att_obj *o) QY_MUST_USE;

int64_t att_mono_seconds(void);

/* result.c */
void att_result_fail(struct att_result *res, enum att_step step, int code);
int att_result_add_advisories(struct att_result *res, const struct att_advisories *a) QY_MUST_USE;

#endif
