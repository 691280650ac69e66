using System.Diagnostics;
using NUnit.Framework;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>What <c>roceuio run</c> says before it starts anything: no device, an undrivable one, a wrong config; and
/// that every command answers --help.</summary>
public class RunCommandTests
{
    private static (int Exit, string Out, string Err) RunWithSysfs(string sysfsRoot, params string[] args)
    {
        ProcessStartInfo psi = RoceuioCommand.StartInfo(args);
        psi.Environment["ROCEUIO_SYSFS"] = sysfsRoot;
        using var p = Process.Start(psi)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        Assert.That(p.WaitForExit(30_000), "roceuio exited");
        return (p.ExitCode, output, err.Result);
    }

    [Test]
    public void NoDevices_AndNoneDiscovered_SaysSo_AndSuggestsEmulate()
    {
        using var sysfs = new FakeSysfs();
        sysfs.AddFunction("0000:00:03.0", 0x8086, 0x100e); // an e1000: not ours
        using var dir = new TempDirectory();
        var r = RunWithSysfs(sysfs.Root, "run", "--control", dir["c.sock"], "--state-dir", dir["state"]);
        Assert.That(r.Exit, Is.EqualTo(1));
        Assert.That(r.Err, Does.StartWith("roceuio run: no RoCE device found").And.Contain("--emulate mlx4:auto"));
        Assert.That(File.Exists(dir["c.sock"]), Is.False, "nothing started");
    }

    [Test]
    public void ADiscoveredFunctionWithoutANetdev_IsNamed_WithTheConfigToWrite()
    {
        using var sysfs = new FakeSysfs();
        sysfs.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: "vfio-pci", barSizes: [1 << 20]);
        using var dir = new TempDirectory();
        var r = RunWithSysfs(sysfs.Root, "run", "--control", dir["c.sock"], "--state-dir", dir["state"]);
        Assert.That(r.Exit, Is.EqualTo(1));
        Assert.That(r.Err, Does.Contain("found 0000:03:00.0 (mlx4, bound to vfio-pci) but it has no netdev to follow")
            .And.Contain("{\"driver\": \"mlx4\", \"pci\": \"0000:03:00.0\", \"ports\": [\"eth1\", ...]}"));
    }

    [Test]
    public void AWrongConfig_GivesFileLineAndColumn()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir["bad.json"], "{\n  // devices\n  \"devices\": [ { \"driver\": \"mlx5\", \"emulate\": true, \"ports\": [\"eth0\"] } ]\n}\n");
        var r = RoceuioProcess.Run("run", "--config", dir["bad.json"]);
        Assert.That(r.Exit, Is.EqualTo(1));
        Assert.That(r.Err, Does.StartWith($"roceuio run: {dir["bad.json"]}:3:28: unknown driver \"mlx5\""));

        var kind = RoceuioProcess.Run("run", "--emulate", "mlx5:eth0");
        Assert.That((kind.Exit, kind.Err), Is.EqualTo((1, "roceuio run: unknown device kind 'mlx5' (known: mlx4, ocrdma, rxe)\n")));
    }

    [TestCase("run"), TestCase("replay"), TestCase("show"), TestCase("find"), TestCase("bind"), TestCase("model"), TestCase("status"), TestCase("save-state")]
    public void EveryCommand_AnswersHelp(string command)
    {
        var r = RoceuioProcess.Run(command, "--help");
        Assert.That((r.Exit, r.Err), Is.EqualTo((0, "")));
        Assert.That(r.Out, Does.StartWith($"Usage: roceuio {command}"));
    }

    [Test]
    public void Version_AndTheCommandList()
    {
        var v = RoceuioProcess.Run("--version");
        Assert.That((v.Exit, v.Out), Is.EqualTo((0, "roceuio 0.1.0\n")));
        var h = RoceuioProcess.Run("--help");
        foreach (string c in new[] { "run", "show", "find", "bind", "replay", "status", "save-state", "model" })
            Assert.That(h.Out, Does.Contain($"\n  {c} "), c);
    }
}
