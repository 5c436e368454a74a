/*
 * Independent checks with the openssl command-line tool, for pki/secrets/template tests: verdicts
 * come from OpenSSL's own verifier and KDF, not from our code (STYLE.md 22).
 */
#ifndef QUARRY_TEST_QT_OSSL_H
#define QUARRY_TEST_QT_OSSL_H

#include <stdbool.h>

#include "base/base.h"

/* A fresh temporary directory (path in out), and its recursive removal. */
void qt_tmpdir(char out[256]);
void qt_rmtree(const char *dir);
/* Writes `der` as PEM with `label` to dir/name; returns the path (static, per-thread, 4 slots). */
const char *qt_write_pem(const char *dir, const char *name, const char *label, struct view der);
/* Runs a shell command; its stdout is appended to out (if non-NULL). Returns the exit status. */
int qt_run(const char *cmd, struct buf *out);
/* `openssl verify` of leaf against the trust anchor, with `untrusted` intermediates (may be
 * empty views); -partial_chain when the anchor is not self-signed. Output in out (if non-NULL). */
bool qt_openssl_verify(struct view anchor, struct view untrusted, struct view leaf, bool partial,
                       struct buf *out);
/* `openssl x509 -text` of a DER certificate, appended to out as a C string. */
void qt_openssl_text(struct view der, struct buf *out);

#endif
