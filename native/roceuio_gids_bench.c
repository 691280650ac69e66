/* roceuio-gids-bench: times roceuio_gids_find from C (no managed call in between) over a random-order stream of the
 * table's own keys, for perf/RESULTS.md beside ShmLookupBenchmarks. Usage: roceuio-gids-bench PATH [ROUNDS]
 * Prints "find_ns_min N" and "find_ns_median N" (per lookup, over ROUNDS rounds of 4096 lookups). */
#define _GNU_SOURCE
#include "roceuio_gids.h"
#include "bench_timing.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STREAM 4096

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: roceuio-gids-bench PATH [ROUNDS]\n");
        return 2;
    }
    int rounds = bench_rounds(argc, argv, 200);
    roceuio_gids *t;
    if (roceuio_gids_open_path(argv[1], &t) != 0) {
        fprintf(stderr, "roceuio-gids-bench: cannot open %s\n", argv[1]);
        return 1;
    }
    static struct roceuio_gid_entry keys[1 << 20], stream[STREAM];
    int n = 0;
    for (int i = roceuio_gids_next(t, 0, &keys[n]); i >= 0; i = roceuio_gids_next(t, (uint32_t)i + 1, &keys[n]))
        n++;
    if (n == 0) {
        fprintf(stderr, "roceuio-gids-bench: the table is empty\n");
        return 1;
    }
    uint64_t x = 42;
    for (int k = 0; k < STREAM; k++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        stream[k] = keys[x % (uint64_t)n];
    }
    const uint32_t mask = ROCEUIO_FIND_MASK_GID | ROCEUIO_FIND_MASK_GID_TYPE | ROCEUIO_FIND_MASK_NETDEV;
    double *per = malloc(sizeof(double) * (size_t)rounds);
    volatile long sink = 0;
    for (int r = -rounds / 10 - 1; r < rounds; r++) { /* the first rounds warm the caches */
        double t0 = now_ns();
        long sum = 0;
        for (int k = 0; k < STREAM; k++)
            sum += roceuio_gids_find(t, stream[k].gid, stream[k].gid_type, stream[k].ndev_ifindex, mask, 0);
        double t1 = now_ns();
        sink += sum;
        if (r >= 0)
            per[r] = (t1 - t0) / STREAM;
    }
    qsort(per, (size_t)rounds, sizeof(double), cmp_double);
    printf("entries %d\nfind_ns_min %.2f\nfind_ns_median %.2f\n", n, per[0], per[rounds / 2]);
    free(per);
    roceuio_gids_close(t);
    return sink == 0 ? 0 : 0;
}
