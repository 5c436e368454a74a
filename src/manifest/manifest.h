/*
 * manifest - MarbleRun manifests: parse (JSON, YAML, legacy), validate, look up.
 *
 * What it does. manifest_parse() decodes a manifest the way MarbleRun's Go decoder does
 * (reference/marblerun.md §1.0): struct keys match case-insensitively, unknown keys are ignored but
 * reported as warnings with their JSON path, `File` values take both forms with their encodings
 * decoded at parse time, ProductID/SecurityVersion distinguish absent from 0. It is stricter than Go
 * where Go is unsafe: duplicate keys (also case-insensitive ones such as "Packages"/"packages"),
 * oversize or deeply nested input are errors. YAML is converted to JSON first (anchors and aliases
 * refused), and the legacy ServiceID/Version/RequiredCapabilities format is converted to a full
 * manifest with a deprecation warning; in both cases the raw bytes and the fingerprint are those of
 * the converted JSON. manifest_check() applies every rule of §1.11 and the set-time checks after it
 * (secret sizes, user certificates, recovery keys), reporting all problems, each with its path.
 * Further checks (the template dry run) plug in through struct manifest_checker.
 *
 * What it does not do: no secrets are generated and no templates run here; the manifest is data.
 *
 * Ownership. A struct manifest owns everything it points to (one arena); it is immutable after
 * manifest_parse() returns and may be shared read-only between threads. Lists keyed by name are
 * sorted by name (byte order), so iteration is deterministic; look-ups are binary searches.
 */
#ifndef QUARRY_MANIFEST_MANIFEST_H
#define QUARRY_MANIFEST_MANIFEST_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

enum mf_format { MF_FORMAT_AUTO, MF_FORMAT_JSON, MF_FORMAT_YAML };
enum mf_encoding { MF_ENC_STRING, MF_ENC_BASE64, MF_ENC_HEX };
enum mf_secret_type {
    MF_SECRET_SYMMETRIC_KEY,
    MF_SECRET_CERT_RSA,
    MF_SECRET_CERT_ECDSA,
    MF_SECRET_CERT_ED25519,
    MF_SECRET_PLAIN,
    MF_SECRET_UNKNOWN,
};
enum mf_resource_type { MF_RES_UNKNOWN, MF_RES_PACKAGES, MF_RES_SECRETS, MF_RES_MANIFEST };
enum mf_seal_mode { MF_SEAL_PRODUCT_KEY, MF_SEAL_UNIQUE_KEY, MF_SEAL_DISABLED, MF_SEAL_UNKNOWN };

/* Feature gates (Config.FeatureGates), as bits. */
enum { MF_FEATURE_SIGN_QUOTE = 1u << 0, MF_FEATURE_MONOTONIC_COUNTER = 1u << 1 };

/* Go x509 KeyUsage bits and ExtKeyUsage values (reference §1.5.1). */
enum {
    MF_KU_DIGITAL_SIGNATURE = 1, MF_KU_CONTENT_COMMITMENT = 2, MF_KU_KEY_ENCIPHERMENT = 4,
    MF_KU_DATA_ENCIPHERMENT = 8, MF_KU_KEY_AGREEMENT = 16, MF_KU_CERT_SIGN = 32, MF_KU_CRL_SIGN = 64,
    MF_KU_ENCIPHER_ONLY = 128, MF_KU_DECIPHER_ONLY = 256,
};
enum { MF_EKU_ANY = 0, MF_EKU_SERVER_AUTH = 1, MF_EKU_CLIENT_AUTH = 2, MF_EKU_MAX = 13 };

struct mf_strings {
    const char **items;
    size_t count;
};

struct mf_opt_u64 {
    bool set;
    uint64_t value;
};

struct mf_opt_time {
    bool set;
    int64_t unix_seconds;
};

struct mf_u64s {
    uint64_t *items;
    size_t count;
};

struct mf_package {
    const char *name;
    bool debug;
    const char *unique_id; /* "" when absent; compared case-insensitively as hex */
    const char *signer_id;
    struct mf_opt_u64 product_id;
    struct mf_opt_u64 security_version;
    struct mf_strings accepted_tcb_statuses;
    struct mf_strings accepted_advisories;
};

/* Parsed but not enforced, as in MarbleRun (§1.3). */
struct mf_infrastructure {
    const char *name;
    struct view cpusvn;
    struct mf_opt_u64 qesvn, pcesvn;
    struct view root_ca;
};

/* A Files or Env entry; `data` is already decoded from its Encoding. */
struct mf_file {
    const char *name; /* path (Files) or variable name (Env) */
    struct view data;
    enum mf_encoding encoding;
    bool no_templates;
};

struct mf_files {
    struct mf_file *items;
    size_t count;
};

struct mf_parameters {
    struct mf_files files;
    struct mf_files env;
    struct mf_strings argv;
};

struct mf_marble {
    const char *name;
    const char *package;
    uint64_t max_activations; /* 0 = unlimited */
    struct mf_parameters params;
    struct mf_strings tls;
    bool disable_secret_binding;
};

struct mf_name {
    struct mf_strings country, organization, organizational_unit, locality, province,
        street_address, postal_code;
    const char *serial_number;
    const char *common_name;
};

