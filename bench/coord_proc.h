/*
 * A real quarry-coordinator process for benchmarks (no Criterion): a temporary directory with a
 * data directory and a testkit (the emulated attestation, `--attestation emulated:KIT`), loopback
 * ports picked by the kernel and read from a ports file, start and stop by PID, and the process's
 * CPU time and memory from /proc. The executable is found next to the benchmark
 * (BUILD/src/programs/coordinator/quarry-coordinator) unless QY_COORDINATOR names another.
 */
#ifndef QUARRY_BENCH_COORD_PROC_H
#define QUARRY_BENCH_COORD_PROC_H

#include <sys/types.h>

#include "api/api.h"
#include "attestation/attestation.h"

struct bench_coord {
    char dir[128]; /* temporary root: data/, kit/, coordinator.log, ports.json */
    char data[192], kit[192], log[192], ports[192];
    char exe[512];
    char client_addr[64], mesh_addr[64];
    pid_t pid;
    struct att_testkit *tk;
};

/* Makes the directory and the testkit. Exits the benchmark on failure, as every helper here does:
 * a benchmark that cannot set up has nothing to report. */
void bench_coord_init(struct bench_coord *c);
/* Starts the daemon on c->data and waits until GET /api/v2/status answers 200; returns the seconds
 * from fork to that answer. */
double bench_coord_start(struct bench_coord *c);
/* SIGTERM and wait; complains (stderr) unless it exits 0. */
void bench_coord_stop(struct bench_coord *c);
/* Stops the daemon if it runs and removes the directory. */
void bench_coord_cleanup(struct bench_coord *c);

/* One call of the client API without a client certificate; the HTTP status, the body in *out. */
long bench_coord_call(struct bench_coord *c, enum api_method m, const char *target,
                      struct view body, struct buf *out);
/* POST /api/v2/manifest of `json`; returns the seconds the call took (exits unless it answers 200).
 */
double bench_coord_set_manifest(struct bench_coord *c, struct view json);

/* The process's CPU time (user + system, seconds) and memory (KiB) from /proc/PID/{stat,status}. */
struct bench_usage {
    double cpu_seconds;
    long rss_kib; /* VmRSS */
    long hwm_kib; /* VmHWM: the peak */
};
void bench_coord_usage(const struct bench_coord *c, struct bench_usage *out);

/* Prints what went wrong and the log's tail, removes the directory, exits 2. */
void bench_coord_die(struct bench_coord *c, const char *what);

#endif
