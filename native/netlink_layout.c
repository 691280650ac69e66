/* rtnetlink numbers: linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h */
#include "layout.h"
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
void print_netlink(void)
{
    P(NETLINK_ROUTE);
    SZ(nlmsghdr);
}
