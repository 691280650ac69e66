using System.Diagnostics;
using NUnit.Framework;
using RoceUio.Cli.Output;
using RoceUio.Gids;
using RoceUio.Shm;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// <c>roceuio run</c> publishing its tables in shared memory (<c>--shm-dir</c>; DaemonProcess points it into the test's
/// directory), read back by <c>roceuio show gids --shm</c> and by <see cref="GidShmReader"/> as another process would.
/// </summary>
[NonParallelizable]
public class ShmGidsTests
{
    private NetworkNamespace _ns = null!;
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _ns = NetworkNamespace.Create("roceuio-shm");
        _dir = new TempDirectory("roceuio-shm-cli");
        NetworkNamespace.RunTool("ip", ["netns", "exec", _ns.Name, "sysctl", "-qw",
            "net.ipv6.conf.default.addr_gen_mode=1", "net.ipv6.conf.all.addr_gen_mode=1"]);
        _ns.IpBatch(["link add veth0 address 02:00:00:00:00:01 type veth peer name veth1", "link set veth1 up", "link set veth0 up"]);
    }

    [TearDown]
    public void TearDown()
    {
        _ns.Dispose();
        _dir.Dispose();
    }

    private string ShmDir => _dir["shm"];

    private static void WaitUntil(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(10))
                Assert.Fail($"timed out waiting for {what}");
            Thread.Sleep(20);
        }
    }

    [Test]
    public void ShowGidsShm_PrintsWhatTheSocketPrints_AndTheFileGoesWithTheDaemon()
    {
        using var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "mlx4:veth0", "--index-policy", "kernel");
        _ns.Ip("addr add 10.0.0.1/24 dev veth0");
        WaitUntil(() => d.Gids().Count == 4, "10.0.0.1's two GIDs");
        string viaSocket = ShowGidsFormat.Text(d.Gids());
        WaitUntil(() => ShowGidsFormat.Text(ShmGids.Rows(ShmDir)) == viaSocket, "the shared-memory table to follow");

        var show = RoceuioProcess.Run("show", "gids", "--shm", "--shm-dir", ShmDir);
        Assert.That((show.Exit, show.Out), Is.EqualTo((0, viaSocket)), show.Err);
        var json = RoceuioProcess.Run("show", "gids", "--shm", "--shm-dir", ShmDir, "--json");
        Assert.That(json.Out, Is.EqualTo(ShowGidsFormat.Json(d.Gids(), indented: false)), "the JSON form too (one line, as -j prints it), ndev names and ifindexes included");

        // Another process's reader: the v2 GID of 10.0.0.1 on veth0 is index 3, without asking the daemon.
        int veth0 = int.Parse(_ns.Ip("-o link show veth0").Split(':')[0]);
        string file = GidShmWriter.PathOf(ShmDir, "mlx4_0", 1);
        using (GidShmReader r = GidShmReader.Open(file))
        {
            Assert.That(r.TryFind(Gid.Parse("::ffff:10.0.0.1"), GidType.RoceV2, veth0, out int index) ? index : -1, Is.EqualTo(3));
            Assert.That(File.GetUnixFileMode(file) & (UnixFileMode.OtherWrite | UnixFileMode.GroupWrite), Is.EqualTo(UnixFileMode.None), "readers get no write access");
            uint g = r.Generation;
            _ns.Ip("addr del 10.0.0.1/24 dev veth0");
            Assert.That(r.WaitForChange(g, 10_000), Is.Not.EqualTo(g), "a reader blocked on the generation wakes on the change");
            WaitUntil(() => !r.TryFind(Gid.Parse("::ffff:10.0.0.1"), GidType.RoceV2, veth0, out _), "the delete");

            Assert.That(d.Terminate(), Is.EqualTo(0));
            Assert.That(r.IsGone, Is.True, "a stopped daemon's table says GONE to readers still mapping it");
        }
        Assert.That(File.Exists(file), Is.False, "and its file is removed");
        var after = RoceuioProcess.Run("show", "gids", "--shm", "--shm-dir", ShmDir);
        Assert.That(after.Exit, Is.EqualTo(1));
        Assert.That(after.Err, Does.Contain(ShmDir).And.Contain("no shared-memory GID table"));
    }

    [Test]
    public void NoShm_PublishesNothing()
    {
        using var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "mlx4:veth0", "--no-shm");
        Assert.That(d.Gids(), Has.Count.EqualTo(2), "the daemon runs");
        Assert.That(Directory.Exists(ShmDir), Is.False);
    }
}
