using RoceUio.Diagnostics;
using System.Net;
using RoceUio.Gids;

namespace RoceUio.Roce;

/// <summary>
/// The RoCE GID manager: applies the kernel's roce_gid_mgmt.c rules to every registered port, turning netdev and
/// address events into GID table changes, which the tables pass to the drivers.
/// </summary>
/// <remarks>
/// <para>Threading: like the kernel's ordered <c>gid-cache-wq</c>, one worker does everything. Every method of this
/// class must be called from that one thread (the netlink pump, a replay, or a test), after the netdev graph already
/// reflects the event. Readers of the tables (lookups) may run on any thread at any time; subscribers get changes
/// through <see cref="Changes"/>.</para>
/// <para>Bursts: callers apply a run of events and then call <see cref="EndOfBurst"/>, which pushes each changed port
/// once (mlx4 pushes its whole table with one SET_PORT per burst). Each port's <see cref="PortSync"/> is the one owner
/// of what its hardware must still be told: a push that fails leaves the port dirty and is retried with backoff (10 ms
/// doubling to 5 s) at the end of later bursts until the hardware holds the core table; nothing is rolled back.
/// An added entry becomes visible (lookups, holds, <see cref="Changes"/>) only once its burst's push succeeded, as the
/// kernel's add_roce_gid stores an entry after the driver's add_gid; a delete is visible at once and never undone.
/// Call <see cref="EndOfBurst"/> regularly (the daemon does every loop) so that retries run without new events.</para>
/// <para>Netlink gives states, not the kernel's netdev notifier events, so <see cref="LinkChanged"/> derives them from the
/// difference: a new master is NETDEV_CHANGEUPPER (linking), a lost one CHANGEUPPER (unlinking), a new hardware address
/// CHANGEADDR, a bond's new active slave BONDING_FAILOVER, IFF_UP coming on NETDEV_UP, in the kernel's order
/// (bond_release unlinks before it restores the slave's MAC).</para>
/// </remarks>
public sealed class GidManager : IGidTableListener
{
    private readonly INetdevGraph _graph;
    private readonly List<RocePort> _ports = [];
    private readonly Dictionary<GidTable, RocePort> _portOfTable = new();
    private readonly Dictionary<IRoceDevice, DeviceProgrammer> _programmers = new();
    private Action? _wakeOnOutcome;
    // Why each added entry was added (an add is announced at publish time, after the push, when _reason has moved on).
    private readonly Dictionary<(GidTable, int), string> _addReasons = new();
    private string _reason = "";

    public GidManager(INetdevGraph graph, IndexPolicy policy = IndexPolicy.Sticky)
    {
        _graph = graph;
        Policy = policy;
    }

    public IndexPolicy Policy { get; }
    public IReadOnlyList<RocePort> Ports => _ports;

    /// <summary>Milliseconds of a monotonic clock, for push pacing and retries (tests replace it). Not
    /// Environment.TickCount64: on Linux that reads CLOCK_MONOTONIC_COARSE, which moves in jiffies (4 ms at HZ=250),
    /// too coarse for 1 ms pacing (a change 20 µs after a push could read as 4 ms of quiet).</summary>
    public Func<long> Clock { get; set; } = static () => System.Diagnostics.Stopwatch.GetTimestamp() / TicksPerMs;

    private static readonly long TicksPerMs = Math.Max(1, System.Diagnostics.Stopwatch.Frequency / 1000);

    /// <summary>GIDs made pending because their table was full (sticky policy), since the start.</summary>
    public long PendingKept { get; private set; }

    /// <summary>Pending GIDs added once a slot freed, since the start.</summary>
    public long PendingRestored { get; private set; }

    /// <summary>Ports behind their core table: the last push failed and waits for a retry, or the push in flight has
    /// had no answer for <see cref="PortSync.StuckAfterMs"/> (<see cref="PortSync.IsBehind"/>).</summary>
    public IEnumerable<RocePort> OutOfSyncPorts => _ports.Where(p => p.Sync.IsBehind(Clock()));
    public GidChangeBroadcaster Changes { get; } = new();

    /// <summary>One <c>IB_EVENT_GID_CHANGE</c> per port and table batch (dispatch_gid_change_event), after the batch's
    /// entry changes on <see cref="Changes"/>.</summary>
    public GidPortChangeBroadcaster PortChanges { get; } = new();

    /// <summary>One line per change and why; null (the default) keeps quiet.</summary>
    public Action<string>? Log { get; set; }

    /// <summary>Errors that the kernel would only log (a full table, a device that refused a command); never null.</summary>
    public Action<string> Error { get; set; } = _ => { };

    /// <summary>Errors seen so far (the last 100), for status queries and tests.</summary>
    public IReadOnlyList<string> RecentErrors => _recentErrors;
    private readonly List<string> _recentErrors = [];

    // ---------------------------------------------------------------- ports

