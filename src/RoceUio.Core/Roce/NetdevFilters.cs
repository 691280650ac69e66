namespace RoceUio.Roce;

/// <summary>
/// The filters of roce_gid_mgmt.c: each answers, for one RoCE port whose netdev is <c>rdma</c>, whether an event on
/// netdev <c>ev</c> concerns that port. Names follow the kernel's functions.
/// </summary>
internal static class NetdevFilters
{
    /// <summary>Bond state of <c>dev</c> against <c>upper</c> (is_eth_active_slave_of_bonding_rcu).</summary>
    public enum BondSlaveState { Na, Active, Inactive }

    public static BondSlaveState IsEthActiveSlaveOfBonding(INetdevGraph g, NetdevInfo dev, NetdevInfo? upper)
    {
        if (upper is { IsBondMaster: true } && upper.BondActiveSlave != 0)
            return upper.BondActiveSlave == dev.Ifindex ? BondSlaveState.Active : BondSlaveState.Inactive;
        return BondSlaveState.Na;
    }

    /// <summary>rdma_vlan_dev_real_dev: the non-VLAN device under a (possibly nested) VLAN; null if <c>dev</c> is not a VLAN.</summary>
    public static NetdevInfo? VlanRealDev(INetdevGraph g, NetdevInfo dev)
    {
        if (!dev.IsVlan)
            return null;
        NetdevInfo? d = dev;
        for (int depth = 0; d is { IsVlan: true } && depth < 16; depth++)
            d = d.LowerIfindex != 0 ? g.Find(d.LowerIfindex) : null;
        return d;
    }

    /// <summary>
    /// rdma_is_upper_dev_rcu(rdma, upper) = netdev_has_upper_dev_all_rcu: is <c>upper</c> above <c>rdma</c> at any depth?
    /// An upper of X is a VLAN/macvlan whose lower is X, or X's master. Walks down from <c>upper</c>.
    /// </summary>
    public static bool IsUpperDev(INetdevGraph g, NetdevInfo rdma, NetdevInfo upper)
    {
        // Walk up from rdma: its master chain and VLAN/macvlan uppers (breadth-first, bounded).
        var seen = new HashSet<int> { rdma.Ifindex };
        var frontier = new Queue<int>();
        frontier.Enqueue(rdma.Ifindex);
        while (frontier.Count > 0)
        {
            int x = frontier.Dequeue();
            NetdevInfo? xi = g.Find(x);
            if (xi is null)
                continue;
            if (xi.MasterIfindex != 0 && seen.Add(xi.MasterIfindex))
            {
                if (xi.MasterIfindex == upper.Ifindex)
                    return true;
                frontier.Enqueue(xi.MasterIfindex);
            }
            foreach (NetdevInfo d in g.All)
                if (d.HasLower && d.LowerIfindex == x && seen.Add(d.Ifindex))
                {
                    if (d.Ifindex == upper.Ifindex)
                        return true;
                    frontier.Enqueue(d.Ifindex);
                }
        }
        return false;
    }

    /// <summary>All uppers of <c>dev</c> at any depth (netdev_walk_all_upper_dev_rcu), nearest first.</summary>
    public static List<NetdevInfo> AllUppers(INetdevGraph g, NetdevInfo dev)
    {
        var result = new List<NetdevInfo>();
        var seen = new HashSet<int> { dev.Ifindex };
        var frontier = new Queue<NetdevInfo>();
        frontier.Enqueue(dev);
        while (frontier.Count > 0)
        {
            NetdevInfo x = frontier.Dequeue();
            foreach (NetdevInfo d in g.All)
            {
                bool upper = (d.HasLower && d.LowerIfindex == x.Ifindex) || d.Ifindex == x.MasterIfindex;
                if (upper && seen.Add(d.Ifindex))
                {
                    result.Add(d);
                    frontier.Enqueue(d);
                }
            }
        }
        return result;
    }

    /// <summary>is_eth_port_of_netdev_filter: <c>ev</c> (or the real device under it) is the port's netdev, or an upper
    /// of it whose bond state is ACTIVE or NA. VLAN/macvlan over the port count; a bond only on its active slave's port.</summary>
    public static bool IsEthPortOfNetdev(INetdevGraph g, NetdevInfo rdma, NetdevInfo ev)
    {
        NetdevInfo real = VlanRealDev(g, ev) ?? ev;
        if (real.Ifindex == rdma.Ifindex)
            return true;
        return IsUpperDev(g, rdma, ev)
               && IsEthActiveSlaveOfBonding(g, rdma, real) is BondSlaveState.Active or BondSlaveState.Na;
    }

    /// <summary>is_eth_port_inactive_slave_filter: the port's netdev is an inactive slave of its bond master.</summary>
    public static bool IsEthPortInactiveSlave(INetdevGraph g, NetdevInfo rdma)
    {
        NetdevInfo? master = rdma.MasterIfindex != 0 ? g.Find(rdma.MasterIfindex) : null;
        return IsEthActiveSlaveOfBonding(g, rdma, master) == BondSlaveState.Inactive;
    }

    /// <summary>netif_is_bond_slave: enslaved to a bond.</summary>
    public static bool IsBondSlave(INetdevGraph g, NetdevInfo dev)
        => dev.MasterIfindex != 0 && g.Find(dev.MasterIfindex) is { IsBondMaster: true };

    /// <summary>is_ndev_for_default_gid_filter: the default GIDs belong to the port's own netdev unless it is a bond slave,
    /// and then to the bond master (its MAC, its ndev) on every slave's port.</summary>
    public static bool IsNdevForDefaultGid(INetdevGraph g, NetdevInfo rdma, NetdevInfo ev)
        => (ev.Ifindex == rdma.Ifindex && !IsBondSlave(g, rdma))
           || (ev.IsBondMaster && IsUpperDev(g, rdma, ev));

    /// <summary>is_upper_ndev_bond_master_filter.</summary>
    public static bool IsUpperNdevBondMaster(INetdevGraph g, NetdevInfo rdma, NetdevInfo ev)
        => ev.IsBondMaster && IsUpperDev(g, rdma, ev);

    /// <summary>upper_device_filter.</summary>
    public static bool UpperDevice(INetdevGraph g, NetdevInfo rdma, NetdevInfo ev)
        => rdma.Ifindex == ev.Ifindex || IsUpperDev(g, rdma, ev);
}
