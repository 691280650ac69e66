/* roceuio-gids-ab: A/B of the hash-bucket layouts and key hashes of the shared-memory GID table (docs/shm-layout.md),
 * in one process, rounds interleaved, for perf/RESULTS.md. Usage: roceuio-gids-ab PATH [ROUNDS]
 *
 * It reads the keys of the table file at PATH (through the library, so the file must be of the library's version),
 * builds in private memory one copy of the hash index per variant below, laid out as the file lays it out (16
 * stripes of buckets_per_stripe buckets, each stripe's counter alone in a 64-byte line, the buckets 64-aligned), and
 * times the same random-order stream of 4096 lookups on each, the variants taking turns round by round, so that the
 * machine's load falls on all of them alike. The library's own roceuio_gids_find on the file runs in the same turns.
 * Each variant's lookup is a separate, not inlined function, as a call into the library is.
 *
 *   v1-32      layout v1: 32-byte bucket (gid, type, ifindex, index+1, reserved), no namespace; hash of 3 multiplies
 *   v2-40      layout v2: v1's bucket plus the 8-byte namespace inode at 32 (40 bytes: half the buckets straddle two
 *              cache lines); hash of 4 multiplies
 *   v2-40-mul1 v2's bucket, the one-multiply hash below
 *   v3-32      32 bytes with the namespace: gid, ifindex, (index+1 | type << 24), namespace inode; 4 multiplies
 *   v3-32-mul1 v3's bucket, one multiply: h = lo ^ hi of the 128-bit product (w0 ^ w2 ^ K0) * (w1 ^ w3 ^ K1):
 *              layout version 3 as the library reads it
 *   v2-40-noseq v2 without the two stripe-counter loads and the fence (not a correct reader: what the seqlock costs)
 *
 * Prints, per variant, the median and minimum ns per lookup and the mean probe length. */
#define _GNU_SOURCE
#include "roceuio_gids.h"
#include "bench_timing.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STREAM 4096
#define STRIPES 16
#define K0 0x9E3779B97F4A7C15ULL
#define K1 0xC2B2AE3D27D4EB4FULL
#define K2 0x165667B19E3779F9ULL
#define K3 0x85EBCA77C2B2AE63ULL

enum { SHAPE_V1 = 1, SHAPE_V2 = 2, SHAPE_V3 = 3 };

struct index {
    uint8_t *seqs, *buckets;
    uint32_t bucket_mask, capacity;
};

static inline __attribute__((always_inline)) uint64_t hash(int kind, uint64_t w0, uint64_t w1, uint32_t type, uint32_t ndev, uint64_t netns)
{
    uint64_t w2 = (uint64_t)type | ((uint64_t)ndev << 32), h;
    if (kind == 3)
        h = (w0 * K0) ^ (w1 * K1) ^ (w2 * K2);
    else if (kind == 4)
        h = (w0 * K0) ^ (w1 * K1) ^ (w2 * K2) ^ (netns * K3);
    else {
        unsigned __int128 m = (unsigned __int128)(w0 ^ w2 ^ K0) * (w1 ^ netns ^ K1);
        return (uint64_t)m ^ (uint64_t)(m >> 64);
    }
    return h ^ (h >> 32);
}

static inline uint32_t ld32(const uint8_t *p, memory_order o) { return atomic_load_explicit((const _Atomic uint32_t *)(const void *)p, o); }
static inline uint64_t ld64(const uint8_t *p) { return atomic_load_explicit((const _Atomic uint64_t *)(const void *)p, memory_order_relaxed); }

static uint64_t probes; /* counted only in the counting pass */

