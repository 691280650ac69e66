using System.Diagnostics;
using NUnit.Framework;
using RoceUio.Core.Tests.Roce;
using RoceUio.Gids;
using RoceUio.Roce;
using RoceUio.Shm;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Shm;

/// <summary>The shared-memory table file: what a reader in another process sees as the writer changes it, restarts,
/// resizes and goes away (docs/shm-layout.md).</summary>
public class GidShmTests
{
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDirectory("roceuio-shm");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static GidEntry V2(string gid, int ndev) => new(Gid.Parse(gid), GidType.RoceV2, ndev);
    private static GidEntry V1(string gid, int ndev) => new(Gid.Parse(gid), GidType.RoceV1, ndev);

    private GidShmWriter NewWriter(int capacity = 16, string dev = "mlx4_0", int port = 1)
        => GidShmWriter.Create(_dir.Path, dev, port, capacity, defaultSlots: 2, GidTypes.Roce);

    private static void Apply(GidShmWriter w, params (int Index, GidEntry? Entry, string? Name)[] changes)
    {
        w.BeginBatch();
        foreach (var (i, e, n) in changes)
            w.Set(i, e, n);
        w.EndBatch();
    }

    [Test]
    public void Reader_SeesAddsAndDeletes_ByKey_ByIndex_AndByMask()
    {
        using GidShmWriter w = NewWriter();
        using GidShmReader r = GidShmReader.Open(_dir.Path, "mlx4_0", 1);
        Assert.That((r.Device, r.Port, r.Capacity, r.DefaultSlotCount, r.SupportedTypes), Is.EqualTo(("mlx4_0", 1, 16, 2, GidTypes.Roce)));
        uint g0 = r.Generation;

        GidEntry a1 = V1("::ffff:10.0.0.1", 5), a2 = V2("::ffff:10.0.0.1", 5), b2 = V2("2001:db8::1", 7);
        Apply(w, (2, a1, "eth0"), (3, a2, "eth0"), (4, b2, "mv0"));
        Assert.That(r.Generation, Is.EqualTo(g0 + 1), "one generation step per batch");
        Assert.That(r.TryFind(a2.Gid, GidType.RoceV2, 5, out int i) ? i : -1, Is.EqualTo(3));
        Assert.That(r.TryFind(a1.Gid, GidType.RoceV1, 5, out i) ? i : -1, Is.EqualTo(2));
        Assert.That(r.TryFind(b2.Gid, GidType.RoceV2, 8, out _), Is.False, "another netdev's key is not there");
        Assert.That(r.TryGet(4, out GidEntry got) ? got : default, Is.EqualTo(b2));
        Assert.That(r.NetdevNameOf(4), Is.EqualTo("mv0"));
        Assert.That(r.TryGet(5, out _), Is.False, "an empty slot");
        Assert.That(r.TryGet(16, out _), Is.False, "past the table");
        // find_gid masks: GID only gives the lowest index whatever the type; GID|TYPE picks the type.
        Assert.That(r.TryFind(a1.Gid, default, 0, GidFindMask.Gid, false, out i) ? i : -1, Is.EqualTo(2));
        Assert.That(r.TryFind(a1.Gid, GidType.RoceV2, 0, GidFindMask.Gid | GidFindMask.GidType, false, out i) ? i : -1, Is.EqualTo(3));
        Assert.That(r.TryFind(b2.Gid, GidType.RoceV2, 5, GidFindMask.Gid | GidFindMask.Netdev, false, out _), Is.False);

        Apply(w, (3, null, null));
        Assert.That(r.TryFind(a2.Gid, GidType.RoceV2, 5, out _), Is.False, "a deleted entry is found nowhere");
        Assert.That(r.TryGet(3, out _), Is.False);
        Assert.That(r.TryFind(a1.Gid, GidType.RoceV1, 5, out i) ? i : -1, Is.EqualTo(2), "its neighbour stays");
        Assert.That(r.Snapshot().Select(s => (s.Index, s.Entry, s.Netdev)), Is.EqualTo(new[] { (2, a1, "eth0"), (4, b2, "mv0") }));
        Assert.That(r.Generation, Is.EqualTo(g0 + 2));
    }

