using System.Collections.Concurrent;
using NUnit.Framework;
using RoceUio.Gids;

namespace RoceUio.Core.Tests.Gids;

/// <summary>
/// The flat-line hash index against a Dictionary model (backward-shift deletes, hidden keys, the writers' values),
/// and readers racing a writer whose shifts move keys across lines.
/// </summary>
public class GidHashIndexTests
{
    // Keys share most bits so that the hash has to do the spreading.
    private static GidEntry Key(int k)
        => new(new Gid(0xfe80_0000_0000_0000UL, 0x0200_5eff_fe00_0000UL | (uint)(k >> 2)), (GidType)(1 + (k & 1)), 2 + ((k >> 1) & 1));

    private static bool Find(GidHashIndex index, in GidEntry e, out int got)
        => index.TryFind(e.Gid.SubnetPrefix, e.Gid.InterfaceId, e.NetdevIfindex, e.Type, out got);

    [TestCase(64, 64), TestCase(4, 12)]
    public void RandomAddsHidesAndRemoves_AgreeWithADictionary(int capacity, int keys)
    {
        // (4, 12): three times the keys the index is sized for, so clusters run over several lines and deletes shift
        // keys from line to line.
        var index = new GidHashIndex(capacity);
        var model = new Dictionary<GidEntry, (int Reader, int Writer)>();
        var rng = new Random(12345 + capacity);
        int hiddenSeen = 0;
        for (int step = 0; step < 100_000; step++)
        {
            var key = Key(rng.Next(4 * keys));
            int at = index.Find(key);
            Assert.That(at >= 0, Is.EqualTo(model.ContainsKey(key)), $"step {step}: Find of {key}");
            int op = rng.Next(3);
            if (at < 0 && model.Count < keys)
            {
                int reader = rng.Next(4) == 0 ? -1 : rng.Next(capacity), writer = rng.Next(1, 1000);
                index.Add(key, reader, writer);
                model[key] = (reader, writer);
            }
            else if (at >= 0 && op == 0)
            {
                int reader = rng.Next(3) == 0 ? -1 : rng.Next(capacity);
                index.SetReaderIndexAt(at, reader);
                model[key] = (reader, model[key].Writer);
            }
            else if (at >= 0)
            {
                index.RemoveAt(at);
                model.Remove(key);
            }
            if (step % 500 == 0)
            {
                for (int k = 0; k < 4 * keys; k++)
                {
                    GidEntry e = Key(k);
                    bool inModel = model.TryGetValue(e, out var want);
                    bool found = Find(index, e, out int got);
                    Assert.That((found, found ? got : -1), Is.EqualTo((inModel && want.Reader >= 0, inModel ? want.Reader : -1)), $"key {k} at step {step}: readers' answer");
                    int p = index.Find(e);
                    Assert.That(p >= 0, Is.EqualTo(inModel), $"key {k} at step {step}: writers' find");
                    if (inModel)
                    {
                        Assert.That(index.ReaderIndexAt(p), Is.EqualTo(want.Reader), $"key {k} at step {step}: reader index");
                        Assert.That(index.WriterValueAt(p), Is.EqualTo(want.Writer), $"key {k} at step {step}: writer value");
                        if (want.Reader < 0)
                            hiddenSeen++;
                    }
                }
            }
        }
        Assert.That(hiddenSeen, Is.GreaterThan(0), "hidden keys were checked");
    }

