/*
 * attestation - Intel DCAP quotes: parse them, verify them against Intel's collateral, apply a
 * MarbleRun package policy to the result; produce quotes (quote sources); and an emulated Intel PKI
 * for tests (the testkit). The only component that knows quote layouts.
 *
 * What it does. att_quote_parse() decodes SGX quote v3, SGX/TDX v4 and TDX v5 (TD report 1.0 and
 * 1.5) through the bounded reader, following reference/dcap.md §2-4: every declared length is
 * checked against its container; what Intel's QVL tolerates is tolerated and never read - bytes
 * after the signature data, bytes of the signature data after its certification data, and in the
 * PCK chain bytes other than '-' around the certificates and anything after a NUL. att_verify()
 * runs the procedure of dcap.md §8 at a verification time given by the caller: the PCK chain is
 * built by issuer/subject in any stored order up to the pinned Intel SGX Root CA public key (both
 * issues of the root certificate carry it), then the QE report signature,
 * the QE report data binding and the quote signature; then the collateral (TCB Info v2/v3 and QE
 * Identity, each signed over the exact served bytes by a TCB Signing certificate of the same root;
 * the Root CA and PCK CRLs), the platform's TCB level (SGX and TDX rules, TDX module identities),
 * the QE's identity and TCB level, and the combined TCB status with its advisory IDs. Every
 * validity window (certificates, CRLs, TCB Info, QE Identity) is checked at that one time. The
 * result says which step failed, with an error code and a detail, and carries the decoded identity.
 * att_policy_check() applies MarbleRun's package rules (reference/marblerun.md §1.2, §5.3) and says
 * which rule refused and why.
 *
 * Trust. The only built-in trust anchor is Intel's root key. Other roots (the testkit's emulated
 * root) are trusted only when passed explicitly as insecure_extra_roots, and a result says when one
 * was used. Collateral must chain to the same root as the quote's PCK chain, so emulated collateral
 * can never vouch for a real platform or the other way round.
 *
 * Collateral comes from a source (struct att_collateral_source, a small vtable): a directory in
 * Intel PCS response shapes (att_collateral_dir_new), or a PCCS/PCS over HTTPS (api_pccs_source_new
 * in api/, the only place that touches the network). Its integrity rests on Intel's signatures
 * alone, never on the transport: whoever serves or relays it can withhold it, not forge it. A
 * verifier caches PCK chains by the hash of their bytes, QE reports, and collateral per item (kind,
 * TEE, FMSPC, PCK CA) - but an item only once it passed every check that does not depend on the
 * verification time: format, signature chain to the same trusted root as the platform's PCK chain,
 * the FMSPC and TEE asked for, a PCK CRL's signature by the very PCK CA it is keyed by. An item
 * that fails is remembered only as a failure, and fetched again after a growing backoff
 * (QY_ATT_RETRY_*), so a bad answer can delay a platform, never bar it until its nextUpdate.
 * Concurrent misses for one item share one fetch ("singleflight").
 *
 * Two ways to wait for collateral. By default (the CLI, libquarry) att_verify() fetches a missing
 * item on the calling thread, and callers wanting the same item wait for that one fetch. With
 * background_fetch (the Coordinator, whose callers are event loops serving many marbles) it never
 * waits on the network: a missing or expired item of a remote source (a PCCS; a directory is read
 * in line, like any local file) is fetched by the verifier's own fetcher threads and att_verify()
 * answers at once with ERR_ATT_COLLATERAL_PENDING at step "collateral" (a state error: ask again
 * shortly); items are also refreshed on those threads before their nextUpdate, so a platform whose
 * collateral is cached never waits on the network, and a slow PCCS delays only cold platforms.
 *
 * What it does not do: no manifest knowledge (the coordinator turns a package into an att_policy),
 * no report-data binding (the caller knows what the report data must hash), no network, no clock
 * (the caller passes the time; the daemon passes qtime_now()).
 *
 * Ownership and threads. Parsed quotes borrow the input bytes. Results are plain values (nothing to
 * free). A verifier is thread-safe: many threads may call att_verify() on one verifier at once. A
 * quote source and a testkit handle may be shared by threads once created.
 */
#ifndef QUARRY_ATTESTATION_ATTESTATION_H
#define QUARRY_ATTESTATION_ATTESTATION_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

