using System.Text.Json.Nodes;
using NUnit.Framework;
using RoceUio.Cli.Control;
using RoceUio.Cli.Daemon;
using RoceUio.Cli.Output;
using RoceUio.Gids;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// The client commands as a user types them, against a control socket served in this process with canned answers
/// (what the daemon's handlers return), so that the command-line forms are checked without a daemon or a namespace.
/// </summary>
public class ClientCommandTests
{
    private TempDirectory _dir = null!;
    private ControlServer _server = null!;
    private readonly List<JsonObject> _showGidsArgs = [];

    private static readonly GidRow[] s_rows =
    [
        new("mlx4_0", 1, 0, Gid.Parse("fe80::202:c9ff:fe00:1"), GidType.RoceV1, "eth1", 3),
        new("mlx4_0", 2, 1, Gid.Parse("::ffff:10.0.0.1"), GidType.RoceV2, "eth2", 4),
    ];

    [SetUp]
    public void SetUp()
    {
        lock (_showGidsArgs)
            _showGidsArgs.Clear(); // NUnit keeps one fixture instance for all its tests
        _dir = new TempDirectory("roceuio-client");
        _server = new ControlServer(_dir["c.sock"],
        [
            new ControlCommand("show-gids", false, args => { lock (_showGidsArgs) _showGidsArgs.Add(args); return ControlHandlers.ToJson(s_rows); }),
            new ControlCommand("save-state", true, _ => "saved"),
        ]);
    }

    [TearDown]
    public async Task TearDown()
    {
        await _server.DisposeAsync();
        _dir.Dispose();
    }

    [Test]
    public void ShowGids_DashJ_IsCompactJson_AndDashJp_IsIndented_WithTheSameObjects()
    {
        var compact = RoceuioProcess.Run("show", "gids", "-j", "--control", _dir["c.sock"]);
        Assert.That(compact.Exit, Is.Zero, compact.Err);
        Assert.That(compact.Out.TrimEnd('\n'), Does.Not.Contain("\n"), "-j prints one line, as ip -j does");
        var pretty = RoceuioProcess.Run("show", "gids", "-j", "-p", "--control", _dir["c.sock"]);
        Assert.That(pretty.Exit, Is.Zero, pretty.Err);
        Assert.That(pretty.Out.Split('\n').Length, Is.GreaterThan(10), "-p indents");
        var joined = RoceuioProcess.Run("show", "gids", "-jp", "--control", _dir["c.sock"]);
        Assert.That(joined.Out, Is.EqualTo(pretty.Out));
        Assert.That(JsonNode.Parse(compact.Out)!.ToJsonString(), Is.EqualTo(JsonNode.Parse(pretty.Out)!.ToJsonString()));
        Assert.That(JsonNode.Parse(compact.Out)!.AsArray().Select(n => (string?)n!["gid"]),
            Is.EqualTo(new[] { "fe80:0000:0000:0000:0202:c9ff:fe00:0001", "0000:0000:0000:0000:0000:ffff:0a00:0001" }));
    }

    [Test]
    public void ShowGids_TakesDeviceAndPortPositionally_AsShowGidsDoes()
    {
        var r = RoceuioProcess.Run("show", "gids", "mlx4_0", "2", "--control", _dir["c.sock"]);
        Assert.That(r.Exit, Is.Zero, r.Err);
        JsonObject args;
        lock (_showGidsArgs)
            args = _showGidsArgs.Single();
        Assert.That(((string?)args["dev"], (int?)args["port"]), Is.EqualTo(("mlx4_0", (int?)2)));

        var twice = RoceuioProcess.Run("show", "gids", "mlx4_0", "--dev", "mlx4_1", "--control", _dir["c.sock"]);
        Assert.That((twice.Exit, twice.Err), Is.EqualTo((2, "roceuio show: the device is given twice: 'mlx4_0' and --dev mlx4_1\nTry 'roceuio show --help'.\n")));
        var badPort = RoceuioProcess.Run("show", "gids", "mlx4_0", "one", "--control", _dir["c.sock"]);
        Assert.That(badPort.Err, Does.StartWith("roceuio show: port 'one' is not a number"));
    }

    [Test]
    public void SaveState_PrintsTheWord_WithoutJsonQuotes()
    {
        var r = RoceuioProcess.Run("save-state", "--control", _dir["c.sock"]);
        Assert.That((r.Exit, r.Out), Is.EqualTo((0, "saved\n")), r.Err);
    }

    [Test]
    public void WithNoDaemon_TheClientSaysSo_NamingTheSocket()
    {
        string none = _dir["nobody-here.sock"];
        var r = RoceuioProcess.Run("show", "gids", "--control", none);
        Assert.That(r.Exit, Is.EqualTo(1));
        Assert.That(r.Err, Does.StartWith($"roceuio show: no daemon at {none}: is it running?"));
        Assert.That(r.Err, Does.Not.Contain("Cannot assign requested address"));
    }

    [Test]
    public void Find_WithAMalformedGid_SaysWhatIsWrongOnce()
    {
        var r = RoceuioProcess.Run("find", "--gid", "zz", "--control", _dir["c.sock"]);
        Assert.That(r.Exit, Is.EqualTo(2));
        Assert.That(r.Err, Does.StartWith("roceuio find: --gid 'zz' is not a GID"));
        Assert.That(r.Err, Does.Not.Contain("find: find:"));
    }
}
