using NUnit.Framework;
using RoceUio.Core.Tests.Netlink;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// The whole path a daemon runs: rtnetlink messages → <see cref="NetdevCache"/> → <see cref="NetlinkNetdevGraph"/> →
/// <see cref="GidManager"/> → <see cref="RecordingDevice"/>. Messages come from a real namespace (<see cref="StartMonitor"/>
/// + <see cref="Pump"/>) or are built and fed (<see cref="Feed"/>). Every pump or feed ends a burst, as the daemon's
/// loop does after each batch of datagrams.
/// </summary>
internal sealed class GidPipeline : IDisposable
{
    private int _callsSeen;

    public GidPipeline(RecordingDevice device, IndexPolicy policy, params string[] netdevs)
    {
        Pipeline = new RocePipelineBuilder().IndexPolicy(policy).NetlinkLog(Log.Add).Errors(Errors.Add).Build();
        Device = device;
        Pipeline.AddDevice(device, netdevs);
    }

    /// <summary>The pipeline the daemon and replay use, built the same way.</summary>
    public RocePipeline Pipeline { get; }
    public NetdevCache Cache => Pipeline.Cache;
    public NetlinkNetdevGraph Graph => Pipeline.Graph;
    public GidManager Manager => Pipeline.Manager;
    public RecordingDevice Device { get; }
    public NetlinkMonitor? Monitor => Pipeline.Monitor;
    public List<string> Log { get; } = [];
    public List<string> Errors { get; } = [];

    /// <summary>Opens the monitor's sockets inside <paramref name="ns"/> (initial dump included) and ends that burst.</summary>
    public void StartMonitor(NetworkNamespace ns, NetlinkMonitorOptions? options = null)
    {
        ns.Run(() => { Pipeline.StartMonitor(options, Log.Add); return 0; });
    }

    /// <summary>One turn of the daemon loop: wait up to <paramref name="timeoutMs"/> for events, apply them, commit.</summary>
    public void Pump(int timeoutMs)
    {
        Pipeline.Poll(timeoutMs);
    }

    /// <summary>Applies built messages (one datagram) and commits.</summary>
    public void Feed(params byte[][] messages)
    {
        foreach (byte[] m in messages)
            Cache.ApplyAll(m);
        Manager.EndOfBurst();  // one burst for all of them, as one datagram
    }

    public RocePort Port(int port = 1) => Manager.Ports[port - 1];

    /// <summary>The port's valid entries as "index gid v1|v2 ndev", in index order.</summary>
    public List<string> Table(int port = 1)
    {
        var rows = new List<string>();
        foreach (var (index, e) in Port(port).Table.EnumerateValid())
            rows.Add($"{index} {e.Gid.ToCompressedString()} {e.Type.ToShortString()} {Manager.NameOf(e.NetdevIfindex)}");
        return rows;
    }

    /// <summary>The port's entries without their indexes, sorted: what must be there whatever the index history.</summary>
    public List<string> TableContent(int port = 1)
        => Table(port).Select(r => r[(r.IndexOf(' ') + 1)..]).Order(StringComparer.Ordinal).ToList();

    /// <summary>The driver holds exactly what the core table holds, on every port.</summary>
    public void AssertDriverMatches(string step)
    {
        foreach (RocePort p in Manager.Ports)
        {
            var core = new Dictionary<int, GidEntry>();
            foreach (var (i, e) in p.Table.EnumerateValid())
                core[i] = e;
            var hw = Device.Hardware.Where(kv => kv.Key.Port == p.Port).ToDictionary(kv => kv.Key.Index, kv => kv.Value);
            Assert.That(hw, Is.EquivalentTo(core), $"after '{step}': driver and core table of port {p.Port} differ");
        }
    }

    /// <summary>The driver's add/del calls since the last call of this method (commits left out).</summary>
    /// <summary>The port's entries as "gid ndev@namespace", sorted: the namespace named by <paramref name="where"/> from
    /// the netdev's NetNsId (-1: the monitor's own). Indexes are left out: which GIDs exist on which netdev of which
    /// namespace, for the container tests.</summary>
    public List<string> GidRows(Func<int, string> where, int port = 1)
    {
        var rows = new List<string>();
        foreach (var (_, e) in Port(port).Table.EnumerateValid())
        {
            NetdevInfo? nd = Graph.Find(e.NetdevIfindex);
            rows.Add($"{e.Gid.ToCompressedString()} {nd?.Name ?? "?"}@{(nd is null ? "?" : where(nd.NetNsId))}");
        }
        rows.Sort(StringComparer.Ordinal);
        return rows;
    }

