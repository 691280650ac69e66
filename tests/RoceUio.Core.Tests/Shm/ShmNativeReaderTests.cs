using System.Diagnostics;
using System.Globalization;
using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Shm;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Shm;

/// <summary>
/// The C library (artifacts/native/libroceuio_gids, built by ./build.sh) in processes of its own, reading tables this
/// process writes: the example program's answers, its wait, and a reader racing a churning writer whose every answer
/// is checked against the writer's log.
/// </summary>
public class ShmNativeReaderTests
{
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDirectory("roceuio-cshm");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static string Native(string name)
    {
        string path = Path.Combine(NativeLayout.RepoRoot, "artifacts", "native", name);
        if (!File.Exists(path))
            Assert.Fail($"{path} is missing: run ./build.sh, which compiles native/ with cc");
        return path;
    }

    private static Process Start(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo(Native(exe)) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    private static (int Exit, string Out, string Err) Run(string exe, params string[] args)
    {
        using Process p = Start(exe, args);
        Task<string> err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        Assert.That(p.WaitForExit(60_000), Is.True, $"{exe} exited");
        return (p.ExitCode, output, err.Result);
    }

    private static void Apply(GidShmWriter w, params (int Index, GidEntry? Entry, string? Name)[] changes)
    {
        w.BeginBatch();
        foreach (var (i, e, n) in changes)
            w.Set(i, e, n);
        w.EndBatch();
    }

    [Test]
    public void AFileOfAnotherLayoutVersion_IsRefusedSayingWhichVersion()
    {
        string path;
        using (GidShmWriter w = GidShmWriter.Create(_dir.Path, "mlx4_0", 1, 16, 2, GidTypes.Roce))
            path = w.Path;
        // Version 1 (before the namespace fields) and version 2 (40-byte buckets, the hash that piled keys up).
        foreach (uint old in new[] { 1u, 2u })
        {
            using (var f = new FileStream(path, FileMode.Open, FileAccess.Write))
            {
                f.Position = ShmLayout.HdrVersion;
                f.Write(BitConverter.GetBytes(old)); // as an older daemon wrote it
            }
            var show = Run("roceuio-gids", _dir.Path, "show");
            Assert.That(show.Exit, Is.EqualTo(1));
            Assert.That(show.Err, Does.Contain($"{path}: layout version {old}; this reader reads version 3 only"));
            var e = Assert.Throws<InvalidDataException>(() => GidShmReader.Open(path).Dispose());
            Assert.That(e!.Message, Does.Contain($"layout version {old}, this reader knows version 3 only"));
        }
    }

    [Test]
    public void ExampleProgram_ShowsFindsAndWaits()
    {
        using GidShmWriter w1 = GidShmWriter.Create(_dir.Path, "mlx4_0", 1, 16, 2, GidTypes.Roce);
        using GidShmWriter w2 = GidShmWriter.Create(_dir.Path, "mlx4_0", 2, 16, 2, GidTypes.Roce);
        GidEntry d1 = new(Gid.Parse("fe80::ff:fe00:1"), GidType.RoceV1, 4), d2 = d1 with { Type = GidType.RoceV2 };
        GidEntry a1 = new(Gid.Parse("::ffff:10.0.0.1"), GidType.RoceV1, 4), a2 = a1 with { Type = GidType.RoceV2 };
        GidEntry m2 = new(Gid.Parse("::ffff:10.0.0.1"), GidType.RoceV2, 9);
        Apply(w1, (0, d1, "eth0"), (1, d2, "eth0"), (2, a1, "eth0"), (3, a2, "eth0"));
        // Port 2: a pod's macvlan (ifindex 9 inside the pod, whose namespace is inode 4026530001 and id 3 here), and a
        // netdev of the daemon's own namespace that has ifindex 9 too, with the same GID: two keys, told apart by namespace.
        const ulong pod = 4026530001;
        w2.BeginBatch();
        w2.Set(5, m2 with { NetdevIfindex = 1 << 30 }, new ShmNetdev(9, pod, 3, "mv0"));
        w2.Set(6, m2, "vlan9");
        w2.EndBatch();
        ulong own = w2.NetNs;
        Assert.That(own, Is.EqualTo(NetnsFollower.OwnInode()).And.Not.Zero, "the header names the writer's namespace");

        var show = Run("roceuio-gids", _dir.Path, "show");
        Assert.That((show.Exit, show.Out), Is.EqualTo((0,
            $"mlx4_0 1 0 fe80:0000:0000:0000:0000:00ff:fe00:0001 v1 4 {own} -1\n" +
            $"mlx4_0 1 1 fe80:0000:0000:0000:0000:00ff:fe00:0001 v2 4 {own} -1\n" +
            $"mlx4_0 1 2 0000:0000:0000:0000:0000:ffff:0a00:0001 v1 4 {own} -1\n" +
            $"mlx4_0 1 3 0000:0000:0000:0000:0000:ffff:0a00:0001 v2 4 {own} -1\n" +
            $"mlx4_0 2 5 0000:0000:0000:0000:0000:ffff:0a00:0001 v2 9 {pod} 3\n" +
            $"mlx4_0 2 6 0000:0000:0000:0000:0000:ffff:0a00:0001 v2 9 {own} -1\n")), show.Err);

        Assert.That(Run("roceuio-gids", _dir.Path, "find", "--gid", "::ffff:10.0.0.1", "--type", "v2", "--ndev", "4", "--port", "1").Out, Is.EqualTo("3\n"));
        Assert.That(Run("roceuio-gids", _dir.Path, "find", "--ip", "10.0.0.1", "--type", "v2", "--ndev", "9").Out, Is.EqualTo("6\n"),
                    "ifindex 9 of the daemon's namespace, not the pod's");
        Assert.That(Run("roceuio-gids", _dir.Path, "find", "--ip", "10.0.0.1", "--type", "v2", "--ndev", "9", "--netns", $"{pod}").Out, Is.EqualTo("5\n"),
                    "the pod's ifindex 9, named by its namespace's inode");
        Assert.That(Run("roceuio-gids", _dir.Path, "find", "--ip", "10.0.0.1", "--ndev", "9", "--netns", "/proc/self/ns/net", "--port", "2").Out, Is.EqualTo("6\n"),
                    "a namespace file names the namespace too (the scan, mask GID|NETDEV)");
        Assert.That(Run("roceuio-gids", _dir.Path, "find", "--ip", "10.0.0.1", "--ndev", "9", "--netns", $"{pod}", "--port", "2").Out, Is.EqualTo("5\n"));
        Assert.That(Run("roceuio-gids", _dir.Path, "find", "--ip", "10.0.0.1", "--type", "v2", "--ndev", "9", "--netns", "4026530002").Exit, Is.EqualTo(1),
                    "ifindex 9 of a third namespace has no GID");
        using (GidShmReader r = GidShmReader.Open(w2.Path))
        {
            Assert.That(r.TryFind(m2.Gid, GidType.RoceV2, 9, pod, out int i) ? i : -1, Is.EqualTo(5));
            Assert.That(r.TryFind(m2.Gid, GidType.RoceV2, 9, out i) ? i : -1, Is.EqualTo(6));
            Assert.That(r.TryFind(m2.Gid, GidType.RoceV2, 9, pod, GidFindMask.Gid | GidFindMask.Netdev, false, out i) ? i : -1, Is.EqualTo(5));
            Assert.That(r.Snapshot().Select(e => (e.Index, e.Entry.NetdevIfindex, e.Netdev, e.NetNs, e.NetNsId)),
                        Is.EqualTo(new[] { (5, 9, "mv0", pod, 3), (6, 9, "vlan9", own, -1) }), "the C# reader reads what the C one does");
        }
        var none = Run("roceuio-gids", _dir.Path, "find", "--gid", "2001:db8::1");
        Assert.That((none.Exit, none.Out), Is.EqualTo((1, "")));
        var bad = Run("roceuio-gids", _dir.Path, "find", "--gid", "not-a-gid");
        Assert.That(bad.Exit, Is.EqualTo(2), "a usage error");
        Assert.That(bad.Err, Does.Contain("not a GID").And.Contain("not-a-gid"));

        // wait: blocks until a change; the change is repeated until the program has seen one (it may start after the first).
        using Process wait = Start("roceuio-gids", _dir.Path, "wait", "mlx4_0", "1", "--timeout", "20000");
        uint before = w1.Generation;
        var sw = Stopwatch.StartNew();
        for (int k = 0; !wait.HasExited && sw.Elapsed < TimeSpan.FromSeconds(30); k++)
        {
            Apply(w1, (6, k % 2 == 0 ? new GidEntry(Gid.Parse("2001:db8::6"), GidType.RoceV2, 4) : null, "eth0"));
            wait.WaitForExit(50);
        }
        Assert.That(wait.WaitForExit(5_000), Is.True);
        uint reported = uint.Parse(wait.StandardOutput.ReadToEnd().Trim(), CultureInfo.InvariantCulture);
        Assert.That(wait.ExitCode, Is.EqualTo(0));
        Assert.That(reported, Is.GreaterThan(before).And.LessThanOrEqualTo(w1.Generation));
    }

    /// <summary>
    /// A writer thread churns 8 of 16 slots (batches of 4 distinct slots, each entry unique to its slot and version);
    /// the C reader, in its own process, reads random slots and looks each entry's key up. Each of its answers must be
    /// a state the writer's log shows for that slot at a generation in [G0, G1 + 1] (G0 and G1 read around the
    /// answer; G1 + 1 for the batch in flight), and the lookup must give the entry's own index, or none only if the
    /// entry was gone at some such generation. Slots 0..7 never change, so their keys must always be found.
    /// </summary>
    [Test]
    public void CReaderInItsOwnProcess_EveryAnswerIsInTheWritersLog()
    {
        const int stable = 8, churned = 8;
        using GidShmWriter w = GidShmWriter.Create(_dir.Path, "mlx4_0", 1, 128, 2, GidTypes.Roce);
        static GidEntry Make(int index, uint version) => new(new Gid(0x2001_0db8_0000_0000UL | version, ((ulong)(uint)index << 32) | (version * 2654435761u)), (GidType)(1 + (version & 1)), 1000 + index);
        Apply(w, Enumerable.Range(0, stable).Select(i => (i, (GidEntry?)Make(i, 0), (string?)$"s{i}")).ToArray());

        // history[i]: (generation from which the state holds, state), in generation order.
        var history = Enumerable.Range(0, stable + churned).Select(i => new List<(uint Gen, GidEntry? Entry)> { (0, i < stable ? Make(i, 0) : null) }).ToArray();
        using var stop = new CancellationTokenSource();
        long batches = 0;
        var writer = Task.Run(() =>
        {
            var rnd = new Random(3);
            uint version = 1;
            var picked = new List<(int, GidEntry?)>(4);
            while (!stop.IsCancellationRequested)
            {
                picked.Clear();
                w.BeginBatch();
                while (picked.Count < 4)
                {
                    int i = stable + rnd.Next(churned);
                    if (picked.Exists(p => p.Item1 == i))
                        continue;
                    GidEntry? e = rnd.Next(3) == 0 ? null : Make(i, ++version);
                    w.Set(i, e, "eth0");
                    picked.Add((i, e));
                }
                w.EndBatch();
                uint g = w.Generation;
                foreach (var (i, e) in picked)
                    history[i].Add((g, e));
                batches++;
            }
        });

        var (exit, output, err) = Run("roceuio-gids-churn", w.Path, "300000", (stable + churned).ToString(CultureInfo.InvariantCulture));
        stop.Cancel();
        writer.Wait();
        Assert.That(exit, Is.EqualTo(0), err);

        GidEntry? StateAt(int i, uint g)
        {
            var h = history[i];
            int lo = 0, hi = h.Count - 1;
            while (lo < hi)
            {
                int mid = (lo + hi + 1) / 2;
                if (h[mid].Gen <= g) lo = mid; else hi = mid - 1;
            }
            return h[lo].Entry;
        }

        int checkedReads = 0, wrong = 0, wrongFind = 0;
        var firstErrors = new List<string>();
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split(' ');
            uint g0 = uint.Parse(f[0], CultureInfo.InvariantCulture), g1 = uint.Parse(f[1], CultureInfo.InvariantCulture);
            int i = int.Parse(f[2], CultureInfo.InvariantCulture);
            GidEntry? seen = f[3] == "1"
                ? new GidEntry(new Gid(Convert.FromHexString(f[4])), (GidType)int.Parse(f[5], CultureInfo.InvariantCulture), int.Parse(f[6], CultureInfo.InvariantCulture))
                : null;
            int found = int.Parse(f[7], CultureInfo.InvariantCulture);
            bool inLog = false, goneSometime = false;
            for (uint g = g0; g <= g1 + 1; g++)
            {
                GidEntry? s = StateAt(i, g);
                inLog |= s == seen;
                goneSometime |= s != seen;
            }
            if (!inLog)
            {
                wrong++;
                if (firstErrors.Count < 5) firstErrors.Add($"read {line}: slot {i} held no such entry in generations {g0}..{g1 + 1}");
            }
            if (seen is not null && !(found == i || (found == -1 && goneSometime)))
            {
                wrongFind++;
                if (firstErrors.Count < 5) firstErrors.Add($"find {line}: expected {i}{(goneSometime ? " or -1" : "")}");
            }
            checkedReads++;
        }
        Assert.That((checkedReads, wrong, wrongFind), Is.EqualTo((300_000, 0, 0)), string.Join("\n", firstErrors) + $"\n({batches} writer batches)");
        Assert.That(batches, Is.GreaterThan(100), "the writer churned while the reader read");
    }
}
