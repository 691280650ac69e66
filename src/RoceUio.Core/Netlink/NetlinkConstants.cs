namespace RoceUio.Netlink;

// The rtnetlink numbers Tmds.LibC lacks. All are `const` so they can be used in switch cases (Tmds.LibC's are
// properties). Each class names the kernel header it follows; native/netlink_layout.c prints the same names from this
// machine's headers and NetlinkDefinitionsTests compares them.

/// <summary>Netlink protocol, socket level and socket options (include/uapi/linux/netlink.h).</summary>
public static class NetlinkSocketConstants
{
    public const int NETLINK_ROUTE = 0;
    public const int SOL_NETLINK = 270;
    public const int NETLINK_ADD_MEMBERSHIP = 1;
    public const int NETLINK_DROP_MEMBERSHIP = 2;
    public const int NETLINK_NO_ENOBUFS = 5;
    /// <summary>Receive the groups' messages of every namespace that has an id here, each tagged with that id in a
    /// SOL_NETLINK control message of this type (netlink_recvmsg, net/netlink/af_netlink.c).</summary>
    public const int NETLINK_LISTEN_ALL_NSID = 8;
    public const int NETLINK_EXT_ACK = 11;
    public const int NETLINK_GET_STRICT_CHK = 12;
}

/// <summary>nlmsghdr.nlmsg_type control values and rtnetlink message types (netlink.h, rtnetlink.h).</summary>
public static class NlMsgType
{
    public const ushort NLMSG_NOOP = 1;
    public const ushort NLMSG_ERROR = 2;
    public const ushort NLMSG_DONE = 3;
    public const ushort NLMSG_OVERRUN = 4;
    /// <summary>Types below this are control messages.</summary>
    public const ushort NLMSG_MIN_TYPE = 0x10;
    /// <summary>iproute2's timestamp record in rtmon files (include/libnetlink.h: NLMSG_TSTAMP 15).</summary>
    public const ushort NLMSG_TSTAMP = 15;
    public const ushort RTM_NEWLINK = 16;
    public const ushort RTM_DELLINK = 17;
    public const ushort RTM_GETLINK = 18;
    public const ushort RTM_NEWADDR = 20;
    public const ushort RTM_DELADDR = 21;
    public const ushort RTM_GETADDR = 22;
    public const ushort RTM_NEWROUTE = 24;
    public const ushort RTM_DELROUTE = 25;
    public const ushort RTM_NEWNETCONF = 80;
    public const ushort RTM_NEWNSID = 88;
    public const ushort RTM_DELNSID = 89;
    public const ushort RTM_GETNSID = 90;
}

/// <summary>nlmsghdr.nlmsg_flags (netlink.h).</summary>
public static class NlMsgFlags
{
    public const ushort NLM_F_REQUEST = 0x1;
    public const ushort NLM_F_MULTI = 0x2;
    public const ushort NLM_F_ACK = 0x4;
    public const ushort NLM_F_ECHO = 0x8;
    public const ushort NLM_F_DUMP_INTR = 0x10;
    public const ushort NLM_F_DUMP_FILTERED = 0x20;
    public const ushort NLM_F_ROOT = 0x100;
    public const ushort NLM_F_MATCH = 0x200;
    public const ushort NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
    public const ushort NLM_F_CREATE = 0x400;
    /// <summary>On an NLMSG_ERROR: the error message is followed by extended-ack TLVs.</summary>
    public const ushort NLM_F_ACK_TLVS = 0x200;
}

/// <summary>rtnetlink multicast groups (rtnetlink.h enum rtnetlink_groups).</summary>
public static class RtnlGroup
{
    public const int RTNLGRP_LINK = 1;
    public const int RTNLGRP_IPV4_IFADDR = 5;
    public const int RTNLGRP_IPV6_IFADDR = 9;
    public const int RTNLGRP_NSID = 28;
}

/// <summary>Link attributes (include/uapi/linux/if_link.h enum IFLA_*).</summary>
public static class Ifla
{
    public const ushort IFLA_ADDRESS = 1;
    public const ushort IFLA_BROADCAST = 2;
    public const ushort IFLA_IFNAME = 3;
    public const ushort IFLA_MTU = 4;
    public const ushort IFLA_LINK = 5;
    public const ushort IFLA_MASTER = 10;
    public const ushort IFLA_TXQLEN = 13;
    public const ushort IFLA_OPERSTATE = 16;
    public const ushort IFLA_LINKMODE = 17;
    public const ushort IFLA_LINKINFO = 18;
    public const ushort IFLA_NET_NS_PID = 19;
    public const ushort IFLA_NET_NS_FD = 28;
    public const ushort IFLA_PHYS_PORT_ID = 34;
    public const ushort IFLA_CARRIER = 33;
    public const ushort IFLA_LINK_NETNSID = 37;
    public const ushort IFLA_PHYS_PORT_NAME = 38;
    public const ushort IFLA_NEW_NETNSID = 45;
    /// <summary>IFLA_TARGET_NETNSID (alias of IFLA_IF_NETNSID): a request (or its reply) about the links of the namespace
    /// with this id, as seen from the requester.</summary>
    public const ushort IFLA_TARGET_NETNSID = 46;
    public const ushort IFLA_NEW_IFINDEX = 49;
}

