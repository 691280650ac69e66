namespace RoceUio.Netlink;

/// <summary>The device kind, from IFLA_INFO_KIND (rtnl_link_ops->kind).</summary>
public enum NetdevKind : byte
{
    /// <summary>No IFLA_LINKINFO: a physical NIC or a device without rtnl_link_ops (lo).</summary>
    None = 0,
    Vlan,
    Macvlan,
    Bond,
    Bridge,
    Veth,
    /// <summary>Any other IFLA_INFO_KIND (see <see cref="NetdevLink.KindName"/>).</summary>
    Other,
}

internal static class NetdevKinds
{
    public static NetdevKind FromInfoKind(ReadOnlySpan<byte> kind)
    {
        if (kind.IsEmpty) return NetdevKind.None;
        if (kind.SequenceEqual("vlan"u8)) return NetdevKind.Vlan;
        if (kind.SequenceEqual("macvlan"u8)) return NetdevKind.Macvlan;
        if (kind.SequenceEqual("bond"u8)) return NetdevKind.Bond;
        if (kind.SequenceEqual("bridge"u8)) return NetdevKind.Bridge;
        if (kind.SequenceEqual("veth"u8)) return NetdevKind.Veth;
        return NetdevKind.Other;
    }

    /// <summary>
    /// Kinds whose IFLA_LINK is their lower device in the kernel's adjacency lists (netdev_upper_dev_link from
    /// vlan_dev/macvlan/ipvlan). A veth's IFLA_LINK is its peer and a tunnel's its underlay: not lower devices.
    /// </summary>
    public static bool LinkIsLower(NetdevKind kind, ReadOnlySpan<char> kindName)
        => kind is NetdevKind.Vlan or NetdevKind.Macvlan
           || (kind == NetdevKind.Other && (kindName is "macvtap" or "ipvlan" or "ipvtap"));
}
