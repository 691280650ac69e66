using System.Collections.Concurrent;
using System.Diagnostics;
using NUnit.Framework;
using RoceUio.Gids;

namespace RoceUio.Core.Tests.Gids;

/// <summary>Readers racing writers: every answer whole and consistent; the hot path allocates nothing.</summary>
public class GidTableConcurrencyTests
{
    private const int Capacity = 128, Variants = 4, Ndev0 = 10;
    // Writers churn only the lowest ordinary slots and readers mostly look there, so that a reader often meets a
    // write in progress (on a 2-core machine a wide spread makes that too rare to find a missing retry).
    private const int HotSlots = 6;

    // Entry v of slot i. Every attribute is derived from (i, v), so a reader can tell a whole entry from one mixed
    // out of two writes: the low 16 bits of the prefix name the slot, bits 16.. the variant, the interface id is a
    // hash of the prefix, and the type and netdev follow from the variant.
    private static GidEntry Entry(int slot, int variant)
    {
        ulong hi = 0x2001_0db8_0000_0000UL | (ulong)variant << 16 | (uint)slot;
        return new GidEntry(new Gid(hi, Mix(hi)), (variant & 1) == 0 ? GidType.RoceV2 : GidType.RoceV1, Ndev0 + variant);
    }

    private static ulong Mix(ulong x) => (x * 0x9E3779B97F4A7C15UL) ^ (x >> 29) ^ 0x5555_0000_5555_0000UL;

    private static string? CheckWhole(int slot, in GidEntry e)
    {
        ulong hi = e.Gid.SubnetPrefix;
        int v = (int)(hi >> 16) & 0xffff;
        if ((int)(hi & 0xffff) != slot || v >= Variants || e != Entry(slot, v))
            return $"slot {slot} returned a torn or foreign entry {e}";
        return null;
    }

    [Test]
    public void WritersChurn_ReadersAlwaysSeeWholeConsistentEntries()
    {
        var t = new GidTable(1, Capacity, GidTypes.Roce, IndexPolicy.Sticky);
        var def1 = new GidEntry(Gid.DefaultFromMac([2, 0, 0, 0, 0, 1]), GidType.RoceV1, 3);
        var def2 = def1 with { Type = GidType.RoceV2 };
        t.SetDefault(def1);
        t.SetDefault(def2);
        // Every variant of slot i is remembered at i, so under the sticky policy a writer that deletes slot i's
        // entry and adds another variant always lands on i: a reader can check indexes exactly.
        var assignments = new List<(GidEntry, int)>();
        for (int i = 2; i < Capacity; i++)
            for (int v = 0; v < Variants; v++)
                assignments.Add((Entry(i, v), i));
        t.ImportAssignments(assignments);
        var current = new int[Capacity];
        for (int i = 2; i < Capacity; i++)
            t.Add(Entry(i, 0));

        var failures = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        long writes = 0, reads = 0, hits = 0;

        void Writer(int first, int step)
        {
            var rng = new Random(first);
            while (!stop.IsCancellationRequested)
            {
                int i = first + step * rng.Next(HotSlots / step);
                if (!t.Delete(Entry(i, current[i])))
                    failures.Enqueue($"writer: slot {i} variant {current[i]} was not there");
                current[i] = (current[i] + 1) % Variants;
                int got = t.Add(Entry(i, current[i]));
                if (got != i)
                    failures.Enqueue($"writer: slot {i} variant {current[i]} landed at {got}");
                Interlocked.Increment(ref writes);
            }
        }

        void Reader(int seed)
        {
            var rng = new Random(seed);
            long n = 0, h = 0;
            while (!stop.IsCancellationRequested)
            {
                int i = (n & 7) == 0 ? rng.Next(2, Capacity) : rng.Next(2, 2 + HotSlots), v = rng.Next(Variants);
                GidEntry probe = Entry(i, v);
                if (t.TryFind(probe, out int index))
                {
                    h++;
                    if (index != i)
                        failures.Enqueue($"reader: {probe} found at {index}, expected {i}");
                }
                if (t.TryGet(i, out GidEntry e) && CheckWhole(i, e) is { } torn)
                    failures.Enqueue("reader: " + torn);
                if ((n & 63) == 0)
                {
                    if (t.TryFind(probe.Gid, probe.Type, 0, GidFindMask.Gid | GidFindMask.GidType, false, out index) && index != i)
                        failures.Enqueue($"reader: masked find of {probe} gave {index}");
                    if (!t.TryFind(def2, out index) || index != 1 || !t.TryGet(0, out e) || e != def1)
                        failures.Enqueue("reader: a default entry disappeared");
                    int count = t.Count;
                    if (count < Capacity - 2 || count > Capacity)
                        failures.Enqueue($"reader: Count {count} out of range");
                }
                n++;
            }
            Interlocked.Add(ref reads, n);
            Interlocked.Add(ref hits, h);
        }

        var threads = new List<Thread>
        {
            new(() => Writer(2, 2)), new(() => Writer(3, 2)),
            new(() => Reader(1)), new(() => Reader(2)), new(() => Reader(3)),
        };
        threads.ForEach(th => th.Start());
        stop.CancelAfter(TimeSpan.FromSeconds(2.5));
        threads.ForEach(th => th.Join());

        Assert.That(failures.Take(10), Is.Empty);
        Assert.That(writes, Is.GreaterThan(1000), "writers made progress");
        Assert.That(reads, Is.GreaterThan(10_000), "readers made progress");
        Assert.That(hits, Is.GreaterThan(0).And.LessThan(reads), "lookups both hit and missed");
        // After the storm: exactly one variant per slot, each at its own index.
        for (int i = 2; i < Capacity; i++)
            Assert.That((t.TryGet(i, out var e), e), Is.EqualTo((true, Entry(i, current[i]))), $"slot {i}");
        Assert.That(t.Count, Is.EqualTo(Capacity));
    }

