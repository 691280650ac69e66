namespace RoceUio.Roce;

/// <summary>
/// <c>rdma_read_gid_l2_fields</c> (drivers/infiniband/core/cache.c): the layer-2 fields a driver needs for a GID
/// entry, from the entry's netdev. The VLAN id is the netdev's own if it is a VLAN device; otherwise that of its first
/// lower device if that one is a VLAN (<c>get_lower_dev_vlan</c> looks only at the first level and stops at the first
/// lower device). So a macvlan over eth0.100 carries VLAN 100; eth0 itself carries none.
/// </summary>
public static class GidL2Fields
{
    /// <summary>The VLAN id of the entry's netdev <paramref name="ifindex"/>, or 0 when it is not on a VLAN (the kernel
    /// says 0xffff; the drivers here take 0 for "untagged").</summary>
    public static ushort VlanIdOf(INetdevGraph graph, int ifindex)
    {
        NetdevInfo? nd = graph.Find(ifindex);
        if (nd is null)
            return 0;
        if (nd.IsVlan)
            return nd.VlanId;
        NetdevInfo? lower = FirstLower(graph, nd);
        return lower is { IsVlan: true } ? lower.VlanId : (ushort)0;
    }

    /// <summary>The source MAC of the entry's netdev (<c>ndev-&gt;dev_addr</c>); empty when the netdev is unknown.</summary>
    public static ReadOnlyMemory<byte> MacOf(INetdevGraph graph, int ifindex) => graph.Find(ifindex)?.Mac ?? ReadOnlyMemory<byte>.Empty;

    /// <summary>The first entry of the netdev's lower list: the link of a VLAN/macvlan/ipvlan, or a master's first
    /// slave. Netlink does not give the kernel's adjacency-list order; the lowest ifindex stands for the first
    /// enslaved (inferred: slaves are usually enslaved in ifindex order).</summary>
    private static NetdevInfo? FirstLower(INetdevGraph graph, NetdevInfo nd)
    {
        if (nd.HasLower)
            return graph.Find(nd.LowerIfindex);
        foreach (NetdevInfo n in graph.All)
            if (n.MasterIfindex == nd.Ifindex)
                return n;
        return null;
    }
}
