using System.Buffers.Binary;

namespace RoceUio.Netlink;

/// <summary>Which optional attributes a <see cref="LinkMessage"/> carried.</summary>
[Flags]
public enum LinkAttributes : ushort
{
    None = 0,
    Name = 1 << 0,
    Address = 1 << 1,
    Mtu = 1 << 2,
    Link = 1 << 3,
    Master = 1 << 4,
    OperState = 1 << 5,
    LinkInfo = 1 << 6,
    VlanId = 1 << 7,
    BondActiveSlave = 1 << 8,
    BondMode = 1 << 9,
    LinkNetNsId = 1 << 10,
    NewNetNsId = 1 << 11,
    NewIfindex = 1 << 12,
    /// <summary>IFLA_NET_NS_PID or IFLA_NET_NS_FD: a request to move the link to another namespace.</summary>
    NetNsTarget = 1 << 13,
}

/// <summary>
/// An RTM_NEWLINK/RTM_DELLINK message: struct ifinfomsg (rtnetlink.h) plus the IFLA attributes the cache uses
/// (if_link.h), including nested IFLA_LINKINFO { IFLA_INFO_KIND, IFLA_INFO_DATA { IFLA_VLAN_ID | IFLA_BOND_* } }.
/// Unknown attributes are skipped. Spans point into the message.
/// </summary>
public ref struct LinkMessage
{
    public ushort MessageType;
    public byte Family;
    /// <summary>ifi_type: ARPHRD_*.</summary>
    public ushort ArphrdType;
    public int Ifindex;
    public uint Flags;
    public uint Change;
    public LinkAttributes Present;
    /// <summary>IFLA_IFNAME without its NUL.</summary>
    public ReadOnlySpan<byte> Name;
    /// <summary>IFLA_ADDRESS: the hardware address (MAC for Ethernet).</summary>
    public ReadOnlySpan<byte> Address;
    public uint Mtu;
    /// <summary>IFLA_LINK: the lower device (vlan, macvlan) or the peer (veth); in another netns when LinkNetNsId is present.</summary>
    public int Link;
    public int Master;
    public OperState OperState;
    /// <summary>IFLA_INFO_KIND without its NUL ("vlan", "bond", ...); empty without IFLA_LINKINFO.</summary>
    public ReadOnlySpan<byte> Kind;
    /// <summary>IFLA_INFO_SLAVE_KIND ("bond", "bridge") on a port.</summary>
    public ReadOnlySpan<byte> SlaveKind;
    public ushort VlanId;
    public byte BondMode;
    public int BondActiveSlave;
    public int LinkNetNsId;
    public int NewNetNsId;
    public int NewIfindex;

    public readonly bool Has(LinkAttributes a) => (Present & a) == a;
    public readonly bool IsDelete => MessageType == NlMsgType.RTM_DELLINK;
    /// <summary>The link left this namespace: IFLA_NEW_NETNSID, or a move request (IFLA_NET_NS_PID/FD).</summary>
    public readonly bool IsNamespaceMove => (Present & (LinkAttributes.NewNetNsId | LinkAttributes.NetNsTarget)) != 0;

    /// <summary>Parses an RTM_NEWLINK/RTM_DELLINK message. False (with the failure) when any length is wrong.</summary>
    public static bool TryParse(in NetlinkMessage message, out LinkMessage link, out NetlinkParseFailure failure)
    {
        link = default;
        link.MessageType = message.Type;
        ReadOnlySpan<byte> p = message.Payload;
        if (p.Length < IfInfoMsg.Size)
            return Fail(out failure, NetlinkParseError.ShortFamilyHeader, NlMsgHdr.Size);
        link.Family = p[IfInfoMsg.OffsetFamily];
        link.ArphrdType = BinaryPrimitives.ReadUInt16LittleEndian(p[IfInfoMsg.OffsetType..]);
        link.Ifindex = BinaryPrimitives.ReadInt32LittleEndian(p[IfInfoMsg.OffsetIndex..]);
        link.Flags = BinaryPrimitives.ReadUInt32LittleEndian(p[IfInfoMsg.OffsetFlags..]);
        link.Change = BinaryPrimitives.ReadUInt32LittleEndian(p[IfInfoMsg.OffsetChange..]);
        const int attrBase = NlMsgHdr.Size + IfInfoMsg.Size;
        var reader = new RtAttributeReader(p[IfInfoMsg.Size..]);
        while (reader.TryRead(out RtAttribute a))
        {
            if (!link.TryTake(a, attrBase, out failure))
                return false;
        }
        if (reader.Failure.IsError)
            return Fail(out failure, reader.Failure.Error, attrBase + reader.Failure.Offset);
        failure = default;
        return true;
    }

    private bool TryTake(in RtAttribute a, int attrBase, out NetlinkParseFailure failure)
    {
        int at = attrBase + a.Offset;
        bool ok = true;
        switch (a.Type)
        {
            case Ifla.IFLA_IFNAME:
                if (!a.TryGetString(out Name))
                    return Fail(out failure, NetlinkParseError.UnterminatedString, at);
                Present |= LinkAttributes.Name;
                break;
            case Ifla.IFLA_ADDRESS:
                if (a.Payload.Length > HardwareAddress.MaxLength)
                    return Fail(out failure, NetlinkParseError.BadAttributeSize, at);
                Address = a.Payload;
                Present |= LinkAttributes.Address;
                break;
            case Ifla.IFLA_MTU: ok = a.TryGetU32(out Mtu); Present |= LinkAttributes.Mtu; break;
            case Ifla.IFLA_LINK: ok = a.TryGetS32(out Link); Present |= LinkAttributes.Link; break;
            case Ifla.IFLA_MASTER: ok = a.TryGetS32(out Master); Present |= LinkAttributes.Master; break;
            case Ifla.IFLA_OPERSTATE:
                ok = a.TryGetU8(out byte op);
                OperState = (OperState)op;
                Present |= LinkAttributes.OperState;
                break;
            case Ifla.IFLA_LINK_NETNSID: ok = a.TryGetS32(out LinkNetNsId); Present |= LinkAttributes.LinkNetNsId; break;
            case Ifla.IFLA_NEW_NETNSID: ok = a.TryGetS32(out NewNetNsId); Present |= LinkAttributes.NewNetNsId; break;
            case Ifla.IFLA_NEW_IFINDEX: ok = a.TryGetS32(out NewIfindex); Present |= LinkAttributes.NewIfindex; break;
            case Ifla.IFLA_NET_NS_PID:
            case Ifla.IFLA_NET_NS_FD:
                ok = a.Payload.Length == 4;
                Present |= LinkAttributes.NetNsTarget;
                break;
            case Ifla.IFLA_LINKINFO:
                Present |= LinkAttributes.LinkInfo;
                return TryTakeLinkInfo(a, at + RtAttr.Size, out failure);
        }
        return ok ? Ok(out failure) : Fail(out failure, NetlinkParseError.BadAttributeSize, at);
    }

    private bool TryTakeLinkInfo(in RtAttribute linkInfo, int nestBase, out NetlinkParseFailure failure)
    {
        var reader = linkInfo.Nested();
        ReadOnlySpan<byte> data = default;
        int dataAt = 0;
        while (reader.TryRead(out RtAttribute a))
        {
            switch (a.Type)
            {
                case IflaInfo.IFLA_INFO_KIND:
                    if (!a.TryGetString(out Kind))
                        return Fail(out failure, NetlinkParseError.UnterminatedString, nestBase + a.Offset);
                    break;
                case IflaInfo.IFLA_INFO_SLAVE_KIND:
                    if (!a.TryGetString(out SlaveKind))
                        return Fail(out failure, NetlinkParseError.UnterminatedString, nestBase + a.Offset);
                    break;
                case IflaInfo.IFLA_INFO_DATA:
                    data = a.Payload;
                    dataAt = nestBase + a.Offset + RtAttr.Size;
                    break;
            }
        }
        if (reader.Failure.IsError)
            return Fail(out failure, reader.Failure.Error, nestBase + reader.Failure.Offset);
        // IFLA_INFO_DATA is kind-specific; the kernel puts IFLA_INFO_KIND first (rtnl_link_info_fill), but do not rely on it.
        if (data.IsEmpty)
            return Ok(out failure);
        if (Kind.SequenceEqual("vlan"u8))
            return TryTakeVlanData(data, dataAt, out failure);
        if (Kind.SequenceEqual("bond"u8))
            return TryTakeBondData(data, dataAt, out failure);
        return Ok(out failure);
    }

    private bool TryTakeVlanData(ReadOnlySpan<byte> data, int at, out NetlinkParseFailure failure)
    {
        var reader = new RtAttributeReader(data);
        while (reader.TryRead(out RtAttribute a))
        {
            if (a.Type != IflaVlan.IFLA_VLAN_ID)
                continue;
            if (!a.TryGetU16(out VlanId))
                return Fail(out failure, NetlinkParseError.BadAttributeSize, at + a.Offset);
            Present |= LinkAttributes.VlanId;
        }
        return reader.Failure.IsError ? Fail(out failure, reader.Failure.Error, at + reader.Failure.Offset) : Ok(out failure);
    }

    private bool TryTakeBondData(ReadOnlySpan<byte> data, int at, out NetlinkParseFailure failure)
    {
        var reader = new RtAttributeReader(data);
        while (reader.TryRead(out RtAttribute a))
        {
            bool ok = true;
            if (a.Type == IflaBond.IFLA_BOND_MODE) { ok = a.TryGetU8(out BondMode); Present |= LinkAttributes.BondMode; }
            else if (a.Type == IflaBond.IFLA_BOND_ACTIVE_SLAVE) { ok = a.TryGetS32(out BondActiveSlave); Present |= LinkAttributes.BondActiveSlave; }
            if (!ok)
                return Fail(out failure, NetlinkParseError.BadAttributeSize, at + a.Offset);
        }
        return reader.Failure.IsError ? Fail(out failure, reader.Failure.Error, at + reader.Failure.Offset) : Ok(out failure);
    }

    private static bool Ok(out NetlinkParseFailure failure)
    {
        failure = default;
        return true;
    }

    private static bool Fail(out NetlinkParseFailure failure, NetlinkParseError error, int offset)
    {
        failure = new NetlinkParseFailure(error, offset);
        return false;
    }
}
