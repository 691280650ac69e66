using System.Runtime.InteropServices;

namespace RoceUio.Netlink;

/// <summary>
/// The netdev state of one network namespace, kept from rtnetlink messages (events and dumps): every link by ifindex
/// with its addresses. Each applied message that changes something emits <see cref="NetdevEvent"/>s to the observers,
/// synchronously, after the cache shows the new state.
/// </summary>
/// <remarks>
/// Locking: none. One thread owns the cache (the monitor's loop, or a replay); observers run on it and must not call
/// Apply/BeginResync/EndResync themselves.
/// Rules (userspace-mechanics.md section 3):
/// <list type="bullet">
/// <item>Link lifecycle from ifi_family AF_UNSPEC only; AF_BRIDGE NEWLINK/DELLINK of bridge ports are ignored.</item>
/// <item>Every family-0 RTM_NEWLINK is the device's full state (rtnl_fill_ifinfo): a missing IFLA_MASTER, IFLA_LINK
/// or IFLA_LINKINFO means none. Identical duplicates change nothing and emit nothing.</item>
/// <item>RTM_DELLINK, and any link message with IFLA_NEW_NETNSID or IFLA_NET_NS_PID/FD (moved to another
/// namespace), removes the link: AddressRemoved for each address it still had, then LinkRemoved.</item>
/// <item>A malformed message is counted (<see cref="MalformedMessages"/>), logged with its type and offset, and
/// changes nothing.</item>
/// <item>Resync: BeginResync, apply complete dumps, EndResync: whatever the dumps did not show is removed, so the
/// events of a resync are exactly the changes that were missed.</item>
/// <item>Other namespaces (<see cref="NetlinkOrigin"/>; the monitor follows them when asked): their links are kept
/// beside this namespace's under keys the cache gives them (ifindexes repeat across namespaces), and their IFLA_LINK
/// and IFLA_MASTER are translated to keys: a macvlan or VLAN moved into a container keeps its lower device here
/// (the kernel's adjacency lists cross namespaces), so it stays an upper of that device; so does one whose lower is
/// in a third namespace with an id here, and a link here whose lower is in a followed namespace.
/// <see cref="LinkNetNsHere"/> says which namespace an IFLA_LINK_NETNSID names. <see cref="RemoveNamespace"/> drops a namespace that went
/// away (its own messages stop before its devices are destroyed). Lookups by name see this namespace only.</item>
/// <item>The cache is the one owner of netdev state: it also keeps the topology index (parent → children:
/// <see cref="LinkUppersOf"/>, <see cref="SlavesOf"/>), updated before the event that changed it is emitted. Others
/// (the GID manager's graph, the daemon) read it and keep no copy.</item>
/// </list>
/// Applying a message that changes nothing allocates nothing; a new link allocates its object and name.
/// </remarks>
public sealed class NetdevCache
{
    /// <summary>The first key given to a link of another namespace; this namespace's ifindexes stay below it (the kernel
    /// allocates them one by one from 1).</summary>
    public const int OtherNamespaceKeyBase = 1 << 30;

    private readonly Dictionary<int, NetdevLink> _links = new();
    private readonly Dictionary<(int NetNsId, int Ifindex), int> _otherKeys = new();
    private int _nextOtherKey = OtherNamespaceKeyBase;
    private readonly List<INetdevObserver> _observers = new();
    private readonly List<NetdevLink> _scratch = new();
    // Topology index: parent ifindex -> children, each list in ifindex order (see LinkUppersOf / SlavesOf).
    private readonly Dictionary<int, List<int>> _linkUppers = new();
    private readonly Dictionary<int, List<int>> _slaves = new();
    private readonly List<int> _order = new();
    // Links that appeared while links of another namespace already named them as their lower device (a namespace
    // followed after the ones above it: see LowerAppeared); during a resync, kept until EndResync.
    private readonly List<int> _lateLowers = new();
    // This namespace's links by name (FindByName): kept as links appear, are renamed and go; rebuilt at EndResync,
    // where a dump can show two links under one name for a moment (a rename missed, the other link not dumped yet).
    private readonly Dictionary<string, NetdevLink> _byName = new(StringComparer.Ordinal);
    private uint _generation;

    /// <summary>Where problems are reported; stderr by default. Never null-checked on the hot path: only errors log.</summary>
    public Action<string> Log { get; set; } = static m => Console.Error.WriteLine(m);

