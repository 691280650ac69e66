/* roceuio-gids-churn: a test reader for tests/ (ShmNativeReaderTests): reads one table as fast as it can while the
 * test's writer churns it, and prints one line per read for the test to check against the writer's log:
 *   G0 G1 INDEX STATE GID32HEX TYPE NDEV FOUND
 * G0 and G1 are the generation before and after; STATE is 1 for an entry (0: empty, then GID.. are 0); FOUND is what
 * the hash lookup of that entry's key answered (-1: not found). Usage: roceuio-gids-churn PATH READS INDEXES */
#define _GNU_SOURCE
#include "roceuio_gids.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: roceuio-gids-churn PATH READS INDEXES\n");
        return 2;
    }
    roceuio_gids *t;
    int r = roceuio_gids_open_path(argv[1], &t);
    if (r) {
        fprintf(stderr, "roceuio-gids-churn: %s: %s\n", argv[1], strerror(-r));
        return 1;
    }
    long reads = strtol(argv[2], NULL, 10);
    uint32_t indexes = (uint32_t)strtoul(argv[3], NULL, 10);
    uint64_t x = 88172645463325252ULL;
    static char buf[1 << 16];
    setvbuf(stdout, buf, _IOFBF, sizeof buf);
    for (long k = 0; k < reads; k++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        uint32_t i = (uint32_t)(x % indexes);
        uint32_t g0 = roceuio_gids_generation(t);
        struct roceuio_gid_entry e;
        int q = roceuio_gids_query(t, i, &e);
        int found = -1;
        if (q == 0) {
            found = roceuio_gids_find_ns(t, e.gid, e.gid_type, e.ndev_ifindex, e.ndev_netns,
                                         ROCEUIO_FIND_MASK_GID | ROCEUIO_FIND_MASK_GID_TYPE | ROCEUIO_FIND_MASK_NETDEV, 0);
            if (found < -1 && found != -ENOENT) {
                fprintf(stderr, "roceuio-gids-churn: find: %s\n", strerror(-found));
                return 1;
            }
            if (found < 0)
                found = -1;
        } else if (q != -ENODATA) {
            fprintf(stderr, "roceuio-gids-churn: query %u: %s\n", i, strerror(-q));
            return 1;
        } else {
            memset(&e, 0, sizeof e);
        }
        uint32_t g1 = roceuio_gids_generation(t);
        printf("%u %u %u %d ", g0, g1, i, q == 0);
        for (int b = 0; b < 16; b++)
            printf("%02x", e.gid[b]);
        printf(" %u %u %d\n", e.gid_type, e.ndev_ifindex, found);
    }
    fflush(stdout);
    roceuio_gids_close(t);
    return 0;
}
