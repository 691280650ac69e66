using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// One owner of what the hardware must still be told (<see cref="PortSync"/>): a refused push leaves the port out of
/// sync and is retried with backoff (10 ms doubling to 5 s) until the hardware holds the core table; an entry is
/// visible only once its push succeeded (the kernel's add_roce_gid order); a delete is never undone. Time is a fake
/// clock, so the backoff is checked exactly without waiting.
/// </summary>
public class GidPushSyncTests
{
    private const string Mac0 = "24:8a:07:aa:bb:cc";
    private FakeNetdevs _net = null!;
    private GidManager _mgr = null!;
    private RecordingDevice _dev = null!;
    private List<string> _errors = null!;
    private long _now = 1000;
    private readonly List<long> _attempts = [];

    [SetUp]
    public void SetUp()
    {
        _net = new FakeNetdevs();
        _net.Add(2, "eth0", Mac0);
        _dev = new RecordingDevice("mlx4_0", 1, 16, GidTypes.RoceV2);
        _dev.OnCommit = _ => _attempts.Add(_now);
        _mgr = new GidManager(_net, IndexPolicy.Kernel) { Clock = () => _now };
        _errors = [];
        _mgr.Error = _errors.Add;
        _net.Manager = _mgr;
        _mgr.AddDevice(_dev, [new PortBinding("eth0")]);
        _attempts.Clear();
    }

    private RocePort Port => _mgr.Ports[0];

    private List<string> Visible()
    {
        var rows = new List<string>();
        foreach (var (index, e) in Port.Table.EnumerateValid())
            rows.Add($"{index} {e.Gid.ToCompressedString()}");
        return rows;
    }

    private List<string> InHardware()
        => _dev.Committed.OrderBy(kv => kv.Key.Index).Select(kv => $"{kv.Key.Index} {kv.Value.Gid.ToCompressedString()}").ToList();

    /// <summary>Runs the worker's end-of-burst at each millisecond up to <paramref name="untilMs"/>, as the daemon's loop
    /// does between polls.</summary>
    private void RunUntil(long untilMs)
    {
        for (; _now <= untilMs; _now++)
            _mgr.EndOfBurst();
        _now = untilMs;
    }

    [Test]
    public void RefusedPush_StaysOutOfSync_RetriedAt10_20_40ms_UntilTheHardwareHoldsTheCoreTable()
    {
        string def = Visible().Single();
        _dev.FailCommits = 3;
        long t0 = _now;
        _net.AddAddress("eth0", "192.0.2.1");

        Assert.That(Visible(), Is.EqualTo(new[] { def }), "not visible: the hardware does not have it");
        Assert.That(Port.Table.TryFind(new GidEntry(Gid.Parse("::ffff:192.0.2.1"), GidType.RoceV2, 2), out _), Is.False);
        RocePort behind = _mgr.OutOfSyncPorts.Single();
        Assert.That((behind.Sync.OutOfSyncSinceMs, behind.Sync.FailedAttempts), Is.EqualTo((t0, 1)));
        Assert.That(behind.Sync.Why, Does.Contain("BAD_PARAM"));
        Assert.That(_errors.Single(), Does.Contain("mlx4_0 port 1: hardware update failed (attempt 1)").And.Contain("retried in 10 ms"));

        RunUntil(t0 + 200);
        Assert.That(_attempts, Is.EqualTo(new[] { t0, t0 + 10, t0 + 30, t0 + 70 }), "backoff 10, 20, 40 ms");
        Assert.That(_mgr.OutOfSyncPorts, Is.Empty);
        Assert.That(Visible(), Is.EqualTo(new[] { def, "1 ::ffff:192.0.2.1" }), "visible once pushed");
        Assert.That(InHardware(), Is.EqualTo(Visible()), "the hardware holds exactly the core table");
        Assert.That(Port.Sync.Pushes, Is.EqualTo(2), "the initial fill and the retry that worked");
    }

    [Test]
    public void Backoff_DoublesUpTo5Seconds_AndNeedsNoNewEvent()
    {
        _dev.FailCommits = 12;
        long t0 = _now;
        _net.AddAddress("eth0", "192.0.2.1");
        var gaps = new List<long>();
        for (int i = 0; i < 12; i++)
        {
            Assert.That(Port.Sync.OutOfSyncSinceMs, Is.EqualTo(t0), "out of sync since the first failure");
            _now = Port.Sync.NextAttemptMs - 1;
            Assert.That(_mgr.EndOfBurst(), Is.Zero, "not before its time");
            _now++;
            Assert.That(_mgr.EndOfBurst(), Is.EqualTo(1));
            gaps.Add(_attempts[^1] - _attempts[^2]);
        }
        Assert.That(gaps, Is.EqualTo(new long[] { 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5000, 5000, 5000 }));
        Assert.That(_mgr.OutOfSyncPorts, Is.Empty, "the 13th attempt succeeded");
        Assert.That(InHardware(), Is.EqualTo(Visible()));
    }

    [Test]
    public void DeleteDuringAnOutage_IsVisibleAtOnce_NeverUndone_AndReachesTheHardwareWithTheRetry()
    {
        _net.AddAddress("eth0", "192.0.2.1");
        _net.AddAddress("eth0", "192.0.2.2");
        Assert.That(InHardware(), Has.Count.EqualTo(3));
        _dev.FailCommits = 1;
        _net.RemoveAddress("eth0", "192.0.2.1");
        Assert.That(Visible().Select(r => r.Split(' ')[1]), Is.EqualTo(new[] { Visible()[0].Split(' ')[1], "::ffff:192.0.2.2" }),
            "the delete is visible at once (del_gid ignores the driver's result)");
        Assert.That(InHardware(), Has.Count.EqualTo(3), "the hardware still has it: the push was refused");
        RunUntil(_now + 20);
        Assert.That(InHardware(), Is.EqualTo(Visible()), "the retry removed it from the hardware too; nothing came back");
    }

    [Test]
    public void AnEntry_IsVisibleAndAnnouncedOnlyAfterItsPushSucceeded()
    {
        var seenAtCommit = new List<bool>();
        var entry = new GidEntry(Gid.Parse("::ffff:192.0.2.7"), GidType.RoceV2, 2);
        _dev.OnCommit = _ => seenAtCommit.Add(Port.Table.TryFind(entry, out _));
        var log = new List<string>();
        _mgr.Log = log.Add;
        _net.AddAddress("eth0", "192.0.2.7");
        Assert.That(seenAtCommit, Is.EqualTo(new[] { false }), "during the push nobody can find (or hold) it");
        Assert.That(Port.Table.TryFind(entry, out int index), Is.True);
        Assert.That(index, Is.EqualTo(1));
        Assert.That(log, Does.Contain($"mlx4_0 port 1 index 1: add {entry.Gid} v2 eth0 (address 192.0.2.7 added to eth0)"),
            "announced after the push, with the reason of its own event");
    }

    [Test]
    public void AddedAndDeletedInOneBurst_IsNeverSeen_AndLeavesNoTrace()
    {
        long before = Port.Sync.Pushes;
        _dev.FailCommits = 1;
        _net.AddAddress("eth0", "192.0.2.1");     // refused: waits unpublished
        _net.RemoveAddress("eth0", "192.0.2.1");  // gone before anyone saw it
        Assert.That(Port.Table.UnpublishedCount, Is.Zero);
        RunUntil(_now + 20);
        Assert.That(Visible(), Has.Count.EqualTo(1), "only the default");
        Assert.That(InHardware(), Is.EqualTo(Visible()));
        Assert.That(Port.Sync.Pushes, Is.EqualTo(before + 1));
    }
}
