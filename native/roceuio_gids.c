/* roceuio_gids: the C reader of the shared-memory GID tables (docs/shm-layout.md; API in roceuio_gids.h).
 *
 * Memory ordering (the document's "Reading" section, in C11 terms): every shared word is read with an atomic load of
 * its own size (the writer stores them the same way), so there is no data race in the C11 sense.
 *   s0 = load(seq, acquire); if (s0 odd) retry;
 *   data = load(..., relaxed)...;
 *   atomic_thread_fence(acquire);
 *   s1 = load(seq, relaxed); if (s1 != s0) retry;
 * The acquire load of s0 keeps the data loads after it; the acquire fence keeps them before the second load of the
 * counter. The writer makes the counter odd, issues a release (or stronger) fence, stores the data, and stores the even
 * counter with release, so a reader whose two loads agree on an even value saw no store of that window. */
#define _GNU_SOURCE
#include "roceuio_gids.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the layout is little-endian; this reader reads its words in host order"
#endif

struct roceuio_gids {
    const uint8_t *base;
    size_t size;
    const uint8_t *entries, *stripe_seqs, *buckets;
    uint32_t capacity, stripe_mask, bucket_mask, port, default_slots;
    uint64_t instance, netns;
    char device[ROCEUIO_SHM_DEVICE_NAME_SIZE];
};

#define STUCK_NS 1000000000LL /* a window open this long: the writer died inside it */

static inline uint32_t ld32(const uint8_t *p, memory_order o) { return atomic_load_explicit((const _Atomic uint32_t *)(const void *)p, o); }
static inline uint64_t ld64(const uint8_t *p) { return atomic_load_explicit((const _Atomic uint64_t *)(const void *)p, memory_order_relaxed); }
static inline uint32_t plain32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t plain64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A window was open or moved: back off a little. Returns -EAGAIN once it has lasted STUCK_NS. */
static int retry_wait(int64_t *since, unsigned *spins)
{
    if (*since == 0)
        *since = now_ns();
    else if (now_ns() - *since > STUCK_NS)
        return -EAGAIN;
    if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
    } else {
        sched_yield();
    }
    return 0;
}

/* The layout's hash (docs/shm-layout.md "Hash"): one 64x64->128-bit multiply, its halves folded. The high half
 * depends on every bit of both factors, so keys that differ only in the GID's last byte (the top byte of w1) get
 * other stripes and homes; a product's low 64 bits alone would not see it (version 2's flaw). */
static inline uint64_t key_hash(uint64_t w0, uint64_t w1, uint32_t type, uint32_t ndev, uint64_t netns)
{
    uint64_t a = w0 ^ ((uint64_t)type | ((uint64_t)ndev << 32)) ^ ROCEUIO_SHM_HASH_K0;
    uint64_t b = w1 ^ netns ^ ROCEUIO_SHM_HASH_K1;
    unsigned __int128 m = (unsigned __int128)a * b;
    return (uint64_t)m ^ (uint64_t)(m >> 64);
}

static int validate(const uint8_t *b, size_t size)
{
    if (size < ROCEUIO_SHM_HEADER_SIZE || memcmp(b, ROCEUIO_SHM_MAGIC, 8) != 0)
        return -EPROTO;
    if (plain32(b + ROCEUIO_SHM_HDR_VERSION) != ROCEUIO_SHM_VERSION)
        return -EPROTONOSUPPORT;
    if (plain32(b + ROCEUIO_SHM_HDR_HEADER_SIZE) != ROCEUIO_SHM_HEADER_SIZE
        || plain32(b + ROCEUIO_SHM_HDR_ENTRY_SIZE) != ROCEUIO_SHM_ENTRY_SIZE || plain32(b + ROCEUIO_SHM_HDR_BUCKET_SIZE) != ROCEUIO_SHM_BUCKET_SIZE)
        return -EPROTO;
    uint64_t cap = plain32(b + ROCEUIO_SHM_HDR_CAPACITY), stripes = plain32(b + ROCEUIO_SHM_HDR_STRIPE_COUNT);
    uint64_t buckets = plain32(b + ROCEUIO_SHM_HDR_BUCKETS_PER_STRIPE);
    if (cap == 0 || cap > (1u << 20) || stripes == 0 || (stripes & (stripes - 1)) || stripes > 4096
        || buckets == 0 || (buckets & (buckets - 1)) || buckets <= cap)
        return -EPROTO;
    if (plain64(b + ROCEUIO_SHM_HDR_FILE_SIZE) != size)
        return -EPROTO;
    uint64_t e = plain64(b + ROCEUIO_SHM_HDR_ENTRIES_OFFSET), s = plain64(b + ROCEUIO_SHM_HDR_STRIPES_OFFSET);
    uint64_t k = plain64(b + ROCEUIO_SHM_HDR_BUCKETS_OFFSET);
    if (e < ROCEUIO_SHM_HEADER_SIZE || e % 64 || e + cap * ROCEUIO_SHM_ENTRY_SIZE > size
        || s % 64 || s + stripes * ROCEUIO_SHM_STRIPE_SEQ_STRIDE > size
        || k % 32 || k + stripes * buckets * ROCEUIO_SHM_BUCKET_SIZE > size)
        return -EPROTO;
    return 0;
}

