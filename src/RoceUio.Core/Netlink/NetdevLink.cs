using System.Text;

namespace RoceUio.Netlink;

/// <summary>
/// The cached state of one netdev (one ifindex in this namespace), as the last family-0 RTM_NEWLINK described it, plus
/// its IP addresses. Owned and mutated only by <see cref="NetdevCache"/>; read it from the cache's thread.
/// </summary>
public sealed class NetdevLink
{
    private readonly List<NetdevAddress> _addresses = new(4);
    // The resync generation in which each address (same index as _addresses) was last seen in a dump.
    internal readonly List<uint> AddressSeen = new(4);
    private byte[] _nameUtf8 = [];

    internal NetdevLink(int ifIndex, int netNsId = -1, int netNsIfindex = 0)
    {
        Ifindex = ifIndex;
        NetNsId = netNsId;
        NetNsIfindex = netNsId < 0 ? ifIndex : netNsIfindex;
    }

    /// <summary>The key the cache and everything after it know the link by: its ifindex for a link of this namespace;
    /// for a link of another namespace a number the cache gave it (from <see cref="NetdevCache.OtherNamespaceKeyBase"/>
    /// up), since ifindexes repeat across namespaces.</summary>
    public int Ifindex { get; }
    /// <summary>The id (in this namespace) of the namespace the link lives in; -1 for this namespace.</summary>
    public int NetNsId { get; }
    /// <summary>The link's ifindex inside its own namespace (what <c>ip -n NS link</c> shows).</summary>
    public int NetNsIfindex { get; }
    public bool IsInOwnNamespace => NetNsId < 0;
    public string Name { get; private set; } = "";
    /// <summary>IFLA_ADDRESS.</summary>
    public HardwareAddress Mac { get; internal set; }
    /// <summary>
    /// dev_id (sysfs /sys/class/net/NAME/dev_id; rtnetlink does not carry it): distinguishes ports that share a MAC
    /// (a few drivers set it; mlx4_en sets dev_port, not dev_id). 0 unless the cache's <see cref="NetdevCache.DevIdProvider"/> or SetDevId says otherwise.
    /// Read from the provider the first time it is asked (only a default GID needs it, so only a port's netdev or a
    /// bond over one is ever read), then kept until the link is renamed: a host with thousands of netdevs opens
    /// thousands of sysfs files no more.
    /// </summary>
    public ushort DevId
    {
        get
        {
            if (Volatile.Read(ref _devIdSource) is { } read)
            {
                _devId = read(Name);
                Volatile.Write(ref _devIdSource, null);   // after _devId: a reader that sees null sees the value
            }
            return _devId;
        }
        internal set
        {
            _devId = value;
            Volatile.Write(ref _devIdSource, null);
        }
    }

    private ushort _devId;
    private Func<string, ushort>? _devIdSource;

    /// <summary>dev_id is to be read from <paramref name="source"/> (by name) when first asked.</summary>
    internal void ReadDevIdLater(Func<string, ushort> source) => Volatile.Write(ref _devIdSource, source);

    /// <summary>Whether <see cref="DevId"/> has been read (or set); false: asking it reads the provider.</summary>
    internal bool DevIdIsRead => Volatile.Read(ref _devIdSource) is null;

    /// <summary>The dev_id held now, without reading the provider (0 when not read yet).</summary>
    internal ushort DevIdHeld => _devId;
    /// <summary>ifi_type: ARPHRD_ETHER (1) for Ethernet.</summary>
    public ushort ArphrdType { get; internal set; }
    /// <summary>ifi_flags: IFF_UP, IFF_RUNNING, IFF_LOWER_UP, IFF_MASTER, IFF_SLAVE, ...</summary>
    public uint Flags { get; internal set; }
    public OperState OperState { get; internal set; }
    public uint Mtu { get; internal set; }
    /// <summary>
    /// IFLA_LINK: lower device (vlan, macvlan), peer (veth), 0 when none. For a veth this is only as fresh as its last
    /// RTM_NEWLINK: the end created first is announced before its peer has an ifindex (0), and no event follows when
    /// the peer appears [obs: Linux 6.1]. Use <see cref="LowerIfindex"/> for the upper/lower relation.
    /// </summary>
    public int Link { get; internal set; }

