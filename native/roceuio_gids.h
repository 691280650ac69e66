/* roceuio_gids: read the GID tables that `roceuio run` publishes in shared memory (docs/shm-layout.md), from any
 * process, with no system call per lookup.
 *
 *   roceuio_gids *t;
 *   if (roceuio_gids_open("/dev/shm/roceuio", "mlx4_0", 1, &t) == 0) {
 *       int index = roceuio_gids_find(t, gid, ROCEUIO_GID_TYPE_ROCE_V2, ifindex,
 *                                     ROCEUIO_FIND_MASK_GID | ROCEUIO_FIND_MASK_GID_TYPE | ROCEUIO_FIND_MASK_NETDEV, 0);
 *       ...
 *       roceuio_gids_close(t);
 *   }
 *
 * Functions return a non-negative value on success and a negative errno on failure. After open nothing allocates;
 * every function but close may be called from any number of threads at once on the same handle. A handle never
 * writes the shared memory and never takes a lock: while the daemon is inside the part of the table a call reads,
 * the call retries; if that lasts over a second (the daemon died there) it returns -EAGAIN.
 * When roceuio_gids_is_gone() says 1 (the daemon stopped or restarted, the port went away, the table changed size),
 * close the handle and open the path again. */
#ifndef ROCEUIO_GIDS_H
#define ROCEUIO_GIDS_H
#include <stdint.h>
#include <sys/socket.h>
#ifdef __cplusplus
extern "C" {
#endif

/* ---- the file layout, version 3 (docs/shm-layout.md; src/RoceUio.Core/Shm/ShmLayout.cs must agree) ----
 * An entry names its netdev by its ifindex inside its own network namespace plus that namespace (nsfs inode, and its
 * id in the daemon's namespace), and the hash key holds the namespace (since version 2). Version 3: 32-byte buckets
 * (the type packed beside index+1) and a one-multiply hash whose stripe and home depend on every key bit. */
#define ROCEUIO_SHM_MAGIC "ROCEGIDS"
#define ROCEUIO_SHM_VERSION 3
#define ROCEUIO_SHM_HEADER_SIZE 256
#define ROCEUIO_SHM_ENTRY_SIZE 64
#define ROCEUIO_SHM_BUCKET_SIZE 32
#define ROCEUIO_SHM_STRIPE_SEQ_STRIDE 64
#define ROCEUIO_SHM_DEVICE_NAME_SIZE 64
#define ROCEUIO_SHM_NETDEV_NAME_SIZE 16
/* header offsets */
#define ROCEUIO_SHM_HDR_MAGIC 0
#define ROCEUIO_SHM_HDR_VERSION 8
#define ROCEUIO_SHM_HDR_HEADER_SIZE 12
#define ROCEUIO_SHM_HDR_ENTRY_SIZE 16
#define ROCEUIO_SHM_HDR_CAPACITY 20
#define ROCEUIO_SHM_HDR_STRIPE_COUNT 24
#define ROCEUIO_SHM_HDR_BUCKETS_PER_STRIPE 28
#define ROCEUIO_SHM_HDR_BUCKET_SIZE 32
#define ROCEUIO_SHM_HDR_PORT 36
#define ROCEUIO_SHM_HDR_ENTRIES_OFFSET 40
#define ROCEUIO_SHM_HDR_STRIPES_OFFSET 48
#define ROCEUIO_SHM_HDR_BUCKETS_OFFSET 56
#define ROCEUIO_SHM_HDR_FILE_SIZE 64
#define ROCEUIO_SHM_HDR_INSTANCE 72
#define ROCEUIO_SHM_HDR_WRITER_PID 80
#define ROCEUIO_SHM_HDR_DEFAULT_SLOTS 84
#define ROCEUIO_SHM_HDR_GID_TYPES 88
#define ROCEUIO_SHM_HDR_DEVICE_NAME 96
#define ROCEUIO_SHM_HDR_NETNS 160
#define ROCEUIO_SHM_HDR_GENERATION 192
#define ROCEUIO_SHM_HDR_FLAGS 196
#define ROCEUIO_SHM_HDR_TABLE_SEQ 200
#define ROCEUIO_SHM_FLAG_GONE 1u
/* entry offsets */
#define ROCEUIO_SHM_ENT_SEQ 0
#define ROCEUIO_SHM_ENT_STATE 4
#define ROCEUIO_SHM_ENT_GID 8
#define ROCEUIO_SHM_ENT_TYPE 24
#define ROCEUIO_SHM_ENT_NDEV 28
#define ROCEUIO_SHM_ENT_NDEV_NETNS 32
#define ROCEUIO_SHM_ENT_NDEV_NAME 40
#define ROCEUIO_SHM_ENT_NDEV_NETNSID 56
#define ROCEUIO_SHM_STATE_EMPTY 0u
#define ROCEUIO_SHM_STATE_VALID 1u
/* hash bucket offsets (32 bytes, 32-aligned: a bucket never straddles a cache line) */
#define ROCEUIO_SHM_BKT_GID 0
#define ROCEUIO_SHM_BKT_NDEV 16
#define ROCEUIO_SHM_BKT_TYPE_INDEX 20   /* u32: bits 0..23 index + 1 (0: empty bucket), bits 24..31 gid_type */
#define ROCEUIO_SHM_BKT_NETNS 24
#define ROCEUIO_SHM_BKT_INDEX_BITS 24
/* the key hash: a = w0 ^ (type | ndev << 32) ^ K0, b = w1 ^ netns ^ K1, m = a * b as 128 bits, h = lo64(m) ^ hi64(m);
 * stripe = h & (stripes - 1); home bucket = (h >> HOME_SHIFT) & (buckets_per_stripe - 1) */
#define ROCEUIO_SHM_HASH_K0 0x9E3779B97F4A7C15ULL
#define ROCEUIO_SHM_HASH_K1 0xC2B2AE3D27D4EB4FULL
#define ROCEUIO_SHM_HASH_HOME_SHIFT 16

/* ---- the API ---- */

/* GID types: the values of ibv_gid_entry.gid_type and the kernel's enum ib_gid_type. */
enum { ROCEUIO_GID_TYPE_IB = 0, ROCEUIO_GID_TYPE_ROCE_V1 = 1, ROCEUIO_GID_TYPE_ROCE_V2 = 2 };

/* What a find compares: the kernel's enum gid_attr_find_mask (drivers/infiniband/core/cache.c). */
enum {
    ROCEUIO_FIND_MASK_GID = 1 << 0,
    ROCEUIO_FIND_MASK_NETDEV = 1 << 1,
    ROCEUIO_FIND_MASK_DEFAULT = 1 << 2,
    ROCEUIO_FIND_MASK_GID_TYPE = 1 << 3,
};

typedef struct roceuio_gids roceuio_gids;

/* One valid entry, copied out whole. */
struct roceuio_gid_entry {
    uint32_t index;
    uint32_t gid_type;
    uint32_t ndev_ifindex;                   /* inside the netdev's own namespace (ndev->ifindex) */
    int32_t ndev_netnsid;                    /* that namespace's id in the daemon's namespace; -1: the daemon's own */
    uint64_t ndev_netns;                     /* that namespace's nsfs inode (roceuio_gids_netns_of); 0: unknown */
    uint8_t gid[16];                         /* network order, as union ib_gid raw[] */
    char ndev_name[ROCEUIO_SHM_NETDEV_NAME_SIZE]; /* NUL-terminated */
};

/* Opens DIR/DEV/PORT read-only and checks its header. -ENOENT: no such table (daemon not running, no such port);
 * -EPROTONOSUPPORT: a table file of another layout version (roceuio_gids_file_version says which); -EPROTO: not a
 * valid version-3 table file; other negative errnos from open/mmap. */
int roceuio_gids_open(const char *dir, const char *dev, unsigned port, roceuio_gids **out);
int roceuio_gids_open_path(const char *path, roceuio_gids **out);
void roceuio_gids_close(roceuio_gids *t);
/* The layout version a table file says it has (for the message when open refused it), or a negative errno. */
int roceuio_gids_file_version(const char *path);

/* The nsfs inode of a network namespace file (/proc/PID/ns/net, /run/netns/NAME; NULL: the calling thread's own
 * namespace), as entries and the _ns lookups name namespaces; 0 if it cannot be read. */
uint64_t roceuio_gids_netns_of(const char *path);
/* The daemon's namespace (the header's netns): what the lookups without _ns mean. */
uint64_t roceuio_gids_netns(const roceuio_gids *t);

/* The kernel's find_gid: the lowest valid index whose attributes match on the bits of mask (with
 * ROCEUIO_FIND_MASK_DEFAULT, only slots whose default-ness equals is_default). The mask GID|GID_TYPE|NETDEV is the
 * hash lookup; any other mask scans one consistent view of the table. Returns the index, -ENOENT, or -EAGAIN.
 * The netdev (MASK_NETDEV) is ndev_ifindex of the daemon's namespace; see roceuio_gids_find_ns for another one. */
int roceuio_gids_find(const roceuio_gids *t, const uint8_t gid[16], uint32_t gid_type, uint32_t ndev_ifindex,
                      uint32_t mask, int is_default);
/* As roceuio_gids_find, the netdev being ndev_ifindex inside the namespace with nsfs inode netns (a process in a
 * container passes its own: roceuio_gids_netns_of(NULL), computed once). */
int roceuio_gids_find_ns(const roceuio_gids *t, const uint8_t gid[16], uint32_t gid_type, uint32_t ndev_ifindex,
                         uint64_t netns, uint32_t mask, int is_default);

/* As roceuio_gids_find for the GID of an IP address (rdma_ip2gid: IPv4 as ::ffff:a.b.c.d, IPv6 as itself);
 * addr is a struct sockaddr_in or sockaddr_in6. -EAFNOSUPPORT for another family. */
int roceuio_gids_find_ip(const roceuio_gids *t, const struct sockaddr *addr, uint32_t gid_type, uint32_t ndev_ifindex,
                         uint32_t mask);
int roceuio_gids_find_ip_ns(const roceuio_gids *t, const struct sockaddr *addr, uint32_t gid_type, uint32_t ndev_ifindex,
                            uint64_t netns, uint32_t mask);

/* The entry at index: 0, -ENODATA (empty slot), -EINVAL (outside the table), -EAGAIN. */
int roceuio_gids_query(const roceuio_gids *t, uint32_t index, struct roceuio_gid_entry *out);

/* Enumeration: the first valid entry at an index >= from, copied to out; returns its index, or -ENOENT.
 *   for (int i = roceuio_gids_next(t, 0, &e); i >= 0; i = roceuio_gids_next(t, i + 1, &e)) ... */
int roceuio_gids_next(const roceuio_gids *t, uint32_t from, struct roceuio_gid_entry *out);

/* The generation: grows after every published batch of changes, and when the file goes away. */
uint32_t roceuio_gids_generation(const roceuio_gids *t);
/* 1 once the daemon gave this file up: close and open again. */
int roceuio_gids_is_gone(const roceuio_gids *t);
/* Blocks (FUTEX_WAIT on the generation, no polling) until the generation differs from seen or the file is gone, at
 * most timeout_ms (-1: no limit). Returns the generation now (as a non-negative int64), or -ETIMEDOUT. */
int64_t roceuio_gids_wait(const roceuio_gids *t, uint32_t seen, int timeout_ms);

uint32_t roceuio_gids_capacity(const roceuio_gids *t);
uint32_t roceuio_gids_port(const roceuio_gids *t);
uint32_t roceuio_gids_default_slots(const roceuio_gids *t);
const char *roceuio_gids_device(const roceuio_gids *t);
uint64_t roceuio_gids_instance(const roceuio_gids *t);

#ifdef __cplusplus
}
#endif
#endif
