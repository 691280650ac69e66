using System.Text.Json.Nodes;
using NUnit.Framework;
using RoceUio.Cli.Control;
using RoceUio.Cli.Daemon;
using RoceUio.Gids;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// What <c>roceuio status</c> and <c>roceuio show gids --pending</c> tell a user about GIDs that wait for a slot and
/// ports whose hardware is behind, through the daemon's own handlers and the real client over a control socket.
/// </summary>
public class StatusPendingAndSyncTests
{
    /// <summary>One port, RoCE v2, 6 slots (1 default + 5), whose commits can be refused.</summary>
    private sealed class SmallDevice : IRoceDevice
    {
        public int Refuse;
        public string Name => "small0";
        public string DriverName => "small";
        public int PortCount => 1;
        public int GidTableSize(int port) => 6;
        public GidTypes SupportedGidTypes(int port) => GidTypes.RoceV2;
        public void AddGid(int port, int index, in GidEntry entry) { }
        public void DeleteGid(int port, int index, in GidEntry entry) { }
        public void Commit(int port)
        {
            if (Refuse > 0 && Refuse-- > 0)
                throw new RoceDeviceException("small0 port 1: SET_PORT refused with status 0x08 EXCEED_LIM (injected)");
        }
        public void Dispose() { }
    }

    private TempDirectory _dir = null!;
    private FakeNetdevs _net = null!;
    private GidManager _mgr = null!;
    private SmallDevice _dev = null!;
    private ControlHandlers _handlers = null!;
    private ControlServer _server = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDirectory("roceuio-status");
        _net = new FakeNetdevs();
        _net.Add(2, "eth0", "24:8a:07:aa:bb:cc");
        _dev = new SmallDevice();
        _mgr = new GidManager(_net, IndexPolicy.Sticky);
        _net.Manager = _mgr;
        _mgr.AddDevice(_dev, [new PortBinding("eth0")]);
        _handlers = new ControlHandlers(_mgr, [new DaemonDevice(_dev, "-", "test")], () => { });
        _server = new ControlServer(_dir["c.sock"], _handlers.Commands);
    }

    [TearDown]
    public async Task TearDown()
    {
        await _server.DisposeAsync();
        _dir.Dispose();
    }

    private JsonNode Status()
    {
        _handlers.Publish();
        var r = RoceuioProcess.Run("status", "--control", _dir["c.sock"]);
        Assert.That(r.Exit, Is.Zero, r.Err);
        return JsonNode.Parse(r.Out)!;
    }

    [Test]
    public void PendingGids_AreCounted_Listed_InTheOrderTheyWillBeAdded_AndAddedWhenASlotFrees()
    {
        for (int i = 1; i <= 8; i++)
            _net.AddAddress("eth0", $"192.0.2.{i}");
        JsonNode s = Status();
        Assert.That(((int)s["gids"]!, (int)s["pending_gids"]!, (long)s["pending_kept_total"]!), Is.EqualTo((6, 3, 3L)));

        var shown = RoceuioProcess.Run("show", "gids", "--pending", "--control", _dir["c.sock"]);
        Assert.That(shown.Exit, Is.Zero, shown.Err);
        string[] lines = shown.Out.TrimEnd('\n').Split('\n');
        Assert.That(lines.Skip(1).Take(3).Select(l => l.Split('\t')[2]),
            Is.EqualTo(new[] { "6", "7", "8" }.Select(i => Gid.Parse($"::ffff:192.0.2.{i}").ToString())));
        Assert.That(lines[^1], Is.EqualTo("n_pending: 3"));

        _net.RemoveAddress("eth0", "192.0.2.1");
        s = Status();
        Assert.That(((int)s["gids"]!, (int)s["pending_gids"]!, (long)s["pending_restored_total"]!), Is.EqualTo((6, 2, 1L)));
        var json = RoceuioProcess.Run("show", "gids", "--pending", "-j", "--control", _dir["c.sock"]);
        Assert.That(JsonNode.Parse(json.Out)!.AsArray().Select(n => (string?)n!["gid"]),
            Is.EqualTo(new[] { "7", "8" }.Select(i => Gid.Parse($"::ffff:192.0.2.{i}").ToString())));
    }

    [Test]
    public void A_port_whose_push_was_refused_is_listed_out_of_sync_with_since_and_why_until_a_retry_works()
    {
        long now = 10_000;
        _mgr.Clock = () => now;
        _dev.Refuse = 2;
        _net.AddAddress("eth0", "192.0.2.1");
        JsonNode s = Status();
        JsonArray behind = s["out_of_sync"]!.AsArray();
        Assert.That(behind, Has.Count.EqualTo(1));
        Assert.That(((string?)behind[0]!["dev"], (int)behind[0]!["port"]!, (int)behind[0]!["failed_pushes"]!, (int)behind[0]!["waiting_entries"]!),
            Is.EqualTo(("small0", 1, 1, 1)));
        Assert.That((string?)behind[0]!["why"], Does.Contain("status 0x08 EXCEED_LIM"));
        Assert.That(DateTime.Parse((string)behind[0]!["since"]!).ToUniversalTime(), Is.EqualTo(DateTime.UtcNow).Within(TimeSpan.FromMinutes(1)));
        Assert.That((int)s["gids"]!, Is.EqualTo(1), "the new GID is not shown while the hardware does not have it");

        now += 10;
        _mgr.EndOfBurst();   // the second refusal
        Assert.That((int)Status()["out_of_sync"]![0]!["failed_pushes"]!, Is.EqualTo(2));
        now += 20;
        _mgr.EndOfBurst();   // works
        s = Status();
        Assert.That(s["out_of_sync"]!.AsArray(), Is.Empty);
        Assert.That((int)s["gids"]!, Is.EqualTo(2));
    }
}