static inline __attribute__((always_inline)) int find(const struct index *x, int shape, int bsz, int hk, int seqlock, int count,
                                                      uint64_t w0, uint64_t w1, uint32_t type, uint32_t ndev, uint64_t netns)
{
    uint64_t h = hash(hk, w0, w1, type, ndev, netns);
    uint32_t stripe = (uint32_t)h & (STRIPES - 1);
    const uint8_t *seq = x->seqs + (size_t)stripe * 64;
    const uint8_t *bkts = x->buckets + (size_t)stripe * (x->bucket_mask + 1) * bsz;
    uint32_t at = (uint32_t)(h >> 16) & x->bucket_mask;
    uint32_t s0 = seqlock ? ld32(seq, memory_order_acquire) : 0;
    if (s0 & 1)
        return -2;
    int found = -1;
    for (uint32_t i = 0; i <= x->bucket_mask; i++, at = (at + 1) & x->bucket_mask) {
        const uint8_t *b = bkts + (size_t)at * bsz;
        if (count)
            probes++;
        if (shape == SHAPE_V3) {
            uint32_t ti = ld32(b + 20, memory_order_relaxed);
            if (ti == 0)
                break;
            if (ld64(b) == w0 && ld64(b + 8) == w1 && ld32(b + 16, memory_order_relaxed) == ndev && (ti >> 24) == type
                && ld64(b + 24) == netns) {
                uint32_t ip1 = ti & 0xffffff;
                found = ip1 - 1 < x->capacity ? (int)(ip1 - 1) : -1;
                break;
            }
        } else {
            uint32_t ip1 = ld32(b + 24, memory_order_relaxed);
            if (ip1 == 0)
                break;
            if (ld64(b) == w0 && ld64(b + 8) == w1 && ld32(b + 16, memory_order_relaxed) == type
                && ld32(b + 20, memory_order_relaxed) == ndev && (shape == SHAPE_V1 || ld64(b + 32) == netns)) {
                found = ip1 - 1 < x->capacity ? (int)(ip1 - 1) : -1;
                break;
            }
        }
    }
    if (!seqlock)
        return found;
    atomic_thread_fence(memory_order_acquire);
    return ld32(seq, memory_order_relaxed) == s0 ? found : -2;
}

struct variant {
    const char *name;
    int shape, bsz, hk, seqlock;
    int (*fn)(const struct index *, const uint8_t *gid, uint32_t type, uint32_t ndev, uint64_t netns);
    struct index x;
    double *per;
    double probes_per_lookup;
};

#define VARIANT(fname, shape, bsz, hk, seqlock)                                                                         \
    __attribute__((noinline)) static int fname(const struct index *x, const uint8_t *gid, uint32_t type, uint32_t ndev, \
                                               uint64_t netns)                                                        \
    {                                                                                                                 \
        uint64_t w0, w1;                                                                                              \
        memcpy(&w0, gid, 8);                                                                                          \
        memcpy(&w1, gid + 8, 8);                                                                                      \
        return find(x, shape, bsz, hk, seqlock, 0, w0, w1, type, ndev, netns);                                        \
    }
VARIANT(find_v1_32, SHAPE_V1, 32, 3, 1)
VARIANT(find_v2_40, SHAPE_V2, 40, 4, 1)
VARIANT(find_v2_40_mul1, SHAPE_V2, 40, 1, 1)
VARIANT(find_v3_32, SHAPE_V3, 32, 4, 1)
VARIANT(find_v3_32_mul1, SHAPE_V3, 32, 1, 1)
VARIANT(find_v2_40_noseq, SHAPE_V2, 40, 4, 0)

static int find_counting(const struct variant *v, const struct roceuio_gid_entry *e)
{
    uint64_t w0, w1;
    memcpy(&w0, e->gid, 8);
    memcpy(&w1, e->gid + 8, 8);
    /* the same loop, counting probes (shape/size/hash as the variant's) */
    if (v->shape == SHAPE_V1)
        return find(&v->x, SHAPE_V1, 32, 3, 1, 1, w0, w1, e->gid_type, e->ndev_ifindex, e->ndev_netns);
    if (v->shape == SHAPE_V2)
        return v->hk == 1 ? find(&v->x, SHAPE_V2, 40, 1, 1, 1, w0, w1, e->gid_type, e->ndev_ifindex, e->ndev_netns)
                          : find(&v->x, SHAPE_V2, 40, 4, 1, 1, w0, w1, e->gid_type, e->ndev_ifindex, e->ndev_netns);
    return v->hk == 1 ? find(&v->x, SHAPE_V3, 32, 1, 1, 1, w0, w1, e->gid_type, e->ndev_ifindex, e->ndev_netns)
                      : find(&v->x, SHAPE_V3, 32, 4, 1, 1, w0, w1, e->gid_type, e->ndev_ifindex, e->ndev_netns);
}