    [Test]
    public void AReaderWaitsOutAWriterCaughtHalfWay_AndThenSeesTheWholeNewEntry()
    {
        // Plays GidSlot.Publish by hand and stops half way, as a writer preempted mid-write would: the reader must
        // neither return the half-written entry nor give up, and must see the whole entry once the writer finishes.
        var t = new GidTable(1, 16, GidTypes.Roce);
        ref GidSlot slot = ref t.SlotsForTest[5];
        GidEntry next = Entry(5, 1);
        Interlocked.Increment(ref slot.Seq);
        slot.Hi = next.Gid.SubnetPrefix;                       // the interface id, type and netdev not yet
        Volatile.Write(ref slot.Word, GidSlot.MakeWord(GidEntryState.Valid, 0));

        GidEntry seen = default;
        bool valid = false;
        var reader = new Thread(() => valid = t.TryGet(5, out seen));
        reader.Start();
        Assert.That(reader.Join(200), Is.False, "the reader returned while the write was half done");

        slot.Lo = next.Gid.InterfaceId;
        slot.Type = next.Type;
        slot.Netdev = next.NetdevIfindex;
        Volatile.Write(ref slot.Seq, slot.Seq + 1);
        Assert.That(reader.Join(5000), Is.True, "the reader did not resume after the write");
        Assert.That(valid, Is.True);
        Assert.That(seen, Is.EqualTo(next));
    }

    [Test]
    public void AHashLookupWaitsOutAWriterInItsLine_AndThenSeesTheNewIndex()
    {
        // Plays GidHashIndex.Set by hand: the home line's sequence goes odd and stays odd (a writer preempted in the
        // line) while the line still answers the old index. The lookup must neither answer from the bucket nor
        // give up while the sequence is odd, and must see the whole new mapping once the writer finishes.
        var t = new GidTable(1, 16, GidTypes.Roce);
        GidEntry e = Entry(5, 1);
        int first = t.Add(e);
        ref int seq = ref t.IndexForTest.HomeLineSeqForTest(e);
        Interlocked.Increment(ref seq);

        int seen = -2;
        bool found = false;
        var reader = new Thread(() => found = t.TryFind(e, out seen));
        reader.Start();
        Assert.That(reader.Join(200), Is.False, "the lookup answered while a writer was inside the key's line");

        Volatile.Write(ref seq, seq + 1);       // the writer leaves (having changed nothing)
        Assert.That(reader.Join(5000), Is.True, "the lookup did not resume after the writer left");
        Assert.That(found, Is.True);
        Assert.That(seen, Is.EqualTo(first));
    }