/* Quotes (reference/dcap.md §2-4) ------------------------------------------------------------- */

enum att_tee_type { ATT_TEE_SGX = 0x00000000, ATT_TEE_TDX = 0x00000081 };
enum att_body_type { ATT_BODY_SGX = 1, ATT_BODY_TD10 = 2, ATT_BODY_TD15 = 3 };

/* Certification data types (dcap.md §2.5). Only PCK_CHAIN (5) can be verified without an
 * out-of-band PCK certificate; QE_REPORT (6) is the v4/v5 wrapper around the inner type. */
enum att_cert_type {
    ATT_CERT_PPID_CLEARTEXT = 1,
    ATT_CERT_PPID_RSA2048 = 2,
    ATT_CERT_PPID_RSA3072 = 3,
    ATT_CERT_PCK_CLEARTEXT = 4,
    ATT_CERT_PCK_CHAIN = 5,
    ATT_CERT_QE_REPORT = 6,
};

/* SGX report body (dcap.md §2.2), fields in wire order; integers decoded from little-endian. */
struct att_sgx_report {
    uint8_t cpusvn[16];
    uint32_t miscselect;
    uint8_t reserved1[12]; /* [0] is CET_ATTRIBUTES on CET-capable parts */
    uint8_t isvextprodid[16];
    uint8_t attributes[16]; /* flags u64 LE || xfrm u64 LE, as on the wire */
    uint64_t flags, xfrm;   /* the same, decoded */
    uint8_t mrenclave[32];
    uint8_t reserved2[32];
    uint8_t mrsigner[32];
    uint8_t reserved3[32];
    uint8_t configid[64];
    uint16_t isvprodid, isvsvn, configsvn;
    uint8_t reserved4[42];
    uint8_t isvfamilyid[16];
    uint8_t report_data[64];
};
#define ATT_SGX_FLAG_DEBUG 0x02u

/* TD report body 1.0 (584 bytes) and 1.5 (648 bytes) (dcap.md §3.2, §4). */
struct att_td_report {
    uint8_t tee_tcb_svn[16];
    uint8_t mrseam[48];
    uint8_t mrsignerseam[48];
    uint8_t seam_attributes[8];
    uint8_t td_attributes[8]; /* u64 LE on the wire */
    uint8_t xfam[8];
    uint8_t mrtd[48];
    uint8_t mrconfigid[48];
    uint8_t mrowner[48];
    uint8_t mrownerconfig[48];
    uint8_t rtmr[4][48];
    uint8_t report_data[64];
    bool is_v15; /* the two fields below are present */
    uint8_t tee_tcb_svn2[16];
    uint8_t mrservicetd[48];
};
#define ATT_TD_ATTR_DEBUG 0x01u /* bit 0 of td_attributes[0] */

/* A parsed quote. Views borrow the input; fixed-size fields are copies. */
struct att_quote {
    uint16_t version;      /* 3, 4 or 5 */
    uint16_t att_key_type; /* 2 = ECDSA P-256 */
    uint32_t tee_type;     /* enum att_tee_type */
    uint16_t qe_svn, pce_svn;
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
    enum att_body_type body_type;
    struct att_sgx_report sgx; /* when body_type == ATT_BODY_SGX */
    struct att_td_report td;   /* when body_type is TD10 or TD15 */
    struct view
        signed_region; /* header (+ v5 body descriptor) + body: what the quote signature covers */
    uint32_t signature_data_size;
    uint8_t signature[64];       /* raw r||s by the attestation key */
    uint8_t attestation_key[64]; /* raw X||Y */
    struct att_sgx_report qe_report;
    struct view qe_report_raw; /* the 384 bytes the PCK key signed */
    uint8_t qe_report_signature[64];
    struct view qe_auth_data;
    uint16_t cert_type;    /* the innermost certification data type (enum att_cert_type) */
    struct view cert_data; /* type 5: the PEM chain as declared (read up to a NUL) */
    /* types 1-3: the PPID (encrypted for 2-3) and the platform's raw TCB */
    struct view ppid;
    uint8_t ppid_cpusvn[16];
    uint16_t ppid_pcesvn, ppid_pceid;
    size_t trailing_size; /* bytes after the signature data, ignored */
    /* bytes of the signature data after its (v4/v5: outer) certification data: skipped unread,
     * as Intel's QVL does; bounded by the signature data size, itself bounded by the input */
    size_t signature_data_surplus;
};

