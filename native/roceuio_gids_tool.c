/* roceuio-gids: the example program of libroceuio_gids (roceuio_gids.h), built by ./build.sh into
 * artifacts/native/roceuio-gids.
 *   roceuio-gids DIR show [--dev D] [--port P]        every valid entry: DEV PORT INDEX GID vN NDEV_IFINDEX NETNS NETNSID
 *   roceuio-gids DIR find (--gid GID | --ip ADDR) [--type v1|v2] [--ndev IFINDEX [--netns INODE|PATH]] [--dev D] [--port P]
 *                                                     the lowest matching index of each table (exit 1 if none); the
 *                                                     netdev is of the daemon's namespace unless --netns names another
 *   roceuio-gids DIR wait DEV PORT [--timeout MS]     blocks until that table changes; prints the new generation */
#define _GNU_SOURCE
#include "roceuio_gids.h"
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: roceuio-gids DIR show [--dev D] [--port P]\n"
    "       roceuio-gids DIR find (--gid GID | --ip ADDR) [--type v1|v2] [--ndev IFINDEX [--netns INODE|PATH]] [--dev D] [--port P]\n"
    "       roceuio-gids DIR wait DEV PORT [--timeout MS]\n";

struct opts {
    const char *dev, *gid, *ip, *netns;
    long port, ndev, timeout;
    int type; /* -1: any */
};

static int fail(const char *what, const char *arg)
{
    fprintf(stderr, "roceuio-gids: %s%s%s\n%s", what, arg ? ": " : "", arg ? arg : "", usage);
    return 2;
}

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, int i, struct opts *o)
{
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return fail("a value is missing after", a);
        if (!strcmp(a, "--dev")) o->dev = v;
        else if (!strcmp(a, "--gid")) o->gid = v;
        else if (!strcmp(a, "--ip")) o->ip = v;
        else if (!strcmp(a, "--netns")) o->netns = v;
        else if (!strcmp(a, "--port")) { if (parse_long(v, &o->port)) return fail("--port needs a number", v); }
        else if (!strcmp(a, "--ndev")) { if (parse_long(v, &o->ndev)) return fail("--ndev needs an ifindex", v); }
        else if (!strcmp(a, "--timeout")) { if (parse_long(v, &o->timeout)) return fail("--timeout needs milliseconds", v); }
        else if (!strcmp(a, "--type")) {
            if (!strcmp(v, "v1")) o->type = ROCEUIO_GID_TYPE_ROCE_V1;
            else if (!strcmp(v, "v2")) o->type = ROCEUIO_GID_TYPE_ROCE_V2;
            else return fail("--type is v1 or v2", v);
        } else return fail("unknown option", a);
        i++;
    }
    return 0;
}

static int visible(const struct dirent *d) { return d->d_name[0] != '.'; }

static int by_number(const struct dirent **a, const struct dirent **b)
{
    long x = strtol((*a)->d_name, NULL, 10), y = strtol((*b)->d_name, NULL, 10);
    return x < y ? -1 : x > y;
}

/* Calls fn for every table under dir (devices in name order, ports in number order) that opts select. */
static int each_table(const char *dir, const struct opts *o, int (*fn)(roceuio_gids *, const struct opts *, void *), void *arg)
{
    struct dirent **devs;
    int n = scandir(dir, &devs, visible, alphasort);
    if (n < 0) {
        fprintf(stderr, "roceuio-gids: %s: %s (is roceuio run publishing there?)\n", dir, strerror(errno));
        return -1;
    }
    int tables = 0;
    for (int d = 0; d < n; d++) {
        if (!o->dev || !strcmp(o->dev, devs[d]->d_name)) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, devs[d]->d_name);
            struct dirent **ports;
            int m = scandir(path, &ports, visible, by_number);
            for (int p = 0; p < m; p++) {
                long port;
                if (parse_long(ports[p]->d_name, &port) == 0 && (o->port < 0 || port == o->port)) {
                    roceuio_gids *t;
                    int r = roceuio_gids_open(dir, devs[d]->d_name, (unsigned)port, &t);
                    if (r == 0) {
                        if (!roceuio_gids_is_gone(t)) {
                            tables++;
                            fn(t, o, arg);
                        }
                        roceuio_gids_close(t);
                    } else if (r == -EPROTONOSUPPORT) {
                        char file[4200];
                        snprintf(file, sizeof file, "%s/%ld", path, port);
                        fprintf(stderr, "roceuio-gids: %s: layout version %d; this reader reads version %d only\n", file,
                                roceuio_gids_file_version(file), ROCEUIO_SHM_VERSION);
                    } else if (r != -ENOENT) {
                        fprintf(stderr, "roceuio-gids: %s/%s/%ld: %s\n", dir, devs[d]->d_name, port, strerror(-r));
                    }
                }
                free(ports[p]);
            }
            if (m >= 0)
                free(ports);
        }
        free(devs[d]);
    }
    free(devs);
    return tables;
}

