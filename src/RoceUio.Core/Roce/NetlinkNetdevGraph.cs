using System.Net;
using RoceUio.Netlink;

namespace RoceUio.Roce;

/// <summary>
/// Joins the netlink side to the GID manager: observes the <see cref="NetdevCache"/>, keeps a <see cref="NetdevInfo"/>
/// snapshot per link (so that a change has a "before"), answers the manager's <see cref="INetdevGraph"/> questions, and
/// forwards every link and address event to the manager. Runs on the cache's thread, which is the manager's worker.
/// </summary>
public sealed class NetlinkNetdevGraph : INetdevGraph, INetdevObserver
{
    private readonly NetdevCache _cache;
    private readonly SortedDictionary<int, NetdevInfo> _snapshots = new();

    public NetlinkNetdevGraph(NetdevCache cache)
    {
        _cache = cache;
        foreach (NetdevLink l in cache.Links)
            _snapshots[l.Ifindex] = Snapshot(l);
        cache.Subscribe(this);
    }

    /// <summary>Where events go; set it after the manager is made (the manager needs the graph first).</summary>
    public GidManager? Manager { get; set; }

    public NetdevInfo? Find(int ifindex) => _snapshots.GetValueOrDefault(ifindex);

    public IEnumerable<NetdevInfo> All => _snapshots.Values;

    /// <summary>IPv4 in the kernel's list order (primary before secondary), then IPv6 global before link-local, newest
    /// first (ipv6_link_dev_addr). The cache keeps each list in the kernel's order whether an address came from a dump
    /// or an event, so this only groups by scope (a stable sort).</summary>
    public IReadOnlyList<IPAddress> Addresses(int ifindex)
    {
        if (!_cache.TryGetLink(ifindex, out NetdevLink link))
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

    private static IPAddress RoceAddress(in NetdevAddress a)
    {
        Span<byte> b = stackalloc byte[16];
        a.CopyRoceAddressTo(b);
        return new IPAddress(b[..a.ByteLength]);
    }

    public static NetdevInfo Snapshot(NetdevLink l) => new()
    {
        Ifindex = l.Ifindex,
        Name = l.Name,
        Mac = l.Mac.ToArray(),
        DevId = l.DevId,
        IsEthernet = l.IsEthernet,
        IsUp = l.IsAdminUp,
        Kind = l.Kind,
        // A lower device in another namespace (IFLA_LINK_NETNSID set) is not a local ifindex: no lower here.
        LowerIfindex = NetdevKinds.LinkIsLower(l.Kind, l.KindName) && l.LinkNetNsId < 0 ? l.Link : 0,
        MasterIfindex = l.Master,
        BondActiveSlave = l.BondActiveSlave,
        BondMode = l.BondMode,
        VlanId = l.VlanId,
        NetNsId = l.NetNsId,
    };

    public void OnNetdevEvent(in NetdevEvent e)
    {
        switch (e.Type)
        {
            case NetdevEventType.LinkAdded:
            {
                NetdevInfo now = Snapshot(e.Link);
                _snapshots[e.Ifindex] = now;
                Manager?.LinkAdded(now);
                break;
            }
            case NetdevEventType.LinkChanged:
            {
                NetdevInfo now = Snapshot(e.Link);
                NetdevInfo before = _snapshots.GetValueOrDefault(e.Ifindex) ?? now;
                _snapshots[e.Ifindex] = now;
                Manager?.LinkChanged(before, now);
                break;
            }
            case NetdevEventType.LinkRemoved:
            {
                NetdevInfo before = _snapshots.GetValueOrDefault(e.Ifindex) ?? Snapshot(e.Link);
                _snapshots.Remove(e.Ifindex);
                Manager?.LinkRemoved(before);
                break;
            }
            case NetdevEventType.AddressAdded:
                Manager?.AddressAdded(e.Ifindex, RoceAddress(e.Address));
                break;
            case NetdevEventType.AddressRemoved:
                Manager?.AddressRemoved(e.Ifindex, RoceAddress(e.Address));
                break;
            // AddressChanged (flags, lifetimes, DAD completion) does not touch the table (kernel-gid.md 9.3).
        }
    }
}