/* Parses a quote of at most QY_ATT_QUOTE_MAX_SIZE bytes. ERR_QUOTE_FORMAT (or ERR_TRUNCATED,
 * ERR_TRAILING) with the offending field in the detail; ERR_UNSUPPORTED for well-formed but unknown
 * versions, key types or TEE types. Certification data types 1-5 are parsed; whether they can be
 * verified is att_verify()'s business. `out` borrows `in`. */
QY_API int att_quote_parse(struct view in, struct att_quote *out) QY_MUST_USE;
/* The DCAP quote inside an OpenEnclave remote-report envelope (u32 version 1, u32 type 2 - SGX
 * remote -, u64 quote size, little-endian; MarbleRun's marbles and Coordinator send quotes so), or
 * `q` itself when it is not exactly such an envelope. Borrows `q`. */
QY_API struct view att_strip_oe_envelope(struct view q);

/* The SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1, dcap.md §5). */
enum att_pck_ca { ATT_PCK_CA_PROCESSOR, ATT_PCK_CA_PLATFORM };
struct att_pck_ext {
    uint8_t ppid[16];
    uint8_t tcb_components[16];
    uint16_t pcesvn;
    uint8_t cpusvn[16];
    uint8_t pceid[2];
    uint8_t fmspc[6];
    uint8_t sgx_type; /* 0 standard, 1 scalable, 2 scalable with integrity */
    bool has_platform_instance_id;
    uint8_t platform_instance_id[16];
};

/* Parses the DER value of the SGX extension (the extension's OCTET STRING contents). Required
 * entries: PPID, TCB (16 components, PCESVN, CPUSVN), PCE-ID, FMSPC, SGX Type; unknown entries are
 * skipped, duplicates refused. ERR_CERT with the offending field. */
QY_API int att_pck_ext_parse(struct view der, struct att_pck_ext *out) QY_MUST_USE;

/* Verification results ------------------------------------------------------------------------- */

/* The step of dcap.md §8 that failed, in the order att_verify() runs them. */
enum att_step {
    ATT_STEP_NONE,                /* nothing failed */
    ATT_STEP_PARSE,               /* the quote is malformed or of an unsupported version */
    ATT_STEP_CERT_DATA,           /* certification data other than a PCK chain (type 5) */
    ATT_STEP_PCK_CHAIN,           /* PCK chain: structure, signatures, trusted root, validity */
    ATT_STEP_PCK_EXTENSION,       /* the PCK certificate's SGX extension */
    ATT_STEP_QE_REPORT_SIGNATURE, /* QE report not signed by the PCK key */
    ATT_STEP_QE_REPORT_DATA,      /* QE report data != SHA-256(attestation key || QE auth data) */
    ATT_STEP_QUOTE_SIGNATURE,     /* header and body not signed by the attestation key */
    ATT_STEP_COLLATERAL,          /* collateral could not be obtained */
    ATT_STEP_ROOT_CA_CRL,         /* Root CA CRL: signature, validity, revoked intermediate */
    ATT_STEP_PCK_CRL,     /* PCK CRL: issuer, signature, validity; revoked PCK certificate */
    ATT_STEP_TCB_INFO,    /* TCB Info: format, signing chain, signature, validity, FMSPC/PCE-ID */
    ATT_STEP_QE_IDENTITY, /* QE Identity: the same, the QE report matching it; a Revoked QE level */
    ATT_STEP_TDX_MODULE,  /* the TDX module's identity (MRSIGNERSEAM, SEAMATTRIBUTES); Revoked */
    ATT_STEP_TCB_LEVEL,   /* no TCB level matches the platform, or its level is Revoked */
};

/* Intel's TCB status strings (dcap.md §7.2, §8.6). NOT_EVALUATED: verified without collateral.
 * A verified result is never REVOKED: like Intel's QvE, att_verify() refuses a Revoked platform,
 * TDX module or QE level (ERR_ATT_TCB_REVOKED at the step of the level that was revoked). */