    [Test]
    public void HoldersRaceDeletes_ASlotIsFreedExactlyOnce_AndNeverWhileHeld()
    {
        // One ordinary slot: a writer deletes and re-adds an entry while holders take and drop references. A
        // slot freed while held, or freed twice, shows up as a holder's entry changing under it, a failed
        // Release, or a slot left pending with no holders.
        var t = new GidTable(1, 3, GidTypes.Roce, IndexPolicy.Kernel);
        var failures = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        long holds = 0, cycles = 0;

        void Writer()
        {
            int v = 0;
            while (!stop.IsCancellationRequested)
            {
                var e = Entry(2, v);
                if (t.TryAdd(e, out _, out _) != GidWriteResult.Added)
                {
                    Thread.Yield();             // the old entry is still held pending delete
                    continue;
                }
                Thread.SpinWait(50);
                if (!t.Delete(e))
                    failures.Enqueue($"delete of {e} failed");
                v = (v + 1) % Variants;
                Interlocked.Increment(ref cycles);
            }
        }

        void Holder()
        {
            long n = 0;
            while (!stop.IsCancellationRequested)
            {
                if (!t.TryHold(2, out GidEntry held))
                    continue;
                n++;
                if (CheckWhole(2, held) is { } torn)
                    failures.Enqueue("holder: " + torn);
                Thread.SpinWait(20);
                if (t.StateOf(2) == GidEntryState.Free)
                    failures.Enqueue("holder: slot freed while held");
                try { t.Release(2); }
                catch (InvalidOperationException ex) { failures.Enqueue(ex.Message); }
            }
            Interlocked.Add(ref holds, n);
        }

        var threads = new List<Thread> { new(Writer), new(Holder), new(Holder) };
        threads.ForEach(th => th.Start());
        stop.CancelAfter(TimeSpan.FromSeconds(1.5));
        threads.ForEach(th => th.Join());

        Assert.That(failures.Take(10), Is.Empty);
        Assert.That(holds, Is.GreaterThan(100));
        Assert.That(cycles, Is.GreaterThan(100));
        Assert.That(t.ReferencesOf(2), Is.EqualTo(0));
        Assert.That(t.StateOf(2), Is.Not.EqualTo(GidEntryState.PendingDelete), "pending with no holders left");
    }

    [Test]
    public void AMillionLookups_AllocateNothing()
    {
        var t = new GidTable(1, Capacity, GidTypes.Roce);
        t.SetDefault(new GidEntry(Gid.DefaultFromMac([2, 0, 0, 0, 0, 1]), GidType.RoceV1, 3));
        t.SetDefault(new GidEntry(Gid.DefaultFromMac([2, 0, 0, 0, 0, 1]), GidType.RoceV2, 3));
        var hits = new GidEntry[Capacity];
        for (int i = 2; i < Capacity; i++)
            t.Add(hits[i] = Entry(i, 0));
        hits[0] = hits[2];
        hits[1] = hits[3];
        GidEntry miss = Entry(5, 3);

        long found = 0;
        void Run(int iterations)
        {
            for (int n = 0; n < iterations; n++)
            {
                if (t.TryFind(hits[n & (Capacity - 1)], out int i)) found += i;
                if (t.TryFind(miss, out _)) found--;
                if (t.TryGet(n & (Capacity - 1), out GidEntry e)) found += e.NetdevIfindex;
                if ((n & 255) == 0)
                {
                    if (t.TryFind(miss.Gid, miss.Type, 0, GidFindMask.Gid, false, out _)) found--;
                    foreach (var (index, _) in t) found += index;
                }
            }
        }

        Run(20_000);                                  // warm up: tiering, statics
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(1_000_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.EqualTo(0), "bytes allocated by 1,000,000 x (hit, miss, query by index)");
        Assert.That(found, Is.GreaterThan(0), "the lookups found entries");
    }
}
