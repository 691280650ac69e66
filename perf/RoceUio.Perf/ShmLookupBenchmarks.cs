using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using RoceUio.Cli.Control;
using RoceUio.Cli.Daemon;
using RoceUio.Cli.Output;
using RoceUio.Gids;
using RoceUio.Shm;
using static Tmds.Linux.LibC;

namespace RoceUio.Perf;

/// <summary>
/// Issue 14's question, "which index is GID G of type T on netdev N?", asked five ways of one full 128-entry table
/// (mlx4's size), over a random-order stream of keys that are all there:
/// <list type="bullet">
/// <item>the daemon's own in-process <see cref="GidTable.TryFind(in GidEntry, out int)"/> (the baseline);</item>
/// <item><see cref="GidShmReader"/> on the shared-memory file (what another .NET process does);</item>
/// <item>libroceuio_gids' <c>roceuio_gids_find</c> through an unmanaged function pointer (what a C process does; the
/// call itself costs a few ns more than a call from C; <c>artifacts/native/roceuio-gids-bench</c> times it from C);</item>
/// <item>open/read/close of the sysfs-style file <c>gids/INDEX</c> (what <c>ibv_query_gid</c> falls back to: one file
/// per question, and that only answers "what is at INDEX", not "where is G");</item>
/// <item>one <c>find</c> request over the control socket, answered inline by the server (the daemon adds its worker
/// hand-off on top).</item>
/// </list>
/// Needs ./build.sh's artifacts/native/libroceuio_gids.so.
/// </summary>
[MemoryDiagnoser]
public unsafe class ShmLookupBenchmarks
{
    private const int Keys = 4096;
    private const int SlowOps = 64;

    private GidTable _table = null!;
    private GidEntry[] _stream = null!;
    private int[] _indexStream = null!;
    private string _dir = null!;
    private GidShmWriter _writer = null!;
    private GidShmReader _reader = null!;
    private nint _lib, _handle;
    private delegate* unmanaged<nint, byte*, uint, uint, uint, int, int> _find;
    private delegate* unmanaged<nint, uint> _capacity;
    private byte[] _gidBytes = null!;   // the stream's GIDs, 16 bytes each, for the C call
    private byte[][] _sysfsPaths = null!;
    private ControlServer _server = null!;
    private string _socket = null!;
    private JsonObject[] _requests = null!;

