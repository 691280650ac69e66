using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using RoceUio.Gids;

namespace RoceUio.Perf;

/// <summary>
/// Lookups and writes on a full 128-entry table (mlx4's size), against the kernel-style scan under a
/// ReaderWriterLockSlim and a ConcurrentDictionary. Each category has RoceUio as its baseline, so the Ratio column
/// says how many times slower the alternative is. Every invoke runs over all 128 keys (OperationsPerInvoke).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class GidTableBenchmarks
{
    private const int Capacity = 128;
    private const int Ops = Capacity;

    private GidTable _table = null!;
    private KernelStyleGidTable _kernel = null!;
    private ConcurrentDictionary<(Gid, GidType, int), int> _dict = null!;
    private GidEntry[] _hits = null!;
    private GidEntry[] _misses = null!;

    internal static GidEntry Entry(int i, int netdev)
        => new(new Gid(0x2001_0db8_0000_0000UL | (uint)(i >> 1), 0x0000_0000_c000_0200UL | (uint)i),
               (i & 1) == 0 ? GidType.RoceV2 : GidType.RoceV1, netdev);

    /// <summary>A full table: two defaults at 0 and 1, 126 ordinary entries; all three stores hold the same.</summary>
    internal static (GidTable, GidEntry[]) FullTable()
    {
        var table = new GidTable(1, Capacity, GidTypes.Roce);
        var entries = new GidEntry[Capacity];
        Gid def = Gid.DefaultFromMac([0x24, 0x8a, 0x07, 0xaa, 0xbb, 0xcc]);
        entries[0] = new GidEntry(def, GidType.RoceV1, 2);
        entries[1] = new GidEntry(def, GidType.RoceV2, 2);
        table.SetDefault(entries[0]);
        table.SetDefault(entries[1]);
        for (int i = 2; i < Capacity; i++)
            table.Add(entries[i] = Entry(i, 2 + i % 5));
        return (table, entries);
    }

    [GlobalSetup]
    public void Setup()
    {
        (_table, _hits) = FullTable();
        _kernel = new KernelStyleGidTable(Capacity, 2);
        _dict = new ConcurrentDictionary<(Gid, GidType, int), int>();
        for (int i = 0; i < Capacity; i++)
        {
            _kernel.Put(i, _hits[i]);
            _dict[(_hits[i].Gid, _hits[i].Type, _hits[i].NetdevIfindex)] = i;
        }
        _misses = new GidEntry[Capacity];
        for (int i = 0; i < Capacity; i++)
            _misses[i] = Entry(i + 1000, 2 + i % 5);
    }

    // ---- lookup hit by (gid, type, netdev) ----

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops), BenchmarkCategory("LookupHit")]
    public int RoceUio_Hit()
    {
        int sum = 0;
        foreach (ref readonly GidEntry e in _hits.AsSpan())
            if (_table.TryFind(e, out int i)) sum += i;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("LookupHit")]
    public int ConcurrentDictionary_Hit()
    {
        int sum = 0;
        foreach (ref readonly GidEntry e in _hits.AsSpan())
            if (_dict.TryGetValue((e.Gid, e.Type, e.NetdevIfindex), out int i)) sum += i;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("LookupHit")]
    public int KernelScan_Hit()
    {
        int sum = 0;
        foreach (ref readonly GidEntry e in _hits.AsSpan())
            if (_kernel.TryFind(e, out int i)) sum += i;
        return sum;
    }

    // ---- lookup miss ----

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops), BenchmarkCategory("LookupMiss")]
    public int RoceUio_Miss()
    {
        int sum = 0;
        foreach (ref readonly GidEntry e in _misses.AsSpan())
            if (!_table.TryFind(e, out _)) sum++;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("LookupMiss")]
    public int ConcurrentDictionary_Miss()
    {
        int sum = 0;
        foreach (ref readonly GidEntry e in _misses.AsSpan())
            if (!_dict.TryGetValue((e.Gid, e.Type, e.NetdevIfindex), out _)) sum++;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("LookupMiss")]
    public int KernelScan_Miss()
    {
        int sum = 0;
        foreach (ref readonly GidEntry e in _misses.AsSpan())
            if (!_kernel.TryFind(e, out _)) sum++;
        return sum;
    }

    // ---- query by index ----

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops), BenchmarkCategory("ByIndex")]
    public int RoceUio_TryGet()
    {
        int sum = 0;
        for (int i = 0; i < Capacity; i++)
            if (_table.TryGet(i, out GidEntry e)) sum += e.NetdevIfindex;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("ByIndex")]
    public int KernelScan_ByIndex()
    {
        int sum = 0;
        for (int i = 0; i < Capacity; i++)
            if (_kernel.TryGet(i, out GidEntry e)) sum += e.NetdevIfindex;
        return sum;
    }

    // ---- add/delete: take an entry out and put it back (the index stays: sticky, and first free) ----

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops - 2), BenchmarkCategory("AddDelete")]
    public int RoceUio_DeleteAdd()
    {
        int sum = 0;
        for (int i = 2; i < Capacity; i++)
        {
            _table.Delete(_hits[i]);
            sum += _table.Add(_hits[i]);
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops - 2), BenchmarkCategory("AddDelete")]
    public int ConcurrentDictionary_DeleteAdd()
    {
        int sum = 0;
        for (int i = 2; i < Capacity; i++)
        {
            var key = (_hits[i].Gid, _hits[i].Type, _hits[i].NetdevIfindex);
            _dict.TryRemove(key, out _);
            _dict.TryAdd(key, i);
            sum += i;
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops - 2), BenchmarkCategory("AddDelete")]
    public int KernelScan_DeleteAdd()
    {
        int sum = 0;
        for (int i = 2; i < Capacity; i++)
        {
            _kernel.Delete(_hits[i]);
            sum += _kernel.Add(_hits[i]);
        }
        return sum;
    }
}
