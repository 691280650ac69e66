using System.Diagnostics;
using System.Text;
using NUnit.Framework;
using RoceUio.Cli.Config;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// A config file or state directory that is wrong is one line: what, where (file:line:col when there is a position),
/// what to do; never a stack trace, never a hang, never a silent choice.
/// </summary>
public class ConfigFileErrorTests
{
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDirectory("roceuio-cfg");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private string Write(byte[] bytes)
    {
        File.WriteAllBytes(_dir["c.json"], bytes);
        return _dir["c.json"];
    }

    private static string Refusal(string path) => Assert.Throws<ConfigException>(() => DaemonConfig.Load(path))!.Message;

    [Test]
    public void InvalidUtf8_IsNamedWithLineAndColumn()
        => Assert.That(Refusal(Write([.. "{\n  \"state_dir\": \"/var/"u8.ToArray(), 0xff, .. "\"\n}"u8.ToArray()])),
            Is.EqualTo($"{_dir["c.json"]}:2:22: not valid UTF-8 (byte 0xff); save the file as UTF-8"));

    [Test]
    public void AUtf8ByteOrderMark_IsAccepted_AndPositionsStayRight()
    {
        string path = Write([0xEF, 0xBB, 0xBF, .. "{ \"state_dir\": \"/srv/roceuio\" }"u8.ToArray()]);
        Assert.That(DaemonConfig.Load(path).StateDir, Is.EqualTo("/srv/roceuio"));
        Assert.That(Refusal(Write([0xEF, 0xBB, 0xBF, .. "{ \"nope\": 1 }"u8.ToArray()])), Does.StartWith($"{_dir["c.json"]}:1:3: unknown key \"nope\""));
    }

    [Test]
    public void ADuplicateKey_IsRefused_NamingBoth()
        => Assert.That(Refusal(Write(Encoding.UTF8.GetBytes("{\n  \"control\": \"/a\",\n  \"control\": \"/b\"\n}"))),
            Is.EqualTo($"{_dir["c.json"]}:3:3: duplicate key \"control\" (first at line 2, column 3); keep one of them"));

    [Test]
    public void ADuplicateKeyInADevice_IsRefused()
        => Assert.That(Refusal(Write(Encoding.UTF8.GetBytes("{\"devices\":[{\"driver\":\"mlx4\",\"emulate\":true,\"ports\":[\"a\"],\"ports\":[\"b\"]}]}"))),
            Does.Contain(":1:59: duplicate key \"ports\""));

    [Test]
    public void AMissingFile_IsNamed_WithoutAPosition()
        => Assert.That(Refusal(_dir["missing.json"]),
            Is.EqualTo($"{_dir["missing.json"]}: no such config file; name an existing file (an example: docs/roceuio.example.json)"));

    [Test]
    public void ADirectory_IsRefused_WithoutAPosition()
        => Assert.That(Refusal(_dir.Path), Is.EqualTo($"{_dir.Path}: is a directory, not a config file; name the JSON file inside it"));

    [Test]
    public void AFifo_IsRefused_AtOnce_InsteadOfHanging()
    {
        string fifo = _dir["fifo"];
        NetworkNamespace.RunTool("mkfifo", [fifo]);
        Task<string> refusal = Task.Run(() => Refusal(fifo)); // nobody ever writes the FIFO: a read would wait forever
        Assert.That(refusal.Wait(TimeSpan.FromSeconds(10)), Is.True, "Load returned");
        Assert.That(refusal.Result, Is.EqualTo($"{fifo}: is a FIFO (named pipe), not a config file; the config file must be a regular file (write it out first)"));
    }

    [Test]
    public void ControlLimits_AreRead_AndCheckedForRange()
    {
        var cfg = DaemonConfig.Load(Write("{ \"control_max_connections\": 8, \"control_idle_timeout_s\": 2.5 }"u8.ToArray()));
        Assert.That((cfg.ControlMaxConnections, cfg.ControlIdleTimeout), Is.EqualTo((8, TimeSpan.FromSeconds(2.5))));
        Assert.That(Refusal(Write("{ \"control_max_connections\": 0 }"u8.ToArray())),
            Does.EndWith(":1:30: expected a whole number of connections from 1 to 4096, got the number 0"));
        Assert.That(Refusal(Write("{ \"control_max_connections\": 2.5 }"u8.ToArray())), Does.Contain("expected a whole number of connections"));
    }

    [TestCase("/proc/roceuio", "it cannot be created or written there (/proc is a kernel file system: it holds no files of ours)")]
    [TestCase("/sys/roceuio", "permission denied (/sys is a kernel file system: it holds no files of ours)")]
    public void AStateDirectoryUnderAKernelFileSystem_IsOneClearLine(string stateDir, string why)
    {
        var r = RoceuioProcess.Run("run", "--state-dir", stateDir, "--control", _dir["c.sock"], "--emulate", "mlx4:lo", "--quiet");
        Assert.That((r.Exit, r.Err), Is.EqualTo((1,
            $"roceuio run: state directory {stateDir}: {why}; choose a writable directory with --state-dir DIR or \"state_dir\" in the config (default /var/lib/roceuio)\n")));
    }
}