    /// <summary>
    /// The device directly below this one through IFLA_LINK: the real device of a vlan, the lower of a macvlan/ipvlan;
    /// 0 for other kinds (a veth's IFLA_LINK is its peer, a tunnel's its underlay), when it is in another namespace
    /// (IFLA_LINK_NETNSID set), or when it names the device itself. The one rule for "lower": the cache's topology
    /// index (<see cref="NetdevCache.LinkUppersOf"/>) and the GID manager's graph both use it.
    /// </summary>
    public int LowerIfindex
        => Link != 0 && Link != Ifindex && LinkNetNsId < 0 && NetdevKinds.LinkIsLower(Kind, KindName) ? Link : 0;
    /// <summary>IFLA_LINK_NETNSID, or -1 when IFLA_LINK is in this namespace. For a link of another namespace whose lower
    /// device is in this one (or in its own), the cache has translated IFLA_LINK into that device's key and says -1.</summary>
    public int LinkNetNsId { get; internal set; } = -1;
    /// <summary>IFLA_MASTER: the bond or bridge this device is enslaved to, 0 when none.</summary>
    public int Master { get; internal set; }
    public NetdevKind Kind { get; internal set; }
    /// <summary>IFLA_INFO_KIND as sent ("veth", "vxlan", ...), "" without IFLA_LINKINFO.</summary>
    public string KindName { get; internal set; } = "";
    /// <summary>IFLA_INFO_SLAVE_KIND ("bond", "bridge") of a port, "" otherwise.</summary>
    public string SlaveKindName { get; internal set; } = "";
    /// <summary>IFLA_VLAN_ID of a vlan device.</summary>
    public ushort VlanId { get; internal set; }
    /// <summary>IFLA_BOND_MODE of a bond (1 = active-backup).</summary>
    public byte BondMode { get; internal set; }
    /// <summary>IFLA_BOND_ACTIVE_SLAVE of a bond: the active slave's ifindex, 0 when none (the kernel omits it then).</summary>
    public int BondActiveSlave { get; internal set; }

    public bool IsEthernet => ArphrdType == Arphrd.ARPHRD_ETHER;
    public bool IsAdminUp => (Flags & Iff.IFF_UP) != 0;
    public bool IsBondMaster => Kind == NetdevKind.Bond;
    /// <summary>Every IPv4 and IPv6 address, in arrival order (dump order first).</summary>
    public IReadOnlyList<NetdevAddress> Addresses => _addresses;

    internal List<NetdevAddress> AddressList => _addresses;
    internal uint LinkSeen;

    /// <summary>Bumped by the cache each time a link property changes (not for address changes): lets a reader keep
    /// a derived view (the GID manager's <c>NetdevInfo</c>) and know when it is stale.</summary>
    internal uint Version;

    /// <summary>Sets the name from IFLA_IFNAME bytes; allocates only when it changed. True when it changed.</summary>
    internal bool SetName(ReadOnlySpan<byte> utf8)
    {
        if (utf8.SequenceEqual(_nameUtf8))
            return false;
        _nameUtf8 = utf8.ToArray();
        Name = Encoding.UTF8.GetString(utf8);
        return true;
    }

    /// <summary>Sets KindName from IFLA_INFO_KIND bytes; allocates only on change.</summary>
    internal void SetKindName(ReadOnlySpan<byte> utf8)
    {
        if (!Utf8Equals(KindName, utf8))
            KindName = Encoding.UTF8.GetString(utf8);
    }

    internal void SetSlaveKindName(ReadOnlySpan<byte> utf8)
    {
        if (!Utf8Equals(SlaveKindName, utf8))
            SlaveKindName = Encoding.UTF8.GetString(utf8);
    }

    private static bool Utf8Equals(string s, ReadOnlySpan<byte> utf8)
    {
        if (s.Length != utf8.Length) return false;
        for (int i = 0; i < utf8.Length; i++)
            if (s[i] != utf8[i]) return false;
        return true;
    }

    internal int FindAddress(in NetdevAddress key)
    {
        for (int i = 0; i < _addresses.Count; i++)
            if (_addresses[i].SameKey(key))
                return i;
        return -1;
    }

    public override string ToString()
        => $"{Ifindex}: {Name} {Kind} mac {Mac} flags 0x{Flags:x} {OperState} link {Link} master {Master} addrs {_addresses.Count}";
}
