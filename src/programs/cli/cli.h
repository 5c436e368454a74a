/*
 * The `quarry` command-line client. Commands are tables of {name, handler, usage, help}; each handler
 * gets the arguments after its name and returns the process exit code:
 *   0  success (for checks: valid / verified)
 *   1  the thing checked is invalid, or the server refused
 *   2  usage error, or an I/O error before anything could be checked
 */
#ifndef QUARRY_CLI_H
#define QUARRY_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "api/api.h"
#include "base/base.h"

enum { CLI_OK = 0, CLI_INVALID = 1, CLI_USAGE = 2 };

struct cli_cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
    const char *help;
};

/* Runs the command named argv[0] from `table`, or prints the table's help. `prog` prefixes usage. */
int cli_dispatch(const struct cli_cmd *table, size_t count, const char *prog, int argc, char **argv);
int cli_usage_error(const char *usage, const char *fmt, ...) QY_PRINTF(2, 3);

/* Options parsing: flags start with "-" ("--json", "-o"); the rest are positional. Unknown flags are usage errors. */
struct cli_opt {
    const char *name;  /* "--json" */
    bool takes_value;
    const char **value; /* for takes_value */
    bool *flag;         /* for plain flags */
};
int cli_parse(int argc, char **argv, const struct cli_opt *opts, size_t nopts, char **pos, size_t max_pos,
              size_t *npos, const char *usage);

/* Prints diagnostics as "error: path: message" lines, or as a JSON array of {path,message}. */
void cli_print_diag(FILE *f, const struct diag *d);
json_t *cli_diag_json(const struct diag *d, enum diag_level level);

/* The connection to a Coordinator (cli_client.c): verified before it is trusted. */
struct api_client;
struct cli_conn {
    const char *address, *cert_file, *key_file, *policy_file, *collateral, *pccs, *extra_root;
    bool insecure, refresh;
    bool no_cache;       /* not an option: verify afresh and remember nothing (recovery's temporary CA) */
    struct buf root_pem; /* the root the connection trusts, once connected */
};
/* Adds the connection's options (--coordinator, --cert, --key, --policy, --collateral, --pccs,
 * --insecure-extra-root, --insecure, --refresh) to opts. */
void cli_conn_options(struct cli_conn *c, struct cli_opt *opts, size_t *n);
/* A client trusting the verified (or cached) root; as_user presents --cert/--key. */
int cli_connect(struct cli_conn *c, bool as_user, struct api_client **out);
/* Frees the client (NULL-safe) and what the connection holds. */
void cli_disconnect(struct cli_conn *c, struct api_client *cl);
/* One call; *data is the JSend data of a 200 (owned), anything else an error with the reason. */
int cli_call(struct api_client *cl, enum api_method m, const char *target, struct view body, json_t **data);
/* Prints the error and returns the exit code for it. */
int cli_fail(int r);

/* Shared by the commands that talk to a Coordinator (cli_coord.c). */
#define CLI_CONN_USAGE "[--coordinator HOST:PORT] [--policy FILE --collateral DIR|--pccs URL | --insecure]"
/* A command's options plus the connection's; CLI_OK or a usage error. */
int cli_conn_parse(int argc, char **argv, struct cli_conn *conn, const struct cli_opt *extra, size_t nextra,
                   char **pos, size_t max_pos, size_t *npos, const char *usage);
int cli_print_json(const json_t *j);
/* `data` to FILE (atomically, 0600), or to stdout for NULL or "-". */
int cli_write_out(const char *file, struct view data);
/* Saves each RecoverySecret (base64 ciphertext) as DIR/<key name>.secret, raw; no DIR: prints them. */
int cli_save_recovery_secrets(const json_t *secrets, const char *dir);
/* Reads a manifest file (JSON, YAML or legacy: converted here, as MarbleRun's CLI does; the
 * Coordinator takes JSON), connects (as a user or not) and POSTs it to `target` as
 * {"manifest": base64}; the answer's data in *data. `package_only`: 1 must be a package update, 0
 * must not, -1 any. `fingerprint` (or NULL) gets the manifest's. The client is closed again: the
 * caller ends with cli_disconnect(conn, NULL). */
int cli_post_manifest(struct cli_conn *conn, bool as_user, const char *target, const char *file, int package_only,
                      char fingerprint[65], json_t **data);
/* The Coordinator's root certificate, as verified by cli_connect, as DER. */
int cli_root_der(const struct cli_conn *conn, struct buf *der);

int cli_manifest(int argc, char **argv);
int cli_manifest_set(int argc, char **argv);
int cli_manifest_get(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_certificate(int argc, char **argv);
int cli_secret(int argc, char **argv);
int cli_update(int argc, char **argv);          /* cli_update.c */
int cli_package(int argc, char **argv);
int cli_manifest_update(int argc, char **argv);
int cli_quote_sign(int argc, char **argv);
int cli_recover(int argc, char **argv);
int cli_quote(int argc, char **argv);
int cli_testkit(int argc, char **argv);

#endif
