namespace RoceUio.Netlink;

/// <summary>What happened to a netdev or one of its addresses.</summary>
public enum NetdevEventType : byte
{
    LinkAdded,
    LinkChanged,
    /// <summary>Deleted, or moved to another namespace. Its addresses were reported removed just before.</summary>
    LinkRemoved,
    AddressAdded,
    /// <summary>An existing address got new flags or scope (e.g. IPv6 DAD finished: TENTATIVE cleared).</summary>
    AddressChanged,
    AddressRemoved,
}

/// <summary>Which properties a <see cref="NetdevEventType.LinkChanged"/> changed.</summary>
[Flags]
public enum NetdevChanges : ushort
{
    None = 0,
    Name = 1 << 0,
    Mac = 1 << 1,
    Master = 1 << 2,
    /// <summary>ifi_flags (IFF_UP, IFF_RUNNING, IFF_LOWER_UP, ...).</summary>
    Flags = 1 << 3,
    OperState = 1 << 4,
    BondActiveSlave = 1 << 5,
    /// <summary>IFLA_LINK or IFLA_LINK_NETNSID.</summary>
    Link = 1 << 6,
    /// <summary>IFLA_INFO_KIND, slave kind, VLAN id or bond mode.</summary>
    Kind = 1 << 7,
    Mtu = 1 << 8,
    ArphrdType = 1 << 9,
    DevId = 1 << 10,
}

/// <summary>
/// One change of the netdev state, delivered synchronously and in order by <see cref="NetdevCache"/> after the cache
/// already shows the new state. <see cref="Link"/> is the live cache object (for LinkRemoved: the object just removed,
/// with its last state). The Previous* fields hold the values before a LinkChanged.
/// </summary>
public readonly struct NetdevEvent
{
    public NetdevEventType Type { get; init; }
    public int Ifindex { get; init; }
    public NetdevLink Link { get; init; }
    public NetdevChanges Changes { get; init; }
    /// <summary>The address of an Address* event (for AddressChanged: its new flags).</summary>
    public NetdevAddress Address { get; init; }
    /// <summary>AddressChanged: the flags before.</summary>
    public uint PreviousAddressFlags { get; init; }
    public HardwareAddress PreviousMac { get; init; }
    public int PreviousMaster { get; init; }
    public int PreviousBondActiveSlave { get; init; }
    public uint PreviousFlags { get; init; }
    public OperState PreviousOperState { get; init; }
    public string PreviousName { get; init; }
    /// <summary>LinkChanged: ifi_type before (ARPHRD_ETHER for Ethernet).</summary>
    public ushort PreviousArphrdType { get; init; }
    public NetdevKind PreviousKind { get; init; }
    /// <summary>LinkChanged: <see cref="NetdevLink.LowerIfindex"/> before.</summary>
    public int PreviousLower { get; init; }
    public byte PreviousBondMode { get; init; }
    public ushort PreviousVlanId { get; init; }
    /// <summary>LinkChanged: dev_id before. When it had never been read (<see cref="NetdevLink.DevId"/> is read when
    /// first asked), the link's own: dev_id is set by the driver when the device is made and a change moves no GID.</summary>
    public ushort PreviousDevId
    {
        get => PreviousDevIdUnread ? Link.DevId : _previousDevId;
        init => _previousDevId = value;
    }
    private readonly ushort _previousDevId;
    /// <summary>dev_id had not been read before the change: <see cref="PreviousDevId"/> reads the link's own.</summary>
    internal bool PreviousDevIdUnread { get; init; }

    public bool Has(NetdevChanges c) => (Changes & c) != 0;

    public override string ToString() => Type switch
    {
        NetdevEventType.LinkChanged => $"{Type} {Ifindex} {Link?.Name} [{Changes}]",
        NetdevEventType.AddressAdded or NetdevEventType.AddressChanged or NetdevEventType.AddressRemoved
            => $"{Type} {Ifindex} {Address}",
        _ => $"{Type} {Ifindex} {Link?.Name}",
    };
}

/// <summary>
/// Receives netdev events. Called synchronously on the thread that applies messages to the cache, in the order the
/// changes happened; must not call back into the cache's mutating methods.
/// </summary>
public interface INetdevObserver
{
    void OnNetdevEvent(in NetdevEvent e);
}
