using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using RoceUio.Gids;

namespace RoceUio.Perf;

/// <summary>
/// The shapes a user sees, at the three table sizes of the drivers (ocrdma 16, mlx4 128, rxe 1024 slots), every peer
/// in the same run: RoceUio, a <c>ConcurrentDictionary&lt;(Gid, GidType, int), int&gt;</c>, and the kernel-style
/// scan under a reader lock (<see cref="KernelStyleGidTable"/>). Each (category, size) has RoceUio as its baseline,
/// so Ratio says how many times slower a peer is at that size.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>RandomHit: a stream of <see cref="StreamLength"/> keys drawn at random (fixed seed) from the full table's
/// entries, looked up in that order: what a data path asking for the GIDs of arriving packets does. The older
/// <see cref="GidTableBenchmarks"/> walks the table's own entries in index order, which is friendlier to the
/// branch predictor and the caches than any real stream.</item>
/// <item>FreshDeleteAdd: delete a live entry, then add a GID the table has never seen (IPv6 privacy addresses:
/// a new random interface id every time). The table stays full but one slot, so the sticky policy has to look for
/// a slot nobody remembers and its history forgets its oldest key on every add once it is full (4 x capacity).</item>
/// </list>
/// </remarks>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class GidTableScaleBenchmarks
{
    private const int StreamLength = 4096;
    private const int FreshOps = 256;
    private const int Netdev = 2;

    [Params(16, 128, 1024)]
    public int Size;

    private GidTable _table = null!;
    private KernelStyleGidTable _kernel = null!;
    private ConcurrentDictionary<(Gid, GidType, int), int> _dict = null!;
    private GidEntry[] _stream = null!;

    // FreshDeleteAdd state, one per peer: the live entry of every ordinary slot and the next slot to replace.
    private GidEntry[] _liveTable = null!, _liveKernel = null!, _liveDict = null!;
    private int _nextTable, _nextKernel, _nextDict;
    private ulong _freshTable, _freshKernel, _freshDict;

    /// <summary>An IPv6 privacy address: a fixed /64 and an interface id that looks random (splitmix64 of n).</summary>
    internal static GidEntry Fresh(ulong n)
    {
        ulong z = (n + 1) * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return new GidEntry(new Gid(0x2001_0db8_0000_0001UL, (z ^ (z >> 31)) | 1), GidType.RoceV2, Netdev);
    }

    [GlobalSetup]
    public void Setup()
    {
        _table = new GidTable(1, Size, GidTypes.Roce);
        _kernel = new KernelStyleGidTable(Size, 2);
        _dict = new ConcurrentDictionary<(Gid, GidType, int), int>();
        var entries = new GidEntry[Size];
        Gid def = Gid.DefaultFromMac([0x24, 0x8a, 0x07, 0xaa, 0xbb, 0xcc]);
        entries[0] = new GidEntry(def, GidType.RoceV1, Netdev);
        entries[1] = new GidEntry(def, GidType.RoceV2, Netdev);
        _table.SetDefault(entries[0]);
        _table.SetDefault(entries[1]);
        for (int i = 2; i < Size; i++)
            _table.Add(entries[i] = GidTableBenchmarks.Entry(i, 2 + i % 5));
        for (int i = 0; i < Size; i++)
        {
            _kernel.Put(i, entries[i]);
            _dict[(entries[i].Gid, entries[i].Type, entries[i].NetdevIfindex)] = i;
        }
        var rng = new Random(17);
        _stream = new GidEntry[StreamLength];
        for (int n = 0; n < StreamLength; n++)
            _stream[n] = entries[rng.Next(Size)];
        _liveTable = (GidEntry[])entries.Clone();
        _liveKernel = (GidEntry[])entries.Clone();
        _liveDict = (GidEntry[])entries.Clone();
        _nextTable = _nextKernel = _nextDict = 2;
        _freshTable = _freshKernel = _freshDict = 0;
    }

    // ---- random-order stream of hits ----

    [Benchmark(Baseline = true, OperationsPerInvoke = StreamLength), BenchmarkCategory("RandomHit")]
    public int RoceUio_RandomHit()
    {
        GidTable t = _table;
        int sum = 0;
        foreach (ref readonly GidEntry e in _stream.AsSpan())
            if (t.TryFind(e, out int i)) sum += i;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = StreamLength), BenchmarkCategory("RandomHit")]
    public int ConcurrentDictionary_RandomHit()
    {
        var d = _dict;
        int sum = 0;
        foreach (ref readonly GidEntry e in _stream.AsSpan())
            if (d.TryGetValue((e.Gid, e.Type, e.NetdevIfindex), out int i)) sum += i;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = StreamLength), BenchmarkCategory("RandomHit")]
    public int KernelScan_RandomHit()
    {
        var k = _kernel;
        int sum = 0;
        foreach (ref readonly GidEntry e in _stream.AsSpan())
            if (k.TryFind(e, out int i)) sum += i;
        return sum;
    }

    // ---- delete + add of a never-seen GID ----

    [Benchmark(Baseline = true, OperationsPerInvoke = FreshOps), BenchmarkCategory("FreshDeleteAdd")]
    public int RoceUio_FreshDeleteAdd()
    {
        int sum = 0;
        for (int k = 0; k < FreshOps; k++)
        {
            int j = _nextTable;
            _nextTable = j + 1 == Size ? 2 : j + 1;
            _table.Delete(_liveTable[j]);
            GidEntry e = Fresh(_freshTable++);
            sum += _table.Add(e);
            _liveTable[j] = e;
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = FreshOps), BenchmarkCategory("FreshDeleteAdd")]
    public int ConcurrentDictionary_FreshDeleteAdd()
    {
        int sum = 0;
        for (int k = 0; k < FreshOps; k++)
        {
            int j = _nextDict;
            _nextDict = j + 1 == Size ? 2 : j + 1;
            GidEntry old = _liveDict[j];
            _dict.TryRemove((old.Gid, old.Type, old.NetdevIfindex), out _);
            GidEntry e = Fresh(_freshDict++);
            _dict.TryAdd((e.Gid, e.Type, e.NetdevIfindex), j);
            sum += j;
            _liveDict[j] = e;
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = FreshOps), BenchmarkCategory("FreshDeleteAdd")]
    public int KernelScan_FreshDeleteAdd()
    {
        int sum = 0;
        for (int k = 0; k < FreshOps; k++)
        {
            int j = _nextKernel;
            _nextKernel = j + 1 == Size ? 2 : j + 1;
            _kernel.Delete(_liveKernel[j]);
            GidEntry e = Fresh(_freshKernel++);
            sum += _kernel.Add(e);
            _liveKernel[j] = e;
        }
        return sum;
    }
}
