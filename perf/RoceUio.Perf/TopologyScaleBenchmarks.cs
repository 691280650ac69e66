using BenchmarkDotNet.Attributes;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;

namespace RoceUio.Perf;

/// <summary>
/// Cost must follow the change, not the size of the host (issue 17 "Scale"): a container host with N macvlans over the
/// port's netdev eth0, and a second netdev eth9 bound to no port. Per event, through the whole pipeline (cache →
/// router → manager → filters over the cache's topology index → table → driver, one burst each):
/// an unrelated address (on eth9) added and removed, and a related one (on one of the macvlans) added and removed,
/// against the same messages applied to a bare netdev cache of the same N (the baseline: parsing and caching alone).
/// Run only these: <c>dotnet perf/RoceUio.Perf/bin/Release/net10.0/RoceUio.Perf.dll --filter '*TopologyScale*' --job short</c>.
/// </summary>
[MemoryDiagnoser]
public class TopologyScaleBenchmarks
{
    [Params(10, 100, 1000, 10000)]
    public int N;

    private RocePipeline _pipeline = null!;
    private NetdevCache _bare = null!;
    private byte[] _unrelatedAdd = [], _unrelatedDel = [], _relatedAdd = [], _relatedDel = [];

    /// <summary>A driver with nothing behind it (the pipeline's cost, not a device's).</summary>
    private sealed class NullDevice : IRoceDevice
    {
        public string Name => "null0";
        public string DriverName => "null";
        public int PortCount => 1;
        public int GidTableSize(int port) => 1024;
        public GidTypes SupportedGidTypes(int port) => GidTypes.RoceV2;
        public void AddGid(int port, int index, in GidEntry entry) { }
        public void DeleteGid(int port, int index, in GidEntry entry) { }
        public void Commit(int port) { }
        public void Dispose() { }
    }

    /// <summary>eth0 (ifindex 2, the port's), eth9 (5, no port), N macvlans over eth0 from ifindex 100.</summary>
    public static byte[] Topology(int n)
    {
        var messages = new List<byte[]>
        {
            RtnlMessages.NewLink(new LinkSpec(2, "eth0") { Mac = "24:8a:07:aa:bb:cc" }),
            RtnlMessages.NewLink(new LinkSpec(5, "eth9") { Mac = "24:8a:07:aa:bb:c9" }),
        };
        for (int i = 0; i < n; i++)
            messages.Add(RtnlMessages.NewLink(new LinkSpec(100 + i, $"mv{i}")
            {
                Mac = $"02:00:00:{i >> 16 & 0xff:x2}:{i >> 8 & 0xff:x2}:{i & 0xff:x2}", Kind = "macvlan", Link = 2,
            }));
        return messages.SelectMany(m => m).ToArray();
    }

    [GlobalSetup]
    public void Setup()
    {
        byte[] topology = Topology(N);
        _pipeline = new RocePipelineBuilder().IndexPolicy(IndexPolicy.Kernel).NetlinkLog(static _ => { }).Build();
        _pipeline.Feed(topology);
        _pipeline.AddDevice(new NullDevice(), ["eth0"]);
        _bare = new NetdevCache { Log = static _ => { } };
        _bare.ApplyAll(topology);
        _unrelatedAdd = RtnlMessages.NewAddress(5, "198.51.100.9/24");
        _unrelatedDel = RtnlMessages.DelAddress(5, "198.51.100.9/24");
        int mv = 100 + N / 2;
        _relatedAdd = RtnlMessages.NewAddress(mv, "192.0.2.77/24");
        _relatedDel = RtnlMessages.DelAddress(mv, "192.0.2.77/24");
    }

    [GlobalCleanup]
    public void Cleanup() => _pipeline.Dispose();

    /// <summary>Baseline: the unrelated add and delete applied to a bare cache of N netdevs. Per event.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = 2)]
    public int CacheOnly_Event() => _bare.ApplyAll(_unrelatedAdd) + _bare.ApplyAll(_unrelatedDel);

    /// <summary>An address on eth9 (no port) added and removed through the pipeline. Per event.</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public int Pipeline_UnrelatedEvent() => _pipeline.Feed(_unrelatedAdd) + _pipeline.Feed(_unrelatedDel);

    /// <summary>An address on a macvlan over the port's netdev added and removed: a GID added, then deleted, each
    /// committed. Per event.</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public int Pipeline_RelatedEvent() => _pipeline.Feed(_relatedAdd) + _pipeline.Feed(_relatedDel);
}