int roceuio_gids_open_path(const char *path, roceuio_gids **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (st.st_size < ROCEUIO_SHM_HEADER_SIZE) {
        close(fd);
        return -EPROTO;
    }
    size_t size = (size_t)st.st_size;
    void *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    int e = m == MAP_FAILED ? -errno : 0;
    close(fd);
    if (e)
        return e;
    const uint8_t *b = m;
    if ((e = validate(b, size)) != 0) {
        munmap(m, size);
        return e;
    }
    roceuio_gids *t = calloc(1, sizeof *t);
    if (!t) {
        munmap(m, size);
        return -ENOMEM;
    }
    t->base = b;
    t->size = size;
    t->capacity = plain32(b + ROCEUIO_SHM_HDR_CAPACITY);
    t->stripe_mask = plain32(b + ROCEUIO_SHM_HDR_STRIPE_COUNT) - 1;
    t->bucket_mask = plain32(b + ROCEUIO_SHM_HDR_BUCKETS_PER_STRIPE) - 1;
    t->port = plain32(b + ROCEUIO_SHM_HDR_PORT);
    t->default_slots = plain32(b + ROCEUIO_SHM_HDR_DEFAULT_SLOTS);
    t->instance = plain64(b + ROCEUIO_SHM_HDR_INSTANCE);
    t->netns = plain64(b + ROCEUIO_SHM_HDR_NETNS);
    t->entries = b + plain64(b + ROCEUIO_SHM_HDR_ENTRIES_OFFSET);
    t->stripe_seqs = b + plain64(b + ROCEUIO_SHM_HDR_STRIPES_OFFSET);
    t->buckets = b + plain64(b + ROCEUIO_SHM_HDR_BUCKETS_OFFSET);
    memcpy(t->device, b + ROCEUIO_SHM_HDR_DEVICE_NAME, ROCEUIO_SHM_DEVICE_NAME_SIZE);
    t->device[ROCEUIO_SHM_DEVICE_NAME_SIZE - 1] = '\0';
    *out = t;
    return 0;
}

int roceuio_gids_open(const char *dir, const char *dev, unsigned port, roceuio_gids **out)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s/%u", dir, dev, port);
    if (n < 0 || (size_t)n >= sizeof path) {
        *out = NULL;
        return -ENAMETOOLONG;
    }
    return roceuio_gids_open_path(path, out);
}

void roceuio_gids_close(roceuio_gids *t)
{
    if (!t)
        return;
    munmap((void *)t->base, t->size);
    free(t);
}

int roceuio_gids_file_version(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint8_t h[12];
    ssize_t n = pread(fd, h, sizeof h, 0);
    int e = n < 0 ? -errno : 0;
    close(fd);
    if (e)
        return e;
    if (n < (ssize_t)sizeof h || memcmp(h, ROCEUIO_SHM_MAGIC, 8) != 0)
        return -EPROTO;
    uint32_t v = plain32(h + ROCEUIO_SHM_HDR_VERSION);
    return v > INT_MAX ? -EPROTO : (int)v;
}

