/* rtnetlink numbers: linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h, linux/if.h, linux/if_arp.h,
 * linux/net_namespace.h.
 * Every name here is compared with src/RoceUio.Core/Netlink/ by tests/RoceUio.Core.Tests/Netlink/NetlinkDefinitionsTests.cs. */
#include "layout.h"
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_bonding.h>
#include <linux/net_namespace.h>
void print_netlink(void)
{
    P(NETLINK_ROUTE); P(SOL_NETLINK); P(NETLINK_ADD_MEMBERSHIP); P(NETLINK_DROP_MEMBERSHIP); P(NETLINK_NO_ENOBUFS);
    P(NETLINK_EXT_ACK); P(NETLINK_GET_STRICT_CHK); P(NETLINK_LISTEN_ALL_NSID);
    P(NLMSG_NOOP); P(NLMSG_ERROR); P(NLMSG_DONE); P(NLMSG_OVERRUN); P(NLMSG_MIN_TYPE);
    P(RTM_NEWLINK); P(RTM_DELLINK); P(RTM_GETLINK); P(RTM_NEWADDR); P(RTM_DELADDR); P(RTM_GETADDR);
    P(RTM_NEWROUTE); P(RTM_DELROUTE); P(RTM_NEWNETCONF); P(RTM_NEWNSID); P(RTM_DELNSID); P(RTM_GETNSID);
    P(NLM_F_REQUEST); P(NLM_F_MULTI); P(NLM_F_ACK); P(NLM_F_ECHO); P(NLM_F_DUMP_INTR); P(NLM_F_DUMP_FILTERED);
    P(NLM_F_ROOT); P(NLM_F_MATCH); P(NLM_F_DUMP); P(NLM_F_CREATE); P(NLM_F_ACK_TLVS);
    P(RTNLGRP_LINK); P(RTNLGRP_IPV4_IFADDR); P(RTNLGRP_IPV6_IFADDR); P(RTNLGRP_NSID);
    P(IFLA_ADDRESS); P(IFLA_BROADCAST); P(IFLA_IFNAME); P(IFLA_MTU); P(IFLA_LINK); P(IFLA_MASTER); P(IFLA_TXQLEN);
    P(IFLA_OPERSTATE); P(IFLA_LINKMODE); P(IFLA_LINKINFO); P(IFLA_NET_NS_PID); P(IFLA_NET_NS_FD); P(IFLA_PHYS_PORT_ID);
    P(IFLA_CARRIER); P(IFLA_LINK_NETNSID); P(IFLA_PHYS_PORT_NAME); P(IFLA_NEW_NETNSID); P(IFLA_TARGET_NETNSID); P(IFLA_NEW_IFINDEX);
    P(IFLA_INFO_KIND); P(IFLA_INFO_DATA); P(IFLA_INFO_SLAVE_KIND); P(IFLA_INFO_SLAVE_DATA);
    P(IFLA_VLAN_ID); P(IFLA_VLAN_FLAGS); P(IFLA_VLAN_PROTOCOL);
    P(IFLA_BOND_MODE); P(IFLA_BOND_ACTIVE_SLAVE); P(BOND_MODE_ACTIVEBACKUP);
    P(IFA_ADDRESS); P(IFA_LOCAL); P(IFA_LABEL); P(IFA_BROADCAST); P(IFA_CACHEINFO); P(IFA_FLAGS); P(IFA_TARGET_NETNSID);
    P(NETNSA_NSID); P(NETNSA_PID); P(NETNSA_FD); P(NETNSA_TARGET_NSID); P(NETNSA_CURRENT_NSID); P(NETNSA_NSID_NOT_ASSIGNED);
    P(IFA_F_SECONDARY); P(IFA_F_NODAD); P(IFA_F_OPTIMISTIC); P(IFA_F_DADFAILED); P(IFA_F_HOMEADDRESS);
    P(IFA_F_DEPRECATED); P(IFA_F_TENTATIVE); P(IFA_F_PERMANENT); P(IFA_F_MANAGETEMPADDR); P(IFA_F_NOPREFIXROUTE);
    P(IFF_UP); P(IFF_BROADCAST); P(IFF_LOOPBACK); P(IFF_RUNNING); P(IFF_NOARP); P(IFF_PROMISC); P(IFF_MASTER);
    P(IFF_SLAVE); P(IFF_MULTICAST); P(IFF_LOWER_UP); P(IFF_DORMANT);
    P(ARPHRD_ETHER); P(ARPHRD_INFINIBAND); P(ARPHRD_LOOPBACK); P(ARPHRD_NONE);
    P(AF_UNSPEC); P(AF_INET); P(AF_BRIDGE); P(AF_NETLINK); P(AF_INET6);
    P(IF_OPER_UNKNOWN); P(IF_OPER_NOTPRESENT); P(IF_OPER_DOWN); P(IF_OPER_LOWERLAYERDOWN); P(IF_OPER_TESTING);
    P(IF_OPER_DORMANT); P(IF_OPER_UP);
    P(NLA_F_NESTED); printf("NLA_TYPE_MASK %u\n", (unsigned)(NLA_TYPE_MASK & 0xFFFF));
    SZ(sockaddr_nl); OFF(sockaddr_nl, nl_family); OFF(sockaddr_nl, nl_pid); OFF(sockaddr_nl, nl_groups);
    SZ(nlmsghdr); OFF(nlmsghdr, nlmsg_len); OFF(nlmsghdr, nlmsg_type); OFF(nlmsghdr, nlmsg_flags);
    OFF(nlmsghdr, nlmsg_seq); OFF(nlmsghdr, nlmsg_pid);
    SZ(nlmsgerr); OFF(nlmsgerr, error); OFF(nlmsgerr, msg);
    SZ(ifinfomsg); OFF(ifinfomsg, ifi_family); OFF(ifinfomsg, ifi_type); OFF(ifinfomsg, ifi_index);
    OFF(ifinfomsg, ifi_flags); OFF(ifinfomsg, ifi_change);
    SZ(ifaddrmsg); OFF(ifaddrmsg, ifa_family); OFF(ifaddrmsg, ifa_prefixlen); OFF(ifaddrmsg, ifa_flags);
    OFF(ifaddrmsg, ifa_scope); OFF(ifaddrmsg, ifa_index);
    SZ(rtattr); OFF(rtattr, rta_len); OFF(rtattr, rta_type);
}