    /// <summary>Registers every port of a device, each bound to a netdev, and fills the tables from the current state
    /// (rdma_roce_rescan_device).</summary>
    /// <param name="device">The opened driver.</param>
    /// <param name="bindings">One netdev binding per port.</param>
    /// <param name="prepare">Called for each port after its table exists and before it is filled: the daemon loads the
    /// remembered sticky index assignment there, so the first fill already gives every GID the index it had.</param>
    public IReadOnlyList<RocePort> AddDevice(IRoceDevice device, IReadOnlyList<PortBinding> bindings, Action<RocePort>? prepare = null)
    {
        if (bindings.Count != device.PortCount)
            throw new ArgumentException($"{device.Name} has {device.PortCount} port(s) but {bindings.Count} netdev binding(s) were given");
        var programmer = new DeviceProgrammer(device, () => Clock());
        _programmers[device] = programmer;
        var added = new List<RocePort>();
        for (int p = 1; p <= device.PortCount; p++)
        {
            var table = new GidTable(p, device.GidTableSize(p), device.SupportedGidTypes(p), Policy, programmer, this,
                                     publishAfterCommit: true);
            var port = new RocePort(device, p, bindings[p - 1], table);
            programmer.Track(p, port.Sync);
            _ports.Add(port);
            _portOfTable[table] = port;
            added.Add(port);
            prepare?.Invoke(port);
            NetdevInfo? nd = _graph.All.FirstOrDefault(port.Binding.Matches);
            if (nd is not null)
                BindAndRescan(port, nd);
        }
        if (device is IRocePortBonding)
            UpdateBonding();
        EndOfBurst();
        if (_wakeOnOutcome is { } wake)
            programmer.StartThread(wake);
        return added;
    }

    /// <summary>
    /// From now on every device is programmed on its own thread (<see cref="DeviceCommandThread"/>): a push hands the
    /// port's changes over and returns; the outcome is applied by <see cref="CompletePushes"/>, which the caller runs
    /// after <paramref name="wake"/> (called on a device's thread after each outcome). A device that holds a command
    /// then delays only its own ports. The daemon does this once its tables are filled.
    /// </summary>
    public void ProgramOnOwnThreads(Action wake)
    {
        _wakeOnOutcome = wake;
        foreach (DeviceProgrammer p in _programmers.Values)
            p.StartThread(wake);
    }

    /// <summary>Back to programming on the calling (worker) thread: waits for each device's thread to finish what it
    /// was handed (a command the device holds ends with the driver's timeout), then applies the outcomes. At a stop.</summary>
    public void ProgramInline()
    {
        _wakeOnOutcome = null;
        foreach (DeviceProgrammer p in _programmers.Values)
            p.StopThread();
        CompletePushes();
    }

    /// <summary>Applies the outcomes the devices' threads reported: a push that succeeded publishes the entries it
    /// carried; one that failed is reported and retried with backoff. Returns how many outcomes were applied.</summary>
    public int CompletePushes()
    {
        int n = 0;
        foreach (RocePort port in _ports)
        {
            if (!port.Sync.InFlight)
                continue;
            DeviceProgrammer programmer = _programmers[port.Device];
            while (programmer.TryTakeOutcome(out PushOutcome o))
            {
                foreach (RocePort done in _ports)
                    if (done.Device == port.Device && done.Port == o.Port)
                        Complete(done, programmer, o);
                n++;
            }
        }
        return n;
    }

    /// <summary>
    /// Deletes every entry of every port, defaults included, and commits, as the kernel does when a device goes away
    /// (<c>roceuio run --clear-on-exit</c>). The drivers get each delete; the sticky history keeps the indexes.
    /// </summary>
    public void ClearAll(string reason)
    {
        Because(reason);
        foreach (RocePort port in _ports)
        {
            var netdevs = new SortedSet<int>();
            foreach (var (_, e) in port.Table.EnumerateValid())
                netdevs.Add(e.NetdevIfindex);
            foreach (int ifindex in netdevs)
                port.Table.DeleteAllForNetdev(ifindex);
        }
        EndOfBurst();
    }

    public RocePort? FindPort(string device, int port)
        => _ports.FirstOrDefault(p => p.Device.Name == device && p.Port == port);

    /// <summary>enum_all_gids_of_dev_cb for one port: defaults and IPs of every netdev that concerns it, in netdev order.</summary>
    private void BindAndRescan(RocePort port, NetdevInfo nd)
    {
        port.NetdevIfindex = port.OwnNetdevIfindex = nd.Ifindex;
        if (port.BondedIntoPort1)
            port.NetdevIfindex = 0;   // its netdev counts for port 1 (UpdateBonding), not for a table of its own
        else
        {
            Because($"{port} bound to {nd.Name}");
            Rescan(port, nd);
        }
    }

