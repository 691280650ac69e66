using System.Diagnostics;
using System.Text.Json.Nodes;
using NUnit.Framework;
using RoceUio.Hardware.Emulation;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// <c>roceuio run</c> with the mlx4 model, whose SET_PORTs are refused with status 0x08 (EXCEED_LIM) a number of
/// times: the new GID stays invisible, <c>status</c> lists the port out of sync (since, why), the daemon retries with
/// backoff without any new netdev event, and once the model takes a push the GID is visible and the port back in sync.
/// Needs root (a namespace).
/// </summary>
[NonParallelizable]
public class DaemonPushRetryTests
{
    private NetworkNamespace _ns = null!;
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _ns = NetworkNamespace.Create("roceuio-retry");
        _dir = new TempDirectory("roceuio-retry");
        _ns.IpBatch(["link add veth0 address 02:00:00:00:00:01 type veth peer name veth1", "link set veth1 up", "link set veth0 up"]);
    }

    [TearDown]
    public void TearDown()
    {
        _ns.Dispose();
        _dir.Dispose();
    }

    private static void WaitUntil(Func<bool> condition, string what, int seconds = 30)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(seconds))
                Assert.Fail($"timed out waiting for {what}");
            Thread.Sleep(10);
        }
    }

    [Test]
    public void RefusedSetPorts_ShowOutOfSync_AndTheDaemonHealsThePortWithoutAnotherEvent()
    {
        using var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "mlx4:veth0");
        WaitUntil(() => d.Gids().Count == 2, "the default GIDs");
        string device = Path.Combine(d.StateDir, "emulated", "mlx4_0");
        FaultInjection.Arm(device, "error=0x08\nerror_count=6\n");
        WaitUntil(() => !File.Exists(Path.Combine(device, "faults")), "the model to take the faults file");

        _ns.Ip("addr add 10.0.0.1/24 dev veth0");
        JsonNode? behind = null;
        WaitUntil(() => (behind = d.Call("status")!["out_of_sync"]!.AsArray().FirstOrDefault()) is not null, "the port to be listed out of sync");
        Assert.That(((string?)behind!["dev"], (int)behind["port"]!), Is.EqualTo(("mlx4_0", 1)));
        Assert.That((string?)behind["why"], Does.Contain("EXCEED_LIM"));
        Assert.That(d.Gids().Select(r => r.Gid.ToString()), Has.None.Contains("ffff:0a00:0001"), "not visible while the hardware refuses it");

        WaitUntil(() => d.Call("status")!["out_of_sync"]!.AsArray().Count == 0 && d.Gids().Count == 4, "the retries to heal the port");
        Assert.That(d.Gids().Select(r => r.Gid.ToString()), Has.Some.Contains("ffff:0a00:0001"));
        Assert.That(d.Stderr, Does.Contain("hardware update failed (attempt 1)").And.Contain("out of sync"));
        Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
    }
}
