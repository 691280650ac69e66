using System.Net;

namespace RoceUio.Roce;

/// <summary>What kind of net device a link is (IFLA_INFO_KIND), as far as the GID rules care.</summary>
public enum NetdevKind
{
    Other,
    Veth,
    Vlan,
    Macvlan,
    Bond,
    Bridge,
}

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
    /// <summary><c>dev->dev_id</c> (sysfs <c>dev_id</c>): mlx4 sets port - 1; it replaces ff:fe in the EUI-64.</summary>
    public ushort DevId { get; init; }
    /// <summary><c>dev->type == ARPHRD_ETHER</c>: only Ethernet netdevs count (roce_gid_mgmt.c netdevice_event).</summary>
    public bool IsEthernet { get; init; } = true;
    /// <summary>IFF_UP (administrative state).</summary>
    public bool IsUp { get; init; }
    public NetdevKind Kind { get; init; }
    /// <summary>The lower device of a VLAN or macvlan (IFLA_LINK); 0 for none. Ignored for other kinds (a veth's IFLA_LINK is its peer).</summary>
    public int LowerIfindex { get; init; }
    /// <summary>The master (IFLA_MASTER): a bond or bridge this device is enslaved to; 0 for none.</summary>
    public int MasterIfindex { get; init; }
    /// <summary>For a bond: its active slave (IFLA_BOND_ACTIVE_SLAVE); 0 for none.</summary>
    public int BondActiveSlave { get; init; }
    public ushort VlanId { get; init; }

    public bool IsBondMaster => Kind == NetdevKind.Bond;
    public bool IsVlan => Kind == NetdevKind.Vlan;
    /// <summary>Kinds whose IFLA_LINK names a lower device that this one is an upper of.</summary>
    public bool HasLower => LowerIfindex != 0 && Kind is NetdevKind.Vlan or NetdevKind.Macvlan;
}

/// <summary>
/// The netdev state the GID manager reads: the netlink cache implements it (through an adapter) and tests can fake it.
/// Read only from the manager's worker thread, after the change being handled has been applied.
/// </summary>
public interface INetdevGraph
{
    NetdevInfo? Find(int ifindex);

    /// <summary>Every known link, in ifindex order (the kernel's <c>for_each_netdev</c> order).</summary>
    IEnumerable<NetdevInfo> All { get; }

    /// <summary>
    /// The device's addresses in the order the kernel enumerates them (roce_gid_mgmt.c enum_netdev_ipv4_ips and
    /// enum_netdev_ipv6_ips): IPv4 first, primary before secondary; then IPv6, global before link-local, newest first.
    /// </summary>
    IReadOnlyList<IPAddress> Addresses(int ifindex);
}