    /// <summary>The defaults and IPs of every netdev that concerns the port bound to <paramref name="nd"/>.</summary>
    private void Rescan(RocePort port, NetdevInfo nd)
    {
        foreach (NetdevInfo n in _graph.All)
        {
            if (NetdevFilters.IsNdevForDefaultGid(_graph, nd, n))
                AddDefaultGids(port, n);
            if (NetdevFilters.IsEthPortOfNetdev(_graph, nd, n))
                AddNetdevIps(port, n);
        }
    }

    // ---------------------------------------------------------------- netdev events

    /// <summary>RTM_NEWLINK for an unknown ifindex: NETDEV_REGISTER (and NETDEV_UP if up, which runs the same commands).</summary>
    public void LinkAdded(NetdevInfo now)
    {
        foreach (RocePort port in _ports)
            if (port.OwnNetdevIfindex == 0 && port.Binding.Matches(now))
                BindAndRescan(port, now);
        UpdateBonding();
        if (!now.IsEthernet)
            return;
        Because($"{now.Name} registered");
        RegisterOrUp(now);
    }

    /// <summary>RTM_NEWLINK for a known ifindex: derive the kernel's notifier events from what changed.</summary>
    public void LinkChanged(NetdevInfo before, NetdevInfo now)
    {
        foreach (RocePort port in _ports)
            if (port.OwnNetdevIfindex == 0 && port.Binding.Matches(now))
                BindAndRescan(port, now);
        UpdateBonding();
        if (IdentityChanged(before, now))
        {
            Relink(now);
            return;
        }
        if (!now.IsEthernet)
            return;
        // Only a new hardware address is NETDEV_CHANGEADDR. dev_id has no notifier (a driver sets it before
        // register_netdevice); a new value read later is used by the next default GID made, as make_default_gid
        // reads dev->dev_id when it runs.
        bool macChanged = !before.Mac.Span.SequenceEqual(now.Mac.Span);
        // bond_enslave sets the slave's MAC before it links the slave under the bond; bond_release unlinks first and
        // restores the MAC after. Keep that order when one RTM_NEWLINK carries both.
        if (before.MasterIfindex != 0 && before.MasterIfindex != now.MasterIfindex && _graph.Find(before.MasterIfindex) is { } oldMaster)
            ChangeUpperUnlink(now, oldMaster);
        if (macChanged)
            ChangeAddr(now);
        if (now.MasterIfindex != 0 && before.MasterIfindex != now.MasterIfindex && _graph.Find(now.MasterIfindex) is { } newMaster)
            ChangeUpperLink(now, newMaster);
        if (IsBondingFailover(before, now))
            BondingFailover(now);
        if (!before.IsUp && now.IsUp)
        {
            Because($"{now.Name} up");
            RegisterOrUp(now);
        }
    }

    /// <summary>
    /// A device's kind, lower device or link type never changes in a kernel (no notifier says so), but a netlink message
    /// can claim it (corrupted, hand-made, or a replayed capture of another machine). The cache then holds the new state,
    /// so the table must follow it.
    /// </summary>
    private static bool IdentityChanged(NetdevInfo before, NetdevInfo now)
        => before.Kind != now.Kind || before.LowerIfindex != now.LowerIfindex || before.IsEthernet != now.IsEthernet;

    /// <summary>Not a kernel path (see <see cref="IdentityChanged"/>): as if the device and everything above it were
    /// unregistered and registered again: their GIDs deleted on every port, then re-added where the filters now say.</summary>
    private void Relink(NetdevInfo now)
    {
        Because($"{now.Name} changed kind, lower device or link type");
        List<NetdevInfo> subtree = [now, .. NetdevFilters.AllUppers(_graph, now)];
        foreach (RocePort port in _ports)
            foreach (NetdevInfo n in subtree)
                DelNetdevIps(port, n);
        foreach (NetdevInfo n in subtree)
            if (n.IsEthernet)
                RegisterOrUp(n);
    }

    /// <summary>RTM_DELLINK (or a move to another namespace): NETDEV_UNREGISTER deletes everything of the netdev on every port.</summary>
    public void LinkRemoved(NetdevInfo before)
    {
        Because($"{before.Name} unregistered");
        foreach (RocePort port in _ports)
        {
            DelNetdevIps(port, before);
            if (port.NetdevIfindex == before.Ifindex)
                port.NetdevIfindex = 0;
            if (port.OwnNetdevIfindex == before.Ifindex)
                port.OwnNetdevIfindex = 0;
        }
        // A resync (after ENOBUFS) can show the port's netdev re-registered under a new ifindex before it removes the old
        // one: the new one was then added while the port was still bound, so bind it now.
        foreach (RocePort port in _ports)
            if (port.OwnNetdevIfindex == 0 && _graph.All.FirstOrDefault(port.Binding.Matches) is { } again)
                BindAndRescan(port, again);
        UpdateBonding();
    }

    // ---------------------------------------------------------------- RoCE LAG (IRocePortBonding)

