/*
 * Benchmark helpers. Each benchmark prints result rows as
 *     ROW|<figure>|<value>|<unit>|<target>|<limit>
 * and scripts/bench.sh gathers every program's rows into one table. Timing uses CLOCK_MONOTONIC;
 * benchmarks report numbers, they never assert on them.
 */
#ifndef QUARRY_BENCH_H
#define QUARRY_BENCH_H

#include <stdio.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void bench_row(const char *figure, double value, const char *unit, const char *target,
                             const char *limit)
{
    printf("ROW|%s|%.6g|%s|%s|%s\n", figure, value, unit, target, limit);
    fflush(stdout);
}

#endif
