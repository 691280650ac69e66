using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using RoceUio.Gids;

namespace RoceUio.Perf;

/// <summary>
/// Read scaling: the time per lookup of one reader alone (the baseline) against two readers running at once while
/// a writer churns entries. Each invoke does <see cref="PerReader"/> lookups per reader and counts all of them, so
/// a Ratio of 0.5 means two readers got twice the single reader's throughput (target: ratio &lt;= 0.556, i.e. at
/// least 1.8x). The single-reader baseline runs with no writer, so the writer's cost counts against the pair.
/// </summary>
/// <remarks>
/// What the harness does so that it is not itself the limit:
/// <list type="bullet">
/// <item>Start and finish: the second reader spin-waits (SpinWait, which yields when it spins long) on a start
/// generation counter and publishes its result in its own padded slot; the benchmark thread bumps the
/// generation, runs its half and spin-waits on the second reader's done counter. No kernel event wake-up (tens of
/// microseconds) sits inside the measured invoke, and the two readers start within nanoseconds of each other.</item>
/// <item>Memory: the readers write no shared memory while they read (sums in registers); the start, done and
/// writer counters each sit on their own 128-byte block (two cache lines, against the adjacent-line prefetcher),
/// so the harness's own counters cause no false sharing.</item>
/// <item>The writer churns for real during every measured invoke: it deletes and re-adds 16 entries of the table
/// (32 table writes, each in a stripe seqlock window), then sleeps 1 ms; about 15,000 delete+add pairs a second,
/// far more than netlink produces. Its achieved rate is counted and printed at the end of the run
/// ("writer churned ..."). Sleeping keeps it from taking a core from the readers on a 2-core machine; the
/// point is the cost a writer imposes on readers (retries, invalidated cache lines), not a third busy core.</item>
/// <item>The continuous writer rows (<c>*_WithContinuousWriter</c>) run the same writer without the sleep: it
/// deletes and re-adds back to back for as long as the readers run, the worst a writer can do. On a 2-core machine
/// it takes a core of its own, so two readers beside it share the other one with it: the row says what a reader
/// pays when a writer never stops, not how well two readers scale.</item>
/// <item>A control in the same run (category MachineControl): the same one-thread/two-thread harness around a pure
/// register loop that touches no memory. Its ratio is what the machine gave two threads at that moment (on a
/// shared 2-core VM it has been seen anywhere from 1.0x to 2.0x); the lookups cannot scale better than it.</item>
/// </list>
/// </remarks>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class GidReadThroughputBenchmarks
{
    private const int PerReader = 1 << 20;

    /// <summary>A counter alone on 128 bytes (two cache lines), so that writing it disturbs no other counter.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Padded
    {
        [FieldOffset(64)] public long Value;
    }

    private GidTable _table = null!;
    private GidEntry[] _entries = null!;
    private Thread? _second, _writer;
    private readonly Padded[] _counters = new Padded[4];   // 0: start generation, 1: done, 2: result, 3: writer ops
    private volatile bool _stop;
    private bool _writerSleeps = true;
    private Func<int, int> _secondWork = null!;
    private Stopwatch _writerClock = new();

    private ref long StartGeneration => ref _counters[0].Value;
    private ref long DoneGeneration => ref _counters[1].Value;
    private ref long SecondResult => ref _counters[2].Value;
    private ref long WriterPairs => ref _counters[3].Value;

    [GlobalSetup]
    public void Setup() => (_table, _entries) = GidTableBenchmarks.FullTable();

    [GlobalSetup(Target = nameof(TwoReaders_WithChurningWriter))]
    public void SetupConcurrent() => StartReaderAndWriter(writerSleeps: true, secondReader: true);

    [GlobalSetup(Target = nameof(TwoReaders_WithContinuousWriter))]
    public void SetupContinuous() => StartReaderAndWriter(writerSleeps: false, secondReader: true);

    [GlobalSetup(Target = nameof(OneReader_WithContinuousWriter))]
    public void SetupOneContinuous() => StartReaderAndWriter(writerSleeps: false, secondReader: false);

    private void StartReaderAndWriter(bool writerSleeps, bool secondReader)
    {
        Setup();
        _stop = false;
        _writerSleeps = writerSleeps;
        _secondWork = Read;
        if (secondReader)
        {
            _second = new Thread(SecondReader) { IsBackground = true, Name = "second reader" };
            _second.Start();
        }
        _writer = new Thread(Writer) { IsBackground = true, Name = writerSleeps ? "churning writer" : "continuous writer" };
        _writer.Start();
    }

    [GlobalSetup(Target = nameof(TwoThreads_RegisterLoop))]
    public void SetupControl()
    {
        Setup();
        _stop = false;
        _secondWork = RegisterLoop;
        _second = new Thread(SecondReader) { IsBackground = true, Name = "second spinner" };
        _second.Start();
    }

    private void SecondReader()
    {
        long seen = 0;
        while (true)
        {
            SpinWait spin = default;
            while (Volatile.Read(ref StartGeneration) == seen)
            {
                if (_stop) return;
                spin.SpinOnce(sleep1Threshold: -1);
            }
            seen++;
            Volatile.Write(ref SecondResult, _secondWork(1));
            Volatile.Write(ref DoneGeneration, seen);
        }
    }

    private void Writer()
    {
        _writerClock = Stopwatch.StartNew();
        int n = 0;
        while (!_stop)
        {
            for (int k = 0; k < 16; k++, n++)
            {
                GidEntry e = _entries[2 + n % 126];
                _table.Delete(e);
                _table.Add(e);
            }
            Volatile.Write(ref WriterPairs, n);
            if (_writerSleeps)
                Thread.Sleep(1);
        }
        _writerClock.Stop();
    }

    [GlobalCleanup(Target = nameof(TwoThreads_RegisterLoop))]
    public void CleanupControl()
    {
        _stop = true;
        _second?.Join();
    }

    [GlobalCleanup(Targets = [nameof(TwoReaders_WithChurningWriter), nameof(TwoReaders_WithContinuousWriter), nameof(OneReader_WithContinuousWriter)])]
    public void Cleanup()
    {
        _stop = true;
        _second?.Join();
        _writer?.Join();
        double seconds = _writerClock.Elapsed.TotalSeconds;
        long pairs = Volatile.Read(ref WriterPairs);
        Console.WriteLine($"// {(_writerSleeps ? "1 ms-sleeping" : "continuous")} writer churned {pairs:N0} delete+add pairs in {seconds:F1} s = {pairs / seconds:N0} pairs/s " +
                          $"({2 * pairs / seconds:N0} table writes/s) while the readers ran");
    }

    // Not inlined: the baseline (OneReader) and both readers of the pair run this same compiled body, so the ratio
    // compares threads, not two code layouts of the loop.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int Read(int seed)
    {
        GidTable t = _table;
        GidEntry[] entries = _entries;
        int sum = 0;
        for (int n = 0; n < PerReader; n++)
            if (t.TryFind(entries[(n * 7 + seed) & 127], out int i)) sum += i;
        return sum;
    }

    /// <summary>A dependent multiply-add chain in registers: CPU time and nothing else.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RegisterLoop(int seed)
    {
        ulong x = (ulong)seed + 1;
        for (int n = 0; n < PerReader; n++)
            x = x * 6364136223846793005UL + 1442695040888963407UL;
        return (int)x;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = PerReader), BenchmarkCategory("Lookups")]
    public int OneReader() => Read(0);

    [Benchmark(OperationsPerInvoke = 2 * PerReader), BenchmarkCategory("Lookups")]
    public int TwoReaders_WithChurningWriter() => RunTwo(Read);

    [Benchmark(OperationsPerInvoke = PerReader), BenchmarkCategory("Lookups")]
    public int OneReader_WithContinuousWriter() => Read(0);

    [Benchmark(OperationsPerInvoke = 2 * PerReader), BenchmarkCategory("Lookups")]
    public int TwoReaders_WithContinuousWriter() => RunTwo(Read);

    [Benchmark(Baseline = true, OperationsPerInvoke = PerReader), BenchmarkCategory("MachineControl")]
    public int OneThread_RegisterLoop() => RegisterLoop(0);

    [Benchmark(OperationsPerInvoke = 2 * PerReader), BenchmarkCategory("MachineControl")]
    public int TwoThreads_RegisterLoop() => RunTwo(RegisterLoop);

    private int RunTwo(Func<int, int> work)
    {
        long generation = Volatile.Read(ref StartGeneration) + 1;
        Volatile.Write(ref StartGeneration, generation);
        int sum = work(0);
        SpinWait spin = default;
        while (Volatile.Read(ref DoneGeneration) != generation)
            spin.SpinOnce(sleep1Threshold: -1);
        return sum + (int)Volatile.Read(ref SecondResult);
    }
}