    /// <summary>
    /// Asks every device that can bond its ports (<see cref="IRocePortBonding"/>) whether they are bonded now. A change
    /// between bonded and not is the kernel's re-registration of the IB device (mlx4_do_bond removes and adds it
    /// again with <c>phys_port_cnt</c> 1 or N): every entry of every port deleted, then the tables filled again; a new
    /// netdev for the bonded port (a failover) rebinds port 1 before the event's commands run, as
    /// <c>ib_device_get_netdev</c> then answers the new active slave. Runs before each link event's commands, which
    /// on a freshly filled table change nothing.
    /// </summary>
    private void UpdateBonding()
    {
        for (int i = 0; i < _ports.Count; i++)
            if (_ports[i].Port == 1 && _ports[i].Device is IRocePortBonding bonding)
                UpdateBonding(i, bonding);
    }

    private void UpdateBonding(int i, IRocePortBonding bonding)
    {
        RocePort first = _ports[i];
        int count = first.Device.PortCount;
        if (count < 2)
            return;   // one port: nothing to bond
        Span<int> own = stackalloc int[Math.Min(count, 16)];
        for (int p = 0; p < own.Length; p++)
            own[p] = _ports[i + p].OwnNetdevIfindex;
        int lag = bonding.UpdateBonding(_graph, own, out string? error);
        if (error is not null)
        {
            Because($"{first.Device.Name}: its ports' netdevs changed");
            Fail(first, error);
        }
        bool wasBonded = _ports[i + 1].BondedIntoPort1;
        if ((lag != 0) != wasBonded)
            Reregister(i, count, lag);
        else if (lag != 0 && first.NetdevIfindex != lag)
            first.NetdevIfindex = lag;
    }

    private void Reregister(int first, int count, int lag)
    {
        RocePort port1 = _ports[first];
        Because(lag != 0 ? $"{port1.Device.Name} ports bonded (RoCE LAG on {NameOf(lag)}): one RoCE port"
                         : $"{port1.Device.Name} ports unbonded: one RoCE port each");
        for (int p = 0; p < count; p++)
        {
            RocePort port = _ports[first + p];
            var netdevs = new SortedSet<int>();
            foreach (var (_, e) in port.Table.EnumerateValid())
                netdevs.Add(e.NetdevIfindex);
            foreach (int ifindex in netdevs)
                if (port.Table.DeleteAllForNetdev(ifindex) > 0)
                    port.SlotFreed = true;
            port.PendingByNetdev.Clear();
            port.PendingCount = 0;
            port.BondedIntoPort1 = lag != 0 && p > 0;
            port.NetdevIfindex = port.BondedIntoPort1 ? 0 : lag != 0 ? lag : port.OwnNetdevIfindex;
            if (port.NetdevIfindex != 0 && _graph.Find(port.NetdevIfindex) is { } nd)
                Rescan(port, nd);
        }
    }

    /// <summary>RTM_NEWADDR (inetaddr/inet6addr NETDEV_UP): add the address's GIDs, one per type, on every port it concerns.</summary>
    public void AddressAdded(int ifindex, IPAddress address)
        => UpdateAddress(ifindex, Gid.FromIPAddress(address), add: true);

    /// <summary>RTM_DELADDR (NETDEV_DOWN): delete the address's GIDs.</summary>
    public void AddressRemoved(int ifindex, IPAddress address)
        => UpdateAddress(ifindex, Gid.FromIPAddress(address), add: false);

    /// <summary>As <see cref="AddressAdded(int, IPAddress)"/>, with the address as its GID (IPv4-mapped for IPv4): the
    /// netlink router's form, which allocates nothing for an address that concerns no port.</summary>
    public void AddressAdded(int ifindex, Gid gid) => UpdateAddress(ifindex, gid, add: true);

    /// <summary>As <see cref="AddressRemoved(int, IPAddress)"/>, with the address as its GID.</summary>
    public void AddressRemoved(int ifindex, Gid gid) => UpdateAddress(ifindex, gid, add: false);

    private void UpdateAddress(int ifindex, Gid gid, bool add)
    {
        NetdevInfo? nd = _graph.Find(ifindex);
        if (nd is null || !nd.IsEthernet)
            return;
        bool reasoned = false;
        foreach (RocePort port in _ports)
        {
            if (Rdma(port) is not { } rdma || !NetdevFilters.IsEthPortOfNetdev(_graph, rdma, nd))
                continue;
            if (!reasoned)
            {
                // Only for an event that concerns a port: the reason text is the one allocation of this path.
                reasoned = true;
                Because($"address {gid.ToIPAddress()} {(add ? "added to" : "removed from")} {nd.Name}");
            }
            if (add)
                AddGid(port, gid, nd);
            else
                DelGid(port, gid, nd);
        }
    }

    // ---------------------------------------------------------------- the kernel's command lists (netdevice_event)

