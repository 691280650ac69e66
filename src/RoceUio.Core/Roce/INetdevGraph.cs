using System.Net;
using RoceUio.Netlink;

namespace RoceUio.Roce;

/// <summary>
/// One net device as the GID manager sees it: identity, hardware address, and its place among the uppers and lowers
/// (VLAN/macvlan over a lower, slave under a master). A snapshot: the graph hands out a new one when the link changes.
/// </summary>
public sealed record NetdevInfo
{
    public required int Ifindex { get; init; }
    public required string Name { get; init; }
    /// <summary>The hardware address (IFLA_ADDRESS); 6 bytes on Ethernet.</summary>
    public ReadOnlyMemory<byte> Mac { get; init; }
    /// <summary><c>dev->dev_id</c> (sysfs <c>dev_id</c>): when non-zero it replaces ff:fe in the EUI-64
    /// (addrconf_ifid_eui48). mlx4_en sets <c>dev_port = port - 1</c> since 2014 (en_netdev.c), not dev_id, so an
    /// mlx4 netdev's dev_id is 0 and its default GID is the plain flipped EUI-64.</summary>
    /// <remarks>From the netlink cache it is read when first asked (only a default GID needs it): see
    /// <see cref="NetdevLink.DevId"/>.</remarks>
    public ushort DevId
    {
        get => _devIdOf is { } link ? link.DevId : _devId;
        init { _devId = value; _devIdOf = null; }
    }
    private ushort _devId;
    private NetdevLink? _devIdOf;

    /// <summary>Takes <see cref="DevId"/> from <paramref name="value"/>: now when the link has read it, else when
    /// first asked (reading sysfs for every netdev the manager looks at is what made a start scale with the host).</summary>
    internal NetdevLink DevIdOf
    {
        init
        {
            if (value.DevIdIsRead) { _devId = value.DevIdHeld; _devIdOf = null; }
            else { _devId = 0; _devIdOf = value; }
        }
    }
    /// <summary><c>dev->type == ARPHRD_ETHER</c>: only Ethernet netdevs count (roce_gid_mgmt.c netdevice_event).</summary>
    public bool IsEthernet { get; init; } = true;
    /// <summary>IFF_UP (administrative state).</summary>
    public bool IsUp { get; init; }
    /// <summary>IFF_LOWER_UP (the carrier; a bond slave's link as miimon sees it). True unless said otherwise.</summary>
    public bool HasCarrier { get; init; } = true;
    public NetdevKind Kind { get; init; }
    /// <summary>The lower device (IFLA_LINK) of a kind that is an upper of it (VLAN, macvlan, ipvlan); 0 for none and for
    /// kinds whose IFLA_LINK is something else (a veth's peer, a tunnel's underlay).</summary>
    public int LowerIfindex { get; init; }
    /// <summary>The master (IFLA_MASTER): a bond or bridge this device is enslaved to; 0 for none.</summary>
    public int MasterIfindex { get; init; }
    /// <summary>For a bond: its active slave (IFLA_BOND_ACTIVE_SLAVE); 0 for none.</summary>
    public int BondActiveSlave { get; init; }
    /// <summary>For a bond: IFLA_BOND_MODE (1 = active-backup, <see cref="IflaBond.BOND_MODE_ACTIVEBACKUP"/>).</summary>
    public byte BondMode { get; init; }
    public ushort VlanId { get; init; }
    /// <summary>The id (here) of the network namespace the device lives in; -1 for the daemon's own. A macvlan or VLAN
    /// moved into a container keeps its lower device here, so its addresses still become GIDs; a port binds only to a
    /// device of its own namespace.</summary>
    public int NetNsId { get; init; } = -1;
    /// <summary>The device's ifindex inside its own namespace (what <c>ibv_query_gid_ex</c>'s netdev_ifindex shows: the
    /// kernel's <c>ndev->ifindex</c>); 0: the same as <see cref="Ifindex"/>.</summary>
    public int NetNsIfindex { get; init; }

    public bool IsBondMaster => Kind == NetdevKind.Bond;
    public bool IsActiveBackupBond => IsBondMaster && BondMode == IflaBond.BOND_MODE_ACTIVEBACKUP;
    public bool IsVlan => Kind == NetdevKind.Vlan;
    public bool HasLower => LowerIfindex != 0;
}

/// <summary>
/// The netdev state the GID manager reads: <see cref="NetlinkNetdevGraph"/> is a view of the netlink cache, and tests
/// can fake it.
/// Read only from the manager's worker thread, after the change being handled has been applied.
/// </summary>
public interface INetdevGraph
{
    NetdevInfo? Find(int ifindex);

    /// <summary>Every known link, in ifindex order (the kernel's <c>for_each_netdev</c> order).</summary>
    IEnumerable<NetdevInfo> All { get; }

    /// <summary>The ifindexes of the links whose <see cref="NetdevInfo.LowerIfindex"/> is <paramref name="ifindex"/>
    /// (VLAN/macvlan over it), in ifindex order. An index lookup, not a scan: the event path asks it for every port.</summary>
    IReadOnlyList<int> LinkUppersOf(int ifindex);

    /// <summary>The ifindexes of the links whose <see cref="NetdevInfo.MasterIfindex"/> is <paramref name="ifindex"/>,
    /// in ifindex order.</summary>
    IReadOnlyList<int> SlavesOf(int ifindex);

    /// <summary>
    /// The device's addresses in the order the kernel enumerates them (roce_gid_mgmt.c enum_netdev_ipv4_ips and
    /// enum_netdev_ipv6_ips): IPv4 first, primary before secondary; then IPv6, global before link-local, newest first.
    /// </summary>
    IReadOnlyList<IPAddress> Addresses(int ifindex);

    /// <summary>
    /// The GIDs of the device's addresses (rdma_ip2gid), in the order of <see cref="Addresses"/>, appended to
    /// <paramref name="into"/>. The netlink graph makes them from the cached address bytes; this default goes through
    /// <see cref="Addresses"/>.
    /// </summary>
    void AddressGids(int ifindex, List<Gids.Gid> into)
    {
        foreach (IPAddress a in Addresses(ifindex))
            into.Add(Gids.Gid.FromIPAddress(a));
    }
}