    [Test]
    public void SameKeyInTwoSlots_IsFoundAtTheLowest_UntilThatOneGoes()
    {
        using GidShmWriter w = NewWriter();
        using GidShmReader r = GidShmReader.Open(_dir.Path, "mlx4_0", 1);
        GidEntry d = V2("fe80::1", 3);
        Apply(w, (9, d, "eth0"));
        Apply(w, (1, d, "eth0"));
        Assert.That(r.TryFind(d.Gid, d.Type, 3, out int i) ? i : -1, Is.EqualTo(1));
        Apply(w, (1, null, null));
        Assert.That(r.TryFind(d.Gid, d.Type, 3, out i) ? i : -1, Is.EqualTo(9));
    }

    [Test]
    public void ManyKeys_AddedAndDeletedInEveryOrder_AreFoundExactlyWhileTheyExist()
    {
        // Fills every stripe's probe runs and deletes from their middles (backward-shift deletion).
        const int cap = 256;
        using GidShmWriter w = NewWriter(cap);
        using GidShmReader r = GidShmReader.Open(_dir.Path, "mlx4_0", 1);
        var rnd = new Random(7);
        var live = new Dictionary<int, GidEntry>();
        for (int step = 0; step < 4000; step++)
        {
            int i = rnd.Next(cap);
            GidEntry? e = live.ContainsKey(i) ? null : new GidEntry(new Gid(0x2001_0db8UL << 32, (ulong)rnd.Next(64)), GidType.RoceV2, 1 + rnd.Next(3));
            if (e is { } n && live.ContainsValue(n))
                continue;
            Apply(w, (i, e, "eth0"));
            if (e is { } v) live[i] = v; else live.Remove(i);
            if (step % 97 != 0)
                continue;
            foreach (var (idx, entry) in live)
                Assert.That(r.TryFind(entry.Gid, entry.Type, entry.NetdevIfindex, out int f) ? f : -1, Is.EqualTo(idx), $"step {step}: {entry}");
        }
        for (ulong k = 0; k < 64; k++)
            for (int nd = 1; nd <= 3; nd++)
            {
                var key = new GidEntry(new Gid(0x2001_0db8UL << 32, k), GidType.RoceV2, nd);
                int expected = live.FirstOrDefault(kv => kv.Value == key, new(-1, default)).Key;
                Assert.That(r.TryFind(key.Gid, key.Type, nd, out int f) ? f : -1, Is.EqualTo(expected), $"{key}");
            }
    }

    [Test]
    public void Restart_MarksTheOldFileGone_AndTheNewFileHasANewInstanceAndAHigherGeneration()
    {
        GidShmWriter first = NewWriter();
        Apply(first, (2, V2("::ffff:10.0.0.1", 5), "eth0"));
        using GidShmReader before = GidShmReader.Open(_dir.Path, "mlx4_0", 1);
        uint seen = before.Generation;
        first.Dispose(); // the daemon died without a word: the file stays

        using GidShmWriter second = NewWriter(capacity: 128); // and came back with another table size
        Assert.That(before.IsGone, Is.True, "the old mapping says GONE");
        Assert.That(before.Generation, Is.Not.EqualTo(seen), "and its generation moved, waking waiters");
        using GidShmReader after = GidShmReader.Open(_dir.Path, "mlx4_0", 1);
        Assert.That((after.IsGone, after.Capacity), Is.EqualTo((false, 128)));
        Assert.That(after.Instance, Is.Not.EqualTo(before.Instance));
        Assert.That(after.Generation, Is.GreaterThan(before.Generation));
        Assert.That(after.TryGet(2, out _), Is.False, "a new file starts empty: nothing stale");
    }

    [Test]
    public void WaitForChange_BlocksUntilTheNextBatch_OrTimesOut()
    {
        using GidShmWriter w = NewWriter();
        using GidShmReader r = GidShmReader.Open(_dir.Path, "mlx4_0", 1);
        uint g = r.Generation;
        var sw = Stopwatch.StartNew();
        Assert.That(r.WaitForChange(g, 50), Is.EqualTo(g), "nothing changed: the timeout");
        Assert.That(sw.ElapsedMilliseconds, Is.GreaterThanOrEqualTo(45));

        var waiting = new ManualResetEventSlim();
        var waiter = Task.Run(() => { waiting.Set(); return r.WaitForChange(g, 30_000); });
        waiting.Wait();
        Apply(w, (5, V2("2001:db8::5", 2), "eth0"));
        Assert.That(waiter.Wait(TimeSpan.FromSeconds(20)), Is.True, "the futex wake ended the wait");
        Assert.That(waiter.Result, Is.EqualTo(g + 1));
    }