    /// <summary>NETDEV_REGISTER / NETDEV_UP: add_default_gid_cmd, add_cmd. (bonding_default_del_cmd_join is left out:
    /// its filter selects inactive slaves, for which bond_delete_netdev_default_gids returns at once; kernel-gid.md 3.)</summary>
    private void RegisterOrUp(NetdevInfo ev)
    {
        ForEachPort(NetdevFilters.IsNdevForDefaultGid, ev, port => AddDefaultGids(port, ev));
        ForEachPort(NetdevFilters.IsEthPortOfNetdev, ev, port => AddNetdevIps(port, ev));
    }

    /// <summary>NETDEV_CHANGEADDR: netdev_del_cmd, then add_default_gid_cmd and add_cmd (d12e2eed2743: delete all and re-add).</summary>
    private void ChangeAddr(NetdevInfo ev)
    {
        Because($"{ev.Name} hardware address changed");
        ForEachPort(NetdevFilters.IsEthPortOfNetdev, ev, port => DelNetdevIps(port, ev));
        RegisterOrUp(ev);
    }

    /// <summary>NETDEV_CHANGEUPPER linking (ndev_event_link): delete the slave's default GIDs where the upper is a bond master
    /// over the port, add the bond's default GIDs there, and add the upper's IPs (and its uppers') where they belong.</summary>
    private void ChangeUpperLink(NetdevInfo ev, NetdevInfo upper)
    {
        Because($"{ev.Name} linked under {upper.Name}");
        ForEachPort(NetdevFilters.IsUpperNdevBondMaster, upper, port => DelDefaultGids(port, ev));
        ForEachPort(NetdevFilters.IsUpperNdevBondMaster, upper, port => AddDefaultGids(port, upper));
        ForEachPort(NetdevFilters.IsEthPortOfNetdev, upper, port => AddNetdevUpperIps(port, upper));
    }

    /// <summary>NETDEV_CHANGEUPPER unlinking (ndev_event_unlink): delete the old upper's IPs (and its uppers') on the ports of
    /// the released device, then add the released device's own IPs.</summary>
    private void ChangeUpperUnlink(NetdevInfo ev, NetdevInfo oldUpper)
    {
        Because($"{ev.Name} unlinked from {oldUpper.Name}");
        ForEachPort(NetdevFilters.UpperDevice, ev, port => DelNetdevUpperIps(port, oldUpper));
        ForEachPort(NetdevFilters.IsEthPortOfNetdev, ev, port => AddNetdevIps(port, ev));
    }

    /// <summary>NETDEV_BONDING_FAILOVER on a bond master: delete the bond's IPs everywhere, add its default GIDs on every
    /// slave's port, and its IPs on the new active slave's port.</summary>
    /// <summary>
    /// NETDEV_BONDING_FAILOVER: bond_change_active_slave (drivers/net/bonding/bond_main.c) sends it only in
    /// active-backup mode and only when there is a new active slave. When the active slave becomes none (every slave
    /// down) the bond's GIDs stay where they are; a TLB/ALB active-slave change sends nothing.
    /// </summary>
    private static bool IsBondingFailover(NetdevInfo before, NetdevInfo now)
        => now.IsActiveBackupBond && now.BondActiveSlave != 0 && before.BondActiveSlave != now.BondActiveSlave;

    private void BondingFailover(NetdevInfo bond)
    {
        Because($"{bond.Name} failover to ifindex {bond.BondActiveSlave}");
        ForEachPort(NetdevFilters.UpperDevice, bond, port => DelNetdevUpperIps(port, bond));
        ForEachPort(NetdevFilters.IsUpperNdevBondMaster, bond, port => AddDefaultGids(port, bond));
        ForEachPort(NetdevFilters.IsEthPortOfNetdev, bond, port => AddNetdevUpperIps(port, bond));
    }

    // ---------------------------------------------------------------- callbacks (roce_gid_mgmt.c)

    /// <summary>add_default_gids: the default GID of <paramref name="nd"/> in the default slot of each type.</summary>
    private void AddDefaultGids(RocePort port, NetdevInfo nd)
    {
        Gid gid = Gid.DefaultFromMac(nd.Mac.Span, nd.DevId);
        foreach (GidType type in TypesOf(port))
        {
            GidWriteResult r = port.Table.TrySetDefault(new GidEntry(gid, type, nd.Ifindex), out int index, out string? error);
            Outcome(port, r, index, error, new GidEntry(gid, type, nd.Ifindex), "default ", nd.Name);
        }
    }

    /// <summary>del_default_gids.</summary>
    private void DelDefaultGids(RocePort port, NetdevInfo nd)
    {
        foreach (GidType type in TypesOf(port))
            if (port.Table.DeleteDefault(type, nd.Ifindex))
                port.SlotFreed = true;
    }

