/* Prints the kernel ABI numbers the C# code uses, one "NAME VALUE" line each, from this machine's headers.
 * tests/ compare them with the C# definitions (see tests/RoceUio.TestSupport/NativeLayout.cs). */
#ifndef ROCEUIO_LAYOUT_H
#define ROCEUIO_LAYOUT_H
#include <stdio.h>
#include <stddef.h>
/* A constant or ioctl number. */
#define P(name) printf("%s %lld\n", #name, (long long)(name))
/* sizeof(struct s) as "sizeof_s". */
#define SZ(s) printf("sizeof_%s %zu\n", #s, sizeof(struct s))
/* offsetof(struct s, f) as "offsetof_s_f". */
#define OFF(s, f) printf("offsetof_%s_%s %zu\n", #s, #f, offsetof(struct s, f))
void print_netlink(void);
void print_vfio(void);
void print_shm(void);
#endif