/// <summary>Nested IFLA_LINKINFO attributes (if_link.h enum IFLA_INFO_*).</summary>
public static class IflaInfo
{
    public const ushort IFLA_INFO_KIND = 1;
    public const ushort IFLA_INFO_DATA = 2;
    public const ushort IFLA_INFO_SLAVE_KIND = 4;
    public const ushort IFLA_INFO_SLAVE_DATA = 5;
}

/// <summary>IFLA_INFO_DATA of kind "vlan" (if_link.h enum IFLA_VLAN_*).</summary>
public static class IflaVlan
{
    public const ushort IFLA_VLAN_ID = 1;
    public const ushort IFLA_VLAN_FLAGS = 2;
    public const ushort IFLA_VLAN_PROTOCOL = 5;
}

/// <summary>IFLA_INFO_DATA of kind "bond" (if_link.h enum IFLA_BOND_*).</summary>
public static class IflaBond
{
    public const ushort IFLA_BOND_MODE = 1;
    public const ushort IFLA_BOND_ACTIVE_SLAVE = 2;
    /// <summary>BOND_MODE_ACTIVEBACKUP (include/uapi/linux/if_bonding.h).</summary>
    public const byte BOND_MODE_ACTIVEBACKUP = 1;
}

/// <summary>Address attributes (include/uapi/linux/if_addr.h enum IFA_*).</summary>
public static class Ifa
{
    public const ushort IFA_ADDRESS = 1;
    public const ushort IFA_LOCAL = 2;
    public const ushort IFA_LABEL = 3;
    public const ushort IFA_BROADCAST = 4;
    public const ushort IFA_CACHEINFO = 6;
    public const ushort IFA_FLAGS = 8;
    public const ushort IFA_TARGET_NETNSID = 10;
}

/// <summary>RTM_NEWNSID/RTM_GETNSID attributes (linux/net_namespace.h); the body is a struct rtgenmsg.</summary>
public static class Netnsa
{
    public const ushort NETNSA_NSID = 1;
    public const ushort NETNSA_PID = 2;
    public const ushort NETNSA_FD = 3;
    public const ushort NETNSA_TARGET_NSID = 4;
    public const ushort NETNSA_CURRENT_NSID = 5;
    public const int NETNSA_NSID_NOT_ASSIGNED = -1;
}

/// <summary>Address flags (if_addr.h IFA_F_*): the u8 ifa_flags, or the u32 IFA_FLAGS attribute when present.</summary>
public static class IfaFlags
{
    public const uint IFA_F_SECONDARY = 0x01;
    public const uint IFA_F_NODAD = 0x02;
    public const uint IFA_F_OPTIMISTIC = 0x04;
    public const uint IFA_F_DADFAILED = 0x08;
    public const uint IFA_F_HOMEADDRESS = 0x10;
    public const uint IFA_F_DEPRECATED = 0x20;
    public const uint IFA_F_TENTATIVE = 0x40;
    public const uint IFA_F_PERMANENT = 0x80;
    public const uint IFA_F_MANAGETEMPADDR = 0x100;
    public const uint IFA_F_NOPREFIXROUTE = 0x200;
}

/// <summary>Interface flags, ifinfomsg.ifi_flags (include/uapi/linux/if.h IFF_*).</summary>
public static class Iff
{
    public const uint IFF_UP = 0x1;
    public const uint IFF_BROADCAST = 0x2;
    public const uint IFF_LOOPBACK = 0x8;
    public const uint IFF_RUNNING = 0x40;
    public const uint IFF_NOARP = 0x80;
    public const uint IFF_PROMISC = 0x100;
    public const uint IFF_MASTER = 0x400;
    public const uint IFF_SLAVE = 0x800;
    public const uint IFF_MULTICAST = 0x1000;
    public const uint IFF_LOWER_UP = 0x10000;
    public const uint IFF_DORMANT = 0x20000;
}

/// <summary>ifinfomsg.ifi_type values (include/uapi/linux/if_arp.h ARPHRD_*).</summary>
public static class Arphrd
{
    public const ushort ARPHRD_ETHER = 1;
    public const ushort ARPHRD_INFINIBAND = 32;
    public const ushort ARPHRD_LOOPBACK = 772;
    public const ushort ARPHRD_NONE = 0xFFFE;
}

/// <summary>Address families used in ifinfomsg/ifaddrmsg (include/linux/socket.h).</summary>
public static class AddressFamilies
{
    public const byte AF_UNSPEC = 0;
    public const byte AF_INET = 2;
    public const byte AF_BRIDGE = 7;
    public const byte AF_NETLINK = 16;
    public const byte AF_INET6 = 10;
}

/// <summary>IFLA_OPERSTATE values (if.h enum IF_OPER_*; Documentation/networking/operstates.rst).</summary>
public enum OperState : byte
{
    Unknown = 0,
    NotPresent = 1,
    Down = 2,
    LowerLayerDown = 3,
    Testing = 4,
    Dormant = 5,
    Up = 6,
}
