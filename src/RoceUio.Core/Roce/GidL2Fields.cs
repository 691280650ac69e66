using RoceUio.Gids;

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
        => graph.Find(ifindex) is { } nd ? VlanOf(graph, nd) ?? 0 : (ushort)0;

    // The netdev's own VLAN id if it is a VLAN, else its first lower's if that one is a VLAN, else none.
    private static ushort? VlanOf(INetdevGraph graph, NetdevInfo nd)
    {
        if (nd.IsVlan)
            return nd.VlanId;
        NetdevInfo? lower = FirstLower(graph, nd);
        return lower is { IsVlan: true } ? lower.VlanId : null;
    }

    /// <summary>What <see cref="Read"/> gives for an entry whose netdev is on no VLAN (the kernel's 0xffff).</summary>
    public const ushort NoVlan = 0xffff;

    /// <summary>
    /// <c>rdma_read_gid_l2_fields</c> for the entry a caller holds at <paramref name="index"/> of <paramref name="table"/>:
    /// the VLAN id (<see cref="NoVlan"/> when none) and the source MAC (<c>ndev-&gt;dev_addr</c>, 6 bytes into
    /// <paramref name="smac"/>) of its netdev. A held entry that has been deleted meanwhile has no netdev any more
    /// (<c>del_gid</c> detaches it): <see cref="GidQueryError.NoDevice"/>, as the kernel's -ENODEV. An index that holds
    /// nothing (no entry to hold) is <see cref="GidQueryError.InvalidArgument"/>.
    /// </summary>
    public static GidQueryError Read(GidTable table, int index, INetdevGraph graph, out ushort vlanId, Span<byte> smac)
    {
        vlanId = NoVlan;
        GidQueryError q = table.Query(index, out GidEntry entry);
        if (q == GidQueryError.InvalidArgument)
            return q;
        if (q != GidQueryError.None)
            return table.StateOf(index) == GidEntryState.PendingDelete ? GidQueryError.NoDevice : GidQueryError.InvalidArgument;
        NetdevInfo? nd = graph.Find(entry.NetdevIfindex);
        if (nd is null)
            return GidQueryError.NoDevice;
        if (smac.Length < nd.Mac.Length)
            throw new ArgumentException($"smac has {smac.Length} bytes; {nd.Name}'s address has {nd.Mac.Length}", nameof(smac));
        nd.Mac.Span.CopyTo(smac);
        vlanId = VlanOf(graph, nd) ?? NoVlan;
        return GidQueryError.None;
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
        // The graph's slave index (NetdevCache.SlavesOf), not a scan of every link: one topology index, whose walks
        // live in NetdevFilters.
        IReadOnlyList<int> slaves = graph.SlavesOf(nd.Ifindex);
        return slaves.Count > 0 ? graph.Find(slaves[0]) : null;
    }
}