    /// <summary>Pumps events (bounded: 30 s, for a busy machine) until <see cref="GidRows"/> is <paramref name="want"/>,
    /// then asserts it, the driver's copy and no manager errors.</summary>
    public void AwaitGidRows(string what, Func<int, string> where, params string[] want)
    {
        Array.Sort(want, StringComparer.Ordinal);
        long deadline = Environment.TickCount64 + 30_000;
        while (!GidRows(where).SequenceEqual(want) && Environment.TickCount64 < deadline)
            Pump(20);
        Assert.That(GidRows(where), Is.EqualTo(want), $"after '{what}' (log:\n{string.Join('\n', Log)})");
        AssertDriverMatches(what);
        Assert.That(Errors, Is.Empty, $"after '{what}': manager errors");
    }

    public List<string> TakeCalls()
    {
        List<string> calls = Device.Calls.Skip(_callsSeen).Where(c => !c.StartsWith("commit", StringComparison.Ordinal)).ToList();
        _callsSeen = Device.Calls.Count;
        return calls;
    }

    /// <summary>Commits since the last <see cref="TakeCalls"/> are not counted there; this counts all commits so far.</summary>
    public int Commits => Device.Calls.Count(c => c.StartsWith("commit", StringComparison.Ordinal));

    /// <summary>The port's entries as "gid type ifindex" (names can repeat in a fuzzed cache; ifindexes cannot), sorted.</summary>
    public List<string> TableContentByIfindex(int port = 1)
        => Entries(Port(port).Table)
            .Select(x => $"{x.Entry.Gid.ToCompressedString()} {x.Entry.Type.ToShortString()} #{x.Entry.NetdevIfindex}")
            .Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// A second manager over the same cache, filled by a fresh rescan (AddDevice: rdma_roce_rescan_device), as
    /// "gid type #ifindex" sorted. Its ports are bound to the same netdevs as ours (by ifindex: the kernel holds the
    /// device, so a rename or a second device of the same name does not rebind a port).
    /// </summary>
    public List<string> FreshRescanContent(int port = 1)
    {
        var graph = new NetlinkNetdevGraph(Cache);
        var bound = Manager.Ports.Where(p => p.NetdevIfindex != 0).ToDictionary(p => p.NetdevIfindex, p => $"#bound-{p.Port}");
        var view = new BoundNameGraph(graph, bound);
        var mgr = new GidManager(view, Manager.Policy);
        var dev = new RecordingDevice(Device.Name + "-fresh", Device.PortCount, Device.GidTableSize(1), Device.SupportedGidTypes(1));
        mgr.AddDevice(dev, Manager.Ports.Select(p => new PortBinding(p.NetdevIfindex != 0 ? bound[p.NetdevIfindex] : "#unbound")).ToList());
        return Entries(mgr.Ports[port - 1].Table)
            .Select(x => $"{x.Entry.Gid.ToCompressedString()} {x.Entry.Type.ToShortString()} #{x.Entry.NetdevIfindex}")
            .Order(StringComparer.Ordinal).ToList();
    }

    private static List<(int Index, GidEntry Entry)> Entries(GidTable table)
    {
        var list = new List<(int, GidEntry)>();
        foreach (var x in table.EnumerateValid())
            list.Add(x);
        return list;
    }

    /// <summary>The graph with the bound netdevs renamed to unique names, so that a rescan binds to exactly them.</summary>
    private sealed class BoundNameGraph(INetdevGraph inner, Dictionary<int, string> names) : INetdevGraph
    {
        private NetdevInfo Rename(NetdevInfo n) => names.TryGetValue(n.Ifindex, out string? name) ? n with { Name = name } : n;
        public NetdevInfo? Find(int ifindex) => inner.Find(ifindex) is { } n ? Rename(n) : null;
        public IEnumerable<NetdevInfo> All => inner.All.Select(Rename).ToList();
        public IReadOnlyList<System.Net.IPAddress> Addresses(int ifindex) => inner.Addresses(ifindex);
        public IReadOnlyList<int> LinkUppersOf(int ifindex) => inner.LinkUppersOf(ifindex);
        public IReadOnlyList<int> SlavesOf(int ifindex) => inner.SlavesOf(ifindex);
    }

    /// <summary>Expected rows of one address: one per supported type, v1 before v2, from <paramref name="index"/> on.</summary>
    public static IEnumerable<string> Rows(int index, string gid, string ndev, GidTypes types)
    {
        if ((types & GidTypes.RoceV1) != 0)
            yield return $"{index++} {gid} v1 {ndev}";
        if ((types & GidTypes.RoceV2) != 0)
            yield return $"{index} {gid} v2 {ndev}";
    }

    /// <summary>Expected driver calls of one address (port 1 unless told), one per type.</summary>
    public static IEnumerable<string> Calls(string op, int index, string gid, GidTypes types, int port = 1)
    {
        if ((types & GidTypes.RoceV1) != 0)
            yield return $"{op} {port}/{index++} {gid} v1";
        if ((types & GidTypes.RoceV2) != 0)
            yield return $"{op} {port}/{index} {gid} v2";
    }

    public void Dispose() => Pipeline.Dispose();
}
