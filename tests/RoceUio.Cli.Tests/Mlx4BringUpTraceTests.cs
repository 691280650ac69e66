using NUnit.Framework;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// <c>roceuio run --emulate mlx4:v0 --mmio-trace FILE --clear-on-exit</c> in a private namespace: the trace shows the
/// kernel's bring-up from the ownership read and the reset to SET_PORT general and INIT_PORT, then only GID pushes,
/// and at SIGTERM the teardown back to UNMAP_FA (mlx4_init_one / mlx4_load_one / mlx4_en_start_port, and
/// mlx4_unload_one in reverse).
/// </summary>
[NonParallelizable]
public class Mlx4BringUpTraceTests
{
    private NetworkNamespace _ns = null!;
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _ns = NetworkNamespace.Create("roceuio-trace");
        _dir = new TempDirectory("roceuio-trace");
        _ns.IpBatch(["link add v0 type veth peer name v1", "link set v1 up", "link set v0 up"]);
    }

    [TearDown]
    public void TearDown()
    {
        _ns.Dispose();
        _dir.Dispose();
    }

    private static readonly string[] Start =
    [
        "owner", "reset", "QUERY_FW", "MAP_FA", "RUN_FW", "MOD_STAT_CFG", "QUERY_DEV_CAP", "QUERY_PORT 1",
        "SET_ICM_SIZE", "MAP_ICM_AUX", .. Enumerable.Repeat("MAP_ICM", 14), "INIT_HCA", "QUERY_ADAPTER",
        "SET_PORT GENERAL port 1", "INIT_PORT 1", "CONFIG_DEV",
    ];

    private static readonly string[] Stop =
        ["CLOSE_PORT 1", "CLOSE_HCA", .. Enumerable.Repeat("UNMAP_ICM", 14), "UNMAP_ICM_AUX", "UNMAP_FA"];

    [Test]
    public void The_trace_of_run_shows_the_kernels_bring_up_then_GID_pushes_then_the_teardown_to_UNMAP_FA()
    {
        string trace = Path.Combine(_dir.Path, "mmio.trace");
        using (var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "mlx4:v0", "--mmio-trace", trace, "--clear-on-exit"))
        {
            Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
            Assert.That(d.Stdout, Does.Contain("hardware tables cleared"));
        }
        List<string> steps = Steps(File.ReadLines(trace));
        Assert.That(steps.Take(Start.Length), Is.EqualTo(Start), string.Join(", ", steps));
        Assert.That(steps.TakeLast(Stop.Length), Is.EqualTo(Stop), string.Join(", ", steps));
        List<string> between = steps.Skip(Start.Length).SkipLast(Stop.Length).ToList();
        Assert.That(between, Is.Not.Empty.And.All.EqualTo("SET_PORT ROCE_ADDR port 1"),
            "between bring-up and teardown only the GID table is written (the defaults, then the clear at exit)");
    }

    /// <summary>The trace lines (<c>NS R32|W32 bar0+0xOFF 0xVALUE</c>) as steps: owner read, reset write, commands.</summary>
    private static List<string> Steps(IEnumerable<string> lines)
    {
        var steps = new List<string>();
        uint inMod = 0;
        foreach (string line in lines)
        {
            string[] f = line.Split(' ');
            if (f.Length != 4 || !f[2].StartsWith("bar0+0x", StringComparison.Ordinal))
                continue;
            long off = Convert.ToInt64(f[2]["bar0+0x".Length..], 16);
            uint value = Convert.ToUInt32(f[3][2..], 16);
            bool write = f[1] == "W32";
            if (!write && off == 0x8069c)
                steps.Add("owner");
            else if (write && off == 0xf0010)
                steps.Add("reset");
            else if (write && off == 0x80688)
                inMod = value;
            else if (write && off == 0x80698 && (value & (1u << 23)) != 0)
                steps.Add(Name((ushort)(value & 0xfff), inMod));
        }
        return steps;
    }

    /// <summary>include/linux/mlx4/cmd.h opcode names, written out here so the test does not trust the driver's table.</summary>
    private static string Name(ushort opcode, uint inMod) => opcode switch
    {
        0x004 => "QUERY_FW",
        0xfff => "MAP_FA",
        0xff6 => "RUN_FW",
        0x034 => "MOD_STAT_CFG",
        0x003 => "QUERY_DEV_CAP",
        0x043 => $"QUERY_PORT {inMod}",
        0xffd => "SET_ICM_SIZE",
        0xffc => "MAP_ICM_AUX",
        0xffa => "MAP_ICM",
        0x007 => "INIT_HCA",
        0x006 => "QUERY_ADAPTER",
        0x009 => $"INIT_PORT {inMod}",
        0x00a => $"CLOSE_PORT {inMod}",
        0x03a => "CONFIG_DEV",
        0x008 => "CLOSE_HCA",
        0xff9 => "UNMAP_ICM",
        0xffb => "UNMAP_ICM_AUX",
        0xffe => "UNMAP_FA",
        0x00c => $"SET_PORT {(inMod >> 8) switch { 0 => "GENERAL", 5 => "GID_TABLE", 0xd => "ROCE_ADDR", var s => $"0x{s:x}" }} port {inMod & 0xff}",
        _ => $"0x{opcode:x3}",
    };
}
