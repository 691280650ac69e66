using BenchmarkDotNet.Attributes;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;

namespace RoceUio.Perf;

/// <summary>
/// Start with N netdevs (issue 17 target: 3,000 netdevs ≤ 2x the start with 10): a fresh pipeline takes the start-up
/// dump of eth0, eth9 and N macvlans over eth0 (<see cref="TopologyScaleBenchmarks.Topology"/>) and registers a port
/// bound to eth0, which fills its table by the kernel's rescan. Each macvlan has one IPv4 address, so the table gets N
/// GIDs (a 16,384-slot port; the driver does nothing). Not the process start (JIT, sockets): the pipeline's part.
/// </summary>
[MemoryDiagnoser]
public class TopologyStartBenchmarks
{
    [Params(10, 3000)]
    public int N;

    private byte[] _dump = [];

    private sealed class NullDevice : IRoceDevice
    {
        public string Name => "null0";
        public string DriverName => "null";
        public int PortCount => 1;
        public int GidTableSize(int port) => 16384;
        public GidTypes SupportedGidTypes(int port) => GidTypes.RoceV2;
        public void AddGid(int port, int index, in GidEntry entry) { }
        public void DeleteGid(int port, int index, in GidEntry entry) { }
        public void Commit(int port) { }
        public void Dispose() { }
    }

    [GlobalSetup]
    public void Setup()
    {
        var addresses = Enumerable.Range(0, N).SelectMany(i => RtnlMessages.NewAddress(100 + i, $"10.{i / 250}.{i % 250}.1/16"));
        _dump = [.. TopologyScaleBenchmarks.Topology(N), .. addresses];
    }

    [Benchmark]
    public int Start()
    {
        using RocePipeline p = new RocePipelineBuilder().IndexPolicy(IndexPolicy.Kernel).NetlinkLog(static _ => { }).Build();
        p.Feed(_dump);
        return p.AddDevice(new NullDevice(), ["eth0"])[0].Table.Count;
    }
}
