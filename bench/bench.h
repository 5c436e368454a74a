/*
 * Benchmark helpers. Each benchmark prints result rows as
 *     ROW|<figure>|<value>|<unit>|<target>|<limit>
 * and scripts/bench.sh gathers every program's rows into one table. Timing uses CLOCK_MONOTONIC;
 * benchmarks report numbers, they never assert on them.
 */
#ifndef QUARRY_BENCH_H
#define QUARRY_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts n samples ascending (for medians and percentiles). */
static inline void bench_sort(double *v, size_t n)
{
    qsort(v, n, sizeof(double), bench_cmp_double);
}

static inline void bench_row(const char *figure, double value, const char *unit, const char *target,
                             const char *limit)
{
    printf("ROW|%s|%.6g|%s|%s|%s\n", figure, value, unit, target, limit);
    fflush(stdout);
}

#endif
