/*
 * template - MarbleRun's subset of Go templates for marble parameters (reference/marblerun.md §2).
 *
 * What it does. Files and Env values of a marble are Go text/template sources over MarbleRun's data
 * model: `.Secrets.X`, `.Secrets.X.Cert|.Private|.Public`, `.Previous.Secrets.X[...]`,
 * `.MarbleRun.RootCA.Cert`, `.MarbleRun.MarbleCert.Cert|.Private|.Public`,
 * `.MarbleRun.CoordinatorRoot.Cert`, `.MarbleRun.CoordinatorIntermediate.Cert`, and the functions
 * pem, raw, hex, base64 and string, with MarbleRun's rules on where each may appear (raw not in
 * Env, string only in Env and only for plain secrets without NUL bytes) and its error semantics
 * (secret does not exist, tried to parse secret with empty value, invalid secret type for pem
 * encoding...). A real lexer and parser read the source: text, `{{ }}` actions with `{{-`/`-}}`
 * trimming, comment actions (a C-style comment right inside the braces), string literals, function
 * application `pem .X`, pipelines `.X | pem` and parenthesised pipelines; errors say "line:column:
 * what" ("1:4: unknown function \"pemm\""). if/range/with/define/template/block, variables and Go's
 * other builtins are refused with a clear "not supported" error rather than half-implemented.
 * NoTemplates values are delivered verbatim; Argv is never templated.
 *
 * Rendering yields segments: literal bytes, or "the marble's own private key in encoding E" for
 * `.MarbleRun.MarbleCert.Private` - the Coordinator certifies the marble's CSR and never holds that
 * key, so the premain fills these holes locally (DESIGN.md, Activation step 4; tpl_segments_fill).
 *
 * It also runs the dry run of §2.4 as a manifest checker: every non-NoTemplates File and Env of
 * every marble is parsed and executed against placeholder values (generated secrets and
 * user-defined ones as the 1-byte value 0x41, plain non-user-defined secrets empty, the reserved
 * certificates 0x41), each error reported with its path.
 *
 * What it does not do. It does not generate, store or know the origin of secrets: values come in
 * through struct tpl_data, a look-up callback the caller (the Coordinator, over the secrets
 * component's sets) implements, so template depends on base, crypto and manifest only.
 *
 * Ownership and thread-safety. A parsed struct tpl and a struct tpl_rendered own their memory (one
 * arena each, wiped when freed: rendered values contain secrets). Values seen through tpl_data are
 * borrowed for the duration of the call. Nothing here has global state; distinct objects may be
 * used from distinct threads, and a parsed template may be executed concurrently.
 */
#ifndef QUARRY_TEMPLATE_TEMPLATE_H
#define QUARRY_TEMPLATE_TEMPLATE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "manifest/manifest.h"

/* Where a template is used: the functions allowed differ (§2.3). */
enum tpl_context { TPL_FILE, TPL_ENV };

/* One secret as templates see it; the views are borrowed. For symmetric keys and plain secrets
 * private_key == public_key == the bytes. */
struct tpl_secret {
    enum mf_secret_type type;
    struct view cert;        /* DER, or empty */
    struct view private_key; /* PKCS#8 DER, or the key/data */
    struct view public_key;  /* PKIX DER, or the key/data */
};

/* The reserved values under .MarbleRun (borrowed). .MarbleRun.MarbleCert.Private is not here: it
 * renders as a TPL_SEG_PRIVATE_KEY hole. */
struct tpl_reserved {
    struct view root_ca_cert;                  /* .MarbleRun.RootCA.Cert: the marble root */
    struct view marble_cert;                   /* .MarbleRun.MarbleCert.Cert: the marble's leaf */
    struct view marble_public_key;             /* .MarbleRun.MarbleCert.Public: PKIX DER */
    struct view coordinator_root_cert;         /* .MarbleRun.CoordinatorRoot.Cert */
    struct view coordinator_intermediate_cert; /* .MarbleRun.CoordinatorIntermediate.Cert */
};

struct tpl_data {
    /* Finds secret `name` in the current (previous = false) or previous (.Previous.Secrets) set and
     * fills *out with borrowed views valid until the call that invoked it returns. False when there
     * is no such secret. */
    bool (*find)(void *ctx, bool previous, const char *name, struct tpl_secret *out);
    void *ctx;
    struct tpl_reserved reserved;
};

/* Rendered output ------------------------------------------------------------------------------ */

enum tpl_seg_kind { TPL_SEG_BYTES, TPL_SEG_PRIVATE_KEY };
enum tpl_key_encoding { TPL_KEY_PEM, TPL_KEY_RAW, TPL_KEY_HEX, TPL_KEY_BASE64 };