    [Test]
    public void ReadersRaceShiftsAcrossLines_NeverMissAKeyThatStaysNorSeeAWrongIndex()
    {
        // An index sized for 4 keys (8 lines, 16 positions) holding up to 12: long clusters over several lines.
        // Eight keys stay the whole time; the writer adds and removes four others around them, so every delete's
        // backward shift can move a staying key back across a line boundary while a reader probes. A reader that
        // read the line a key left after it left and the line it moved to before it arrived would miss it: the
        // recheck of the probed lines' counters must make it look again.
        var index = new GidHashIndex(4);
        const int staying = 8, churning = 4;
        int ValueOf(int k) => 100 + k;
        for (int k = 0; k < staying; k++)
            index.Add(Key(k), ValueOf(k), 0);
        var failures = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        long reads = 0, writes = 0, churnHits = 0;

        void Writer()
        {
            var rng = new Random(1);
            var present = new bool[churning];
            while (!stop.IsCancellationRequested)
            {
                int c = rng.Next(churning);
                GidEntry key = Key(staying + c);
                if (present[c])
                    index.RemoveAt(index.Find(key));
                else
                    index.Add(key, ValueOf(staying + c), 0);
                present[c] = !present[c];
                Interlocked.Increment(ref writes);
            }
        }

        void Reader(int seed)
        {
            var rng = new Random(seed);
            long n = 0, hits = 0;
            while (!stop.IsCancellationRequested)
            {
                int k = rng.Next(staying + churning);
                bool found = Find(index, Key(k), out int got);
                if (k < staying && !found)
                    failures.Enqueue($"reader: staying key {k} missed");
                if (found && got != ValueOf(k))
                    failures.Enqueue($"reader: key {k} gave {got}, expected {ValueOf(k)}");
                if (found && k >= staying)
                    hits++;
                n++;
            }
            Interlocked.Add(ref reads, n);
            Interlocked.Add(ref churnHits, hits);
        }

        var threads = new List<Thread> { new(Writer), new(() => Reader(2)), new(() => Reader(3)) };
        threads.ForEach(t => t.Start());
        stop.CancelAfter(TimeSpan.FromSeconds(2));
        threads.ForEach(t => t.Join());

        Assert.That(failures.Take(10), Is.Empty);
        Assert.That(writes, Is.GreaterThan(10_000), "the writer made progress");
        Assert.That(reads, Is.GreaterThan(10_000), "readers made progress");
        Assert.That(churnHits, Is.GreaterThan(0), "readers also found churning keys");
    }

    [Test]
    public void AKeyShiftedBackAcrossLinesWhileAProbeIsBetweenThem_IsStillFound()
    {
        // Three keys with one home line h: the first two fill h, the third (K) lands in line h + 1. A reader probing
        // for K reads line h (no K there yet); then, before it reads line h + 1, the writer deletes the first key and
        // the backward shift moves K into line h, leaving h + 1 empty. Read as it is now, line h + 1 says "not
        // here"; the probe must see that line h changed since it read it, and look again.
        var index = new GidHashIndex(4);
        var byHome = new Dictionary<int, List<GidEntry>>();
        List<GidEntry> same = null!;
        for (int k = 0; same is null; k++)
        {
            GidEntry key = Key(k);
            int h = index.HomeLineForTest(key);
            if (!byHome.TryGetValue(h, out var list))
                byHome[h] = list = new();
            list.Add(key);
            if (list.Count == 3)
                same = list;
        }
        GidEntry first = same[0], second = same[1], moved = same[2];
        int home = index.HomeLineForTest(first);
        index.Add(first, 10, 0);
        index.Add(second, 11, 0);
        index.Add(moved, 12, 0);
        Assert.That(index.Find(moved) >> 1, Is.EqualTo((home + 1) % index.LineCount), "the third key sits in the next line");

        var reader = new Thread(() => { });
        bool found = false;
        int got = -2, lineReads = 0;
        using var atFirstLine = new ManualResetEventSlim();
        using var shifted = new ManualResetEventSlim();
        GidHashIndex.BetweenLinesForTest = () =>
        {
            if (Thread.CurrentThread != reader || lineReads++ != 0)
                return;
            atFirstLine.Set();               // line h read; the writer goes now
            shifted.Wait();
        };
        try
        {
            reader = new Thread(() => found = Find(index, moved, out got));
            reader.Start();
            Assert.That(atFirstLine.Wait(TimeSpan.FromSeconds(10)), Is.True, "the reader's probe went past its home line");
            index.RemoveAt(index.Find(first));
            Assert.That(index.Find(moved) >> 1, Is.EqualTo(home), "the delete's shift moved the third key into line h");
            shifted.Set();
            Assert.That(reader.Join(TimeSpan.FromSeconds(10)), Is.True, "the reader finished");
        }
        finally
        {
            GidHashIndex.BetweenLinesForTest = null;
        }
        Assert.That((found, got), Is.EqualTo((true, 12)), "a key that never left the index was found, with its index");
        Assert.That(lineReads, Is.GreaterThan(2), "the probe looked again after seeing the change");
    }