    [Test]
    public void PortGoingAway_SetsGone_WakesWaiters_AndRemovesTheFile()
    {
        var net = new FakeNetdevs();
        net.Add(2, "eth0", "02:00:00:00:00:01");
        var mgr = new GidManager(net, IndexPolicy.Kernel);
        net.Manager = mgr;
        mgr.AddDevice(new RecordingDevice("mlx4_0", 2, 16, GidTypes.Roce), [new PortBinding("eth0"), new PortBinding("eth1")]);
        using var pub = new GidTablePublisher(_dir.Path);
        pub.Sync(mgr.Ports, mgr.NameOf);
        using GidShmReader r = GidShmReader.Open(_dir.Path, "mlx4_0", 1);
        Assert.That(r.Snapshot().Select(s => $"{s.Index} {s.Entry.Gid.ToCompressedString()} {s.Entry.Type.ToShortString()} {s.Netdev}"),
            Is.EqualTo(new[] { "0 fe80::ff:fe00:1 v1 eth0", "1 fe80::ff:fe00:1 v2 eth0" }), "the table as the manager filled it");

        net.AddAddress("eth0", "192.0.2.1");
        uint g = r.Generation;
        pub.Sync(mgr.Ports, mgr.NameOf);
        Assert.That(r.TryFind(Gid.Parse("::ffff:192.0.2.1"), GidType.RoceV2, 2, out int i) ? i : -1, Is.EqualTo(3));
        Assert.That(r.Generation, Is.EqualTo(g + 1));
        pub.Sync(mgr.Ports, mgr.NameOf);
        Assert.That(r.Generation, Is.EqualTo(g + 1), "nothing changed: no new generation");

        var waiter = Task.Run(() => r.WaitForChange(r.Generation, 30_000));
        pub.Sync([mgr.Ports[1]], mgr.NameOf); // port 1 is no longer there
        Assert.That(waiter.Wait(TimeSpan.FromSeconds(20)), Is.True);
        Assert.That(r.IsGone, Is.True);
        Assert.That(File.Exists(GidShmWriter.PathOf(_dir.Path, "mlx4_0", 1)), Is.False);
        Assert.That(File.Exists(GidShmWriter.PathOf(_dir.Path, "mlx4_0", 2)), Is.True, "the other port stays");
    }

    /// <summary>A host's addresses often differ only in their last octet (10.0.0.1, 10.0.0.2, ...), which is the
    /// GID's last byte. Layout 2's hash never carried that byte into the stripe or home bits: all such keys shared one
    /// home and a lookup walked a run of them (6.7 buckets on average in ShmLookupBenchmarks). Now almost every key
    /// sits in its own home bucket, so its lookup reads one bucket.</summary>
    [Test]
    public void AddressesDifferingInTheirLastOctet_EachSitInTheirOwnHomeBucket()
    {
        const int capacity = 128;
        using GidShmWriter w = NewWriter(capacity);
        w.BeginBatch();
        for (int i = 2; i < capacity; i++)
            w.Set(i, V2($"::ffff:10.0.0.{i}", 5), "eth0");
        w.EndBatch();
        byte[] file = File.ReadAllBytes(w.Path);
        int stripes = BitConverter.ToInt32(file, ShmLayout.HdrStripeCount), buckets = BitConverter.ToInt32(file, ShmLayout.HdrBucketsPerStripe);
        long bucketsOff = BitConverter.ToInt64(file, ShmLayout.HdrBucketsOffset);
        Assert.That(BitConverter.ToInt32(file, ShmLayout.HdrBucketSize), Is.EqualTo(32));
        Assert.That(bucketsOff % 64, Is.EqualTo(0), "32-byte buckets from a 64-aligned start: none straddles a cache line");
        int away = 0;
        using GidShmReader r = GidShmReader.Open(w.Path);
        for (int i = 2; i < capacity; i++)
        {
            Gid g = Gid.Parse($"::ffff:10.0.0.{i}");
            Assert.That(r.TryFind(g, GidType.RoceV2, 5, out int found) ? found : -1, Is.EqualTo(i));
            ulong h = ShmLayout.Hash(ShmLayout.Word0(g), ShmLayout.Word1(g), (uint)GidType.RoceV2, 5, w.NetNs);
            long at = bucketsOff + ((long)(h & (ulong)(stripes - 1)) * buckets + ShmLayout.Home(h, buckets - 1)) * ShmLayout.BucketSize;
            if ((BitConverter.ToUInt32(file, (int)at + ShmLayout.BktTypeIndex) & ShmLayout.BktIndexMask) != (uint)i + 1)
                away++;
        }
        // 126 keys in 16 x 256 buckets: a uniform hash puts about 2 of them off their home.
        Assert.That(away, Is.LessThanOrEqualTo(8), "keys not in their home bucket (layout 2's hash: 125 of 126)");
    }

