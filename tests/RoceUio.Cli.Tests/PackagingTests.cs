using System.Diagnostics;
using NUnit.Framework;
using RoceUio.Cli.Config;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>packaging/roceuio.service: what systemd makes of it, and that it matches what the daemon does.</summary>
public class PackagingTests
{
    private static string Unit => Path.Combine(NativeLayout.RepoRoot, "packaging", "roceuio.service");

    private static Dictionary<string, string> Keys()
        => File.ReadAllLines(Unit).Where(l => l.Contains('=') && !l.StartsWith('#'))
            .Select(l => l.Split('=', 2)).GroupBy(kv => kv[0]).ToDictionary(g => g.Key, g => g.Last()[1]);

    [Test]
    public void Unit_PassesSystemdAnalyzeVerify_WithoutAComplaint()
    {
        // verify checks that ExecStart= exists: point it at the binary ./build.sh made (installed as /usr/local/bin/roceuio).
        string bin = Path.Combine(NativeLayout.RepoRoot, "bin", "roceuio");
        Assert.That(File.Exists(bin), $"{bin} is missing: run ./build.sh");
        using var dir = new TempDirectory("roceuio-unit");
        File.WriteAllText(dir["roceuio.service"], File.ReadAllText(Unit).Replace("/usr/local/bin/roceuio", bin));
        File.Copy(Path.Combine(Path.GetDirectoryName(Unit)!, "roceuio.socket"), dir["roceuio.socket"]);
        var psi = new ProcessStartInfo("systemd-analyze") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "verify", "--man=no", dir["roceuio.service"], dir["roceuio.socket"] })
            psi.ArgumentList.Add(a);
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Fail("systemd-analyze is missing: apt-get install systemd (./build.sh test installs it as root)");
            return;
        }
        using (p)
        {
            Task<string> err = p.StandardError.ReadToEndAsync();
            string output = p.StandardOutput.ReadToEnd();
            Assert.That(p.WaitForExit(60_000), "systemd-analyze exited");
            // verify exits 0 on unknown keys and bad values ("ignoring"): any line it prints is a defect.
            Assert.That((p.ExitCode, output + err.Result), Is.EqualTo((0, "")));
        }
    }

    [Test]
    public void Unit_IsNotifyWithAWatchdog_AndItsDirectoriesAreTheDaemonsDefaults()
    {
        Dictionary<string, string> k = Keys();
        Assert.That((k["Type"], k["NotifyAccess"]), Is.EqualTo(("notify", "main")));
        Assert.That(k["WatchdogSec"], Is.EqualTo("20s"));
        Assert.That((k["RuntimeDirectory"], k["StateDirectory"]), Is.EqualTo(("roceuio", "roceuio")));
        Assert.That(k["ExecStart"], Does.Contain($"--control {DaemonConfig.DefaultControl} --state-dir {DaemonConfig.DefaultStateDir}"));
        Assert.That(DaemonConfig.DefaultControl, Does.StartWith("/run/roceuio/"), "the socket lives in RuntimeDirectory");
        Assert.That(DaemonConfig.DefaultStateDir, Is.EqualTo("/var/lib/roceuio"), "the state lives in StateDirectory");
        Assert.That(k["CapabilityBoundingSet"].Split(' '), Is.EquivalentTo(new[] { "CAP_NET_ADMIN", "CAP_NET_BROADCAST", "CAP_SYS_ADMIN", "CAP_IPC_LOCK" }));
        Assert.That((k["ProtectSystem"], k["PrivateTmp"], k["RestrictAddressFamilies"]), Is.EqualTo(("strict", "yes", "AF_UNIX AF_NETLINK")));
    }
}
