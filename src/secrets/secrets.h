/*
 * secrets - the manifest's secrets: generation, per-marble derivation, user uploads, serialisation
 * (reference/marblerun.md §1.5, §7.4, §7.5, §9.4, §10.3-10.4).
 *
 * What it does. A struct sec_set maps names to values (type, size, flags, certificate DER,
 * private and public bytes) in MarbleRun's shapes. At manifest set, sec_generate_shared() makes the
 * shared secrets: symmetric keys from the RNG (Size/8 bytes), cert-rsa/cert-ecdsa/cert-ed25519
 * key pairs with a certificate from the manifest's Cert template and MarbleRun's defaults (§1.5.1:
 * DNSNames ["localhost"], IPAddresses [127.0.0.1, ::1], KeyUsage DigitalSignature|CertSign,
 * ExtKeyUsage ServerAuth+ClientAuth, CommonName = the single DNS name or "MarbleRun Generated
 * Certificate", validity ValidFor days, 365 by default, unless Cert.NotAfter), issued by pki under
 * the marble root; plain secrets empty; user-defined secrets as empty placeholders until uploaded.
 * Certificate secrets are generated on several threads (RSA key generation dominates).
 * At each activation, sec_generate_marble() makes the per-marble (non-shared) secrets: symmetric
 * keys derived with HKDF-SHA256 exactly as MarbleRun (§7.5: IKM = the 32-byte root secret, salt =
 * UUID || name, info = the marble type, or "" with DisableSecretBinding), certificates freshly
 * generated. sec_parse_user_secrets() checks an upload against the manifest (§9.4). Sets serialise
 * to and from MarbleRun's JSON (GET /secrets, the sealed store).
 *
 * What it does not do. It holds no CA key (pki issues), decides no permissions (the Coordinator
 * does), stores nothing, and renders no template (the Coordinator bridges a set to template's
 * look-up callback with sec_find()).
 *
 * Secrets in memory live in struct buf (wiped when freed); they are compared in constant time by
 * callers that compare them, and never logged: error details name secrets, never show values.
 * Parsing (sec_set_parse_json, sec_parse_user_secrets) treats its input as hostile: bounded, every
 * field typed, certificates parsed. One caveat: jansson's own copies of parsed strings are freed
 * without wiping.
 *
 * Ownership and thread-safety. A sec_set owns its values; the functions that fill one clear it
 * first and leave it empty on failure. A set is owned by one thread at a time; distinct sets may be
 * used from distinct threads (generation for concurrent activations is safe: the CA handle is).
 */
#ifndef QUARRY_SECRETS_SECRETS_H
#define QUARRY_SECRETS_SECRETS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "manifest/manifest.h"
#include "pki/pki.h"

#define SEC_ROOT_SECRET_SIZE       32
#define SEC_DEFAULT_VALID_FOR_DAYS 365

struct sec_value {
    char *name;
    enum mf_secret_type type;
    uint64_t size; /* bits, as declared */
    bool shared;
    bool user_defined;
    uint64_t valid_for;     /* days, as MarbleRun records it (365 when defaulted) */
    struct buf cert;        /* DER, or empty */
    struct buf private_key; /* PKCS#8 DER, or the key/data bytes (secret) */
    struct buf public_key;  /* PKIX DER, or the key/data bytes */
};

struct sec_set {
    struct sec_value *items; /* sorted by name (byte order) */
    size_t count;
    size_t cap;
};

#define SEC_SET_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Wipes and frees every value; NULL-safe; leaves the set empty and reusable. */
QY_API void sec_set_free(struct sec_set *s);
/* The value named `name`, borrowed from the set; NULL when absent. */
QY_API const struct sec_value *sec_set_find(const struct sec_set *s, const char *name);
/* The first of `count` sets (borrowed) that has `name`: per-marble values over shared ones. */
QY_API const struct sec_value *sec_find(const struct sec_set *const *sets, size_t count,
                                        const char *name);
/* Stores a copy of `v` (borrowed), replacing a value of the same name. */
QY_API int sec_set_put(struct sec_set *s, const struct sec_value *v) QY_MUST_USE;
/* Stores a copy of every value of `src` into `dst` (e.g. accepted uploads into the stored set). */
QY_API int sec_set_merge(struct sec_set *dst, const struct sec_set *src) QY_MUST_USE;

/* Generation ----------------------------------------------------------------------------------- */

struct sec_gen {
    const struct pki_ca *ca; /* borrowed; issues certificate secrets */
    int64_t now;             /* NotBefore of certificates; 0: the clock */
    /* Generation threads; 0: the online CPUs (at most QY_SECRET_MAX_THREADS). Activations, which
     * already run concurrently, should pass 1; manifest set 0. */
    unsigned threads;
    /* Optional source of fresh key pairs (e.g. a pool the Coordinator fills in idle time, since
     * RSA-3072 generation takes ~0.4 s per key): returns 0 and an owned key of the type (and RSA
     * size) asked for, or a negative code to make one here. Called from the generation threads
     * concurrently. NULL: always generate here. */
    int (*key_source)(void *ctx, enum crypto_key_type type, unsigned rsa_bits,
                      struct crypto_key **out);
    void *key_ctx;
};

