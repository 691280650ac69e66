using System.Diagnostics;
using NUnit.Framework;
using RoceUio.Cli.Output;
using RoceUio.Gids;
using RoceUio.Netlink;
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

    private static Process StartNative(string exe, params string[] args)
    {
        string path = Path.Combine(NativeLayout.RepoRoot, "artifacts", "native", exe);
        Assume.That(File.Exists(path), $"{path} is built by ./build.sh");
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>
    /// The daemon's own writer under real netlink churn, read by the C reader in another process
    /// (artifacts/native/roceuio-gids-churn: random slots, each entry's key then looked up). Every entry it reads is
    /// whole: a GID the test gave veth0 (or its default GID), of type v1 or v2, on veth0's ifindex; the default slots
    /// never read empty and their keys always find their own index. Once the churn stops, the C program's listing
    /// equals <c>roceuio show gids</c>'s.
    /// </summary>
    [Test]
    public void DaemonChurn_CReaderNeverSeesATornEntry_AndEndsEqualToShowGids()
    {
        using var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "mlx4:veth0", "--index-policy", "kernel");
        WaitUntil(() => d.Gids().Count == 2, "the default GIDs");
        int veth0 = int.Parse(_ns.Ip("-o link show veth0").Split(':')[0]);
        string file = GidShmWriter.PathOf(ShmDir, "mlx4_0", 1);
        WaitUntil(() => File.Exists(file), "the table file");
        var known = new HashSet<string> { Gid.Parse("fe80::ff:fe00:1").ToString("F", null).Replace(":", "") };
        for (int k = 1; k <= 8; k++)
            known.Add(Gid.Parse($"::ffff:10.0.0.{k}").ToString("F", null).Replace(":", ""));

        using var stop = new CancellationTokenSource();
        string[] add = Enumerable.Range(1, 8).Select(k => $"addr add 10.0.0.{k}/32 dev veth0").ToArray();
        string[] del = Enumerable.Range(1, 8).Select(k => $"addr del 10.0.0.{k}/32 dev veth0").ToArray();
        Task churn = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                _ns.IpBatch(add);
                _ns.IpBatch(del);
            }
        });
        long reads = 0, valid = 0;
        uint spanMax = 0;
        try
        {
            // Runs of the reader until one of them read across several published batches (the churn is slower to
            // start than the reader, and a run takes a fraction of a second).
            for (int run = 0; run < 20 && spanMax < 4; run++)
            {
                using Process p = StartNative("roceuio-gids-churn", file, "100000", "20");
                Task<string> err = p.StandardError.ReadToEndAsync();
                uint first = 0, last = 0;
                bool any = false;
                string? line;
                while ((line = p.StandardOutput.ReadLine()) is not null)
                {
                    string[] f = line.Split(' ');
                    uint g0 = uint.Parse(f[0]), g1 = uint.Parse(f[1]);
                    int index = int.Parse(f[2]), found = int.Parse(f[7]);
                    if (!any) { first = g0; any = true; }
                    last = g1;
                    reads++;
                    if (index < 2)
                        Assert.That((f[3], found), Is.EqualTo(("1", index)), $"a default slot reads whole and is found at its own index: {line}");
                    if (f[3] != "1")
                        continue;
                    valid++;
                    Assert.That(known, Does.Contain(f[4]), $"a GID the test gave veth0 (a torn entry would mix two): {line}");
                    Assert.That((f[5] is "1" or "2", int.Parse(f[6])), Is.EqualTo((true, veth0)), $"type and netdev: {line}");
                }
                Assert.That(p.WaitForExit(60_000), Is.True, $"the reader exited within 60 s: {err.Result}");
                Assert.That(p.ExitCode, Is.Zero, err.Result);
                spanMax = Math.Max(spanMax, last - first);
            }
        }
        finally
        {
            stop.Cancel();
            churn.Wait();
        }
        Assert.That(spanMax, Is.GreaterThanOrEqualTo(4u), "some run read while the daemon published several batches");
        Assert.That(valid, Is.GreaterThan(reads / 20), "the reads saw entries");

        _ns.Ip("addr add 10.0.0.3/32 dev veth0");
        WaitUntil(() => d.Gids().Count == 4, "the last address's GIDs");
        ulong netns = NetnsFollower.InodeOf($"/run/netns/{_ns.Name}");
        string expected = string.Concat(d.Gids().Select(r =>
            $"{r.Dev} {r.Port} {r.Index} {r.Gid.ToString("F", null)} v{(r.Type == GidType.RoceV2 ? 2 : 1)} {r.NdevIfindex} {netns} -1\n"));
        string shown = "";
        WaitUntil(() =>
        {
            using Process p = StartNative("roceuio-gids", ShmDir, "show");
            shown = p.StandardOutput.ReadToEnd();
            p.WaitForExit(10_000);
            return shown == expected;
        }, "the C program's listing to equal show gids");
        Assert.That(d.Stderr, Is.Empty);
    }

    /// <summary>Mellanox's show_gids (mlnx-tools sbin/show_gids) with its sysfs root as $1: the same loops over
    /// <c>ls</c>, the same skips, the same columns.</summary>
    private const string ShowGidsScript = """
        SYS="$1"
        echo -e "DEV\tPORT\tINDEX\tGID\t\t\t\t\tIPv4  \t\tVER\tDEV"
        echo -e "---\t----\t-----\t---\t\t\t\t\t------------  \t---\t---"
        count=0
        for d in $(ls $SYS/class/infiniband/); do
          for p in $(ls $SYS/class/infiniband/$d/ports/); do
            for g in $(ls $SYS/class/infiniband/$d/ports/$p/gids/); do
              gid=$(cat $SYS/class/infiniband/$d/ports/$p/gids/$g)
              if [ $gid = 0000:0000:0000:0000:0000:0000:0000:0000 ]; then continue; fi
              if [ $gid = fe80:0000:0000:0000:0000:0000:0000:0000 ]; then continue; fi
              _ndev=$(cat $SYS/class/infiniband/$d/ports/$p/gid_attrs/ndevs/$g 2>/dev/null)
              __type=$(cat $SYS/class/infiniband/$d/ports/$p/gid_attrs/types/$g 2>/dev/null)
              _type=$(echo $__type | grep -o "[Vv].*")
              if [ $(echo $gid | cut -d ":" -f -1) = "0000" ]; then
                ipv4=$(printf "%d.%d.%d.%d" 0x${gid:30:2} 0x${gid:32:2} 0x${gid:35:2} 0x${gid:37:2})
                echo -e "$d\t$p\t$g\t$gid\t$ipv4  \t$_type\t$_ndev"
              else
                echo -e "$d\t$p\t$g\t$gid\t\t\t$_type\t$_ndev"
              fi
              count=$(($count + 1))
            done
          done
        done
        echo -e n_gids_found=$count
        """;

    private static string ShowGidsOver(string root)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(ShowGidsScript);
        psi.ArgumentList.Add("show_gids");
        psi.ArgumentList.Add(root);
        psi.Environment["LC_ALL"] = "C"; // ls sorts byte-wise, as show_gids' order is defined (0, 1, 10, 11, 2, ...)
        using Process p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        Assert.That(p.WaitForExit(30_000), Is.True, "the script exited");
        return output;
    }

    [Test]
    public void SysfsExport_ReadByAShowGidsScript_PrintsWhatRoceuioShowGidsPrints()
    {
        string root = _dir["sysfs"];
        using var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "mlx4:veth0", "--index-policy", "kernel", "--sysfs-export", root);
        _ns.IpBatch(["addr add 10.0.0.1/24 dev veth0", "addr add 2001:db8::1/64 dev veth0 nodad",
                     "link add mv0 link veth0 address 02:00:00:00:00:02 type macvlan mode bridge", "link set mv0 up", "addr add 10.0.1.1/24 dev mv0"]);
        WaitUntil(() => d.Gids().Count == 8, "the GIDs of three addresses");
        for (int k = 0; k < 12; k++)   // ten entries at least, so that ls puts 10, 11 before 2
            _ns.Ip($"addr add 10.0.2.{k + 1}/32 dev veth0");
        WaitUntil(() => d.Gids().Count == 32, "twelve more addresses");
        string expected = ShowGidsFormat.Text(d.Gids());
        WaitUntil(() => ShowGidsOver(root) == expected, "the export to follow the table");

        // Byte for byte what the kernel's sysfs.c prints, and nothing for an empty slot but the zero GID.
        string port1 = SysfsGidExport.PortDir(root, "mlx4_0", 1);
        Assert.That(Directory.GetFiles(Path.Combine(port1, "gids")), Has.Length.EqualTo(128), "every slot has a gids file");
        Assert.That(File.ReadAllText(Path.Combine(port1, "gids", "2")), Is.EqualTo("0000:0000:0000:0000:0000:ffff:0a00:0001\n"));
        Assert.That(File.ReadAllText(Path.Combine(port1, "gid_attrs", "types", "2")), Is.EqualTo("IB/RoCE v1\n"));
        Assert.That(File.ReadAllText(Path.Combine(port1, "gid_attrs", "types", "3")), Is.EqualTo("RoCE v2\n"));
        Assert.That(File.ReadAllText(Path.Combine(port1, "gid_attrs", "ndevs", "3")), Is.EqualTo("veth0\n"));
        Assert.That(File.ReadAllText(Path.Combine(port1, "gids", "127")), Is.EqualTo("0000:0000:0000:0000:0000:0000:0000:0000\n"));
        Assert.That(File.Exists(Path.Combine(port1, "gid_attrs", "types", "127")), Is.False, "no type for an empty slot (EINVAL in the kernel)");
        Assert.That(File.Exists(Path.Combine(port1, "gid_attrs", "ndevs", "127")), Is.False);

        // A delete: the slot's gids file goes back to the zero GID, its attributes go away.
        _ns.Ip("addr del 10.0.0.1/24 dev veth0");
        WaitUntil(() => File.ReadAllText(Path.Combine(port1, "gids", "2")) == "0000:0000:0000:0000:0000:0000:0000:0000\n", "the delete");
        Assert.That(File.Exists(Path.Combine(port1, "gid_attrs", "types", "2")), Is.False);
        WaitUntil(() => ShowGidsOver(root) == ShowGidsFormat.Text(d.Gids()), "the script to agree again");

        Assert.That(d.Terminate(), Is.EqualTo(0));
        Assert.That(Directory.Exists(Path.Combine(root, "class", "infiniband", "mlx4_0")), Is.False, "a stopped daemon's devices leave the export");
    }

    [Test]
    public void NoShm_PublishesNothing()
    {
        using var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "mlx4:veth0", "--no-shm");
        Assert.That(d.Gids(), Has.Count.EqualTo(2), "the daemon runs");
        Assert.That(Directory.Exists(ShmDir), Is.False);
    }
}