    /// <summary>Reads a link's dev_id when it appears or is renamed (e.g. <see cref="SysfsDevId.Read"/>); null: 0.</summary>
    public Func<string, ushort>? DevIdProvider { get; set; }

    /// <summary>
    /// For a link message that carries IFLA_LINK_NETNSID: which namespace that id names, as an id here (-1: this
    /// namespace), given the message's origin, the link's ifindex there and the id as sent (written from the origin's
    /// point of view unless <see cref="NetlinkOrigin.IdsAsSeenHere"/>); null: it cannot be told. The monitor answers it
    /// with <see cref="NetnsFollower.LinkNetNsHere"/>. Null (no follower): never, and such a lower device counts as
    /// nowhere.
    /// </summary>
    public Func<NetlinkOrigin, int, int, int?>? LinkNetNsHere { get; set; }

    /// <summary>Messages rejected by the parser.</summary>
    public long MalformedMessages { get; private set; }
    /// <summary>The last rejection and the type of message it hit.</summary>
    public NetlinkParseFailure LastFailure { get; private set; }
    public ushort LastFailureMessageType { get; private set; }
    /// <summary>RTM_NEWADDR for an ifindex the cache does not know (dropped).</summary>
    public long OrphanAddresses { get; private set; }
    /// <summary>Messages applied (link and address, family 0/IP).</summary>
    public long AppliedMessages { get; private set; }
    public bool IsResyncing { get; private set; }

    /// <summary>All links; enumerate with foreach (struct enumerator, no allocation).</summary>
    public Dictionary<int, NetdevLink>.ValueCollection Links => _links.Values;
    public int Count => _links.Count;

    public void Subscribe(INetdevObserver observer) => _observers.Add(observer);
    public void Unsubscribe(INetdevObserver observer) => _observers.Remove(observer);

    public bool TryGetLink(int ifIndex, out NetdevLink link)
    {
        bool found = _links.TryGetValue(ifIndex, out NetdevLink? l);
        link = l!;
        return found;
    }

    /// <summary>The link of this namespace named <paramref name="name"/> (links of other namespaces may repeat names).
    /// A lookup in the cache's name index, whatever the number of netdevs.</summary>
    public NetdevLink? FindByName(string name)
        => _byName.TryGetValue(name, out NetdevLink? l) && l.Name == name ? l : null;

    private void NameIndexRemove(NetdevLink link, string name)
    {
        // Only the entry that is this link: another link may hold the name now (see _byName).
        if (link.IsInOwnNamespace && name.Length > 0 && _byName.TryGetValue(name, out NetdevLink? l) && ReferenceEquals(l, link))
            _byName.Remove(name);
    }

    private void NameIndexAdd(NetdevLink link)
    {
        if (link.IsInOwnNamespace && link.Name.Length > 0)
            _byName[link.Name] = link;
    }

    /// <summary>The link with ifindex <paramref name="ifindex"/> inside namespace <paramref name="netNsId"/> (-1: this one).</summary>
    public bool TryGetLink(int netNsId, int ifindex, out NetdevLink link)
    {
        if (netNsId < 0)
            return TryGetLink(ifindex, out link);
        link = null!;
        return _otherKeys.TryGetValue((netNsId, ifindex), out int key) && TryGetLink(key, out link);
    }

    /// <summary>
    /// The namespace with id <paramref name="netNsId"/> is gone (RTM_DELNSID): every link of it is removed as a
    /// RTM_DELLINK would (addresses, then the link). Returns how many links went.
    /// </summary>
    public int RemoveNamespace(int netNsId)
    {
        if (netNsId < 0)
            throw new ArgumentOutOfRangeException(nameof(netNsId), "this namespace cannot go away");
        _scratch.Clear();
        foreach (NetdevLink l in _links.Values)
            if (l.NetNsId == netNsId)
                _scratch.Add(l);
        foreach (NetdevLink gone in _scratch)
            RemoveLink(gone);
        int n = _scratch.Count;
        _scratch.Clear();
        foreach ((int NetNsId, int Ifindex) k in _otherKeys.Keys.Where(k => k.NetNsId == netNsId).ToList())
            _otherKeys.Remove(k);
        return n;
    }

