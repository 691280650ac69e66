using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using RoceUio.Gids;

namespace RoceUio.Perf.IndexDesigns;

/// <summary>
/// A/B of lookup-index designs in one process, the same random-order stream of hits as
/// <see cref="GidTableScaleBenchmarks"/> (4,096 keys drawn from a full table, fixed seed) at 16, 128 and 1024
/// entries: A = the real <see cref="GidTable.TryFind(in GidEntry, out int)"/> (since round 5 the flat-line index with
/// deletes, baseline); A0 = <see cref="StripedBucketIndex"/>, the table's index up to round 4 (striped buckets);
/// C = <see cref="TagGroupIndex"/> (SwissTable/F14 tags compared with Vector128); and ConcurrentDictionary as the peer
/// of the target. Round 4's design B (a flat-line prototype, insert only) is what A is since round 5, so its
/// row was dropped: the real index is A (perf/RESULTS.md keeps B's figures as history).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class GidIndexDesignBenchmarks
{
    private const int StreamLength = 4096;

    [Params(16, 128, 1024)]
    public int Size;

    private GidTable _table = null!;
    private StripedBucketIndex _striped = null!;
    private TagGroupIndex _tags = null!;
    private ConcurrentDictionary<(Gid, GidType, int), int> _dict = null!;
    private GidEntry[] _stream = null!;

    internal static GidEntry[] FullEntries(int size)
    {
        var entries = new GidEntry[size];
        Gid def = Gid.DefaultFromMac([0x24, 0x8a, 0x07, 0xaa, 0xbb, 0xcc]);
        entries[0] = new GidEntry(def, GidType.RoceV1, 2);
        entries[1] = new GidEntry(def, GidType.RoceV2, 2);
        for (int i = 2; i < size; i++)
            entries[i] = GidTableBenchmarks.Entry(i, 2 + i % 5);
        return entries;
    }

    [GlobalSetup]
    public void Setup()
    {
        GidEntry[] entries = FullEntries(Size);
        _table = new GidTable(1, Size, GidTypes.Roce);
        _table.SetDefault(entries[0]);
        _table.SetDefault(entries[1]);
        for (int i = 2; i < Size; i++)
            _table.Add(entries[i]);
        _striped = new StripedBucketIndex(Size);
        _tags = new TagGroupIndex(Size);
        _dict = new ConcurrentDictionary<(Gid, GidType, int), int>();
        for (int i = 0; i < Size; i++)
        {
            _striped.Set(entries[i], i);
            _tags.Insert(entries[i], i);
            _dict[(entries[i].Gid, entries[i].Type, entries[i].NetdevIfindex)] = i;
        }
        var rng = new Random(17);
        _stream = new GidEntry[StreamLength];
        for (int n = 0; n < StreamLength; n++)
            _stream[n] = entries[rng.Next(Size)];
        // Every design must give the table's answer for every key of the stream.
        foreach (GidEntry e in _stream)
        {
            if (!_table.TryFind(e, out int want))
                throw new InvalidOperationException($"table lost {e}");
            if (!_striped.TryFind(e.Gid.SubnetPrefix, e.Gid.InterfaceId, e.NetdevIfindex, e.Type, out int s) || s != want)
                throw new InvalidOperationException($"striped index: {e} gave {s}, table {want}");
            if (!_tags.TryFind(e.Gid.SubnetPrefix, e.Gid.InterfaceId, e.NetdevIfindex, e.Type, out int t) || t != want)
                throw new InvalidOperationException($"tag index: {e} gave {t}, table {want}");
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = StreamLength), BenchmarkCategory("RandomHit")]
    public int A_Table()
    {
        GidTable t = _table;
        int sum = 0;
        foreach (ref readonly GidEntry e in _stream.AsSpan())
            if (t.TryFind(e, out int i)) sum += i;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = StreamLength), BenchmarkCategory("RandomHit")]
    public int A0_StripedBuckets_Before()
    {
        StripedBucketIndex x = _striped;
        int sum = 0;
        foreach (ref readonly GidEntry e in _stream.AsSpan())
            if (x.TryFind(e.Gid.SubnetPrefix, e.Gid.InterfaceId, e.NetdevIfindex, e.Type, out int i)) sum += i;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = StreamLength), BenchmarkCategory("RandomHit")]
    public int C_TagGroups_Vector128()
    {
        TagGroupIndex x = _tags;
        int sum = 0;
        foreach (ref readonly GidEntry e in _stream.AsSpan())
            if (x.TryFind(e.Gid.SubnetPrefix, e.Gid.InterfaceId, e.NetdevIfindex, e.Type, out int i)) sum += i;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = StreamLength), BenchmarkCategory("RandomHit")]
    public int ConcurrentDictionary()
    {
        var d = _dict;
        int sum = 0;
        foreach (ref readonly GidEntry e in _stream.AsSpan())
            if (d.TryGetValue((e.Gid, e.Type, e.NetdevIfindex), out int i)) sum += i;
        return sum;
    }
}
