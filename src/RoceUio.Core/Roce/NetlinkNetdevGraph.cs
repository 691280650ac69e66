using RoceUio.Gids;
using System.Net;
using RoceUio.Netlink;

namespace RoceUio.Roce;

/// <summary>
/// The GID manager's read-only view of the <see cref="NetdevCache"/>: answers the <see cref="INetdevGraph"/> questions
/// from the cache's own links and topology index. It holds no netdev state of its own: the cache is the one owner.
/// A <see cref="NetdevInfo"/> handed out is made from the link when first asked and reused until the link changes
/// (<see cref="NetdevLink.Version"/>), so repeated lookups on the event path allocate nothing.
/// Read it on the cache's thread (the manager's worker).
/// </summary>
public sealed class NetlinkNetdevGraph(NetdevCache cache) : INetdevGraph
{
    private readonly Dictionary<int, (NetdevLink Link, uint Version, NetdevInfo Info)> _views = new();

    public NetdevCache Cache { get; } = cache;

    public NetdevInfo? Find(int ifindex)
    {
        if (!Cache.TryGetLink(ifindex, out NetdevLink link))
        {
            _views.Remove(ifindex);
            return null;
        }
        // Same object and version: unchanged (a link deleted and made again under its ifindex is a new object).
        if (_views.TryGetValue(ifindex, out var v) && ReferenceEquals(v.Link, link) && v.Version == link.Version)
            return v.Info;
        NetdevInfo info = InfoOf(link);
        _views[ifindex] = (link, link.Version, info);
        return info;
    }

    public IEnumerable<NetdevInfo> All
    {
        get
        {
            IReadOnlyList<int> order = Cache.IfindexOrder;
            for (int i = 0; i < order.Count; i++)
                if (Find(order[i]) is { } n)
                    yield return n;
        }
    }

    public IReadOnlyList<int> LinkUppersOf(int ifindex) => Cache.LinkUppersOf(ifindex);

    public IReadOnlyList<int> SlavesOf(int ifindex) => Cache.SlavesOf(ifindex);

    /// <summary>IPv4 in the kernel's list order (primary before secondary), then IPv6 global before link-local, newest
    /// first (ipv6_link_dev_addr). The cache keeps each list in the kernel's order whether an address came from a dump
    /// or an event, so this only groups by scope (a stable sort).</summary>
    public IReadOnlyList<IPAddress> Addresses(int ifindex)
    {
        if (!Cache.TryGetLink(ifindex, out NetdevLink link))
            return [];
        var v4 = new List<IPAddress>();
        var v6 = new List<(byte Scope, IPAddress Address)>();
        foreach (NetdevAddress a in link.Addresses)
        {
            if (a.IsIPv4)
                v4.Add(RoceAddress(a));
            else if (a.IsIPv6)
                v6.Add((a.Scope, RoceAddress(a)));
        }
        return [.. v4, .. v6.OrderBy(x => x.Scope).Select(x => x.Address)];
    }

    /// <summary>The GIDs of <see cref="Addresses"/>, in its order, made from the cached bytes: no IPAddress, no
    /// list per call. IPv6 is grouped by scope as a stable sort would (a pass per scope present: at most four).</summary>
    public void AddressGids(int ifindex, List<Gid> into)
    {
        if (!Cache.TryGetLink(ifindex, out NetdevLink link))
            return;
        IReadOnlyList<NetdevAddress> list = link.Addresses;
        int v6 = 0;
        for (int i = 0; i < list.Count; i++)
        {
            NetdevAddress a = list[i];
            if (a.IsIPv4)
                into.Add(RoceGid(a));
            else if (a.IsIPv6)
                v6++;
        }
        int scope = -1;
        while (v6 > 0)
        {
            int next = int.MaxValue;
            for (int i = 0; i < list.Count; i++)
                if (list[i].IsIPv6 && list[i].Scope > scope && list[i].Scope < next)
                    next = list[i].Scope;
            for (int i = 0; i < list.Count; i++)
            {
                NetdevAddress a = list[i];
                if (a.IsIPv6 && a.Scope == next)
                {
                    into.Add(RoceGid(a));
                    v6--;
                }
            }
            scope = next;
        }
    }

    /// <summary>The address a GID is made from (IFA_LOCAL where it differs from IFA_ADDRESS).</summary>
    public static IPAddress RoceAddress(in NetdevAddress a)
    {
        Span<byte> b = stackalloc byte[16];
        a.CopyRoceAddressTo(b);
        return new IPAddress(b[..a.ByteLength]);
    }

    /// <summary>The GID of an address (rdma_ip2gid of its IFA_LOCAL/IFA_ADDRESS); allocation-free.</summary>
    public static Gid RoceGid(in NetdevAddress a)
    {
        Span<byte> b = stackalloc byte[16];
        a.CopyRoceAddressTo(b);
        return a.IsIPv4 ? Gid.FromIPv4(b[..4]) : Gid.FromIPv6(b);
    }

    /// <summary>The manager's view of a link as it is now.</summary>
    public static NetdevInfo InfoOf(NetdevLink l) => new()
    {
        Ifindex = l.Ifindex,
        Name = l.Name,
        Mac = l.Mac.ToArray(),
        DevIdOf = l,
        IsEthernet = l.IsEthernet,
        IsUp = l.IsAdminUp,
        HasCarrier = (l.Flags & Iff.IFF_LOWER_UP) != 0,
        Kind = l.Kind,
        LowerIfindex = l.LowerIfindex,
        MasterIfindex = l.Master,
        BondActiveSlave = l.BondActiveSlave,
        BondMode = l.BondMode,
        VlanId = l.VlanId,
        NetNsId = l.NetNsId,
        NetNsIfindex = l.NetNsIfindex,
    };

    /// <summary>The manager's view of a link as it was before the change <paramref name="e"/> reports.</summary>
    public static NetdevInfo InfoBefore(in NetdevEvent e)
    {
        NetdevInfo before = InfoBeforeButDevId(e);
        // A dev_id never read stays unread (the link's own, as PreviousDevId would say); one read is the value before.
        return e.PreviousDevIdUnread ? before : before with { DevId = e.PreviousDevId };
    }

    private static NetdevInfo InfoBeforeButDevId(in NetdevEvent e) => InfoOf(e.Link) with
    {
        Name = e.PreviousName,
        Mac = e.PreviousMac.ToArray(),
        IsEthernet = e.PreviousArphrdType == Arphrd.ARPHRD_ETHER,
        IsUp = (e.PreviousFlags & Iff.IFF_UP) != 0,
        HasCarrier = (e.PreviousFlags & Iff.IFF_LOWER_UP) != 0,
        Kind = e.PreviousKind,
        LowerIfindex = e.PreviousLower,
        MasterIfindex = e.PreviousMaster,
        BondActiveSlave = e.PreviousBondActiveSlave,
        BondMode = e.PreviousBondMode,
        VlanId = e.PreviousVlanId,
    };
}
