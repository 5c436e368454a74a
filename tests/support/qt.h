/*
 * Test support shared by Quarry's test programs: where the test data and ../shared live, reading
 * files, manifests with test certificates spliced in, and diagnostics look-ups.
 */
#ifndef QUARRY_TEST_QT_H
#define QUARRY_TEST_QT_H

#include <criterion/criterion.h>
#include <stdbool.h>

#include "base/base.h"

/* ../shared next to the project, or NULL when it is absent. */
const char *qt_shared_dir(void);
#define QT_REQUIRE_SHARED()                                                                        \
    do {                                                                                           \
        if (qt_shared_dir() == NULL)                                                               \
            cr_skip_test("../shared is absent: skipping the shared-vector suite");                 \
    } while (0)

/* A path under tests/data or ../shared. */
const char *qt_data_path(const char *rel);
const char *qt_shared_path(const char *rel);

/* Reads a file whole; aborts the test on failure. */
void qt_read(const char *path, struct buf *out);

/* Replaces @CERT:name@ with tests/data/certs/name.crt and @PUBKEY:name@ with name.pub, both as
 * JSON string contents (escaped, without quotes). */
void qt_subst(const char *text, struct buf *out);
/* tests/data/manifests/<name> with substitutions, parsed. Owned by the caller. */
json_t *qt_manifest_json(const char *name);
/* Serialise j and run manifest_load on it (d must be initialised). Returns manifest_load's code;
 * the manifest is freed unless out is non-NULL. */
struct manifest;
int qt_load_json(const json_t *j, struct diag *d, struct manifest **out);

/* A certificate for `key` with CN `cn`, SANs localhost and 127.0.0.1, valid now, signed by
 * issuer_key (NULL: self-signed CA), DER appended to der. */
struct crypto_key;
void qt_make_cert(const char *cn, struct crypto_key *key, struct crypto_key *issuer_key, const char *issuer_cn,
                  struct buf *der);

/* True when d has an entry of `level` at exactly `path` whose message contains `needle`. */
bool qt_diag_has(const struct diag *d, enum diag_level level, const char *path, const char *needle);
/* Prints d to stderr (for failing tests). */
void qt_diag_dump(const struct diag *d);

#endif
