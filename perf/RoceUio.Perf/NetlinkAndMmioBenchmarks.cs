using BenchmarkDotNet.Attributes;
using RoceUio.Hardware;
using RoceUio.Netlink;

namespace RoceUio.Perf;

/// <summary>
/// The other two hot paths, each with its memory column: parsing and applying warm rtnetlink messages (a link, a VLAN,
/// a bond, an IPv4 and an IPv6 address, as the daemon sees them again and again) into the netdev cache, and 32-bit
/// register access through <see cref="MmioRegion"/> with the tracer off, big- and little-endian. All must show 0 B.
/// Run only these: <c>dotnet run -c Release --project perf/RoceUio.Perf -- --filter '*NetlinkAndMmio*' --job short</c>.
/// </summary>
[MemoryDiagnoser]
public class NetlinkAndMmioBenchmarks
{
    private byte[] _messages = [];
    private NetdevCache _cache = null!;
    private string _barPath = "";
    private MappedFile _bar = null!;
    private MmioRegion _big = null!, _little = null!;

    [GlobalSetup]
    public void Setup()
    {
        byte[][] messages =
        [
            RtnlMessages.NewLink(new LinkSpec(2, "eth0") { Mac = "24:8a:07:aa:bb:cc" }),
            RtnlMessages.NewLink(new LinkSpec(10, "eth0.100") { Mac = "24:8a:07:aa:bb:cc", Kind = "vlan", VlanId = 100, Link = 2 }),
            RtnlMessages.NewLink(new LinkSpec(20, "bond0") { Mac = "24:8a:07:aa:bb:cd", Kind = "bond", BondActiveSlave = 2 }),
            RtnlMessages.NewAddress(10, "192.0.2.10/24"),
            RtnlMessages.NewAddress(10, "2001:db8::10/64"),
        ];
        _messages = messages.SelectMany(m => m).ToArray();
        _cache = new NetdevCache { Log = static _ => { } };
        _cache.ApplyAll(_messages);   // warm: every later pass is the steady state (duplicates change nothing)

        _barPath = Path.Combine(Path.GetTempPath(), $"roceuio-bench-bar-{Environment.ProcessId}");
        _bar = MappedFile.Open(_barPath, 1 << 20, create: true);
        _big = new MmioRegion(_bar, 0, RegisterByteOrder.BigEndian);       // mlx4's HCR byte order
        _little = new MmioRegion(_bar, 0, RegisterByteOrder.LittleEndian); // ocrdma's doorbells
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bar.Dispose();
        File.Delete(_barPath);
    }

    /// <summary>One pass over five messages: header walk, attribute parse, cache apply. Per message.</summary>
    [Benchmark(OperationsPerInvoke = 5)]
    public int Netlink_ParseAndApply() => _cache.ApplyAll(_messages);

    /// <summary>The seven HCR dwords of one mlx4 command (written big-endian), then a status read. Per access.</summary>
    [Benchmark(OperationsPerInvoke = 8)]
    public uint Mmio_BigEndian_HcrPost()
    {
        for (int dw = 0; dw < 7; dw++)
            _big.Write32(0x80680 + 4 * dw, (uint)dw);
        return _big.Read32(0x80698);
    }

    /// <summary>A doorbell write and a read back, little-endian. Per access.</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public uint Mmio_LittleEndian_Doorbell()
    {
        _little.Write32(0x140, 0x0001_0007);
        return _little.Read32(0x140);
    }
}