enum att_tcb_status {
    ATT_TCB_NOT_EVALUATED,
    ATT_TCB_UP_TO_DATE,
    ATT_TCB_SW_HARDENING_NEEDED,
    ATT_TCB_CONFIGURATION_NEEDED,
    ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    ATT_TCB_OUT_OF_DATE,
    ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
    ATT_TCB_REVOKED,
    ATT_TCB_TD_RELAUNCH_ADVISED,
    ATT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
};

#define ATT_DETAIL_MAX 320

/* What att_verify() found. A plain value: nothing to free. Identity fields are filled as soon as
 * the quote parsed (`parsed`), the PCK fields once the chain did (`has_pck`), so a refusal still
 * says what was presented. Only `verified` says the quote is genuine. */
struct att_result {
    bool verified;
    enum att_step failed_step; /* ATT_STEP_NONE when verified */
    int error;                 /* the ERR_* of the failure, 0 when verified */
    char detail[ATT_DETAIL_MAX];

    enum att_tcb_status tcb_status; /* the combined status (dcap.md §8.5) */
    enum att_tcb_status platform_tcb_status, qe_tcb_status, tdx_module_tcb_status;
    size_t advisory_count;
    char advisory_ids[QY_ATT_ADVISORIES_MAX][QY_ATT_ADVISORY_ID_MAX + 1];
    bool collateral_checked;   /* false with no_collateral: TCB status NOT_EVALUATED */
    bool root_ca_crl_checked;  /* false when the source had no Root CA CRL */
    bool insecure_root;        /* the chain ends at an insecure extra root, not Intel's */
    int64_t collateral_expiry; /* earliest nextUpdate of the collateral used (0 if none) */
    /* not verified because of what the collateral source served (an item that failed its own
     * checks, or one outside its validity window), not because of the quote: worth a retry */
    bool collateral_fault;

    bool parsed;
    uint16_t version;
    uint32_t tee_type;
    enum att_body_type body_type;
    uint16_t qe_svn, pce_svn;
    bool debug; /* SGX ATTRIBUTES.DEBUG or TDATTRIBUTES.DEBUG */
    uint8_t report_data[64];
    struct att_sgx_report sgx; /* SGX quotes: MRENCLAVE, MRSIGNER, ISVPRODID, ISVSVN... */
    struct att_td_report td;   /* TDX quotes: MRTD, RTMR0-3, MRSEAM, TD attributes... */
    uint16_t qe_isvsvn;

    bool has_pck;
    struct att_pck_ext pck; /* FMSPC, PCE-ID, TCB components, PCESVN */
    enum att_pck_ca pck_ca;
};

QY_API const char *att_step_name(enum att_step s);             /* "quote_signature" */
QY_API const char *att_tcb_status_name(enum att_tcb_status s); /* "UpToDate", "NotEvaluated" */
/* Intel's spelling ("SWHardeningNeeded"), exact case. ERR_RANGE for unknown names. */
QY_API int att_tcb_status_parse(const char *name, enum att_tcb_status *out) QY_MUST_USE;
/* The result as the JSON `quarry quote verify --json` prints: {"verified","failedStep","error",
 * "detail","tcbStatus","advisoryIds","teeType","version","mrenclave",...}. Owned (json_decref). */
QY_API int att_result_to_json(const struct att_result *r, json_t **out) QY_MUST_USE;

/* Collateral sources ----------------------------------------------------------------------------
 */

enum att_collateral_kind {
    ATT_COLLATERAL_TCB_INFO,    /* per TEE type and FMSPC */
    ATT_COLLATERAL_QE_IDENTITY, /* per TEE type (QE or TD_QE) */
    ATT_COLLATERAL_PCK_CRL,     /* per PCK CA (processor or platform) */
    ATT_COLLATERAL_ROOT_CA_CRL, /* one */
};

struct att_collateral_request {
    enum att_collateral_kind kind;
    uint32_t tee_type; /* enum att_tee_type */
    uint8_t fmspc[6];
    enum att_pck_ca ca;
};

/* What a source returns: the response body exactly as served (JSON for TCB Info and QE Identity; a
 * CRL in PEM, DER or hex) and, when the source has it, the issuer chain (PEM, signer first). */
struct att_collateral_item {
    struct buf body;
    struct buf issuer_chain;
};

/* A source. fetch() is called from many threads at once (for different requests); it fills `out`
 * (empty on entry) and returns 0, ERR_NOT_FOUND when the source has no such item (only the Root CA
 * CRL may be missing), or another ERR_* when it failed. free() releases ctx. */