    [GlobalSetup]
    public void Setup()
    {
        (GidTable table, GidEntry[] entries) = GidTableBenchmarks.FullTable();
        _table = table;
        var rnd = new Random(42);
        _indexStream = Enumerable.Range(0, Keys).Select(_ => rnd.Next(entries.Length)).ToArray();
        _stream = _indexStream.Select(i => entries[i]).ToArray();
        _gidBytes = new byte[Keys * 16];
        for (int k = 0; k < Keys; k++)
            _stream[k].Gid.WriteBytes(_gidBytes.AsSpan(k * 16, 16));

        _dir = Path.Combine(Path.GetTempPath(), $"roceuio-shm-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(_dir);
        _writer = GidShmWriter.Create(_dir, "mlx4_0", 1, table.Capacity, table.DefaultSlotCount, table.SupportedTypes);
        _writer.BeginBatch();
        foreach (var (i, e) in table.EnumerateValid())
            _writer.Set(i, e, $"eth{e.NetdevIfindex}");
        _writer.EndBatch();
        _reader = GidShmReader.Open(_writer.Path);

        string lib = Path.Combine(RepoRoot(), "artifacts", "native", "libroceuio_gids.so");
        _lib = NativeLibrary.Load(lib);
        var open = (delegate* unmanaged<byte*, nint*, int>)NativeLibrary.GetExport(_lib, "roceuio_gids_open_path");
        _find = (delegate* unmanaged<nint, byte*, uint, uint, uint, int, int>)NativeLibrary.GetExport(_lib, "roceuio_gids_find");
        _capacity = (delegate* unmanaged<nint, uint>)NativeLibrary.GetExport(_lib, "roceuio_gids_capacity");
        byte[] path = Encoding.UTF8.GetBytes(_writer.Path + "\0");
        nint h;
        fixed (byte* p = path)
            if (open(p, &h) != 0)
                throw new InvalidOperationException($"roceuio_gids_open_path({_writer.Path}) failed");
        _handle = h;

        string gids = Path.Combine(_dir, "sysfs", "gids");
        Directory.CreateDirectory(gids);
        foreach (var (i, e) in table.EnumerateValid())
            File.WriteAllText(Path.Combine(gids, i.ToString(System.Globalization.CultureInfo.InvariantCulture)), e.Gid + "\n");
        _sysfsPaths = _indexStream.Select(i => Encoding.UTF8.GetBytes(Path.Combine(gids, i.ToString(System.Globalization.CultureInfo.InvariantCulture)) + "\0")).ToArray();

        // The same lookups timed from C, in this run and under this load (the row the targets are about).
        string harness = Path.Combine(RepoRoot(), "artifacts", "native", "roceuio-gids-bench");
        using (var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(harness, [_writer.Path, "300"]) { RedirectStandardOutput = true })!)
        {
            string result = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Console.WriteLine($"// roceuio-gids-bench (C calling roceuio_gids_find): {result.ReplaceLineEndings("; ")}");
        }
        // The bucket layouts and key hashes A/B, from C, rounds interleaved (native/roceuio_gids_ab.c).
        string ab = Path.Combine(RepoRoot(), "artifacts", "native", "roceuio-gids-ab");
        using (var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(ab, [_writer.Path, "300"]) { RedirectStandardOutput = true })!)
        {
            string result = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Console.WriteLine($"// roceuio-gids-ab (layouts A/B from C):\n{string.Join("\n", result.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => "//   " + l))}");
        }

        _socket = Path.Combine(_dir, "c.sock");
        _server = new ControlServer(_socket, [new ControlCommand("find", false, Find)]);
        _requests = _stream.Select(e => new JsonObject { ["gid"] = e.Gid.ToString(), ["type"] = e.Type.ToShortString(), ["ndev"] = $"eth{e.NetdevIfindex}" }).ToArray();
    }

    /// <summary>The daemon's find command for one port, as ControlHandlers answers it (lookup, then a JSON row).</summary>
    private JsonNode Find(JsonObject args)
    {
        Gid gid = Gid.Parse((string)args["gid"]!);
        GidType type = GidTypeText.Parse((string)args["type"]!);
        int ifindex = int.Parse(((string)args["ndev"]!)[3..], System.Globalization.CultureInfo.InvariantCulture);
        var rows = new List<GidRow>();
        if (_table.TryFind(gid, type, ifindex, GidFindMask.Gid | GidFindMask.GidType | GidFindMask.Netdev, false, out int index))
            rows.Add(new GidRow("mlx4_0", 1, index, gid, type, (string)args["ndev"]!, ifindex));
        return ControlHandlers.ToJson(rows);
    }

