using System.Text.RegularExpressions;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using NUnit.Framework;
using RoceUio.Cli.Control;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Hardware.Emulation;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// The daemon's control plane as a process in a private network namespace: a device that holds a command delays
/// only its own ports (status, the other device and netlink go on), and a flood of connections under a low descriptor limit neither stops nor starves it.
/// </summary>
[NonParallelizable]
public class ControlPlaneEndToEndTests
{
    private NetworkNamespace _ns = null!;
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _ns = NetworkNamespace.Create("roceuio-ctl");
        _dir = new TempDirectory("roceuio-ctl-e2e");
        NetworkNamespace.RunTool("ip", ["netns", "exec", _ns.Name, "sysctl", "-qw", "net.ipv6.conf.default.addr_gen_mode=1", "net.ipv6.conf.all.addr_gen_mode=1"]);
        _ns.IpBatch(["link add veth0 address 02:00:00:00:00:01 type veth peer name veth1", "link set veth1 up", "link set veth0 up"]);
    }

    [TearDown]
    public void TearDown()
    {
        _ns.Dispose();
        _dir.Dispose();
    }

    [Test]
    public void AStuckDevice_DelaysOnlyItsOwnPorts_AndConvergesOnceItLetsGo()
    {
        _ns.IpBatch(["link add veth2 address 02:00:00:00:00:03 type veth peer name veth3", "link set veth3 up", "link set veth2 up"]);
        using var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "mlx4:veth0", "--emulate", "mlx4:veth2", "--quiet");
        WaitUntil(() => d.Gids().Count == 4, "the two default GIDs of each device");
        string stuckDir = Path.Combine(d.StateDir, "emulated", "mlx4_0"), otherDir = Path.Combine(d.StateDir, "emulated", "mlx4_1");
        var stuckModel = new Mlx4ModelClient(stuckDir);
        var otherModel = new Mlx4ModelClient(otherDir);

        FaultInjection.Arm(stuckDir, "stall=1\n");
        WaitUntil(() => !File.Exists(Path.Combine(stuckDir, FaultInjection.FileName)), "mlx4_0's model to take the stall");
        _ns.Ip("addr add 10.0.0.1/24 dev veth0"); // mlx4_0's SET_PORT now waits for GO (the driver's 60 s command timeout)

        // status answers, and says which port is behind and why, while the device holds the command.
        JsonNode? behind = null;
        WaitUntil(() => (behind = d.Call("status")!["out_of_sync"]!.AsArray().FirstOrDefault()) is not null, "mlx4_0 to be shown out of sync");
        Assert.That(((string?)behind!["dev"], (int)behind["port"]!), Is.EqualTo(("mlx4_0", 1)));
        Assert.That((string?)behind["why"], Does.Contain("no answer").And.Contain("holds the command"));
        Assert.That((long?)behind["push_outstanding_ms"], Is.GreaterThanOrEqualTo(1000));

        // The other device's port goes on: an add reaches its hardware and show gids, a delete is shown at once,
        // and netlink is read meanwhile (the stuck device's netdev gets another address).
        _ns.Ip("addr add 10.0.1.1/24 dev veth2");
        _ns.Ip("addr add 10.0.2.1/24 dev veth0");
        WaitUntil(() => Shown(d, "mlx4_1", "ffff:0a00:0101") == 2, "10.0.1.1 (v1 and v2) on mlx4_1");
        Assert.That(InHardware(otherModel, "ffff:0a00:0101"), Is.EqualTo(2), "mlx4_1's hardware holds 10.0.1.1 before it is shown");
        Assert.That((string?)ControlClient.CallAsync(d.Control, "save-state").WaitAsync(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult(),
            Is.EqualTo("saved"), "a command that runs on the worker answers while the device holds a command");
        _ns.Ip("addr del 10.0.1.1/24 dev veth2");
        WaitUntil(() => Shown(d, "mlx4_1", "ffff:0a00:0101") == 0 && InHardware(otherModel, "ffff:0a00:0101") == 0, "10.0.1.1 gone from mlx4_1");
        Assert.That(Shown(d, "mlx4_0", "ffff:0a00:0001") + Shown(d, "mlx4_0", "ffff:0a00:0201"), Is.EqualTo(0),
            "mlx4_0's new GIDs are not shown: its hardware does not have them");
        Assert.That(d.Call("status")!["out_of_sync"]!.AsArray().Select(p => (string?)p!["dev"]), Is.EqualTo(new[] { "mlx4_0" }));

        // The device lets go: its held command fails (the model's choice), the retry carries both addresses.
        FaultInjection.Arm(stuckDir, "stall=0\n");
        WaitUntil(() => d.Call("status")!["out_of_sync"]!.AsArray().Count == 0
                        && Shown(d, "mlx4_0", "ffff:0a00:0001") == 2 && Shown(d, "mlx4_0", "ffff:0a00:0201") == 2, "mlx4_0 to converge");
        Assert.That((InHardware(stuckModel, "ffff:0a00:0001"), InHardware(stuckModel, "ffff:0a00:0201")), Is.EqualTo((2, 2)));
        Assert.That(d.Gids(), Has.Count.EqualTo(8), "two defaults per device and two GIDs per address of mlx4_0");
        Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
    }

    /// <summary>How many of the device's rows show a GID ending in <paramref name="tail"/> (an IPv4-mapped address).</summary>
    private static int Shown(DaemonProcess d, string dev, string tail)
        => d.Gids().Count(r => r.Dev == dev && r.Gid.ToString().EndsWith(tail, StringComparison.Ordinal));

    /// <summary>How many entries of the model's port 1 table hold a GID ending in <paramref name="tail"/>.</summary>
    private static int InHardware(Mlx4ModelClient model, string tail)
        => model.ReadState().Table(1).Entries.Count(e => e.Gid.ToString().EndsWith(tail, StringComparison.Ordinal));

    [Test]
    public void TheDaemon_RaisesItsOpenFileLimit_ToTheHardLimit()
    {
        using var d = DaemonProcess.StartUnder(["prlimit", "--nofile=256:8192"], _ns, _dir.Path, new Dictionary<string, string>(),
                                               "--emulate", "mlx4:veth0", "--quiet");
        string limits = File.ReadAllText($"/proc/{d.Pid}/limits");
        Assert.That(limits, Does.Match(@"Max open files\s+8192\s+8192\s+files"), limits);
        Assert.That(d.Stderr, Does.Not.Contain("control connections"), "no cap warning when the limit leaves room");
        Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
    }

    [Test]
    public void UnderATightHardLimit_TheDaemonLowersItsConnectionCap_SaysSo_AndServes()
    {
        string config = Path.Combine(_dir.Path, "tight.json");
        File.WriteAllText(config, """{ "devices": [ { "driver": "mlx4", "emulate": true, "ports": ["veth0"] } ], "control_max_connections": 500 }""");
        using var d = DaemonProcess.StartUnder(["prlimit", "--nofile=96:96"], _ns, _dir.Path, new Dictionary<string, string>(),
                                               "--config", config, "--quiet");
        Match m = Regex.Match(d.Stderr, @"warning: serving at most (\d+) control connections, not the configured 500: the open-file limit is 96 \(hard 96\)");
        Assert.That(m.Success, Is.True, d.Stderr);
        int cap = int.Parse(m.Groups[1].Value);
        Assert.That(cap, Is.InRange(1, 96 - DaemonFdFloor), "the cap leaves the daemon its own descriptors");
        Assert.That(d.Call("status"), Is.Not.Null);
        Assert.That(d.Gids(), Has.Count.EqualTo(2));
        Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
    }

    // Descriptors any running daemon holds (runtime, netlink, control socket, device files): the cap must leave them.
    private const int DaemonFdFloor = 10;

    [Test]
    public void AConnectionFlood_UnderALowDescriptorLimit_NeitherStopsNorStarvesTheDaemon()
    {
        using var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "mlx4:veth0", "--quiet");
        // Leave the daemon 12 descriptors beyond what it holds now: well under its 64 connections.
        int open = Directory.GetFiles($"/proc/{d.Pid}/fd").Length;
        NetworkNamespace.RunTool("prlimit", ["--pid", d.Pid.ToString(), $"--nofile={open + 12}:{open + 12}"]);

        var flood = new List<Socket>();
        try
        {
            for (int i = 0; i < 300; i++)
            {
                // Non-blocking: once the listen backlog is full, connect fails (EAGAIN) instead of waiting.
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
                flood.Add(s);
                try
                {
                    s.Connect(new UnixDomainSocketEndPoint(d.Control));
                }
                catch (SocketException)
                {
                    break; // the listen backlog is full: the daemon is not accepting (out of descriptors)
                }
            }
            Assert.That(flood, Has.Count.GreaterThan(20), "connections made");
            WaitUntil(() => d.HasExited || d.Stderr.Contains("pausing accept"), "the daemon to say it ran out of descriptors");
            // The count open depends on what the runtime held at the moment; 8 are given back to it.
            Assert.That(d.Stderr, Does.Match(@"Too many open files \(errno 24\); pausing accept 50 ms \(doubling up to 1000 ms\); \d+ connections were open, 8 closed; at most \d+ from now on"));
            Assert.That(d.HasExited, Is.False, "the daemon runs on");
        }
        finally
        {
            flood.ForEach(s => s.Dispose());
        }
        // The flood gone, the daemon accepts and answers again.
        WaitUntil(() =>
        {
            try
            {
                return d.Call("status") is not null;
            }
            catch (ControlException)
            {
                return false;
            }
        }, "status to answer after the flood");
        Assert.That(d.Gids(), Has.Count.EqualTo(2));
        Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
    }

    private static void WaitUntil(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(20))
                Assert.Fail($"timed out waiting for {what}");
            Thread.Sleep(20);
        }
    }
}