/* Values of `keep` that sec_generate_shared carries over instead of generating, when `keep` has a
 * value of the same name and definition (type, size, shared, user-defined): */
enum {
    SEC_KEEP_USER_DEFINED = 1u << 0, /* uploaded values (kept across updates, §10.4) */
    SEC_KEEP_SYMMETRIC = 1u << 1,    /* shared symmetric keys (kept unless RotateRootSecret) */
};

/* At manifest set (and update): one value for every secret of `m`, sorted by name. Shared secrets
 * are generated (or kept, see above); shared certificates are always issued anew (the intermediate
 * may have changed). User-defined secrets are empty until uploaded. Per-marble (non-shared)
 * secrets appear with their definition and empty values: they exist per activation only, never
 * delivered from this set. `keep` may be NULL. *out is cleared first. ERR_SECRET for definitions
 * that cannot be generated (sizes; the manifest checker already refuses them). */
QY_API int sec_generate_shared(const struct manifest *m, const struct sec_gen *g,
                               const struct sec_set *keep, unsigned keep_flags,
                               struct sec_set *out) QY_MUST_USE;

struct sec_marble {
    const char *uuid;                    /* canonical lowercase form (uuid_is_canonical) */
    const struct mf_marble *marble;      /* its name is the HKDF info unless DisableSecretBinding */
    const uint8_t *root_secret;          /* SEC_ROOT_SECRET_SIZE bytes */
    const uint8_t *previous_root_secret; /* for .Previous.Secrets; NULL: the same as root_secret */
};

/* At activation: the per-marble secrets (shared = false, user_defined = false) of `m` for one
 * marble instance, into `current`, and the same derived from previous_root_secret into `previous`
 * (may be NULL: not wanted). Symmetric keys are derived (HKDF, §7.5); certificates are generated
 * and issued now (previous gets copies of the same certificates: they are new at every activation
 * anyway); plain ones are empty. Both sets are cleared first. */
QY_API int sec_generate_marble(const struct manifest *m, const struct sec_gen *g,
                               const struct sec_marble *mb, struct sec_set *current,
                               struct sec_set *previous) QY_MUST_USE;

/* HKDF-SHA256 as MarbleRun derives per-marble symmetric keys: IKM = root_secret (32 bytes), salt =
 * uuid || secret_name, info = marble_type ("" with DisableSecretBinding), `size` bytes into out. */
QY_API int sec_derive_key(const uint8_t root_secret[SEC_ROOT_SECRET_SIZE], const char *uuid,
                          const char *secret_name, const char *marble_type, uint8_t *out,
                          size_t size) QY_MUST_USE;

/* User-defined secrets (§9.4) ------------------------------------------------------------------ */

/* Checks an upload, a JSON object name -> {"Cert": b64 DER, "Private": b64, "Key": b64} (Go field
 * names, matched case-insensitively, unknown members ignored, as MarbleRun's decoder), against the
 * manifest's definitions: the secret exists (ERR_SECRET) and is user-defined (ERR_SECRET_READONLY);
 * symmetric-key: Key of exactly Size/8 bytes, nothing else; cert-*: a Cert whose key fits the type,
 * no Key, Private (optional) a PKCS#8 key matching the certificate; plain: Key only (any bytes).
 * An empty object is ERR_BAD_REQUEST ("no new secrets defined"), malformed JSON too. The accepted
 * values (with their definitions) go to `out`, cleared first. The caller then runs the template
 * dry run with them (tpl_dry_run), checks permissions, and merges them into the stored set. */
QY_API int sec_parse_user_secrets(const struct manifest *m, struct view body,
                                  struct sec_set *out) QY_MUST_USE;
/* The same for an already parsed object (the "secrets" member of a v2 request), borrowed. */
QY_API int sec_parse_user_secrets_json(const struct manifest *m, const json_t *obj,
                                       struct sec_set *out) QY_MUST_USE;

/* JSON (MarbleRun's Secret shape) -----------------------------------------------------------------
 */

/* Appends a JSON object name -> {"Type","Size","Shared","UserDefined","Cert","ValidFor","Private",
 * "Public"} with []byte fields in standard base64 and empty ones as null, in name order. With
 * `names` (borrowed, `count` entries) only those secrets, each of which must exist (ERR_NOT_FOUND);
 * NULL for all. The output holds secrets: out should be a buf the caller wipes (buf_free does). */
QY_API int sec_set_write_json(const struct sec_set *s, const char *const *names, size_t count,
                              struct buf *out) QY_MUST_USE;
/* Parses what sec_set_write_json wrote (or MarbleRun's state): bounded by QY_SECRET_SET_MAX_SIZE,
 * known types, base64 fields, certificates that parse. ERR_SECRET (or the JSON error) with the
 * name and field in the detail. *out is cleared first. */
QY_API int sec_set_parse_json(struct view json, struct sec_set *out) QY_MUST_USE;

#endif
