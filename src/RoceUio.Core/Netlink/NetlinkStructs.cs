using System.Runtime.InteropServices;

namespace RoceUio.Netlink;

// Struct layouts of include/uapi/linux/netlink.h, rtnetlink.h and if_addr.h, host byte order, natural alignment.
// Explicit offsets so that the layout is visible here; native/netlink_layout.c prints sizeof/offsetof of the real
// structs and NetlinkDefinitionsTests compares them. Parsing never casts a span to these (it reads fields with
// BinaryPrimitives at the same offsets); they are used for socket calls and as the one statement of the layout.

/// <summary><c>struct sockaddr_nl</c> (netlink.h): 12 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Size = 12)]
public struct SockaddrNl
{
    [FieldOffset(0)] public ushort nl_family;
    [FieldOffset(2)] public ushort nl_pad;
    [FieldOffset(4)] public uint nl_pid;
    [FieldOffset(8)] public uint nl_groups;
}

/// <summary><c>struct nlmsghdr</c> (netlink.h): 16 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct NlMsgHdr
{
    public const int Size = 16;
    public const int OffsetLen = 0, OffsetType = 4, OffsetFlags = 6, OffsetSeq = 8, OffsetPid = 12;
    [FieldOffset(OffsetLen)] public uint nlmsg_len;
    [FieldOffset(OffsetType)] public ushort nlmsg_type;
    [FieldOffset(OffsetFlags)] public ushort nlmsg_flags;
    [FieldOffset(OffsetSeq)] public uint nlmsg_seq;
    [FieldOffset(OffsetPid)] public uint nlmsg_pid;

    /// <summary>NLMSG_ALIGN: netlink messages and attributes are 4-byte aligned.</summary>
    public static int Align(int len) => (len + 3) & ~3;
}

/// <summary><c>struct nlmsgerr</c> (netlink.h): s32 error, then the offending request's header; 20 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct NlMsgErr
{
    public const int Size = 20;
    public const int OffsetError = 0, OffsetMsg = 4;
    [FieldOffset(OffsetError)] public int error;
    [FieldOffset(OffsetMsg)] public NlMsgHdr msg;
}

/// <summary><c>struct ifinfomsg</c> (rtnetlink.h): 16 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct IfInfoMsg
{
    public const int Size = 16;
    public const int OffsetFamily = 0, OffsetType = 2, OffsetIndex = 4, OffsetFlags = 8, OffsetChange = 12;
    [FieldOffset(OffsetFamily)] public byte ifi_family;
    [FieldOffset(1)] public byte __ifi_pad;
    [FieldOffset(OffsetType)] public ushort ifi_type;
    [FieldOffset(OffsetIndex)] public int ifi_index;
    [FieldOffset(OffsetFlags)] public uint ifi_flags;
    [FieldOffset(OffsetChange)] public uint ifi_change;
}

/// <summary><c>struct ifaddrmsg</c> (if_addr.h): 8 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct IfAddrMsg
{
    public const int Size = 8;
    public const int OffsetFamily = 0, OffsetPrefixLen = 1, OffsetFlags = 2, OffsetScope = 3, OffsetIndex = 4;
    [FieldOffset(OffsetFamily)] public byte ifa_family;
    [FieldOffset(OffsetPrefixLen)] public byte ifa_prefixlen;
    [FieldOffset(OffsetFlags)] public byte ifa_flags;
    [FieldOffset(OffsetScope)] public byte ifa_scope;
    [FieldOffset(OffsetIndex)] public uint ifa_index;
}

/// <summary><c>struct rtattr</c> (rtnetlink.h; same as <c>struct nlattr</c>): u16 len (header + payload, unpadded), u16 type.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct RtAttr
{
    public const int Size = 4;
    public const int OffsetLen = 0, OffsetType = 2;
    /// <summary>NLA_F_NESTED | NLA_F_NET_BYTEORDER share the type field; mask them off (NLA_TYPE_MASK).</summary>
    public const ushort TypeMask = 0x3FFF;
    public const ushort NLA_F_NESTED = 0x8000;
    [FieldOffset(OffsetLen)] public ushort rta_len;
    [FieldOffset(OffsetType)] public ushort rta_type;
}