uint64_t roceuio_gids_netns_of(const char *path)
{
    struct stat st;
    if (stat(path ? path : "/proc/thread-self/ns/net", &st) != 0)
        return 0;
    return (uint64_t)st.st_ino;
}

uint64_t roceuio_gids_netns(const roceuio_gids *t) { return t->netns; }

/* ---- lookups ---- */

/* One look at the key's stripe: the index, -ENOENT, or RETRY (a window was open or moved: look again). */
#define RETRY INT_MIN
static inline int hash_probe(const roceuio_gids *t, const uint8_t *seq, const uint8_t *bkts, uint32_t home,
                             uint64_t w0, uint64_t w1, uint32_t type, uint32_t ndev, uint64_t netns)
{
    uint32_t s0 = ld32(seq, memory_order_acquire);
    if (s0 & 1)
        return RETRY;
    int found = -ENOENT;
    for (uint32_t i = 0, at = home; i <= t->bucket_mask; i++, at = (at + 1) & t->bucket_mask) {
        const uint8_t *b = bkts + (size_t)at * ROCEUIO_SHM_BUCKET_SIZE;
        uint32_t ti = ld32(b + ROCEUIO_SHM_BKT_TYPE_INDEX, memory_order_relaxed);
        uint32_t ip1 = ti & ((1u << ROCEUIO_SHM_BKT_INDEX_BITS) - 1);
        if (ip1 == 0)
            break;
        if (ld64(b + ROCEUIO_SHM_BKT_GID) == w0 && ld64(b + ROCEUIO_SHM_BKT_GID + 8) == w1
            && ld32(b + ROCEUIO_SHM_BKT_NDEV, memory_order_relaxed) == ndev
            && ti >> ROCEUIO_SHM_BKT_INDEX_BITS == type
            && ld64(b + ROCEUIO_SHM_BKT_NETNS) == netns) {
            found = ip1 - 1 < t->capacity ? (int)(ip1 - 1) : -ENOENT;
            break;
        }
    }
    atomic_thread_fence(memory_order_acquire);
    return ld32(seq, memory_order_relaxed) == s0 ? found : RETRY;
}

/* The retry loop, out of line so that the first look needs no stack frame. */
__attribute__((noinline, cold))
static int hash_find_retry(const roceuio_gids *t, const uint8_t *seq, const uint8_t *bkts, uint32_t home,
                           uint64_t w0, uint64_t w1, uint32_t type, uint32_t ndev, uint64_t netns)
{
    int64_t since = 0;
    unsigned spins = 0;
    for (;;) {
        int e = retry_wait(&since, &spins);
        if (e)
            return e;
        int r = hash_probe(t, seq, bkts, home, w0, w1, type, ndev, netns);
        if (r != RETRY)
            return r;
    }
}

static inline int hash_find(const roceuio_gids *t, uint64_t w0, uint64_t w1, uint32_t type, uint32_t ndev, uint64_t netns)
{
    uint64_t h = key_hash(w0, w1, type, ndev, netns);
    uint32_t stripe = (uint32_t)(h & t->stripe_mask);
    const uint8_t *seq = t->stripe_seqs + (size_t)stripe * ROCEUIO_SHM_STRIPE_SEQ_STRIDE;
    const uint8_t *bkts = t->buckets + (size_t)stripe * (t->bucket_mask + 1) * ROCEUIO_SHM_BUCKET_SIZE;
    uint32_t home = (uint32_t)(h >> ROCEUIO_SHM_HASH_HOME_SHIFT) & t->bucket_mask;
    int r = hash_probe(t, seq, bkts, home, w0, w1, type, ndev, netns);
    return r != RETRY ? r : hash_find_retry(t, seq, bkts, home, w0, w1, type, ndev, netns);
}

