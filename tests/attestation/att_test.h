/* Helpers shared by the attestation test files: temporary directories, testkits, vectors. */
#ifndef QUARRY_TEST_ATT_TEST_H
#define QUARRY_TEST_ATT_TEST_H

#include "attestation/attestation.h"
#include "qt.h"

/* A fresh directory under /tmp (out has room for 64 bytes); removed with at_rmdir. */
void at_tmpdir(char out[64]);
void at_rmdir(const char *dir);
/* "2025-07-01T00:00:00Z" -> Unix seconds (aborts the test on a bad time). */
int64_t at_time(const char *rfc3339);

/* A testkit in a fresh directory (options NULL = defaults), opened. */
struct at_kit {
    char dir[64];
    struct att_testkit *tk;
    struct att_testkit_quote_params id;
};
void at_kit_new(const struct att_testkit_options *o, struct at_kit *k);
void at_kit_free(struct at_kit *k);
/* A quote of the kit's default identity with `report_byte` in every report data byte. */
void at_kit_quote(const struct at_kit *k, uint8_t report_byte, unsigned faults, struct buf *out);
/* att_verify through a fresh verifier trusting the kit (directory collateral), at now. */
void at_kit_verify(const struct at_kit *k, struct view quote, struct att_result *res);

/* A verifier with directory collateral `dir` (or none when dir is NULL) and optional extra root. */
struct att_verifier *at_verifier(const char *dir, struct view extra_root);

/* Names of the vector folders with an expected.json (static storage, NULL-terminated). */
const char *const *at_vector_names(void);
/* vectors/<name>/<file> under ../shared. */
const char *at_vector_path(const char *name, const char *file);
json_t *at_expected(const char *name);

/* Hex of bytes, lower case, into a static buffer (for comparisons). */
const char *at_hex(const void *p, size_t size);

#endif
