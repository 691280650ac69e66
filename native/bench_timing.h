/* Timing helpers shared by the two benchmark tools (roceuio_gids_bench.c, roceuio_gids_ab.c); not part of the
 * library or its header. */
#ifndef ROCEUIO_BENCH_TIMING_H
#define ROCEUIO_BENCH_TIMING_H
#include <stdlib.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns, as a double (the tools subtract two and divide by the lookups in between). */
static inline double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* qsort comparator for the per-round times (ascending), for the medians and minima the tools print. */
static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The optional ROUNDS argument: argv[2] when given and within 1..100000, else fallback. */
static inline int bench_rounds(int argc, char **argv, int fallback)
{
    int rounds = argc > 2 ? atoi(argv[2]) : fallback;
    return rounds < 1 || rounds > 100000 ? fallback : rounds;
}
#endif
