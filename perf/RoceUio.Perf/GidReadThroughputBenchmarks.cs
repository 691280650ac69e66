using BenchmarkDotNet.Attributes;
using RoceUio.Gids;

namespace RoceUio.Perf;

/// <summary>
/// Read scaling: the time per lookup of one reader alone (the baseline) against two readers running at once while
/// a writer churns entries. Each invoke does <see cref="PerReader"/> lookups per reader and counts all of them, so
/// a Ratio of 0.5 means two readers got twice the single reader's throughput (target: ratio &lt;= 0.556, i.e. at
/// least 1.8x). The writer deletes and re-adds 16 entries, then sleeps 1 ms (about 16,000 changes a second, far
/// more than netlink produces), so on a 2-core machine it does not take a core away from the readers.
/// </summary>
[MemoryDiagnoser]
public class GidReadThroughputBenchmarks
{
    private const int PerReader = 1 << 20;

    private GidTable _table = null!;
    private GidEntry[] _entries = null!;
    private Thread? _second, _writer;
    private readonly ManualResetEventSlim _go = new(), _done = new();
    private volatile bool _stop;
    private long _sink;

    [GlobalSetup]
    public void Setup() => (_table, _entries) = GidTableBenchmarks.FullTable();

    [GlobalSetup(Target = nameof(TwoReaders_WithChurningWriter))]
    public void SetupConcurrent()
    {
        Setup();
        _stop = false;
        _second = new Thread(() =>
        {
            while (true)
            {
                _go.Wait();
                _go.Reset();
                if (_stop) return;
                Interlocked.Add(ref _sink, Read(1));
                _done.Set();
            }
        }) { IsBackground = true };
        _writer = new Thread(() =>
        {
            int n = 0;
            while (!_stop)
            {
                for (int k = 0; k < 16; k++, n++)
                {
                    GidEntry e = _entries[2 + n % 126];
                    _table.Delete(e);
                    _table.Add(e);
                }
                Thread.Sleep(1);
            }
        }) { IsBackground = true };
        _second.Start();
        _writer.Start();
    }

    [GlobalCleanup(Target = nameof(TwoReaders_WithChurningWriter))]
    public void Cleanup()
    {
        _stop = true;
        _go.Set();
        _second?.Join();
        _writer?.Join();
    }

    private int Read(int seed)
    {
        GidTable t = _table;
        GidEntry[] entries = _entries;
        int sum = 0;
        for (int n = 0; n < PerReader; n++)
            if (t.TryFind(entries[(n * 7 + seed) & 127], out int i)) sum += i;
        return sum;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = PerReader)]
    public int OneReader() => Read(0);

    [Benchmark(OperationsPerInvoke = 2 * PerReader)]
    public int TwoReaders_WithChurningWriter()
    {
        _done.Reset();
        _go.Set();
        int sum = Read(0);
        _done.Wait();
        return sum;
    }
}