    /// <summary>_add_netdev_ips: every IPv4 then IPv6 address of the netdev, in the kernel's order.</summary>
    private void AddNetdevIps(RocePort port, NetdevInfo nd)
    {
        // The GIDs straight from the cache's address bytes (no IPAddress per address). The scratch list is taken
        // while in use, so a re-entered call gets a list of its own.
        List<Gid> gids = _gidScratch ?? new List<Gid>();
        _gidScratch = null;
        try
        {
            _graph.AddressGids(nd.Ifindex, gids);
            foreach (Gid gid in gids)
                AddGid(port, gid, nd);
        }
        finally
        {
            gids.Clear();
            _gidScratch = gids;
        }
    }

    private List<Gid>? _gidScratch = new();

    /// <summary>add_netdev_upper_ips: the netdev's IPs, then those of all its uppers.</summary>
    private void AddNetdevUpperIps(RocePort port, NetdevInfo nd)
    {
        AddNetdevIps(port, nd);
        foreach (NetdevInfo upper in NetdevFilters.AllUppers(_graph, nd))
            AddNetdevIps(port, upper);
    }

    /// <summary>del_netdev_ips = ib_cache_gid_del_all_netdev_gids: everything of the netdev, defaults included (and
    /// whatever of it waits pending).</summary>
    private void DelNetdevIps(RocePort port, NetdevInfo nd)
    {
        if (port.Table.DeleteAllForNetdev(nd.Ifindex) > 0)
            port.SlotFreed = true;
        if (port.PendingByNetdev.Remove(nd.Ifindex, out HashSet<GidEntry>? gone))
            port.PendingCount -= gone.Count;
    }

    /// <summary>del_netdev_upper_ips: everything of the netdev and of all its uppers.</summary>
    private void DelNetdevUpperIps(RocePort port, NetdevInfo nd)
    {
        DelNetdevIps(port, nd);
        foreach (NetdevInfo upper in NetdevFilters.AllUppers(_graph, nd))
            DelNetdevIps(port, upper);
    }

    /// <summary>update_gid(GID_ADD): one entry per supported type, v1 before v2. A full table is logged, as the kernel's
    /// -ENOSPC, and the address is not retried later (kernel-gid.md 9.12). An RTM_NEWADDR for "::" (never assigned by
    /// a kernel; a corrupted or hand-made message) is the zero GID, which the table answers Invalid, as
    /// __ib_cache_gid_add's -EINVAL.</summary>
    private void AddGid(RocePort port, Gid gid, NetdevInfo nd)
    {
        foreach (GidType type in TypesOf(port))
        {
            var e = new GidEntry(gid, type, nd.Ifindex);
            GidWriteResult r = port.Table.TryAdd(e, out int index, out string? error);
            if (r == GidWriteResult.Full)
                port.GidRefused++;
            if (r == GidWriteResult.Full && Policy != IndexPolicy.Kernel)
                KeepPending(port, e, nd.Name, error);
            else
                Outcome(port, r, index, error, e, "", nd.Name);
        }
    }

    // ---------------------------------------------------------------- pending GIDs (a full table heals)

    /// <summary>
    /// The kernel logs -ENOSPC and never retries (kernel-gid.md 9.12): under the kernel index policy so does the
    /// manager. Otherwise the GID is kept pending and added as soon as a slot frees (<see cref="RefillFromPending"/>).
    /// </summary>
    private void KeepPending(RocePort port, in GidEntry e, string netdevName, string? error)
    {
        if (!port.PendingByNetdev.TryGetValue(e.NetdevIfindex, out HashSet<GidEntry>? set))
            port.PendingByNetdev[e.NetdevIfindex] = set = new HashSet<GidEntry>(GidKeyComparer.Instance);
        if (!set.Add(e))
            return;
        port.PendingCount++;
        PendingKept++;
        Fail(port, $"GID {e.Gid} {e.Type.ToShortString()} of {netdevName} kept pending until a slot frees: {error}");
    }

    private static void ForgetPending(RocePort port, in GidEntry e)
    {
        if (port.PendingByNetdev.TryGetValue(e.NetdevIfindex, out HashSet<GidEntry>? set) && set.Remove(e))
        {
            port.PendingCount--;
            if (set.Count == 0)
                port.PendingByNetdev.Remove(e.NetdevIfindex);
        }
    }

    /// <summary>
    /// The pending GIDs of a port in the kernel's enumeration order (for_each_netdev by ifindex; each netdev's
    /// addresses as enum_netdev_ipv4_ips/ipv6_ips list them; v1 before v2): the order they are added back in.
    /// </summary>
    public IEnumerable<GidEntry> PendingInKernelOrder(RocePort port)
    {
        foreach (var (ifindex, set) in port.PendingByNetdev.ToArray())
        {
            int left = set.Count;
            var gids = new List<Gid>();
            _graph.AddressGids(ifindex, gids);
            foreach (Gid gid in gids)
            {
                foreach (GidType type in TypesOf(port))
                {
                    var e = new GidEntry(gid, type, ifindex);
                    if (set.Contains(e))
                    {
                        yield return e;
                        if (--left == 0)
                            break;
                    }
                }
                if (left == 0)
                    break;
            }
        }
    }

