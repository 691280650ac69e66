using NUnit.Framework;
using RoceUio.Cli.Config;
using RoceUio.Cli.Daemon;
using RoceUio.Hardware.Emulation;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>A device model that dies under <c>--emulate</c> is reported, not silent (a bad fault file used to end the
/// mlx4 model's thread without a word).</summary>
public class ModelFailureTests
{
    [TestCase("mlx4", "mlx4_0", "mlx4-model died: FormatException", "unknown key 'banana'")]
    [TestCase("ocrdma", "ocrdma0", "ocrdma-model died: FormatException", "faults:1: unknown key 'banana' (known: stall, delay_ms, error, error_count, mq)")]
    public void A_model_killed_by_a_bad_fault_file_is_reported_with_why(string driver, string name, string died, string why)
    {
        using var dir = new TempDirectory();
        var reports = new List<(string Device, string Why)>();
        var factory = new DeviceFactory { EmulationRoot = dir.Path, ModelDied = (d, w) => { lock (reports) reports.Add((d, w)); } };
        OpenedDevice opened = factory.Open(new DeviceConfig(driver, ["eth0"], Emulate: true)).Single();
        try
        {
            Assert.That(opened.ModelStatus, Is.EqualTo("serving"));
            FaultInjection.Arm(Path.Combine(dir.Path, name), "banana=1\n");
            long deadline = Environment.TickCount64 + 20_000;
            while (Count(reports) == 0 && Environment.TickCount64 < deadline)
                Thread.Sleep(5);
            Assert.That(opened.ModelStatus, Does.StartWith(died).And.Contain(why));
            lock (reports)
                Assert.That(reports, Is.EqualTo(new[] { (name, opened.ModelStatus) }), "the daemon's callback is told once, with the same text");
        }
        finally
        {
            opened.Dispose();
        }
    }

    private static int Count(List<(string, string)> reports)
    {
        lock (reports)
            return reports.Count;
    }
}
