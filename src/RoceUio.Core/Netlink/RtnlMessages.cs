using System.Net;
using System.Net.Sockets;

namespace RoceUio.Netlink;

/// <summary>
/// The state of a link as an RTM_NEWLINK carries it. Every RTM_NEWLINK is the full state (rtnl_fill_ifinfo), so
/// leave Master/Link/Kind unset to mean "none".
/// </summary>
public sealed record LinkSpec(int Ifindex, string Name)
{
    public byte Family { get; init; } = AddressFamilies.AF_UNSPEC;
    public ushort ArphrdType { get; init; } = Arphrd.ARPHRD_ETHER;
    /// <summary>ifi_flags; default: up, broadcast, multicast, running, lower up.</summary>
    public uint Flags { get; init; } = Iff.IFF_UP | Iff.IFF_BROADCAST | Iff.IFF_MULTICAST | Iff.IFF_RUNNING | Iff.IFF_LOWER_UP;
    /// <summary>ifi_change; the kernel sends 0xFFFFFFFF on create and delete, the changed bits otherwise.</summary>
    public uint Change { get; init; } = 0xFFFF_FFFF;
    public string? Mac { get; init; }
    public uint Mtu { get; init; } = 1500;
    public OperState OperState { get; init; } = OperState.Up;
    public int Link { get; init; }
    public int? LinkNetNsId { get; init; }
    public int Master { get; init; }
    /// <summary>IFLA_INFO_KIND: "vlan", "bond", "macvlan", "bridge", "veth"...</summary>
    public string? Kind { get; init; }
    /// <summary>IFLA_INFO_SLAVE_KIND on a port: "bond", "bridge".</summary>
    public string? SlaveKind { get; init; }
    public ushort VlanId { get; init; }
    public byte BondMode { get; init; } = IflaBond.BOND_MODE_ACTIVEBACKUP;
    /// <summary>IFLA_BOND_ACTIVE_SLAVE; 0: none (the attribute is omitted, as bond_fill_info does).</summary>
    public int BondActiveSlave { get; init; }
    /// <summary>IFLA_NEW_NETNSID: on an RTM_DELLINK, the link moved to that namespace.</summary>
    public int? NewNetNsId { get; init; }
    public int? NewIfindex { get; init; }
}

/// <summary>
/// Builds rtnetlink event messages in the kernel's layout: the attributes are written in the order
/// rtnl_fill_ifinfo (net/core/rtnetlink.c) and inet_fill_ifaddr / inet6_fill_ifaddr (net/ipv4/devinet.c,
/// net/ipv6/addrconf.c) put them, with the same sizes (u32 IFLA_MTU, u8 IFLA_OPERSTATE, u16 IFLA_VLAN_ID,
/// u32 IFLA_BOND_ACTIVE_SLAVE, u32 IFA_FLAGS...). Events carry seq 0, pid 0.
/// </summary>
public static class RtnlMessages
{
    public static void NewLink(NetlinkMessageWriter w, LinkSpec s) => Link(w, NlMsgType.RTM_NEWLINK, s);
    public static void DelLink(NetlinkMessageWriter w, LinkSpec s) => Link(w, NlMsgType.RTM_DELLINK, s);

    /// <summary>A move to another namespace as the old namespace sees it: RTM_DELLINK with IFLA_NEW_NETNSID/NEW_IFINDEX.</summary>
    public static void MoveLinkOut(NetlinkMessageWriter w, LinkSpec s, int newNetNsId, int newIfindex)
        => Link(w, NlMsgType.RTM_DELLINK, s with { NewNetNsId = newNetNsId, NewIfindex = newIfindex, Flags = s.Flags & ~Iff.IFF_UP });

    public static byte[] NewLink(LinkSpec s) => Build(w => NewLink(w, s));
    public static byte[] DelLink(LinkSpec s) => Build(w => DelLink(w, s));
    public static byte[] NewAddress(int ifIndex, string cidr, uint flags = 0, byte scope = 0)
        => Build(w => NewAddress(w, ifIndex, cidr, flags, scope));
    public static byte[] DelAddress(int ifIndex, string cidr, uint flags = 0, byte scope = 0)
        => Build(w => DelAddress(w, ifIndex, cidr, flags, scope));