    /// <summary>After a burst that freed a slot: add pending GIDs, lowest first in the kernel's enumeration order,
    /// until the table is full again.</summary>
    private void RefillFromPending(RocePort port)
    {
        port.SlotFreed = false;
        if (port.PendingCount == 0)
            return;
        Because("a slot freed: pending GID added");
        foreach (GidEntry e in PendingInKernelOrder(port).ToList())
        {
            GidWriteResult r = port.Table.TryAdd(e, out int index, out string? error);
            if (r == GidWriteResult.Full)
                return;
            ForgetPending(port, e);
            if (r == GidWriteResult.Added)
                PendingRestored++;
            Outcome(port, r, index, error, e, "pending ", NameOf(e.NetdevIfindex));
        }
    }

    /// <summary>What an add did: remember why (for the line printed when it is published), or report why it failed.</summary>
    /// <param name="what">"", "default " or "pending ": the words before "GID" in a failure line.</param>
    /// <param name="netdevName">The netdev the GID is of. The line is built only when the add failed: a start adds
    /// thousands of GIDs, and formatting each one's text for nothing was a measurable part of it.</param>
    private void Outcome(RocePort port, GidWriteResult result, int index, string? error, in GidEntry e, string what, string netdevName)
    {
        switch (result)
        {
            case GidWriteResult.Added:
                _addReasons[(port.Table, index)] = _reason;
                break;
            case GidWriteResult.Exists:
                break;
            default:
                Fail(port, $"{what}GID {e.Gid} {e.Type.ToShortString()} of {netdevName} not added ({result}): {error}");
                break;
        }
    }

    /// <summary>update_gid(GID_DEL): non-default slots only.</summary>
    private void DelGid(RocePort port, Gid gid, NetdevInfo nd)
    {
        foreach (GidType type in TypesOf(port))
        {
            var e = new GidEntry(gid, type, nd.Ifindex);
            if (port.Table.Delete(e))
                port.SlotFreed = true;
            else
                ForgetPending(port, e);
        }
    }

    // ---------------------------------------------------------------- bursts and changes

    /// <summary>
    /// Pushes every port that is due (<see cref="PortSync.IsDue"/>: changed since its last push, and past its backoff
    /// if a push failed). A push that succeeds makes the port's new entries visible; one that fails leaves the port
    /// dirty, reported and retried later. Returns how many pushes were made.
    /// </summary>
    public int EndOfBurst() => PushDue(paced: false, drained: true);

    /// <summary>
    /// The netlink path's push: as <see cref="EndOfBurst"/>, but a port is pushed only when its pacing lets it too
    /// (<see cref="PortSync.IsPacedDue"/>): after each datagram (<paramref name="drained"/> false) and once the socket
    /// is drained (true). Returns how many pushes were made.
    /// </summary>
    public int PushPaced(bool drained)
    {
        int pushes = PushDue(paced: true, drained);
        PacedPushes += pushes;
        _burstPushes += pushes;
        if (drained && _burstPushes > 0)
        {
            RoceUio.Diagnostics.RoceUioMetrics.BurstPushed(_burstPushes); // the RoceUio meter's pushes per burst
            _burstPushes = 0;
        }
        return pushes;
    }

    /// <summary>
    /// The one "push what is due" step behind <see cref="EndOfBurst"/> and <see cref="PushPaced"/>: answers of pushes
    /// in flight first, then pending GIDs into slots freed since the last step, then a push of each port that is due
    /// (<see cref="PortSync.IsDue"/>, and with <paramref name="paced"/> its pacing too).
    /// </summary>
    private int PushDue(bool paced, bool drained)
    {
        if (_wakeOnOutcome is not null)
            CompletePushes();
        foreach (RocePort port in _ports)
            if (port.SlotFreed)
                RefillFromPending(port);
        long now = Clock();
        int pushes = 0;
        foreach (RocePort port in _ports)
        {
            if (!(paced ? port.Sync.IsPacedDue(now, drained) : port.Sync.IsDue(now)))
                continue;
            pushes++;
            Push(port, now);
        }
        return pushes;
    }

    /// <summary>Milliseconds until a paced push may be due (the worker waits no longer than this); int.MaxValue when
    /// every port is clean.</summary>
    public int MsUntilNextPush()
    {
        long next = long.MaxValue;
        foreach (RocePort port in _ports)
            next = Math.Min(next, port.Sync.NextPacedPushMs);
        if (next == long.MaxValue)
            return int.MaxValue;
        return (int)Math.Clamp(next - Clock(), 0, int.MaxValue);
    }

    private int _burstPushes; // pushes since the socket was last drained

    /// <summary>Pushes made by <see cref="PushPaced"/> since the start (each port's own count: <see cref="PortSync.Pushes"/>).</summary>
    public long PacedPushes { get; private set; }