struct tpl_segment {
    enum tpl_seg_kind kind;
    struct view bytes;              /* TPL_SEG_BYTES: owned by the arena of the rendering */
    enum tpl_key_encoding encoding; /* TPL_SEG_PRIVATE_KEY: how the premain encodes its key */
};

/* One rendered File or Env entry: adjacent literal bytes are merged into one segment. */
struct tpl_value {
    const char *name; /* path or variable name */
    struct tpl_segment *segments;
    size_t count;
};

struct tpl_rendered {
    struct arena arena; /* owns everything below; wiped when freed */
    struct tpl_value *files;
    size_t files_count;
    struct tpl_value *env;
    size_t env_count;
};

/* Parsing and executing one template ------------------------------------------------------------
 */

struct tpl;

/* Parses `src` (borrowed; copied) for `ctx`. ERR_TEMPLATE with "line:column: message" as the
 * detail; ERR_TOO_LARGE over QY_TPL_MAX_SIZE. Returns an owned template (tpl_free). */
QY_API int tpl_parse(struct view src, enum tpl_context ctx, struct tpl **out) QY_MUST_USE;
QY_API void tpl_free(struct tpl *t);

/* Executes a parsed template: the segments are allocated in `arena` (the caller's; wiped when the
 * caller frees it), *segs and *count describe them. ERR_TEMPLATE with "line:column: message". */
QY_API int tpl_execute(const struct tpl *t, const struct tpl_data *data, struct arena *arena,
                       struct tpl_segment **segs, size_t *count) QY_MUST_USE;

/* Renders one marble's Files and Env (NoTemplates entries verbatim) for activation. With
 * TPL_PREDEFINED_ENV the variables of §2.5 are added after the manifest's and override same-named
 * ones: MARBLE_PREDEFINED_ROOT_CA, MARBLE_PREDEFINED_MARBLE_CERTIFICATE_CHAIN (leaf + coordinator
 * intermediate), MARBLE_PREDEFINED_PRIVATE_KEY (a PEM hole), MARBLE_PREDEFINED_COORDINATOR_ROOT_CA.
 * ERR_TEMPLATE with "Marbles.<m>.Parameters.Files.<path>: line:column: message" (or ...Env.<name>).
 * Returns an owned result (tpl_rendered_free). */
enum { TPL_PREDEFINED_ENV = 1u << 0 };
QY_API int tpl_render_marble(const struct mf_marble *mb, const struct tpl_data *data,
                             unsigned flags, struct tpl_rendered **out) QY_MUST_USE;
QY_API void tpl_rendered_free(struct tpl_rendered *r);

/* Segments ------------------------------------------------------------------------------------ */

/* True when there is no hole; then *out views the single literal (or is empty). */
QY_API bool tpl_segments_literal(const struct tpl_segment *segs, size_t count, struct view *out);
/* Concatenates the segments into `out`, filling each hole with `private_key_pkcs8` (borrowed; the
 * marble's own key, PKCS#8 DER) in the hole's encoding - what the premain does. */
QY_API int tpl_segments_fill(const struct tpl_segment *segs, size_t count,
                             struct view private_key_pkcs8, struct buf *out) QY_MUST_USE;
/* The wire names of the key encodings, those of the template functions: "pem", "raw", "hex",
 * "base64". Parsing an unknown name is ERR_BAD_REQUEST. */
QY_API const char *tpl_key_encoding_name(enum tpl_key_encoding e);
QY_API int tpl_key_encoding_parse(const char *name, enum tpl_key_encoding *out) QY_MUST_USE;
/* `private_key_pkcs8` (borrowed) in encoding `e`, appended to out: how a hole is filled. */
QY_API int tpl_key_encode(enum tpl_key_encoding e, struct view private_key_pkcs8, struct buf *out) QY_MUST_USE;

/* The dry run (§2.4) -------------------------------------------------------------------------- */

/* Parses and executes every non-NoTemplates File and Env of every marble of `m`, adding each error
 * to `d` at its path ("Marbles.web.Parameters.Files./etc/key.pem", message "1:4: ..."). Secrets
 * come from `values->find` where it has them (e.g. just-uploaded user secrets, §9.4) and are
 * placeholders otherwise; `values` may be NULL (placeholders only). Returns the number of errors
 * added. */
QY_API size_t tpl_dry_run(const struct manifest *m, const struct tpl_data *values, struct diag *d);

/* The dry run as a manifest_check pass (placeholders only). */
QY_API struct manifest_checker tpl_checker(void);

#endif
