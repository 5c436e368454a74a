/* Private to manifest/: the decoding context and the pieces shared between its files. */
#ifndef QUARRY_MANIFEST_INT_H
#define QUARRY_MANIFEST_INT_H

#include "manifest.h"

/* Decoding state: where we are (for messages), where problems go, where memory comes from. */
struct mf_ctx {
    struct manifest *m;
    struct diag *d;
    struct jpath path;
    bool nomem;
};

void mf_error(struct mf_ctx *c, const char *fmt, ...) QY_PRINTF(2, 3);
void mf_warn(struct mf_ctx *c, const char *fmt, ...) QY_PRINTF(2, 3);

/* JSON -> struct manifest (the document has passed js_parse). */
void mf_decode(struct mf_ctx *c, json_t *root);

/* YAML text -> JSON value (owned), converted as MarbleRun's CLI does. Errors go to d. */
int mf_yaml_to_json(struct view yaml, struct diag *d, json_t **out) QY_MUST_USE;
/* The JSON bytes MarbleRun's CLI would upload for a converted document: compact, sorted keys,
 * Go's HTML-safe escaping. */
int mf_json_canonical(const json_t *j, struct buf *out) QY_MUST_USE;

/* Legacy format. */
bool mf_legacy_detect(const json_t *root);
int mf_legacy_convert(const json_t *root, struct diag *d, json_t **out) QY_MUST_USE;

/* The rules of reference §1.11 and the set-time checks. */
void mf_check_rules(struct manifest *m, struct diag *d);

#endif