struct att_collateral_ops {
    int (*fetch)(void *ctx, const struct att_collateral_request *req,
                 struct att_collateral_item *out);
    void (*free)(void *ctx);
    /* fetch() may wait on the network (a PCCS): a background_fetch verifier calls it only from its
     * own threads. A local source (a directory) is read in line, like a file. */
    bool remote;
};

struct att_collateral_source;

/* Wraps ops+ctx as a source named `name` (copied, for messages). Takes ownership of ctx, also on
 * failure (ops->free is called). Returns an owned source, free with att_collateral_source_free. */
QY_API int att_collateral_source_new(const char *name, const struct att_collateral_ops *ops,
                                     void *ctx, struct att_collateral_source **out) QY_MUST_USE;
/* A directory in the layout of ../shared/vectors/<name>: tcb_info.json (or tcb_info_<fmspc>.json),
 * qe_identity.json, tcb_info_issuer_chain.pem, qe_identity_issuer_chain.pem (either chain stands in
 * for the other: both are the TCB Signing certificate), pck_crl.{der,pem,hex,crl} (or
 * pck_crl_<processor|platform>.*), root_ca_crl.{der,pem,hex,crl} (optional). Files are read on each
 * fetch; the verifier caches. Returns an owned source. */
QY_API int att_collateral_dir_new(const char *dir, struct att_collateral_source **out) QY_MUST_USE;
/* Calls the source's fetch; `out` is owned by the caller (att_collateral_item_free). */
QY_API int att_collateral_fetch(struct att_collateral_source *s,
                                const struct att_collateral_request *req,
                                struct att_collateral_item *out) QY_MUST_USE;
QY_API const char *att_collateral_source_name(const struct att_collateral_source *s);
QY_API void att_collateral_item_free(struct att_collateral_item *it);
/* NULL-safe. */
QY_API void att_collateral_source_free(struct att_collateral_source *s);
/* Parses and verifies one item as a verifier would when it fetches it (for tools, tests and
 * fuzzing): TCB Info or QE Identity (format, TCB Signing chain to a trusted root, signature over
 * the exact bytes), or a CRL (format; the Root CA CRL's signature by a trusted root; a PCK CRL's
 * signature needs the quote's PCK CA and is checked by att_verify). Validity windows are not
 * checked here (they depend on the verification time). 0, or the error att_verify would report. */
QY_API int att_collateral_check(enum att_collateral_kind kind,
                                const struct att_collateral_item *item,
                                const struct view *insecure_extra_roots,
                                size_t insecure_extra_root_count) QY_MUST_USE;

/* Verifier ----------------------------------------------------------------------------------- */

/* What became of one collateral fetch (att_verifier_config.on_fetch): the item passed every check;
 * the source has none (only the Root CA CRL may be absent); the source failed (network, HTTP
 * status, timeout); or what it served failed a check (format, signature, wrong FMSPC or issuer). */
enum att_fetch_outcome { ATT_FETCH_OK, ATT_FETCH_ABSENT, ATT_FETCH_FAILED, ATT_FETCH_REJECTED };
QY_API const char *att_fetch_outcome_name(enum att_fetch_outcome o);    /* "ok", "absent", ... */
QY_API const char *att_collateral_kind_name(enum att_collateral_kind k); /* "tcb_info", ... */

struct att_verifier_config {
    /* Where collateral comes from. Consumed by att_verifier_new (also on failure). NULL only with
     * no_collateral. */
    struct att_collateral_source *collateral;
    /* Never fetch from a remote source on the calling thread (see the header comment): missing
     * collateral is fetched by QY_ATT_FETCH_THREADS threads of the verifier and att_verify()
     * reports ERR_ATT_COLLATERAL_PENDING meanwhile; cached items are refreshed before they expire.
     * Without effect for local sources. */
    bool background_fetch;
    /* Optional: called after every fetch, from the thread that fetched (metrics). Failures are
     * also logged as warnings with the source and the cause. */
    void (*on_fetch)(void *ctx, enum att_collateral_kind kind, enum att_fetch_outcome outcome);
    void *on_fetch_ctx;
    /* Check only the quote's structure, signatures, QE binding and PCK chain (no CRLs, no TCB
     * evaluation): results say tcb_status NOT_EVALUATED. */
    bool no_collateral;
    /* Roots trusted besides Intel's (X.509 certificates, PEM or DER, P-256 keys): the testkit's
     * emulated root. Insecure by definition; copied. At most QY_ATT_EXTRA_ROOTS_MAX. */
    const struct view *insecure_extra_roots;
    size_t insecure_extra_root_count;
};

