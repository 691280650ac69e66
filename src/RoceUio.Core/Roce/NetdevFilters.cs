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

    /// <summary>netdev nesting limit (MAX_NEST_DEV, include/linux/netdevice.h): the one bound of every walk here.</summary>
    public const int MaxNestDepth = 8;

    /// <summary>rdma_vlan_dev_real_dev: the non-VLAN device under a (possibly nested) VLAN; null if <c>dev</c> is not a VLAN.</summary>
    public static NetdevInfo? VlanRealDev(INetdevGraph g, NetdevInfo dev)
    {
        if (!dev.IsVlan)
            return null;
        NetdevInfo? d = dev;
        for (int depth = 0; d is { IsVlan: true } && depth < MaxNestDepth; depth++)
            d = d.LowerIfindex != 0 ? g.Find(d.LowerIfindex) : null;
        return d;
    }

    // Scratch for the walks: the manager runs on one worker thread; [ThreadStatic] keeps the walks allocation-free
    // after the first use without tying them to one graph.
    [ThreadStatic] private static Stack<(int Ifindex, int Depth)>? t_stack;
    [ThreadStatic] private static HashSet<int>? t_seen;

    /// <summary>
    /// rdma_is_upper_dev_rcu(rdma, upper) = netdev_has_upper_dev_all_rcu: is <c>upper</c> above <c>rdma</c> at any
    /// depth? An upper of X is a VLAN/macvlan whose lower is X, or X's master. Walks <em>down</em> from <c>upper</c>
    /// (its lower device, its slaves) through the graph's index, at most <see cref="MaxNestDepth"/> levels, so the cost
    /// follows what is below the event's netdev, not the number of netdevs on the host (N macvlans over the port's
    /// netdev cost nothing here).
    /// </summary>
    public static bool IsUpperDev(INetdevGraph g, NetdevInfo rdma, NetdevInfo upper)
    {
        if (upper.Ifindex == rdma.Ifindex)
            return false;
        Stack<(int Ifindex, int Depth)> stack = t_stack ??= new Stack<(int, int)>();
        HashSet<int> seen = t_seen ??= new HashSet<int>();
        stack.Clear();
        seen.Clear();
        stack.Push((upper.Ifindex, 0));
        seen.Add(upper.Ifindex);
        while (stack.Count > 0)
        {
            var (x, depth) = stack.Pop();
            if (depth >= MaxNestDepth || g.Find(x) is not { } xi)
                continue;
            if (xi.LowerIfindex != 0 && seen.Add(xi.LowerIfindex))
            {
                if (xi.LowerIfindex == rdma.Ifindex)
                    return true;
                stack.Push((xi.LowerIfindex, depth + 1));
            }
            IReadOnlyList<int> slaves = g.SlavesOf(x);
            for (int i = 0; i < slaves.Count; i++)
            {
                int s = slaves[i];
                if (!seen.Add(s))
                    continue;
                if (s == rdma.Ifindex)
                    return true;
                stack.Push((s, depth + 1));
            }
        }
        return false;
    }

    /// <summary>All uppers of <c>dev</c> at any depth (netdev_walk_all_upper_dev_rcu), nearest first, each level in
    /// ifindex order; at most <see cref="MaxNestDepth"/> levels.</summary>
    public static List<NetdevInfo> AllUppers(INetdevGraph g, NetdevInfo dev)
    {
        var result = new List<NetdevInfo>();
        var seen = new HashSet<int> { dev.Ifindex };
        var level = new List<NetdevInfo> { dev };
        var next = new List<NetdevInfo>();
        for (int depth = 0; depth < MaxNestDepth && level.Count > 0; depth++)
        {
            next.Clear();
            foreach (NetdevInfo x in level)
                AddDirectUppers(g, x, seen, next);
            result.AddRange(next);
            (level, next) = (next, level);
        }
        return result;
    }

    /// <summary>The direct uppers of <c>x</c> not seen yet (its VLAN/macvlan uppers and its master), in ifindex order.</summary>
    private static void AddDirectUppers(INetdevGraph g, NetdevInfo x, HashSet<int> seen, List<NetdevInfo> into)
    {
        IReadOnlyList<int> uppers = g.LinkUppersOf(x.Ifindex);
        int master = x.MasterIfindex;
        bool masterDone = master == 0;
        for (int i = 0; i <= uppers.Count; i++)
        {
            int u = i < uppers.Count ? uppers[i] : int.MaxValue;
            if (!masterDone && master <= u)
            {
                masterDone = true;
                if (master != u)
                    AddIfNew(g, master, seen, into);
            }
            if (i < uppers.Count)
                AddIfNew(g, u, seen, into);
        }
    }

    private static void AddIfNew(INetdevGraph g, int ifindex, HashSet<int> seen, List<NetdevInfo> into)
    {
        if (g.Find(ifindex) is { } n && seen.Add(ifindex))
            into.Add(n);
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