    private static string RepoRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir != null && !File.Exists(Path.Combine(dir, "RoceUio.sln")))
            dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("no RoceUio.sln above the benchmark");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        var close = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(_lib, "roceuio_gids_close");
        close(_handle);
        _reader.Dispose();
        _writer.MarkGoneAndRemove();
        _writer.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Keys)]
    public int InProcess_GidTable()
    {
        int sum = 0;
        GidEntry[] s = _stream;
        for (int k = 0; k < s.Length; k++)
            sum += _table.TryFind(s[k], out int i) ? i : -1;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys)]
    public int SharedMemory_CSharpReader()
    {
        int sum = 0;
        GidEntry[] s = _stream;
        for (int k = 0; k < s.Length; k++)
            sum += _reader.TryFind(s[k].Gid, s[k].Type, s[k].NetdevIfindex, out int i) ? i : -1;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys)]
    public int SharedMemory_CLibrary()
    {
        int sum = 0;
        GidEntry[] s = _stream;
        const uint mask = (uint)(GidFindMask.Gid | GidFindMask.GidType | GidFindMask.Netdev);
        fixed (byte* g = _gidBytes)
            for (int k = 0; k < s.Length; k++)
                sum += _find(_handle, g + k * 16, (uint)s[k].Type, (uint)s[k].NetdevIfindex, mask, 0);
        return sum;
    }

    /// <summary>What the call from .NET into the library costs by itself: the same kind of function pointer to
    /// <c>roceuio_gids_capacity</c>, which returns a field (the managed-to-native transition and back).</summary>
    [Benchmark(OperationsPerInvoke = Keys)]
    public long CLibrary_TrivialCall()
    {
        long sum = 0;
        nint h = _handle;
        for (int k = 0; k < Keys; k++)
            sum += _capacity(h);
        return sum;
    }

    [Benchmark(OperationsPerInvoke = SlowOps)]
    public int SysfsFile_OpenReadClosePerQuery()
    {
        int sum = 0;
        byte* buf = stackalloc byte[64];
        for (int k = 0; k < SlowOps; k++)
        {
            fixed (byte* p = _sysfsPaths[k])
            {
                int fd = open(p, O_RDONLY | O_CLOEXEC);
                sum += (int)read(fd, buf, 64);
                close(fd);
            }
        }
        return sum;
    }

    /// <summary>The same open/read/close per question of a real sysfs attribute (kernfs and a driver's show
    /// function, as /sys/class/infiniband/DEV/ports/P/gids/N is), /sys/class/net/lo/address: this VM has no RDMA
    /// device, so it says whether the tmpfs file above makes the file read look cheaper than sysfs.</summary>
    [Benchmark(OperationsPerInvoke = SlowOps)]
    public int RealSysfsAttribute_OpenReadClosePerQuery()
    {
        int sum = 0;
        byte* buf = stackalloc byte[64];
        ReadOnlySpan<byte> path = "/sys/class/net/lo/address\0"u8;
        fixed (byte* p = path)
            for (int k = 0; k < SlowOps; k++)
            {
                int fd = open(p, O_RDONLY | O_CLOEXEC);
                sum += (int)read(fd, buf, 64);
                close(fd);
            }
        return sum;
    }

    /// <summary>Diagnostic, not a way to call the library: roceuio_gids_find through a SuppressGCTransition pointer
    /// (the call skips the GC mode switch). Unsafe for real use, since a lookup that meets an open window may spin and
    /// sched_yield for up to a second while the GC waits; with no writer here it never does, so the row shows what
    /// the transition costs inside SharedMemory_CLibrary.</summary>
    [Benchmark(OperationsPerInvoke = Keys)]
    public int SharedMemory_CLibrary_NoGcTransition_Diagnostic()
    {
        int sum = 0;
        GidEntry[] s = _stream;
        const uint mask = (uint)(GidFindMask.Gid | GidFindMask.GidType | GidFindMask.Netdev);
        var find = (delegate* unmanaged[SuppressGCTransition]<nint, byte*, uint, uint, uint, int, int>)_find;
        fixed (byte* g = _gidBytes)
            for (int k = 0; k < s.Length; k++)
                sum += find(_handle, g + k * 16, (uint)s[k].Type, (uint)s[k].NetdevIfindex, mask, 0);
        return sum;
    }

    [Benchmark(OperationsPerInvoke = SlowOps)]
    public int ControlSocket_FindRequest()
    {
        int sum = 0;
        for (int k = 0; k < SlowOps; k++)
            sum += ((JsonArray)ControlClient.CallAsync(_socket, "find", (JsonObject)_requests[k].DeepClone()).GetAwaiter().GetResult()!).Count;
        return sum;
    }
}