struct att_verifier;

/* Returns an owned verifier (att_verifier_free). ERR_CERT when an extra root does not parse. */
QY_API int att_verifier_new(const struct att_verifier_config *cfg,
                            struct att_verifier **out) QY_MUST_USE;
/* NULL-safe; no att_verify() may be running. Waits for background fetches in flight (each ends
 * by its source's deadline). */
QY_API void att_verifier_free(struct att_verifier *v);

/* Verifies `quote` (borrowed; a DCAP quote, bare or in MarbleRun's OpenEnclave envelope, see
 * att_strip_oe_envelope) at `at_unix_seconds`. Returns 0 when the verification ran - then
 * out->verified is the verdict, and when false out->failed_step/error/detail say why - or a
 * negative ERR_* when it could not run (out of memory, a bug). A quote whose platform matches no
 * TCB level does not verify; any TCB status of a matched level does (the policy decides). When the
 * collateral could not be had, failed_step is ATT_STEP_COLLATERAL and error ERR_ATT_NO_COLLATERAL
 * (the source failed; the detail names it and the cause) or, with background_fetch,
 * ERR_ATT_COLLATERAL_PENDING (being fetched): neither says anything about the quote. Safe to call
 * from many threads at once. */
QY_API int att_verify(struct att_verifier *v, struct view quote, int64_t at_unix_seconds,
                      struct att_result *out) QY_MUST_USE;

/* Package policy (reference/marblerun.md §1.2, §5.3) ---------------------------------------------
 */

/* A MarbleRun package as a policy. Strings are borrowed. unique_id/signer_id: hex, NULL or "" for
 * "any", compared case-insensitively with hex(MRENCLAVE)/hex(MRSIGNER) (TDX: unique_id with
 * hex(MRTD); signer_id, product_id and security_version do not apply to TDX and refuse if set).
 * accepted_tcb_statuses: UpToDate is always accepted; an empty list means {SWHardeningNeeded} as
 * well (MarbleRun's default); otherwise exactly the listed statuses. accepted_advisories: when the
 * status is SWHardeningNeeded and the list is not empty, every reported advisory ID must be listed
 * (case-insensitive). */
struct att_policy {
    bool debug; /* must equal the quote's debug flag exactly */
    const char *unique_id;
    const char *signer_id;
    bool has_product_id;
    uint64_t product_id;
    bool has_security_version;
    uint64_t security_version; /* minimum ISVSVN */
    const char *const *accepted_tcb_statuses;
    size_t accepted_tcb_status_count;
    const char *const *accepted_advisories;
    size_t accepted_advisory_count;
};

/* Which rule refused, and why ("MRENCLAVE 00ab... does not match UniqueID 1234..."). */
struct att_refusal {
    const char *rule; /* "Verified", "AcceptedTCBStatuses", "AcceptedAdvisories", "Debug",
                         "UniqueID", "SignerID", "ProductID", "SecurityVersion"; static */
    char reason[ATT_DETAIL_MAX];
};

/* 0 when `result` (a verified quote) satisfies `policy`; ERR_POLICY with `out` (and err_detail)
 * saying which rule refused. Rules run in MarbleRun's order: verification, TCB status, advisories,
 * Debug, UniqueID, SignerID, ProductID, SecurityVersion. `out` may be NULL. */
QY_API int att_policy_check(const struct att_policy *policy, const struct att_result *result,
                            struct att_refusal *out) QY_MUST_USE;

/* A policy file (policy_file.c): the package a Coordinator must be, as `quarry --policy` and
 * quarry-premain read it. MarbleRun's era config {"coordinator": {...}} or a bare package object with
 * a manifest package's members (Debug, UniqueID, SignerID, ProductID, SecurityVersion,
 * AcceptedTCBStatuses, AcceptedAdvisories), names matched case-insensitively. Refused: not an
 * object (ERR_TYPE), a member of the wrong type or a negative integer (ERR_TYPE), a member named
 * twice (ERR_DUPLICATE), more than QY_ATT_ACCEPTED_STATUSES_MAX statuses or
 * QY_ATT_ACCEPTED_ADVISORIES_MAX advisories (ERR_TOO_LARGE), neither UniqueID nor SignerID
 * (ERR_INVALID_ARG: the policy would accept any enclave). Other members are ignored. */