__attribute__((noinline))
static int scan_find(const roceuio_gids *t, uint64_t w0, uint64_t w1, uint32_t type, uint32_t ndev, uint64_t netns,
                     uint32_t mask, int is_default)
{
    const uint8_t *seq = t->base + ROCEUIO_SHM_HDR_TABLE_SEQ;
    int64_t since = 0;
    unsigned spins = 0;
    for (;;) {
        uint32_t s0 = ld32(seq, memory_order_acquire);
        if (!(s0 & 1)) {
            int found = -ENOENT;
            for (uint32_t i = 0; i < t->capacity; i++) {
                const uint8_t *e = t->entries + (size_t)i * ROCEUIO_SHM_ENTRY_SIZE;
                if (ld32(e + ROCEUIO_SHM_ENT_STATE, memory_order_relaxed) != ROCEUIO_SHM_STATE_VALID)
                    continue;
                if ((mask & ROCEUIO_FIND_MASK_DEFAULT) && (i < t->default_slots) != (is_default != 0))
                    continue;
                if ((mask & ROCEUIO_FIND_MASK_GID_TYPE) && ld32(e + ROCEUIO_SHM_ENT_TYPE, memory_order_relaxed) != type)
                    continue;
                if ((mask & ROCEUIO_FIND_MASK_GID) && (ld64(e + ROCEUIO_SHM_ENT_GID) != w0 || ld64(e + ROCEUIO_SHM_ENT_GID + 8) != w1))
                    continue;
                if ((mask & ROCEUIO_FIND_MASK_NETDEV) && (ld32(e + ROCEUIO_SHM_ENT_NDEV, memory_order_relaxed) != ndev
                                                          || ld64(e + ROCEUIO_SHM_ENT_NDEV_NETNS) != netns))
                    continue;
                found = (int)i;
                break;
            }
            atomic_thread_fence(memory_order_acquire);
            if (ld32(seq, memory_order_relaxed) == s0)
                return found;
        }
        int e = retry_wait(&since, &spins);
        if (e)
            return e;
    }
}

int roceuio_gids_find_ns(const roceuio_gids *t, const uint8_t gid[16], uint32_t gid_type, uint32_t ndev_ifindex,
                         uint64_t netns, uint32_t mask, int is_default)
{
    uint64_t w0, w1;
    memcpy(&w0, gid, 8);
    memcpy(&w1, gid + 8, 8);
    if (mask == (ROCEUIO_FIND_MASK_GID | ROCEUIO_FIND_MASK_GID_TYPE | ROCEUIO_FIND_MASK_NETDEV))
        return hash_find(t, w0, w1, gid_type, ndev_ifindex, netns);
    return scan_find(t, w0, w1, gid_type, ndev_ifindex, netns, mask, is_default);
}

int roceuio_gids_find(const roceuio_gids *t, const uint8_t gid[16], uint32_t gid_type, uint32_t ndev_ifindex,
                      uint32_t mask, int is_default)
{
    return roceuio_gids_find_ns(t, gid, gid_type, ndev_ifindex, t->netns, mask, is_default);
}

int roceuio_gids_find_ip(const roceuio_gids *t, const struct sockaddr *addr, uint32_t gid_type, uint32_t ndev_ifindex, uint32_t mask)
{
    return roceuio_gids_find_ip_ns(t, addr, gid_type, ndev_ifindex, t->netns, mask);
}

int roceuio_gids_find_ip_ns(const roceuio_gids *t, const struct sockaddr *addr, uint32_t gid_type, uint32_t ndev_ifindex,
                            uint64_t netns, uint32_t mask)
{
    uint8_t gid[16] = {0};
    if (addr->sa_family == AF_INET) {
        gid[10] = 0xff;
        gid[11] = 0xff;
        memcpy(gid + 12, &((const struct sockaddr_in *)(const void *)addr)->sin_addr, 4);
    } else if (addr->sa_family == AF_INET6) {
        memcpy(gid, &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr, 16);
    } else {
        return -EAFNOSUPPORT;
    }
    return roceuio_gids_find_ns(t, gid, gid_type, ndev_ifindex, netns, mask | ROCEUIO_FIND_MASK_GID, 0);
}

