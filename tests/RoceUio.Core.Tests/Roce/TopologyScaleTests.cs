using System.Net;
using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// Cost follows the change, not the size of the host: with N macvlans over the port's netdev, what the GID manager
/// reads from the netdev graph for one address event is the same at N = 10 and N = 3,000, for an event on a netdev
/// bound to no port and for one on a macvlan over the port (the filters walk the cache's parent → children index,
/// never every netdev). Counted, not timed, so it holds on a busy machine; perf/TopologyScaleBenchmarks times it.
/// </summary>
public class TopologyScaleTests
{
    /// <summary>The real graph, counting what is asked of it.</summary>
    private sealed class CountingGraph(NetlinkNetdevGraph inner) : INetdevGraph
    {
        public int Finds, Enumerations, IndexReads, AddressLists;
        public NetdevInfo? Find(int ifindex) { Finds++; return inner.Find(ifindex); }
        public IEnumerable<NetdevInfo> All { get { Enumerations++; return inner.All; } }
        public IReadOnlyList<int> LinkUppersOf(int ifindex) { IndexReads++; return inner.LinkUppersOf(ifindex); }
        public IReadOnlyList<int> SlavesOf(int ifindex) { IndexReads++; return inner.SlavesOf(ifindex); }
        public IReadOnlyList<IPAddress> Addresses(int ifindex) { AddressLists++; return inner.Addresses(ifindex); }
        public (int, int, int, int) Take()
        {
            var r = (Finds, Enumerations, IndexReads, AddressLists);
            Finds = Enumerations = IndexReads = AddressLists = 0;
            return r;
        }
    }

    private sealed class NullDevice : IRoceDevice
    {
        public string Name => "null0";
        public string DriverName => "null";
        public int PortCount => 1;
        public int GidTableSize(int port) => 64;
        public GidTypes SupportedGidTypes(int port) => GidTypes.RoceV2;
        public void AddGid(int port, int index, in GidEntry entry) { }
        public void DeleteGid(int port, int index, in GidEntry entry) { }
        public void Commit(int port) { }
        public void Dispose() { }
    }

    private static (NetdevCache Cache, CountingGraph Graph, GidManager Manager) Host(int n)
    {
        var cache = new NetdevCache { Log = _ => { } };
        var graph = new NetlinkNetdevGraph(cache);
        var counting = new CountingGraph(graph);
        var manager = new GidManager(counting, IndexPolicy.Kernel);
        cache.Subscribe(new NetdevEventRouter(graph, manager));
        cache.ApplyAll(RtnlMessages.NewLink(new LinkSpec(2, "eth0") { Mac = "24:8a:07:aa:bb:cc" }));
        cache.ApplyAll(RtnlMessages.NewLink(new LinkSpec(5, "eth9") { Mac = "24:8a:07:aa:bb:c9" }));
        for (int i = 0; i < n; i++)
            cache.ApplyAll(RtnlMessages.NewLink(new LinkSpec(100 + i, $"mv{i}")
            {
                Mac = $"02:00:00:00:{i >> 8 & 0xff:x2}:{i & 0xff:x2}", Kind = "macvlan", Link = 2,
            }));
        manager.AddDevice(new NullDevice(), [new PortBinding("eth0")]);
        counting.Take();
        return (cache, counting, manager);
    }

    /// <summary>What one address added and removed on <paramref name="ifindex"/>(n) reads from the graph.</summary>
    private static (int, int, int, int) CostOf(int n, Func<int, int> ifindex)
    {
        var (cache, graph, manager) = Host(n);
        cache.ApplyAll(RtnlMessages.NewAddress(ifindex(n), "192.0.2.7/24"));
        manager.EndOfBurst();
        cache.ApplyAll(RtnlMessages.DelAddress(ifindex(n), "192.0.2.7/24"));
        manager.EndOfBurst();
        return graph.Take();
    }

    [Test]
    public void An_address_event_on_a_netdev_bound_to_no_port_reads_the_same_at_10_and_3000_macvlans()
    {
        var small = CostOf(10, _ => 5);
        var large = CostOf(3000, _ => 5);
        Assert.That(large, Is.EqualTo(small), "(finds, enumerations of every netdev, index reads, address lists)");
        Assert.That(small.Item2, Is.Zero, "no walk over every netdev");
    }

    [Test]
    public void An_address_event_on_a_macvlan_over_the_port_reads_the_same_at_10_and_3000_macvlans_and_adds_its_GID()
    {
        var (cache, graph, manager) = Host(3000);
        cache.ApplyAll(RtnlMessages.NewAddress(100 + 1500, "192.0.2.7/24"));
        manager.EndOfBurst();
        Assert.That(manager.Ports[0].Table.TryFind(new GidEntry(Gid.Parse("::ffff:192.0.2.7"), GidType.RoceV2, 1600), out _), Is.True,
            "the macvlan's address is a GID of the port");
        var small = CostOf(10, n => 100 + n / 2);
        var large = CostOf(3000, n => 100 + n / 2);
        Assert.That(large, Is.EqualTo(small), "(finds, enumerations of every netdev, index reads, address lists)");
        Assert.That(small.Item2, Is.Zero, "no walk over every netdev");
    }

    [Test]
    public void An_unrelated_address_event_allocates_nothing_on_the_worker()
    {
        var (cache, _, manager) = Host(3000);
        byte[] add = RtnlMessages.NewAddress(5, "198.51.100.9/24"), del = RtnlMessages.DelAddress(5, "198.51.100.9/24");
        for (int i = 0; i < 100; i++)   // warm: JIT, the graph's views, the walks' scratch
        {
            cache.ApplyAll(add);
            cache.ApplyAll(del);
            manager.EndOfBurst();
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            cache.ApplyAll(add);
            cache.ApplyAll(del);
            manager.EndOfBurst();
        }
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, "bytes for 1,000 adds and deletes on a netdev of no port");
    }
}