    [Test]
    public void AnEntryWhosePaddingBytesAreNotZero_IsStillFound()
    {
        // The lookup reads an entry's bytes 16..23 (type, 3 padding bytes, netdev) in one load and masks the
        // padding off. An entry copied out of memory the caller filled with anything must still be found, and a
        // miss must stay a miss.
        var table = new GidTable(1, 16, GidTypes.Roce);
        GidEntry e = Key(7), absent = Key(8);
        int at = table.Add(e);
        Span<byte> raw = stackalloc byte[2 * 24];
        raw.Fill(0xA5);
        System.Runtime.CompilerServices.Unsafe.As<byte, GidEntry>(ref raw[0]) = e;
        raw[17] = 0xFF; raw[18] = 0x5A; raw[19] = 0xC3;          // the padding, whatever the copy left there
        System.Runtime.CompilerServices.Unsafe.As<byte, GidEntry>(ref raw[24]) = absent;
        raw[41] = 0xFF; raw[42] = 0xFF; raw[43] = 0xFF;
        ref GidEntry dirty = ref System.Runtime.CompilerServices.Unsafe.As<byte, GidEntry>(ref raw[0]);
        ref GidEntry dirtyAbsent = ref System.Runtime.CompilerServices.Unsafe.As<byte, GidEntry>(ref raw[24]);
        Assert.That(dirty, Is.EqualTo(e), "the padding is not part of the entry's value");
        Assert.That((table.TryFind(dirty, out int got), got), Is.EqualTo((true, at)));
        Assert.That(table.TryFind(dirtyAbsent, out _), Is.False);
    }

    [Test]
    public void EmptyAndHiddenPositions_MatchNoKey_WhateverItsNetdevOrType()
    {
        // An empty position's stored key is all zero but for a padding bit of its tail, and a hidden key's tail has
        // that bit too: the hit path answers on a key match alone, so neither may ever match a reader's key. The
        // all-zero key (zero GID, type Ib, netdev 0) is what an empty position would match without the bit.
        var index = new GidHashIndex(4);
        var zero = new GidEntry(Gid.Zero, GidType.Ib, 0);
        Assert.That(Find(index, zero, out _), Is.False, "all-zero key in an empty index");
        GidEntry hidden = Key(3);
        index.Add(hidden, -1, 1);
        for (int k = 0; k < 6; k++)
            index.Add(Key(10 + k), k, 1);
        foreach (int netdev in new[] { hidden.NetdevIfindex, 0, -1, int.MinValue, int.MaxValue, hidden.NetdevIfindex | 1 << 8 })
            foreach (GidType type in new[] { GidType.Ib, GidType.RoceV1, GidType.RoceV2, (GidType)0xFF })
            {
                var probe = new GidEntry(hidden.Gid, type, netdev);
                Assert.That(Find(index, probe, out _), Is.False, $"hidden key's GID with {type} on netdev {netdev}");
            }
        for (int k = 0; k < 6; k++)
            index.RemoveAt(index.Find(Key(10 + k)));
        Assert.That(Find(index, zero, out _), Is.False, "all-zero key after removes emptied positions");
        index.SetReaderIndexAt(index.Find(hidden), 9);
        Assert.That((Find(index, hidden, out int got), got), Is.EqualTo((true, 9)), "the key once shown");
    }

    [Test]
    public void Lookups_AllocateNothing_AndNeitherDoWrites()
    {
        var index = new GidHashIndex(4);
        for (int k = 0; k < 10; k++)
            index.Add(Key(k), k, k + 1);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int sum = 0;
        for (int n = 0; n < 100_000; n++)
        {
            if (Find(index, Key(n % 16), out int got))
                sum += got;
            int p = index.Find(Key(n % 10));
            index.RemoveAt(p);
            index.Add(Key(n % 10), n % 10, 1);
        }
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.EqualTo(0), "bytes allocated by 100,000 lookups and 100,000 removes and adds");
        Assert.That(sum, Is.GreaterThan(0));
    }
}