    [Test]
    public void Lookups_AllocateNothing()
    {
        using GidShmWriter w = NewWriter();
        GidEntry e = V2("::ffff:10.0.0.1", 5);
        Apply(w, (2, e, "eth0"));
        using GidShmReader r = GidShmReader.Open(_dir.Path, "mlx4_0", 1);
        int hits = 0;
        for (int k = 0; k < 100; k++)
            hits += r.TryFind(e.Gid, e.Type, 5, out _) && r.TryGet(2, out _) && r.TryFind(e.Gid, e.Type, 0, GidFindMask.Gid | GidFindMask.GidType, false, out _) ? 1 : 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int k = 0; k < 10_000; k++)
            hits += r.TryFind(e.Gid, e.Type, 5, out _) && r.TryGet(2, out _) && r.TryFind(e.Gid, e.Type, 0, GidFindMask.Gid | GidFindMask.GidType, false, out _) ? 1 : 0;
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.EqualTo(0));
        Assert.That(hits, Is.EqualTo(10_100));
    }

    [Test]
    public void NotATableFile_IsRefusedWithWhatIsWrong()
    {
        string path = _dir["junk"];
        File.WriteAllBytes(path, new byte[4096]);
        var e = Assert.Throws<InvalidDataException>(() => GidShmReader.Open(path));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("bad magic"));
        Assert.Throws<FileNotFoundException>(() => GidShmReader.Open(_dir["nothing"]));
    }

    /// <summary>
    /// A writer stopped half way through an entry (between its two GID words) and then through a stripe: a reader of
    /// that entry or key retries instead of answering from half-written data (and says the writer is stuck once it
    /// has waited over a second), readers of anything else answer at once, and after the window closes the new
    /// entry is read whole.
    /// </summary>
    [Test]
    public void WriterCaughtHalfWay_ReadersOfThatEntryRetry_OthersAnswer()
    {
        using GidShmWriter w = NewWriter();
        GidEntry old = V2("2001:db8::1", 4), next = V2("2001:db8::2", 4), other = V2("2001:db8::9", 4);
        Apply(w, (3, old, "eth0"), (6, other, "eth0"));
        using GidShmReader r = GidShmReader.Open(_dir.Path, "mlx4_0", 1);
        using var inside = new SemaphoreSlim(0);
        using var release = new SemaphoreSlim(0);
        string? stoppedIn = null;
        w.InsideWindowForTest = kind =>
        {
            if (stoppedIn is not null)
                return;
            stoppedIn = kind;
            inside.Release();
            release.Wait();
        };
        var writing = Task.Run(() => Apply(w, (3, next, "eth1")));
        Assert.That(inside.Wait(TimeSpan.FromSeconds(20)), Is.True, "the writer reached its window");
        Assert.That(stoppedIn, Is.EqualTo("entry"));
        Assert.Throws<TimeoutException>(() => r.TryGet(3, out _), "a reader of the entry being written never answers from it");
        Assert.That(r.TryGet(6, out GidEntry e6) ? e6 : default, Is.EqualTo(other), "another entry answers at once");
        Assert.That(r.TryFind(old.Gid, old.Type, 4, out int at) ? at : -1, Is.EqualTo(3), "the key index still says index 3 (its stripe is closed)");
        release.Release();
        Assert.That(writing.Wait(TimeSpan.FromSeconds(20)), Is.True);
        Assert.That((r.TryGet(3, out GidEntry e3) ? e3 : default, r.NetdevNameOf(3)), Is.EqualTo((next, "eth1")), "the new entry, whole");
        Assert.That(r.TryFind(old.Gid, old.Type, 4, out _), Is.False);
        Assert.That(r.TryFind(next.Gid, next.Type, 4, out at) ? at : -1, Is.EqualTo(3));

        stoppedIn = null;
        w.InsideWindowForTest = kind =>
        {
            if (kind != "stripe" || stoppedIn is not null)
                return;
            stoppedIn = kind;
            inside.Release();
            release.Wait();
        };
        writing = Task.Run(() => Apply(w, (3, null, null)));
        Assert.That(inside.Wait(TimeSpan.FromSeconds(20)), Is.True);
        Assert.Throws<TimeoutException>(() => r.TryFind(next.Gid, next.Type, 4, out _), "a lookup in the stripe being changed never answers from it");
        release.Release();
        Assert.That(writing.Wait(TimeSpan.FromSeconds(20)), Is.True);
        Assert.That(r.TryFind(next.Gid, next.Type, 4, out _), Is.False);
    }

    /// <summary>
    /// A writer thread churns the table (each batch replaces entries with new versions, keys tied to their index and
    /// version); readers on other threads check that every entry they read is whole (its fields agree with each
    /// other), that a key found is at its own index, and that the entries that never change are always found.
    /// </summary>
    [Test]
    public void ChurningWriter_ReadersNeverSeeATornEntry_NorMissAStableOne()
    {
        const int cap = 128, stable = 8, churned = 8; // readers and writer meet on few slots, so windows collide often
        using GidShmWriter w = NewWriter(cap);
        static GidEntry Make(int index, uint version) => new(new Gid(0x2001_0db8_0000_0000UL | version, Check(index, version)), (GidType)(1 + (version & 1)), 1000 + index);
        static ulong Check(int index, uint version) => ((ulong)(uint)index << 32) | (version * 2654435761u);
        Apply(w, Enumerable.Range(0, stable).Select(i => (i, (GidEntry?)Make(i, 0), (string?)$"s{i}")).ToArray());

        using var stop = new CancellationTokenSource();
        long batches = 0;
        var writer = Task.Run(() =>
        {
            var rnd = new Random(1);
            uint version = 1;
            while (!stop.IsCancellationRequested)
            {
                w.BeginBatch();
                for (int k = 0; k < 16; k++)
                {
                    int i = stable + rnd.Next(churned);
                    version++;
                    w.Set(i, rnd.Next(3) == 0 ? null : Make(i, version), $"v{version}");
                }
                w.EndBatch();
                batches++;
            }
        });
        long reads = 0, torn = 0, misplaced = 0, missed = 0;
        var readers = Enumerable.Range(0, 2).Select(seed => Task.Run(() =>
        {
            using GidShmReader r = GidShmReader.Open(_dir.Path, "mlx4_0", 1);
            var rnd = new Random(seed + 10);
            Span<byte> name = stackalloc byte[16];
            while (!stop.IsCancellationRequested)
            {
                int i = rnd.Next(stable + churned);
                if (r.TryGet(i, out GidEntry e, name, out int n))
                {
                    uint version = (uint)e.Gid.SubnetPrefix;
                    string expectedName = i < stable ? $"s{i}" : $"v{version}";
                    if (e != Make(i, version) || System.Text.Encoding.ASCII.GetString(name[..n]) != expectedName)
                        Interlocked.Increment(ref torn);
                    if (r.TryFind(e.Gid, e.Type, e.NetdevIfindex, out int at) && at != i)
                        Interlocked.Increment(ref misplaced);
                }
                int s = rnd.Next(stable);
                GidEntry se = Make(s, 0);
                if (!r.TryFind(se.Gid, se.Type, se.NetdevIfindex, out int si) || si != s)
                    Interlocked.Increment(ref missed);
                Interlocked.Increment(ref reads);
            }
        })).ToArray();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(20) && (Interlocked.Read(ref reads) < 2_000_000 || Interlocked.Read(ref batches) < 20_000))
            Thread.Sleep(10);
        stop.Cancel();
        Task.WaitAll([writer, .. readers]);
        Assert.That((torn, misplaced, missed), Is.EqualTo((0L, 0L, 0L)), $"{reads} reads against {batches} batches");
        Assert.That(batches, Is.GreaterThan(100), "the writer ran");
        Assert.That(reads, Is.GreaterThan(1000), "the readers ran");
    }
}
