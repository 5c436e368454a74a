/*
 * limits.h - part of base.h: every bound on outside input, in one place, each with its reason.
 * Include as "base/base.h" (never <limits.h>: that is the C library's).
 */
#ifndef QUARRY_BASE_LIMITS_H
#define QUARRY_BASE_LIMITS_H

/* JSON and YAML documents --------------------------------------------------------------------- */

/* A manifest is configuration: MarbleRun's largest samples are a few KiB; 200 secrets with PEM user
 * certificates stay under 1 MiB. 4 MiB leaves room and keeps a hostile upload cheap to refuse. */
#define QY_MANIFEST_MAX_SIZE (4u * 1024 * 1024)

/* Manifests nest at most 7 levels (Secrets.x.Cert.Subject.Country[0]); 32 is generous. jansson's own
 * parser stops at 2048, so recursion is bounded before our check runs. */
#define QY_JSON_MAX_DEPTH 32

/* Any other JSON body we parse (API requests, collateral): bodies above this are refused before
 * parsing. Collateral TCB Info for a large FMSPC is ~30 KiB. */
#define QY_JSON_MAX_SIZE (1u * 1024 * 1024)

/* Entries of one JSON object or array in a manifest (marbles, secrets, files, argv...). */
#define QY_MANIFEST_MAX_ENTRIES 4096

/* Names of packages, marbles, secrets, users, roles, TLS tags, env variables; and file paths. Names
 * become store keys and log fields, so they are short. PATH_MAX is 4096 on Linux. */
#define QY_NAME_MAX 256
#define QY_PATH_MAX 4096

/* A JSON path in a diagnostic ("Marbles.web.Parameters.Files./etc/key.pem"). Longer paths are
 * truncated with "..." - they are for people, not for machines. */
#define QY_DIAG_PATH_MAX 512
#define QY_DIAG_MSG_MAX 512
/* A manifest with more problems than this gets the first ones and a note that there are more. */
#define QY_DIAG_MAX 200

/* A certificate in a manifest (users) or a recovery key, as PEM. RSA-16384 certificates are ~5 KiB. */
#define QY_PEM_MAX_SIZE (64u * 1024)

/* Secrets ------------------------------------------------------------------------------------- */

/* Symmetric keys: 8..4096 bits (multiple of 8). Larger keys buy nothing and cost template output. */
#define QY_SYMKEY_MAX_BITS 4096
/* RSA certificate secrets: below 2048 is broken; above 8192 generation takes minutes. */
#define QY_RSA_MIN_BITS 2048
#define QY_RSA_MAX_BITS 8192
/* Certificate validity for generated secrets: at most 100 years of days. */
#define QY_VALID_FOR_MAX_DAYS 36500

/* Files ---------------------------------------------------------------------------------------- */

/* Files read whole (manifests, PEMs, collateral, quotes): nothing we read needs more. */
#define QY_FILE_MAX_SIZE (16u * 1024 * 1024)

/* Attestation (append here) ----------------------------------------------------------------- */

/* PKI, secrets, templates (append here) ------------------------------------------------------- */

/* Store, coordinator, API (append here) ------------------------------------------------------- */

/* Logging --------------------------------------------------------------------------------------- */

/* One log line; longer messages are truncated, never split. */
#define QY_LOG_LINE_MAX 4096

#endif