    /// <summary>Applies every message of a datagram or an rtmon capture (timestamps and non-link/address types skipped).
    /// Returns the number of link and address messages applied. A framing error is counted and stops the walk.</summary>
    public int ApplyAll(ReadOnlySpan<byte> messages)
    {
        var reader = new NetlinkMessageReader(messages);
        int applied = 0;
        while (reader.TryRead(out NetlinkMessage m))
            if (Apply(m))
                applied++;
        if (reader.Failure.IsError)
            Reject(0, reader.Failure);
        return applied;
    }

    /// <summary>
    /// Applies one message. True when it was a well-formed link (family 0) or IP address message; false when it was
    /// ignored (other types, AF_BRIDGE, non-IP families) or malformed (counted and logged).
    /// </summary>
    public bool Apply(in NetlinkMessage message) => Apply(message, NetlinkOrigin.Own);

    /// <summary>Applies one message that came from <paramref name="origin"/> (this namespace or another one).</summary>
    public bool Apply(in NetlinkMessage message, NetlinkOrigin origin)
    {
        switch (message.Type)
        {
            case NlMsgType.RTM_NEWLINK:
            case NlMsgType.RTM_DELLINK:
                return ApplyLink(message, origin);
            case NlMsgType.RTM_NEWADDR:
            case NlMsgType.RTM_DELADDR:
                return ApplyAddress(message, origin);
            default:
                return false;
        }
    }

    /// <summary>Sets a link's dev_id (from sysfs or configuration); emits LinkChanged(DevId) when it changed. The GID
    /// manager takes no action on it (the kernel has no dev_id event); the next default GID made uses it.</summary>
    public void SetDevId(int ifIndex, ushort devId)
    {
        if (!_links.TryGetValue(ifIndex, out NetdevLink? link) || link.DevId == devId)
            return;
        var before = new LinkBefore(link);
        link.DevId = devId;
        link.Version++;
        Emit(ChangedEvent(link, NetdevChanges.DevId, before));
    }

    /// <summary>Starts a resync: the dumps applied until <see cref="EndResync"/> are taken as the complete state.</summary>
    public void BeginResync()
    {
        _generation++;
        IsResyncing = true;
    }

    /// <summary>Removes every address and link the dumps since <see cref="BeginResync"/> did not show, with events.
    /// With <paramref name="onlyNamespace"/>, only that namespace was dumped: only its links are looked at.</summary>
    public void EndResync(int? onlyNamespace = null)
    {
        if (!IsResyncing)
            throw new InvalidOperationException("EndResync without BeginResync");
        IsResyncing = false;
        _scratch.Clear();
        foreach (NetdevLink link in _links.Values)
        {
            if (onlyNamespace is { } ns && link.NetNsId != ns)
                continue;
            if (link.LinkSeen != _generation)
            {
                _scratch.Add(link);
                continue;
            }
            for (int i = link.AddressList.Count - 1; i >= 0; i--)
                if (link.AddressSeen[i] != _generation)
                    RemoveAddressAt(link, i);
        }
        foreach (NetdevLink gone in _scratch)
            RemoveLink(gone);
        _scratch.Clear();
        _byName.Clear();
        foreach (NetdevLink link in _links.Values)
            NameIndexAdd(link);
        foreach (int key in _lateLowers)
            LowerAppeared(key);
        _lateLowers.Clear();
    }

    /// <summary>
    /// The link <paramref name="key"/> appeared while links of other namespaces already named it as their lower device:
    /// the namespace it is in was followed (dumped) after theirs, so their addresses were seen while their lower device
    /// was unknown here, and no filter could tell then that they are uppers of a port. In a kernel nothing like it
    /// happens (a lower device exists before its uppers), so there is no notifier to copy: each such upper gets a
    /// LinkChanged(Link) whose PreviousLower is 0 ("its lower device was nowhere"), which the GID manager takes as a
    /// relink of the upper and everything above it. Emitted after the dump that brought the link (the chain under it,
    /// such as a bridge's ports, is complete then).
    /// </summary>
    private void LowerAppeared(int key)
    {
        if (!_links.TryGetValue(key, out NetdevLink? lower) || !_linkUppers.TryGetValue(key, out List<int>? uppers))
            return;
        _scratch.Clear();
        foreach (int u in uppers)
            if (_links.TryGetValue(u, out NetdevLink? upper) && upper.NetNsId != lower.NetNsId)
                _scratch.Add(upper);
        foreach (NetdevLink upper in _scratch)
        {
            var before = new LinkBefore(upper);
            Emit(ChangedEvent(upper, NetdevChanges.Link, before) with { PreviousLower = 0 });
        }
        _scratch.Clear();
    }