    /// <summary>Starts a push of the port (its changes, then a commit); on the worker it completes at once, on the
    /// device's own thread later (<see cref="CompletePushes"/>).</summary>
    private void Push(RocePort port, long now)
    {
        PushTrace.Mark(PushTrace.Pushed, port.Port);
        port.Sync.Pushed(now);
        DeviceProgrammer programmer = _programmers[port.Device];
        if (programmer.StartPush(port.Port, out PushOutcome outcome))
            Complete(port, programmer, outcome);
    }

    /// <summary>One push's outcome: publish what it carried, or report the failure and schedule the retry.</summary>
    private void Complete(RocePort port, DeviceProgrammer programmer, PushOutcome o)
    {
        PushTrace.Mark(PushTrace.Answered, port.Port);
        long now = Clock();
        if (o.DeleteError is { } refusedDelete)
            Fail(port, $"{o.DeleteErrors} delete(s) the driver refused are not undone (the core table no longer has them): {refusedDelete}");
        if (o.Error is { } error)
        {
            port.Sync.PushFailed(now, error);
            Fail(port, $"hardware update failed (attempt {port.Sync.FailedAttempts}); the port is out of sync, "
                       + $"{port.Table.UnpublishedCount} new entr{(port.Table.UnpublishedCount == 1 ? "y waits" : "ies wait")} "
                       + $"and the push is retried in {port.Sync.NextAttemptMs - now} ms: {error}");
            return;
        }
        int failed = port.Sync.FailedAttempts;
        port.Sync.PushSucceeded(now);
        if (failed > 0)
            Log?.Invoke($"{port}: hardware in sync again after {failed} failed push(es)");
        port.Table.PublishCommitted(programmer.TakePublishable(port.Port, o.Seq));
    }

    void IGidTableListener.OnGidChanged(GidTable table, ReadOnlySpan<GidChange> batch)
    {
        if (!_portOfTable.TryGetValue(table, out RocePort? port))
            return;
        foreach (GidChange c in batch)
        {
            if (c.New is not null)
                port.GidAdds++;
            if (c.Old is not null)
                port.GidDeletes++;
            Changes.Publish(new GidChangeEvent(port.Device.Name, c.Port, c.Index, c.Old, c.New));
            if (Log is { } log)
            {
                string what = c.New is { } n ? $"add {n.Gid} {n.Type.ToShortString()} {NameOf(n.NetdevIfindex)}"
                                             : $"del {c.Old?.Gid} {c.Old?.Type.ToShortString()} {NameOf(c.Old?.NetdevIfindex ?? 0)}";
                string why = c.New is not null && _addReasons.Remove((table, c.Index), out string? r) ? r : _reason;
                log($"{port} index {c.Index}: {what} ({why})");
            }
        }
        if (batch.Length > 0)
        {
            PortChanges.Publish(new GidPortChangeEvent(port.Device.Name, port.Port, batch.Length));
            Log?.Invoke($"{port}: GID_CHANGE ({batch.Length} entr{(batch.Length == 1 ? "y" : "ies")})");
        }
    }

    // ---------------------------------------------------------------- helpers

    private NetdevInfo? Rdma(RocePort port) => port.NetdevIfindex != 0 ? _graph.Find(port.NetdevIfindex) : null;

    /// <summary>
    /// ib_enum_all_roce_netdevs(filter, cookie, cb): run <paramref name="callback"/> on every bound port whose netdev
    /// passes <paramref name="filter"/> for the event netdev <paramref name="filterNdev"/>. One entry of the kernel's
    /// command lists is one call of this.
    /// </summary>
    private void ForEachPort(Func<INetdevGraph, NetdevInfo, NetdevInfo, bool> filter, NetdevInfo filterNdev, Action<RocePort> callback)
    {
        foreach (RocePort port in _ports)
            if (Rdma(port) is { } rdma && filter(_graph, rdma, filterNdev))
                callback(port);
    }

    private static GidType[] TypesOf(RocePort port)
    {
        Span<GidType> buf = stackalloc GidType[3];
        int n = port.Types.CopyTo(buf);
        return buf[..n].ToArray();
    }

    public string NameOf(int ifindex) => _graph.Find(ifindex)?.Name ?? $"ifindex {ifindex}";

    /// <summary>The netdev's ifindex as its own namespace numbers it (<c>ndev->ifindex</c>): <paramref name="ifindex"/>
    /// itself for the daemon's namespace; a container's netdev is known here by another key.</summary>
    public int NetNsIfindexOf(int ifindex) => _graph.Find(ifindex) is { NetNsIfindex: > 0 } n ? n.NetNsIfindex : ifindex;

    private void Because(string reason) => _reason = reason;

    private void Fail(RocePort port, string message)
    {
        string line = $"{port}: {message} ({_reason})";
        if (_recentErrors.Count == 100)
            _recentErrors.RemoveAt(0);
        _recentErrors.Add(line);
        Error(line);
    }
}