static void print_gid(const uint8_t g[16])
{
    for (int i = 0; i < 16; i += 2)
        printf("%s%02x%02x", i ? ":" : "", g[i], g[i + 1]);
}

static int show_one(roceuio_gids *t, const struct opts *o, void *arg)
{
    (void)o;
    (void)arg;
    struct roceuio_gid_entry e;
    for (int i = roceuio_gids_next(t, 0, &e); i >= 0; i = roceuio_gids_next(t, (uint32_t)i + 1, &e)) {
        printf("%s %u %u ", roceuio_gids_device(t), roceuio_gids_port(t), e.index);
        print_gid(e.gid);
        printf(" v%u %u %llu %d\n", e.gid_type == ROCEUIO_GID_TYPE_ROCE_V2 ? 2 : 1, e.ndev_ifindex,
               (unsigned long long)e.ndev_netns, e.ndev_netnsid);
    }
    return 0;
}

struct find_arg {
    uint8_t gid[16];
    uint64_t netns; /* 0: the daemon's */
    int found;
};

static int find_one(roceuio_gids *t, const struct opts *o, void *arg)
{
    struct find_arg *f = arg;
    uint32_t mask = ROCEUIO_FIND_MASK_GID;
    if (o->type >= 0)
        mask |= ROCEUIO_FIND_MASK_GID_TYPE;
    if (o->ndev >= 0)
        mask |= ROCEUIO_FIND_MASK_NETDEV;
    int i = roceuio_gids_find_ns(t, f->gid, o->type < 0 ? 0 : (uint32_t)o->type, o->ndev < 0 ? 0 : (uint32_t)o->ndev,
                                 f->netns ? f->netns : roceuio_gids_netns(t), mask, 0);
    if (i >= 0) {
        printf("%d\n", i);
        f->found++;
    } else if (i != -ENOENT) {
        fprintf(stderr, "roceuio-gids: %s port %u: %s\n", roceuio_gids_device(t), roceuio_gids_port(t), strerror(-i));
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return fail("a directory and a command are needed", NULL);
    const char *dir = argv[1], *cmd = argv[2];
    struct opts o = { .port = -1, .ndev = -1, .timeout = -1, .type = -1 };
    if (!strcmp(cmd, "show")) {
        if (parse_opts(argc, argv, 3, &o))
            return 2;
        int n = each_table(dir, &o, show_one, NULL);
        if (n == 0)
            fprintf(stderr, "roceuio-gids: %s: no GID table%s%s\n", dir, o.dev ? " of " : "", o.dev ? o.dev : "");
        return n > 0 ? 0 : 1;
    }
    if (!strcmp(cmd, "find")) {
        if (parse_opts(argc, argv, 3, &o))
            return 2;
        struct find_arg f = { .found = 0 };
        if (!o.gid == !o.ip)
            return fail("find needs one of --gid or --ip", NULL);
        if (o.gid) {
            if (inet_pton(AF_INET6, o.gid, f.gid) != 1)
                return fail("not a GID (IPv6 form, e.g. fe80::1 or fe80:0000:...)", o.gid);
        } else {
            uint8_t v4[4];
            if (inet_pton(AF_INET, o.ip, v4) == 1) {
                memset(f.gid, 0, 10);
                f.gid[10] = f.gid[11] = 0xff;
                memcpy(f.gid + 12, v4, 4);
            } else if (inet_pton(AF_INET6, o.ip, f.gid) != 1) {
                return fail("not an IP address", o.ip);
            }
        }
        if (o.netns) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(o.netns, &end, 10);
            f.netns = !errno && *o.netns && !*end ? (uint64_t)v : roceuio_gids_netns_of(o.netns);
            if (!f.netns)
                return fail("--netns needs a namespace inode or a namespace file (/proc/PID/ns/net, /run/netns/NAME)", o.netns);
        }
        if (each_table(dir, &o, find_one, &f) < 0)
            return 1;
        return f.found ? 0 : 1;
    }
    if (!strcmp(cmd, "wait")) {
        long port;
        if (argc < 5 || parse_long(argv[4], &port))
            return fail("wait needs DEV and PORT", NULL);
        if (parse_opts(argc, argv, 5, &o))
            return 2;
        roceuio_gids *t;
        int r = roceuio_gids_open(dir, argv[3], (unsigned)port, &t);
        if (r) {
            fprintf(stderr, "roceuio-gids: %s/%s/%ld: %s\n", dir, argv[3], port, strerror(-r));
            return 1;
        }
        int64_t g = roceuio_gids_wait(t, roceuio_gids_generation(t), (int)o.timeout);
        int gone = roceuio_gids_is_gone(t);
        roceuio_gids_close(t);
        if (g < 0) {
            fprintf(stderr, "roceuio-gids: no change within %ld ms\n", o.timeout);
            return 1;
        }
        printf("%lld%s\n", (long long)g, gone ? " gone" : "");
        return 0;
    }
    return fail("unknown command", cmd);
}