    // ---- topology index (the kernel's adjacency lists, include/linux/netdevice.h) ----

    /// <summary>
    /// The links directly above <paramref name="ifindex"/> through IFLA_LINK (vlan, macvlan, ipvlan over it: those
    /// whose <see cref="NetdevLink.LowerIfindex"/> is it), in ifindex order. Kept as the links change, so asking costs
    /// nothing whatever the number of netdevs. Walks over the graph (depth limits, bond rules) live in the GID
    /// manager's NetdevFilters, not here.
    /// </summary>
    public IReadOnlyList<int> LinkUppersOf(int ifindex) => _linkUppers.TryGetValue(ifindex, out List<int>? l) ? l : Array.Empty<int>();

    /// <summary>The links whose IFLA_MASTER is <paramref name="ifindex"/> (a bond's or bridge's ports), in ifindex order.</summary>
    public IReadOnlyList<int> SlavesOf(int ifindex) => _slaves.TryGetValue(ifindex, out List<int>? l) ? l : Array.Empty<int>();   // not [] (that allocates here)

    /// <summary>Every ifindex in ascending order (the kernel's for_each_netdev order for a namespace).</summary>
    public IReadOnlyList<int> IfindexOrder => _order;

    private static void IndexAdd(Dictionary<int, List<int>> index, int parent, int child)
    {
        if (parent == 0)
            return;
        ref List<int>? list = ref CollectionsMarshal.GetValueRefOrAddDefault(index, parent, out _);
        list ??= new List<int>(2);
        InsertSorted(list, child);
    }

    private static void IndexRemove(Dictionary<int, List<int>> index, int parent, int child)
    {
        if (parent == 0 || !index.TryGetValue(parent, out List<int>? list))
            return;
        int at = list.BinarySearch(child);
        if (at >= 0)
            list.RemoveAt(at);
        if (list.Count == 0)
            index.Remove(parent);
    }

    private static void InsertSorted(List<int> list, int value)
    {
        // Dumps come in ascending ifindex order, so this is almost always an append.
        if (list.Count == 0 || list[^1] < value)
        {
            list.Add(value);
            return;
        }
        int at = list.BinarySearch(value);
        if (at < 0)
            list.Insert(~at, value);
    }

    /// <summary>Moves <paramref name="link"/> in the index after its lower or master changed.</summary>
    private void Reindex(NetdevLink link, int prevLower, int prevMaster)
    {
        int lower = link.LowerIfindex;
        if (lower != prevLower)
        {
            IndexRemove(_linkUppers, prevLower, link.Ifindex);
            IndexAdd(_linkUppers, lower, link.Ifindex);
        }
        if (link.Master != prevMaster)
        {
            IndexRemove(_slaves, prevMaster, link.Ifindex);
            IndexAdd(_slaves, link.Master, link.Ifindex);
        }
    }

    // ---- applying ----

    private bool ApplyLink(in NetlinkMessage message, NetlinkOrigin origin)
    {
        if (!LinkMessage.TryParse(message, out LinkMessage msg, out NetlinkParseFailure failure))
            return Reject(message, failure);
        if (msg.Family != AddressFamilies.AF_UNSPEC)
            return false; // AF_BRIDGE port notifications: not the device's lifecycle
        if (msg.Ifindex <= 0)
            return Reject(message, new NetlinkParseFailure(NetlinkParseError.InvalidIfindex, NlMsgHdr.Size + IfInfoMsg.OffsetIndex));
        AppliedMessages++;
        if (msg.IsDelete || msg.IsNamespaceMove)
        {
            if (KeyOf(origin, msg.Ifindex, create: false) is int key && _links.TryGetValue(key, out NetdevLink? gone))
                RemoveLink(gone);
            return true;
        }
        UpsertLink(msg, origin);
        return true;
    }

    // The key of ifindex `ifindex` of the origin's namespace: the ifindex itself here, a given key elsewhere.
    private int? KeyOf(NetlinkOrigin origin, int ifindex, bool create)
    {
        if (origin.IsOwn)
            return ifindex;
        if (_otherKeys.TryGetValue((origin.NetNsId, ifindex), out int key))
            return key;
        if (!create)
            return null;
        key = _nextOtherKey++;
        _otherKeys[(origin.NetNsId, ifindex)] = key;
        return key;
    }

