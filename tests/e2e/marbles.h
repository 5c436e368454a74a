/*
 * What the e2e tests share: a real quarry-coordinator (tests/coordinator's harness) with the example
 * manifest and the demo user's secret, quarry-premain processes started and stopped by PID, and the
 * folders they run in. One test at a time per process (Criterion forks each test).
 */
#ifndef QUARRY_TEST_E2E_MARBLES_H
#define QUARRY_TEST_E2E_MARBLES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

#define TIMEOUT .timeout = 300
/* Identities the example manifest accepts, and one it does not (scripts/demo.sh uses the same). */
#define BACKEND_ID  ",isvprodid=2"
#define FRONTEND_ID ",mrenclave=c5da79a7b82bad8c14ca455ce03c937f93cb3f8aae76d207a47ea7535e935cf0"
#define IMPOSTOR_ID ",mrenclave=1e3da45459deb425ac6fcdd2463a2c6c5fc66129423bb6948afc3eeb0fac6763"

extern struct qc q;           /* the Coordinator */
extern char work[320];        /* the marbles' folders, their outputs, the probe program */
extern char probe[400];       /* a program that writes its arguments to ran.args */
extern uint16_t backend_port; /* where the example backend listens */
extern char token[64];        /* the apiToken the demo user uploads */
extern pid_t children[4];     /* processes teardown stops */
extern size_t child_count;
extern uint16_t client_port, mesh_port; /* the Coordinator's, fixed across its restarts */

const char *at(const char *rel); /* work/REL, in one of 8 rotating buffers */
bool exists(const char *path);
void read_text(const char *path, struct buf *out);
bool file_has(const char *path, const char *needle);
void sleep_ms(long ms);
/* Waits until `path` contains `needle`; false after `seconds`. */
bool wait_for(const char *path, const char *needle, int seconds);
uint16_t free_port(void);
int entries(const char *path); /* entries in a folder, 0 when it does not exist */

/* The demo user (examples/demo/admin.*) as a client of `c`'s client API (TLS not verified). */
struct api_client *demo_user(struct qc *c);
/* examples/manifest.json with backend's port replaced by backend_port, set on `c`. */
void set_example_manifest(struct qc *c);
/* A fresh random token (into `token`) uploaded as apiToken by the demo user. */
void upload_token(struct qc *c);
/* The Coordinator's intermediate and root, PEM, from GET /api/v2/quote (not verified). */
void coordinator_certs(struct qc *from, struct buf *intermediate_pem, struct buf *root_pem);

void start_coordinator(void); /* q, on client_port and mesh_port */
void setup_ready(void);       /* q with the example manifest and the token */
void setup_idle(void);        /* nothing started yet */
void teardown(void);

/* Marbles under quarry-premain ----------------------------------------------------------------- */

struct marble {
    const char *dir;       /* folder under work, created; outputs in work/DIR.out and .err */
    const char *type;      /* EDG_MARBLE_TYPE (NULL: unset) */
    const char *identity;  /* testkit identity overrides appended to emulated:KIT */
    const char *uuid_file; /* NULL: DIR/uuid */
    const char *program;   /* the premain's own argument (NULL: none, the manifest's Argv[0]) */
    const char *source;    /* QUARRY_QUOTE_SOURCE (NULL: emulated:KIT with `identity`) */
    const char *mesh;      /* EDG_MARBLE_COORDINATOR_ADDR (NULL: the Coordinator's mesh port) */
    const char *const *env; /* more "NAME=value" settings, NULL-terminated (NULL: none) */
};

pid_t start_marble(const struct marble *m);
/* The exit status, or -1 when it was still running after `seconds` (then it is killed). */
int wait_marble(pid_t pid, int seconds);
int run_marble(const struct marble *m);
void dump(const char *dir); /* its stderr, to ours */

#define EXPECT_RUN(m, want)                                                                        \
    do {                                                                                           \
        int st_ = run_marble(m);                                                                   \
        if (st_ != (want))                                                                         \
            dump((m)->dir);                                                                        \
        cr_assert_eq(st_, (want), "%s: exit %d, want %d", (m)->dir, st_, (want));                  \
    } while (0)

#endif