struct att_policy_file;

/* Parses `text` (borrowed, at most QY_JSON_MAX_SIZE); `name` (borrowed) names it in messages.
 * Returns an owned policy file (att_policy_file_free). */
QY_API int att_policy_file_parse(struct view text, const char *name,
                                 struct att_policy_file **out) QY_MUST_USE;
/* Reads the file at `path` and parses it. Returns an owned policy file. */
QY_API int att_policy_file_load(const char *path, struct att_policy_file **out) QY_MUST_USE;
/* The policy, borrowed from `f` (its strings live as long as `f`). */
QY_API const struct att_policy *att_policy_file_policy(const struct att_policy_file *f);
QY_API void att_policy_file_free(struct att_policy_file *f); /* NULL-safe */

/* Quote sources -------------------------------------------------------------------------------- */

/* What produces this process's own quotes. Specs:
 *   emulated:DIR     real-format SGX v3 quotes signed with the testkit in DIR, for the identity in
 *                    DIR/enclave.json (INSECURE: anyone with DIR can forge quotes)
 *   emulated:DIR,mrenclave=HEX,mrsigner=HEX,isvprodid=N,isvsvn=N,debug
 *                    the same with any of these fields of the identity replaced (TEST ONLY: one kit
 *                    plays several enclaves, e.g. the demo's marbles); DIR may not contain ','
 *   simulation       no quote at all (an empty quote), MarbleRun's simulation mode (INSECURE)
 *   gramine[:ROOT]   Gramine: 64 bytes to ROOT/user_report_data, the quote from ROOT/quote
 *                    (ROOT defaults to /dev/attestation)
 *   tsm[:ROOT]       Linux configfs-tsm: a report entry under ROOT (default
 *                    /sys/kernel/config/tsm/report): inblob in, outblob out (TDX)
 * Roots are configurable so tests run against fake directories. */
struct att_source;

/* Returns an owned source (att_source_free); ERR_INVALID_ARG for unknown specs. */
QY_API int att_source_new(const char *spec, struct att_source **out) QY_MUST_USE;
/* Appends a quote over `report_data` to `quote` (nothing for simulation). Thread-safe. */
QY_API int att_source_quote(struct att_source *s, const uint8_t report_data[64],
                            struct buf *quote) QY_MUST_USE;
/* The daemon must say these loudly: they give no hardware guarantee. */
QY_API bool att_source_is_simulation(const struct att_source *s);
QY_API bool att_source_is_emulated(const struct att_source *s);
QY_API const char *att_source_name(const struct att_source *s); /* "emulated", "gramine", ... */
QY_API void att_source_free(struct att_source *s);              /* NULL-safe */

/* Testkit: an emulated Intel PKI (TEST ONLY) ------------------------------------------------------
 */

/* Faults a kit can bake into its collateral (init) or its quotes (quote). The last two are quirks
 * Intel's verifier tolerates: quotes with them must verify as if they had none. */
enum att_testkit_fault {
    ATT_TK_FAULT_REVOKED_PCK = 1u << 0,        /* the PCK certificate is in the PCK CRL */
    ATT_TK_FAULT_REVOKED_PCK_CA = 1u << 1,     /* the PCK CA is in the Root CA CRL */
    ATT_TK_FAULT_EXPIRED_COLLATERAL = 1u << 2, /* TCB Info and QE Identity expired 30 days ago */
    ATT_TK_FAULT_BAD_TCB_INFO_SIGNATURE = 1u << 3, /* TCB Info signature over other bytes */
    ATT_TK_FAULT_BAD_QE_IDENTITY_SIGNATURE = 1u << 4,
    ATT_TK_FAULT_BAD_QE_BINDING = 1u << 5,          /* QE report data does not bind the key */
    ATT_TK_FAULT_BAD_QE_REPORT_SIGNATURE = 1u << 6, /* QE report signature does not verify */
    ATT_TK_FAULT_BAD_SIGNATURE = 1u << 7,           /* quote signature does not verify */
    ATT_TK_FAULT_PEM_STRAY_BYTES = 1u << 8,  /* text without '-' around the PEM certificates, and
                                                more after the chain's NUL */
    ATT_TK_FAULT_SIG_DATA_SURPLUS = 1u << 9, /* the signature data size counts 46 zero bytes after
                                                the certification data */
};
/* "revoked-pck", "revoked-pck-ca", "expired-collateral", "bad-tcb-info-signature",
 * "bad-qe-identity-signature", "bad-qe-binding", "bad-qe-report-signature", "bad-signature",
 * "pem-stray-bytes", "sig-data-surplus" */