    // IFLA_LINK, IFLA_LINK_NETNSID and IFLA_MASTER as the cache keeps them: IFLA_LINK becomes the key of the device
    // it names (LinkNetNsId -1) wherever that device is, when LinkNetNsHere can tell which namespace that is: the
    // link's own namespace (no IFLA_LINK_NETNSID), this one, or any other with an id here (a macvlan in B over a bridge
    // in C: veth/macvlan chains of nested containers). A lower device whose namespace cannot be told stays as sent (no
    // relation here). The master (always in the link's own namespace) becomes its key. This namespace's messages
    // without IFLA_LINK_NETNSID stay as sent (keys here are ifindexes).
    private (int Link, int LinkNetNsId, int Master) Relations(in LinkMessage msg, NetlinkOrigin origin)
    {
        int lower = msg.Has(LinkAttributes.Link) ? msg.Link : 0;
        int lowerNs = msg.Has(LinkAttributes.LinkNetNsId) ? msg.LinkNetNsId : -1;
        int master = msg.Has(LinkAttributes.Master) ? msg.Master : 0;
        if (lower != 0)
        {
            if (lowerNs < 0)
                lower = KeyOf(origin, lower, create: true)!.Value;
            else if (LinkNetNsHere?.Invoke(origin, msg.Ifindex, lowerNs) is int here && here != origin.NetNsId)
            {
                lower = KeyOf(here < 0 ? NetlinkOrigin.Own : NetlinkOrigin.DumpOf(here), lower, create: true)!.Value;
                lowerNs = -1;
            }
        }
        if (master != 0)
            master = KeyOf(origin, master, create: true)!.Value;
        return (lower, lowerNs, master);
    }

    private void UpsertLink(in LinkMessage msg, NetlinkOrigin origin)
    {
        int key = KeyOf(origin, msg.Ifindex, create: true)!.Value;
        ref NetdevLink? slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_links, key, out bool exists);
        slot ??= new NetdevLink(key, origin.NetNsId, msg.Ifindex);
        NetdevLink link = slot;
        link.LinkSeen = _generation;

        var before = new LinkBefore(link);
        NetdevChanges changes = NetdevChanges.None;

        if (msg.Has(LinkAttributes.Name) && link.SetName(msg.Name))
            changes |= NetdevChanges.Name;
        if (msg.Has(LinkAttributes.Address) && !link.Mac.Equals(msg.Address))
        {
            link.Mac = new HardwareAddress(msg.Address);
            changes |= NetdevChanges.Mac;
        }
        if (link.ArphrdType != msg.ArphrdType) { link.ArphrdType = msg.ArphrdType; changes |= NetdevChanges.ArphrdType; }
        if (link.Flags != msg.Flags) { link.Flags = msg.Flags; changes |= NetdevChanges.Flags; }
        if (msg.Has(LinkAttributes.OperState) && link.OperState != msg.OperState)
        {
            link.OperState = msg.OperState;
            changes |= NetdevChanges.OperState;
        }
        if (msg.Has(LinkAttributes.Mtu) && link.Mtu != msg.Mtu) { link.Mtu = msg.Mtu; changes |= NetdevChanges.Mtu; }

        (int lower, int lowerNs, int master) = Relations(msg, origin);
        if (link.Link != lower || link.LinkNetNsId != lowerNs)
        {
            link.Link = lower;
            link.LinkNetNsId = lowerNs;
            changes |= NetdevChanges.Link;
        }
        if (link.Master != master) { link.Master = master; changes |= NetdevChanges.Master; }

        NetdevKind kind = NetdevKinds.FromInfoKind(msg.Kind);
        ushort vlanId = kind == NetdevKind.Vlan ? msg.VlanId : (ushort)0;
        byte bondMode = kind == NetdevKind.Bond ? msg.BondMode : (byte)0;
        if (link.Kind != kind || link.VlanId != vlanId || link.BondMode != bondMode
            || !link.KindName.AsSpan().SequenceEqual(Latin(msg.Kind, stackalloc char[32]))
            || !link.SlaveKindName.AsSpan().SequenceEqual(Latin(msg.SlaveKind, stackalloc char[32])))
        {
            link.Kind = kind;
            link.VlanId = vlanId;
            link.BondMode = bondMode;
            link.SetKindName(msg.Kind);
            link.SetSlaveKindName(msg.SlaveKind);
            changes |= NetdevChanges.Kind;
        }
        int active = kind == NetdevKind.Bond && msg.Has(LinkAttributes.BondActiveSlave) ? msg.BondActiveSlave : 0;
        if (active != 0 && !origin.IsOwn)
            active = KeyOf(origin, active, create: true)!.Value;
        if (link.BondActiveSlave != active) { link.BondActiveSlave = active; changes |= NetdevChanges.BondActiveSlave; }