int roceuio_gids_query(const roceuio_gids *t, uint32_t index, struct roceuio_gid_entry *out)
{
    if (index >= t->capacity)
        return -EINVAL;
    const uint8_t *e = t->entries + (size_t)index * ROCEUIO_SHM_ENTRY_SIZE;
    int64_t since = 0;
    unsigned spins = 0;
    for (;;) {
        uint32_t s0 = ld32(e + ROCEUIO_SHM_ENT_SEQ, memory_order_acquire);
        if (!(s0 & 1)) {
            uint32_t state = ld32(e + ROCEUIO_SHM_ENT_STATE, memory_order_relaxed);
            uint64_t w0 = ld64(e + ROCEUIO_SHM_ENT_GID), w1 = ld64(e + ROCEUIO_SHM_ENT_GID + 8);
            uint32_t type = ld32(e + ROCEUIO_SHM_ENT_TYPE, memory_order_relaxed);
            uint32_t ndev = ld32(e + ROCEUIO_SHM_ENT_NDEV, memory_order_relaxed);
            uint64_t netns = ld64(e + ROCEUIO_SHM_ENT_NDEV_NETNS);
            int32_t netnsid = (int32_t)ld32(e + ROCEUIO_SHM_ENT_NDEV_NETNSID, memory_order_relaxed);
            uint64_t n0 = ld64(e + ROCEUIO_SHM_ENT_NDEV_NAME), n1 = ld64(e + ROCEUIO_SHM_ENT_NDEV_NAME + 8);
            atomic_thread_fence(memory_order_acquire);
            if (ld32(e + ROCEUIO_SHM_ENT_SEQ, memory_order_relaxed) == s0) {
                if (state != ROCEUIO_SHM_STATE_VALID)
                    return -ENODATA;
                out->index = index;
                out->gid_type = type;
                out->ndev_ifindex = ndev;
                out->ndev_netns = netns;
                out->ndev_netnsid = netnsid;
                memcpy(out->gid, &w0, 8);
                memcpy(out->gid + 8, &w1, 8);
                memcpy(out->ndev_name, &n0, 8);
                memcpy(out->ndev_name + 8, &n1, 8);
                out->ndev_name[ROCEUIO_SHM_NETDEV_NAME_SIZE - 1] = '\0';
                return 0;
            }
        }
        int r = retry_wait(&since, &spins);
        if (r)
            return r;
    }
}

int roceuio_gids_next(const roceuio_gids *t, uint32_t from, struct roceuio_gid_entry *out)
{
    for (uint32_t i = from; i < t->capacity; i++) {
        int r = roceuio_gids_query(t, i, out);
        if (r == 0)
            return (int)i;
        if (r != -ENODATA)
            return r;
    }
    return -ENOENT;
}

/* ---- generation, GONE, waiting ---- */

uint32_t roceuio_gids_generation(const roceuio_gids *t) { return ld32(t->base + ROCEUIO_SHM_HDR_GENERATION, memory_order_acquire); }

int roceuio_gids_is_gone(const roceuio_gids *t)
{
    return (ld32(t->base + ROCEUIO_SHM_HDR_FLAGS, memory_order_acquire) & ROCEUIO_SHM_FLAG_GONE) != 0;
}

int64_t roceuio_gids_wait(const roceuio_gids *t, uint32_t seen, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ns() + (int64_t)timeout_ms * 1000000LL;
    const uint32_t *word = (const uint32_t *)(const void *)(t->base + ROCEUIO_SHM_HDR_GENERATION);
    for (;;) {
        uint32_t g = roceuio_gids_generation(t);
        if (g != seen || roceuio_gids_is_gone(t))
            return g;
        struct timespec ts, *tp = NULL;
        if (deadline != INT64_MAX) {
            int64_t left = deadline - now_ns();
            if (left <= 0)
                return -ETIMEDOUT;
            ts.tv_sec = left / 1000000000LL;
            ts.tv_nsec = left % 1000000000LL;
            tp = &ts;
        }
        /* Shared futex (no FUTEX_PRIVATE_FLAG): keyed on the file page, so the daemon's FUTEX_WAKE reaches it. */
        long r = syscall(SYS_futex, word, FUTEX_WAIT, seen, tp, NULL, 0);
        if (r != 0 && errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT)
            return -errno;
    }
}

uint32_t roceuio_gids_capacity(const roceuio_gids *t) { return t->capacity; }
uint32_t roceuio_gids_port(const roceuio_gids *t) { return t->port; }
uint32_t roceuio_gids_default_slots(const roceuio_gids *t) { return t->default_slots; }
const char *roceuio_gids_device(const roceuio_gids *t) { return t->device; }
uint64_t roceuio_gids_instance(const roceuio_gids *t) { return t->instance; }