QY_API int att_testkit_fault_parse(const char *name, unsigned *out) QY_MUST_USE;

struct att_testkit_options {
    int64_t now;                    /* issue time of everything; default the clock */
    enum att_tcb_status tcb_status; /* the platform's TCB level status; default UpToDate */
    bool tcb_no_match;              /* put every TCB level above the platform */
    const char *const *advisories;  /* on the platform's level when not UpToDate; default one */
    size_t advisory_count;
    enum att_tcb_status qe_tcb_status; /* UpToDate, OutOfDate or Revoked; default UpToDate */
    enum att_pck_ca ca;                /* default processor */
    uint8_t fmspc[6];
    uint8_t pceid[2];
    uint8_t tcb_components[16];
    uint16_t pcesvn;
    uint16_t qe_isvsvn;
    unsigned faults; /* enum att_testkit_fault, baked into DIR/testkit.json and the collateral */
    const char *pki_from; /* reuse the root, PCK CA and TCB signing keys of this kit (same root) */
};

/* Fills the defaults (a platform with FMSPC 00906ED50000, Processor CA, UpToDate). */
QY_API void att_testkit_options_init(struct att_testkit_options *o);
/* Creates DIR (mode 0700) with a fresh emulated PKI and collateral in the vectors' layout:
 * root_ca.pem (pass it as the insecure extra root), pck_chain.pem, tcb_info.json,
 * tcb_info_issuer_chain.pem, qe_identity.json, qe_identity_issuer_chain.pem, pck_crl.der,
 * pck_crl_issuer_chain.pem, root_ca_crl.der, enclave.json (the emulated source's default
 * identity), testkit.json, and the private keys *.key (TEST ONLY). `o` NULL = defaults. */
QY_API int att_testkit_init(const char *dir, const struct att_testkit_options *o) QY_MUST_USE;

struct att_testkit_quote_params {
    uint8_t mrenclave[32];
    uint8_t mrsigner[32];
    uint16_t isvprodid, isvsvn;
    bool debug;
    uint8_t report_data[64];
    unsigned faults; /* quote faults, added to the kit's own */
};

struct att_testkit;
/* Loads a kit made by att_testkit_init. Returns an owned handle (att_testkit_free). */
QY_API int att_testkit_open(const char *dir, struct att_testkit **out) QY_MUST_USE;
/* Appends a signed SGX v3 quote for `p`. Thread-safe; one ECDSA signature per quote. */
QY_API int att_testkit_quote(const struct att_testkit *tk, const struct att_testkit_quote_params *p,
                             struct buf *out) QY_MUST_USE;
/* The identity in DIR/enclave.json, as quote params (faults 0, report data zero). */
QY_API int att_testkit_default_identity(const struct att_testkit *tk,
                                        struct att_testkit_quote_params *out) QY_MUST_USE;
/* The emulated root certificate (PEM), borrowed from the kit. */
QY_API struct view att_testkit_root_pem(const struct att_testkit *tk);
QY_API const char *att_testkit_dir(const struct att_testkit *tk);
QY_API void att_testkit_free(struct att_testkit *tk); /* NULL-safe */

/* Conveniences for tests: a verifier trusting the kit's root with the kit's directory as
 * collateral; a quote source over an open kit for a given identity (the kit must outlive it). */
QY_API int att_testkit_verifier_new(const struct att_testkit *tk,
                                    struct att_verifier **out) QY_MUST_USE;
QY_API int att_source_new_emulated(const struct att_testkit *tk,
                                   const struct att_testkit_quote_params *id,
                                   struct att_source **out) QY_MUST_USE;

#endif