        // dev_id is read when first asked (NetdevLink.DevId), not here: at start every netdev appears, and only those a
        // default GID is made for need it. A rename moves the sysfs file, so the next ask reads the new one.
        if ((!exists || (changes & NetdevChanges.Name) != 0) && DevIdProvider is { } devIds && origin.IsOwn)
            link.ReadDevIdLater(devIds);

        if (!exists)
        {
            InsertSorted(_order, link.Ifindex);
            if (_linkUppers.ContainsKey(key))
                _lateLowers.Add(key);
        }
        if ((changes & NetdevChanges.Name) != 0)
        {
            NameIndexRemove(link, before.Name);
            NameIndexAdd(link);
        }
        if (!exists || changes != NetdevChanges.None)
        {
            link.Version++;
            Reindex(link, before.Lower, before.Master);
        }
        if (!exists)
            Emit(new NetdevEvent { Type = NetdevEventType.LinkAdded, Ifindex = link.Ifindex, Link = link, PreviousName = "" });
        else if (changes != NetdevChanges.None)
            Emit(ChangedEvent(link, changes, before));
        if (!IsResyncing && _lateLowers.Count > 0)
        {
            foreach (int late in _lateLowers)
                LowerAppeared(late);
            _lateLowers.Clear();
        }
    }

    // Kind names are ASCII (rtnl_link_ops->kind); widen for comparison with the cached string without allocating.
    private static ReadOnlySpan<char> Latin(ReadOnlySpan<byte> utf8, Span<char> buffer)
    {
        int n = Math.Min(utf8.Length, buffer.Length);
        for (int i = 0; i < n; i++)
            buffer[i] = (char)utf8[i];
        return utf8.Length <= buffer.Length ? buffer[..n] : "\uffff".AsSpan();
    }

    /// <summary>A link's properties before a change (what a LinkChanged reports as Previous*).</summary>
    private readonly struct LinkBefore(NetdevLink l)
    {
        public readonly string Name = l.Name;
        public readonly HardwareAddress Mac = l.Mac;
        public readonly int Master = l.Master, BondActiveSlave = l.BondActiveSlave, Lower = l.LowerIfindex;
        public readonly uint Flags = l.Flags;
        public readonly OperState OperState = l.OperState;
        public readonly ushort ArphrdType = l.ArphrdType, VlanId = l.VlanId, DevId = l.DevIdHeld;
        public readonly bool DevIdRead = l.DevIdIsRead;   // false: never asked; the event then reads the link's own
        public readonly NetdevKind Kind = l.Kind;
        public readonly byte BondMode = l.BondMode;
    }

    private static NetdevEvent ChangedEvent(NetdevLink link, NetdevChanges changes, in LinkBefore b)
        => new()
        {
            Type = NetdevEventType.LinkChanged, Ifindex = link.Ifindex, Link = link, Changes = changes,
            PreviousName = b.Name, PreviousMac = b.Mac, PreviousMaster = b.Master,
            PreviousBondActiveSlave = b.BondActiveSlave, PreviousFlags = b.Flags, PreviousOperState = b.OperState,
            PreviousArphrdType = b.ArphrdType, PreviousKind = b.Kind, PreviousLower = b.Lower, PreviousBondMode = b.BondMode,
            PreviousVlanId = b.VlanId, PreviousDevId = b.DevId, PreviousDevIdUnread = !b.DevIdRead,
        };

    private bool ApplyAddress(in NetlinkMessage message, NetlinkOrigin origin)
    {
        if (!AddressMessage.TryParse(message, out AddressMessage msg, out NetlinkParseFailure failure))
            return Reject(message, failure);
        if (!msg.IsIp)
            return false;
        if (msg.Ifindex <= 0)
            return Reject(message, new NetlinkParseFailure(NetlinkParseError.InvalidIfindex, NlMsgHdr.Size + IfAddrMsg.OffsetIndex));
        AppliedMessages++;
        int key = KeyOf(origin, msg.Ifindex, create: false) ?? 0;
        var addr = new NetdevAddress(key, msg.Family, msg.PrefixLength, msg.Scope, msg.Flags, msg.Address, msg.Local);
        if (!_links.TryGetValue(key, out NetdevLink? link))
        {
            // Another namespace's address may come before its link was dumped (the namespace just got its id): its
            // dump brings both.
            if (!msg.IsDelete && origin.IsOwn)
            {
                OrphanAddresses++;
                Log($"netlink: RTM_NEWADDR for unknown ifindex {msg.Ifindex} at offset {message.Offset} dropped ({addr})");
            }
            return true;
        }
        int i = link.FindAddress(addr);
        if (msg.IsDelete)
        {
            if (i >= 0)
                RemoveAddressAt(link, i);
            return true;
        }
        if (i < 0)
        {
            // Keep each link's list in the kernel's order. A dump (NLM_F_MULTI) walks the kernel's lists, so its
            // addresses are appended as they come. A new IPv6 address is linked in front of those of its scope
            // (ipv6_link_dev_addr, net/ipv6/addrconf.c: newest first), so an event puts it at the head; IPv4
            // (__inet_insert_ifa) appends, as an event does here.
            bool fromDump = (message.Flags & NlMsgFlags.NLM_F_MULTI) != 0;
            int at = addr.IsIPv6 && !fromDump ? 0 : link.AddressList.Count;
            link.AddressList.Insert(at, addr);
            link.AddressSeen.Insert(at, _generation);
            Emit(new NetdevEvent { Type = NetdevEventType.AddressAdded, Ifindex = link.Ifindex, Link = link, Address = addr, PreviousName = link.Name });
            return true;
        }
        link.AddressSeen[i] = _generation;
        NetdevAddress old = link.AddressList[i];
        if (old.Equals(addr))
            return true;
        link.AddressList[i] = addr;
        Emit(new NetdevEvent
        {
            Type = NetdevEventType.AddressChanged, Ifindex = link.Ifindex, Link = link, Address = addr,
            PreviousAddressFlags = old.Flags, PreviousName = link.Name,
        });
        return true;
    }

    private void RemoveAddressAt(NetdevLink link, int i)
    {
        NetdevAddress addr = link.AddressList[i];
        link.AddressList.RemoveAt(i);
        link.AddressSeen.RemoveAt(i);
        Emit(new NetdevEvent { Type = NetdevEventType.AddressRemoved, Ifindex = link.Ifindex, Link = link, Address = addr, PreviousName = link.Name });
    }

    private void RemoveLink(NetdevLink link)
    {
        // IPv6 first, newest first (the head of the list), then IPv4 from the last one added.
        while (link.AddressList.Count > 0 && link.AddressList[0].IsIPv6)
            RemoveAddressAt(link, 0);
        for (int i = link.AddressList.Count - 1; i >= 0; i--)
            RemoveAddressAt(link, i);
        _links.Remove(link.Ifindex);
        NameIndexRemove(link, link.Name);
        int at = _order.BinarySearch(link.Ifindex);
        if (at >= 0)
            _order.RemoveAt(at);
        IndexRemove(_linkUppers, link.LowerIfindex, link.Ifindex);
        IndexRemove(_slaves, link.Master, link.Ifindex);
        if (!link.IsInOwnNamespace)
            _otherKeys.Remove((link.NetNsId, link.NetNsIfindex));
        Emit(new NetdevEvent { Type = NetdevEventType.LinkRemoved, Ifindex = link.Ifindex, Link = link, PreviousName = link.Name });
    }

    private void Emit(in NetdevEvent e)
    {
        foreach (INetdevObserver o in _observers)
            o.OnNetdevEvent(e);
    }

    private bool Reject(in NetlinkMessage message, NetlinkParseFailure failure)
    {
        MalformedMessages++;
        LastFailure = failure;
        LastFailureMessageType = message.Type;
        Log($"netlink: malformed {NetlinkNames.MessageType(message.Type)} ({message.Length} bytes) at offset {message.Offset}: "
            + $"{failure.Error} at byte {failure.Offset} of the message");
        return false;
    }

    private void Reject(int type, NetlinkParseFailure failure)
    {
        MalformedMessages++;
        LastFailure = failure;
        LastFailureMessageType = (ushort)type;
        Log($"netlink: malformed framing: {failure.Error} at offset {failure.Offset}; the rest of the buffer was dropped");
    }
}
