using System.Diagnostics;
using System.Runtime.InteropServices;
using NUnit.Framework;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary><c>roceuio record</c>: an rtmon file whose first dump has the addresses too, so that a replay reproduces
/// the running host (rtmon's has links only); <c>ip monitor file</c> reads it.</summary>
public class RecordCommandTests
{
    [Test]
    public void Record_HoldsTheAddressesThatExistedBefore_AndTheChanges_ReadableByIpMonitor_AndReplayed()
    {
        using var dir = new TempDirectory("roceuio-record");
        using var ns = NetworkNamespace.Create("roceuio-record");
        NetworkNamespace.RunTool("ip", ["netns", "exec", ns.Name, "sysctl", "-qw", "net.ipv6.conf.default.addr_gen_mode=1", "net.ipv6.conf.all.addr_gen_mode=1"]);
        ns.IpBatch(["link add veth0 address 02:00:00:00:00:01 type veth peer name veth1", "link set veth1 up", "link set veth0 up", "addr add 10.0.0.1/24 dev veth0"]);
        string cap = dir["host.rtmon"];
        var psi = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in (string[])["netns", "exec", ns.Name, .. RoceuioCommand.Argv, "record", cap])
            psi.ArgumentList.Add(a);
        using Process rec = Process.Start(psi)!;
        string? first = rec.StandardError.ReadLine();
        Assert.That(first, Does.StartWith($"roceuio record: {cap}: first dump of ").And.Contain("recording changes"));

        ns.Ip("addr add 10.0.0.2/24 dev veth0");
        var sw = Stopwatch.StartNew();
        string monitor = "";
        while (!monitor.Contains("10.0.0.2/24") && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            monitor = NetworkNamespace.RunTool("ip", ["monitor", "file", cap]);
            Thread.Sleep(20);
        }
        Assert.That(kill(rec.Id, 15), Is.Zero);
        Assert.That(rec.WaitForExit(10_000), "record stops on SIGTERM");
        Assert.That(rec.ExitCode, Is.Zero, rec.StandardError.ReadToEnd());
        Assert.That(monitor, Does.Contain("inet 10.0.0.1/24").And.Contain("inet 10.0.0.2/24"), "ip monitor file reads both: the dump's and the change");

        var replay = RoceuioProcess.Run("replay", cap, "--emulate", "mlx4:veth0", "--json");
        Assert.That(replay.Exit, Is.Zero, replay.Err);
        Assert.That(replay.Out, Does.Contain("\"10.0.0.1\"").And.Contain("\"10.0.0.2\""),
            "the address that existed before recording started is a GID after the replay");
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