    private static void Link(NetlinkMessageWriter w, ushort type, LinkSpec s)
    {
        w.BeginMessage(type);
        w.WriteIfInfoMsg(s.Family, s.ArphrdType, s.Ifindex, s.Flags, s.Change);
        // rtnl_fill_ifinfo order: IFNAME, TXQLEN, OPERSTATE, LINKMODE, MTU, ..., IFLA_LINK (nla_put_iflink),
        // IFLA_MASTER (put_master_ifindex), IFLA_CARRIER, ..., IFLA_ADDRESS, IFLA_BROADCAST, ..., IFLA_LINKINFO,
        // IFLA_LINK_NETNSID, IFLA_NEW_NETNSID, IFLA_NEW_IFINDEX.
        w.PutString(Ifla.IFLA_IFNAME, s.Name);
        w.PutU32(Ifla.IFLA_TXQLEN, 1000);
        w.PutU8(Ifla.IFLA_OPERSTATE, (byte)s.OperState);
        w.PutU8(Ifla.IFLA_LINKMODE, 0);
        w.PutU32(Ifla.IFLA_MTU, s.Mtu);
        if (s.Link != 0 && s.Link != s.Ifindex)
            w.PutS32(Ifla.IFLA_LINK, s.Link);
        if (s.Master != 0)
            w.PutS32(Ifla.IFLA_MASTER, s.Master);
        w.PutU8(Ifla.IFLA_CARRIER, (s.Flags & Iff.IFF_LOWER_UP) != 0 ? (byte)1 : (byte)0);
        if (s.Mac != null)
        {
            HardwareAddress mac = HardwareAddress.Parse(s.Mac);
            w.PutAttribute(Ifla.IFLA_ADDRESS, mac.Bytes);
            Span<byte> bcast = stackalloc byte[mac.Length];
            bcast.Fill(0xFF);
            w.PutAttribute(Ifla.IFLA_BROADCAST, bcast);
        }
        if (s.Kind != null || s.SlaveKind != null)
            LinkInfo(w, s);
        if (s.LinkNetNsId is int linkNs)
            w.PutS32(Ifla.IFLA_LINK_NETNSID, linkNs);
        if (s.NewNetNsId is int ns)
            w.PutS32(Ifla.IFLA_NEW_NETNSID, ns);
        if (s.NewIfindex is int idx)
            w.PutS32(Ifla.IFLA_NEW_IFINDEX, idx);
        w.EndMessage();
    }

    // rtnl_link_fill: IFLA_INFO_KIND, IFLA_INFO_DATA (ops->fill_info), then IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA.
    private static void LinkInfo(NetlinkMessageWriter w, LinkSpec s)
    {
        w.BeginNested(Ifla.IFLA_LINKINFO);
        if (s.Kind != null)
        {
            w.PutString(IflaInfo.IFLA_INFO_KIND, s.Kind);
            if (s.Kind == "vlan")
            {
                // vlan_fill_info (net/8021q/vlan_netlink.c): IFLA_VLAN_PROTOCOL (be16), IFLA_VLAN_ID, IFLA_VLAN_FLAGS.
                w.BeginNested(IflaInfo.IFLA_INFO_DATA);
                w.PutAttribute(IflaVlan.IFLA_VLAN_PROTOCOL, [0x81, 0x00]);
                w.PutU16(IflaVlan.IFLA_VLAN_ID, s.VlanId);
                w.PutAttribute(IflaVlan.IFLA_VLAN_FLAGS, [1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]); // REORDER_HDR, mask
                w.EndNested();
            }
            else if (s.Kind == "bond")
            {
                // bond_fill_info (drivers/net/bonding/bond_netlink.c): IFLA_BOND_MODE, then IFLA_BOND_ACTIVE_SLAVE if any.
                w.BeginNested(IflaInfo.IFLA_INFO_DATA);
                w.PutU8(IflaBond.IFLA_BOND_MODE, s.BondMode);
                if (s.BondActiveSlave != 0)
                    w.PutS32(IflaBond.IFLA_BOND_ACTIVE_SLAVE, s.BondActiveSlave);
                w.EndNested();
            }
        }
        if (s.SlaveKind != null)
            w.PutString(IflaInfo.IFLA_INFO_SLAVE_KIND, s.SlaveKind);
        w.EndNested();
    }

    /// <summary>RTM_NEWADDR for "a.b.c.d/len" or "x::y/len" (IFA_F_* in <paramref name="flags"/>).</summary>
    public static void NewAddress(NetlinkMessageWriter w, int ifIndex, string cidr, uint flags = 0, byte scope = 0)
        => Address(w, NlMsgType.RTM_NEWADDR, ifIndex, cidr, flags, scope);

    public static void DelAddress(NetlinkMessageWriter w, int ifIndex, string cidr, uint flags = 0, byte scope = 0)
        => Address(w, NlMsgType.RTM_DELADDR, ifIndex, cidr, flags, scope);

    private static void Address(NetlinkMessageWriter w, ushort type, int ifIndex, string cidr, uint flags, byte scope)
    {
        string[] parts = cidr.Split('/');
        IPAddress ip = IPAddress.Parse(parts[0]);
        bool v4 = ip.AddressFamily == AddressFamily.InterNetwork;
        byte prefix = parts.Length > 1 ? byte.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) : (byte)(v4 ? 32 : 128);
        byte[] bytes = ip.GetAddressBytes();
        w.BeginMessage(type);
        w.WriteIfAddrMsg(v4 ? AddressFamilies.AF_INET : AddressFamilies.AF_INET6, prefix, (byte)flags, scope, ifIndex);
        if (v4)
        {
            // inet_fill_ifaddr: IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_LABEL, IFA_FLAGS, IFA_CACHEINFO.
            w.PutAttribute(Ifa.IFA_ADDRESS, bytes);
            w.PutAttribute(Ifa.IFA_LOCAL, bytes);
            w.PutU32(Ifa.IFA_FLAGS, flags);
        }
        else
        {
            // inet6_fill_ifaddr: IFA_ADDRESS (no peer), IFA_CACHEINFO, IFA_FLAGS.
            w.PutAttribute(Ifa.IFA_ADDRESS, bytes);
            w.PutU32(Ifa.IFA_FLAGS, flags);
        }
        w.EndMessage();
    }

    private static byte[] Build(Action<NetlinkMessageWriter> build)
    {
        var w = new NetlinkMessageWriter();
        build(w);
        return w.ToArray();
    }
}
