/*
 * Runs quarry-coordinator as a real process for tests: a temporary data directory, a testkit as its
 * emulated attestation, free loopback ports; started, stopped (SIGTERM) and killed (SIGKILL) by PID.
 * Clients talk to it over real TLS.
 */
#ifndef QUARRY_TEST_HARNESS_H
#define QUARRY_TEST_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "api/api.h"
#include "attestation/attestation.h"
#include "coordinator/coordinator.h"
#include "qt.h"

struct qc {
    char dir[256];      /* temporary root: data/, kit/ */
    char data[300], kit[300];
    uint16_t client_port, mesh_port, metrics_port;
    char client_addr[64], mesh_addr[64];
    pid_t pid;
    struct att_testkit *tk;
    char log[320];
    /* qc_start passes neither --attestation nor --insecure-extra-root: the test's own arguments or
     * the environment choose them. */
    bool no_attestation_args;
    unsigned long nofile; /* RLIMIT_NOFILE of the daemon (set before qc_start); 0: the test's */
};

/* A fresh directory and testkit (`o` NULL: defaults). */
void qc_init(struct qc *q, const struct att_testkit_options *o);
/* Starts the daemon (extra arguments NULL-terminated, later ones override the harness's) and waits
 * until its client API answers. */
void qc_start(struct qc *q, const char *const *extra);
/* Starts the daemon expecting it to refuse: waits (up to 60 s) for it to exit without ever having
 * served, and returns its wait status. */
int qc_start_refused(struct qc *q, const char *const *extra);
/* Only starts it (q->pid), for a daemon expected to fail; qc_wait_exit then waits for its end. */
void qc_spawn(struct qc *q, const char *const *extra);
/* Its wait status once it exited within `seconds`, or -1 when it is still running. */
int qc_wait_exit(struct qc *q, double seconds);
void qc_stop(struct qc *q);  /* SIGTERM, wait */
void qc_kill9(struct qc *q); /* SIGKILL, wait */
void qc_cleanup(struct qc *q);

/* A client of the client API, trusting the root from /quote (or none with insecure), optionally as a
 * user (files under tests/data/certs: "<name>.crt", "<name>.key"). */
struct api_client *qc_client(struct qc *q, const char *user);
/* One call; returns the HTTP status, *json the parsed body (owned, may be NULL). */
long qc_call(struct api_client *c, enum api_method m, const char *target, const char *body, json_t **json);

/* POST /api/v2/manifest of a file under tests/data/manifests (with certificate placeholders), or of
 * the given text. Returns the status. */
long qc_set_manifest_text(struct qc *q, const char *text, json_t **json);
long qc_set_manifest(struct qc *q, const char *name);

/* The text of a file under tests/data/manifests with its certificate placeholders filled in
 * (NUL-terminated). */
void qc_manifest_text(const char *name, struct buf *out);

/* Runs `quarry ARGS` against the Coordinator, verified with its testkit (a policy file for the kit's
 * identity, its collateral and root), with a cache of its own; stdout and stderr into *out
 * (NUL-terminated). Returns the exit status. */
int qc_quarry(struct qc *q, const char *args, struct buf *out);

/* GET /metrics of the daemon's metrics server (started with --metrics-addr), NUL-terminated. */
void qc_metrics(struct qc *q, struct buf *out);

/* The state code GET /api/v2/status answers (1 recovery ... 3 accepting marbles). */
long qc_state(struct qc *q);
/* The parameter (file or env entry) `name` of an activation; fails the test when it is missing. */
const struct api_param *qc_param(const struct api_param *p, size_t n, const char *name);

/* For a Coordinator started in-process on a store sealed with a key file: a store's sealer lookup
 * and a coord_config's make_sealer, both making sealer_new(ctx) ("keyfile:PATH"). */
struct sealer;
int qc_keyfile_lookup(void *ctx, const char *name, struct sealer **out);
int qc_keyfile_sealer(void *ctx, enum mf_seal_mode mode, struct sealer **out);

/* Activation as a marble with the testkit identity `id` (NULL: the kit's default). */
int qc_activate(struct qc *q, const char *marble_type, const struct att_testkit_quote_params *id, const char *uuid,
                struct api_activation **out);

#endif