struct mf_cert_template {
    struct mf_name subject;
    struct mf_opt_time not_after; /* Go's zero time counts as unset */
    uint64_t key_usage;
    struct mf_u64s ext_key_usage;
    struct mf_strings dns_names, email_addresses, ip_addresses, uris;
    bool is_ca;
    bool basic_constraints_valid;
    int64_t max_path_len;
    bool max_path_len_zero;
};

struct mf_secret {
    const char *name;
    const char *type_name;
    enum mf_secret_type type;
    uint64_t size; /* bits */
    bool shared;
    bool user_defined;
    struct mf_cert_template cert;
    uint64_t valid_for; /* days; 0 = default (365) unless cert.not_after.set */
};

struct mf_user {
    const char *name;
    const char *certificate; /* PEM as given */
    struct view certificate_der;
    struct mf_strings roles;
};

struct mf_role {
    const char *name;
    const char *resource_type_name;
    enum mf_resource_type resource_type;
    struct mf_strings resource_names;
    struct mf_strings actions; /* as given; compare case-insensitively */
};

struct mf_recovery_key {
    const char *name;
    const char *pem;
    int bits; /* RSA modulus size, set by manifest_check */
};

struct mf_tls_entry {
    const char *port;
    const char *addr;
    const char *cert;
    bool disable_client_auth;
};

struct mf_tls_entries {
    struct mf_tls_entry *items;
    size_t count;
};

struct mf_tls_tag {
    const char *name;
    struct mf_tls_entries outgoing;
    struct mf_tls_entries incoming;
};

struct mf_config {
    const char *seal_mode_name; /* "" when absent */
    enum mf_seal_mode seal_mode;
    struct mf_strings feature_gates;
    unsigned features; /* MF_FEATURE_* bits of the known gates */
    uint64_t update_threshold;
    uint64_t recovery_threshold;
    bool rotate_root_secret;
};

struct manifest {
    struct arena arena;
    struct view raw;    /* the JSON bytes stored, hashed and signed */
    uint8_t fingerprint[32]; /* SHA-256 of raw */
    bool legacy;        /* converted from the legacy format */
    bool from_yaml;     /* converted from YAML */

    struct { struct mf_package *items; size_t count; } packages;
    struct { struct mf_infrastructure *items; size_t count; } infrastructures;
    struct { struct mf_marble *items; size_t count; } marbles;
    struct { struct mf_secret *items; size_t count; } secrets;
    struct { struct mf_user *items; size_t count; } users;
    struct { struct mf_role *items; size_t count; } roles;
    struct { struct mf_recovery_key *items; size_t count; } recovery_keys;
    struct { struct mf_tls_tag *items; size_t count; } tls;
    struct mf_config config;
};

/*
 * Decode `input` (borrowed; copied) into a new manifest. Warnings and errors go to `d` (which must
 * be initialised). Returns 0 and the manifest in *out when the document decodes (warnings allowed);
 * ERR_MANIFEST when it does not (every decode error is in `d`), or another code for failures that
 * are not about the document (out of memory). *out is NULL on failure; free with manifest_free().
 */
QY_API int manifest_parse(struct view input, enum mf_format format, struct diag *d,
                          struct manifest **out) QY_MUST_USE;
QY_API void manifest_free(struct manifest *m);

/* An extra validation pass (e.g. the template dry run), run by manifest_check after its own rules
 * pass. It adds errors and warnings to `d`. */
struct manifest_checker {
    const char *name;
    void (*check)(void *ctx, const struct manifest *m, struct diag *d);
    void *ctx;
};

/* All validation rules; every problem is added to `d`. 0 when there is no error, ERR_MANIFEST
 * otherwise. Not const: records each recovery key's size. `checkers` may be NULL. */
QY_API int manifest_check(struct manifest *m, const struct manifest_checker *checkers,
                          size_t checkers_count, struct diag *d) QY_MUST_USE;

/* Parse then check. */
QY_API int manifest_load(struct view input, enum mf_format format,
                         const struct manifest_checker *checkers, size_t checkers_count,
                         struct diag *d, struct manifest **out) QY_MUST_USE;

/* The converted JSON of a legacy or YAML input (or the input itself when it is already JSON in the
 * current format), appended to `out`. Warnings and errors go to `d`. */
QY_API int manifest_migrate(struct view input, struct diag *d, struct buf *out) QY_MUST_USE;

/* A package-only manifest (§1.12): no Infrastructures, Marbles, Users, RecoveryKeys, Roles, Secrets
 * or TLS. */
QY_API bool manifest_is_update(const struct manifest *m);

/* Look-ups by exact name; NULL when absent. Borrowed from m. */
QY_API const struct mf_package *manifest_package(const struct manifest *m, const char *name);
QY_API const struct mf_marble *manifest_marble(const struct manifest *m, const char *name);
QY_API const struct mf_secret *manifest_secret(const struct manifest *m, const char *name);
QY_API const struct mf_user *manifest_user(const struct manifest *m, const char *name);
QY_API const struct mf_role *manifest_role(const struct manifest *m, const char *name);
QY_API const struct mf_tls_tag *manifest_tls_tag(const struct manifest *m, const char *name);

QY_API const char *mf_secret_type_name(enum mf_secret_type t);
QY_API bool mf_secret_is_cert(enum mf_secret_type t);
/* Lowercase hex of the fingerprint (65 bytes with NUL). */
QY_API void manifest_fingerprint_hex(const struct manifest *m, char out[65]);

#endif