/* Inserts the lowest index of each key, as the writer does (linear probing from home). */
static void build(struct variant *v, const struct roceuio_gid_entry *keys, int n, uint32_t capacity, uint32_t buckets)
{
    size_t seq_bytes = STRIPES * 64, bkt_bytes = (size_t)STRIPES * buckets * (size_t)v->bsz;
    uint8_t *mem = aligned_alloc(64, seq_bytes + bkt_bytes);
    memset(mem, 0, seq_bytes + bkt_bytes);
    v->x.seqs = mem;
    v->x.buckets = mem + seq_bytes;
    v->x.bucket_mask = buckets - 1;
    v->x.capacity = capacity;
    for (int k = 0; k < n; k++) {
        const struct roceuio_gid_entry *e = &keys[k];
        uint64_t w0, w1;
        memcpy(&w0, e->gid, 8);
        memcpy(&w1, e->gid + 8, 8);
        if (find_counting(v, e) >= 0)
            continue; /* a lower index holds the key */
        uint64_t h = v->hk == 3 ? hash(3, w0, w1, e->gid_type, e->ndev_ifindex, 0)
                   : v->hk == 4 ? hash(4, w0, w1, e->gid_type, e->ndev_ifindex, e->ndev_netns)
                                : hash(1, w0, w1, e->gid_type, e->ndev_ifindex, e->ndev_netns);
        uint8_t *bkts = v->x.buckets + (size_t)(h & (STRIPES - 1)) * buckets * v->bsz;
        for (uint32_t at = (uint32_t)(h >> 16) & (buckets - 1);; at = (at + 1) & (buckets - 1)) {
            uint8_t *b = bkts + (size_t)at * v->bsz;
            uint32_t ip1 = e->index + 1;
            if (v->shape == SHAPE_V3) {
                if (*(uint32_t *)(void *)(b + 20))
                    continue;
                memcpy(b, e->gid, 16);
                memcpy(b + 16, &e->ndev_ifindex, 4);
                uint32_t ti = ip1 | (e->gid_type << 24);
                memcpy(b + 20, &ti, 4);
                memcpy(b + 24, &e->ndev_netns, 8);
            } else {
                if (*(uint32_t *)(void *)(b + 24))
                    continue;
                memcpy(b, e->gid, 16);
                memcpy(b + 16, &e->gid_type, 4);
                memcpy(b + 20, &e->ndev_ifindex, 4);
                memcpy(b + 24, &ip1, 4);
                if (v->shape == SHAPE_V2)
                    memcpy(b + 32, &e->ndev_netns, 8);
            }
            break;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: roceuio-gids-ab PATH [ROUNDS]\n");
        return 2;
    }
    int rounds = bench_rounds(argc, argv, 300);
    roceuio_gids *t;
    int r = roceuio_gids_open_path(argv[1], &t);
    if (r != 0) {
        fprintf(stderr, "roceuio-gids-ab: cannot open %s (%d)\n", argv[1], r);
        return 1;
    }
    uint32_t capacity = roceuio_gids_capacity(t), buckets = 1;
    while (buckets <= capacity)
        buckets <<= 1; /* as the writer: the power of two above the capacity */
    struct roceuio_gid_entry *keys = calloc(capacity, sizeof *keys), *stream = calloc(STREAM, sizeof *stream);
    int n = 0;
    for (int i = roceuio_gids_next(t, 0, &keys[n]); i >= 0; i = roceuio_gids_next(t, (uint32_t)i + 1, &keys[n]))
        n++;
    if (n == 0) {
        fprintf(stderr, "roceuio-gids-ab: the table is empty\n");
        return 1;
    }
    uint64_t x = 42;
    for (int k = 0; k < STREAM; k++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        stream[k] = keys[x % (uint64_t)n];
    }
    struct variant vs[] = {
        {"v1-32", SHAPE_V1, 32, 3, 1, find_v1_32, {0}, 0, 0},
        {"v2-40", SHAPE_V2, 40, 4, 1, find_v2_40, {0}, 0, 0},
        {"v2-40-mul1", SHAPE_V2, 40, 1, 1, find_v2_40_mul1, {0}, 0, 0},
        {"v3-32", SHAPE_V3, 32, 4, 1, find_v3_32, {0}, 0, 0},
        {"v3-32-mul1", SHAPE_V3, 32, 1, 1, find_v3_32_mul1, {0}, 0, 0},
        {"v2-40-noseq", SHAPE_V2, 40, 4, 0, find_v2_40_noseq, {0}, 0, 0},
    };
    int nv = (int)(sizeof vs / sizeof vs[0]);
    int bad = 0;
    for (int v = 0; v < nv; v++) {
        build(&vs[v], keys, n, capacity, buckets);
        vs[v].per = malloc(sizeof(double) * (size_t)rounds);
        probes = 0;
        for (int k = 0; k < STREAM; k++) {
            int got = find_counting(&vs[v], &stream[k]);
            int want = roceuio_gids_find_ns(t, stream[k].gid, stream[k].gid_type, stream[k].ndev_ifindex, stream[k].ndev_netns,
                                            ROCEUIO_FIND_MASK_GID | ROCEUIO_FIND_MASK_GID_TYPE | ROCEUIO_FIND_MASK_NETDEV, 0);
            if (got != want || got < 0)
                bad++;
        }
        vs[v].probes_per_lookup = (double)probes / STREAM;
    }
    if (bad) {
        fprintf(stderr, "roceuio-gids-ab: %d answers differ from the library's\n", bad);
        return 1;
    }
    double *lib = malloc(sizeof(double) * (size_t)rounds);
    const uint32_t mask = ROCEUIO_FIND_MASK_GID | ROCEUIO_FIND_MASK_GID_TYPE | ROCEUIO_FIND_MASK_NETDEV;
    volatile long sink = 0;
    for (int rd = -rounds / 10 - 1; rd < rounds; rd++) { /* the first rounds warm the caches */
        for (int v = -1; v < nv; v++) {
            /* rotate the order each round so no variant always runs right after another */
            int w = v < 0 ? -1 : (v + (rd < 0 ? 0 : rd)) % nv;
            long sum = 0;
            double t0 = now_ns();
            if (w < 0)
                for (int k = 0; k < STREAM; k++)
                    sum += roceuio_gids_find(t, stream[k].gid, stream[k].gid_type, stream[k].ndev_ifindex, mask, 0);
            else
                for (int k = 0; k < STREAM; k++)
                    sum += vs[w].fn(&vs[w].x, stream[k].gid, stream[k].gid_type, stream[k].ndev_ifindex, stream[k].ndev_netns);
            double t1 = now_ns();
            sink += sum;
            if (rd >= 0)
                (w < 0 ? lib : vs[w].per)[rd] = (t1 - t0) / STREAM;
        }
    }
    qsort(lib, (size_t)rounds, sizeof(double), cmp_double);
    printf("entries %d capacity %u buckets_per_stripe %u rounds %d\n", n, capacity, buckets, rounds);
    printf("%-12s median_ns %6.2f min_ns %6.2f probes %.3f\n", "library", lib[rounds / 2], lib[0], 0.0);
    for (int v = 0; v < nv; v++) {
        qsort(vs[v].per, (size_t)rounds, sizeof(double), cmp_double);
        printf("%-12s median_ns %6.2f min_ns %6.2f probes %.3f\n", vs[v].name, vs[v].per[rounds / 2], vs[v].per[0],
               vs[v].probes_per_lookup);
    }
    roceuio_gids_close(t);
    return sink == 0 ? 0 : 0;
}
