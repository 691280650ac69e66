using System.Diagnostics;
using System.Text.Json.Nodes;
using NUnit.Framework;
using RoceUio.Netlink;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// Captures recorded with iproute2's <c>rtmon</c> in a private namespace while <c>ip</c> makes the changes, replayed with
/// <c>--emulate rxe:va --index-policy kernel</c>: the table must be the one a Linux 6.1 kernel running rdma_rxe on va
/// shows (kernel-gid.md 9: one default slot at 0; lowest free index, a freed index reused at once; admin down flushes
/// the netdev's IPv6 addresses and their GIDs, IPv4 stays; macvlan addresses with ndev = the macvlan, untouched by the
/// lower's flap and MAC change; a MAC change while up deletes all of va's GIDs and re-adds them, default first, then
/// IPv4 in list order). The namespace has no automatic link-locals (addr_gen_mode none) and no DAD, so each row is a
/// step's own.
/// </summary>
[NonParallelizable]
public class RxeRecordedCaptureTests
{
    private NetworkNamespace _ns = null!;
    private TempDirectory _dir = null!;
    private Process? _rtmon;

    [SetUp]
    public void SetUp()
    {
        _ns = NetworkNamespace.Create("roceuiortmon");
        _dir = new TempDirectory("roceuio-rtmon");
        NetworkNamespace.RunTool("ip", ["netns", "exec", _ns.Name, "sysctl", "-qw",
            "net.ipv6.conf.default.addr_gen_mode=1", "net.ipv6.conf.all.addr_gen_mode=1",
            "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"]);
    }

    [TearDown]
    public void TearDown()
    {
        if (_rtmon is { HasExited: false })
            _rtmon.Kill();
        _rtmon?.Dispose();
        _ns.Dispose();
        _dir.Dispose();
    }

    /// <summary>Starts <c>rtmon file PATH</c> in the namespace and waits until its link dump is in the file.</summary>
    private string StartRtmon()
    {
        string path = _dir["capture.rtmon"];
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardError = true };
        foreach (string a in new[] { "netns", "exec", _ns.Name, "rtmon", "file", path })
            psi.ArgumentList.Add(a);
        _rtmon = Process.Start(psi)!;
        AwaitCapture(path, c => c.FindByName("lo") is not null, "rtmon's link dump");
        return path;
    }

    /// <summary>Reads the capture so far into a cache until <paramref name="done"/> holds (30 s: a busy machine).</summary>
    private void AwaitCapture(string path, Func<NetdevCache, bool> done, string what)
    {
        long deadline = Environment.TickCount64 + 30_000;
        while (true)
        {
            var cache = new NetdevCache { Log = _ => { } };
            if (File.Exists(path))
                RtmonCaptureReader.Replay(File.ReadAllBytes(path), cache); // a message being written is cut: skipped
            if (done(cache))
                return;
            if (_rtmon!.HasExited)
                Assert.Fail($"rtmon exited ({_rtmon.ExitCode}): {_rtmon.StandardError.ReadToEnd()}");
            if (Environment.TickCount64 > deadline)
                Assert.Fail($"{what} never reached the capture");
            Thread.Sleep(20);
        }
    }

    /// <summary>Ends the recording after a last change everyone can recognise (a netdev named "end0").</summary>
    private string StopRtmon(string path)
    {
        _ns.Ip("link add end0 type veth peer name end1");
        AwaitCapture(path, c => c.FindByName("end0") is not null, "the last change");
        _rtmon!.Kill();
        _rtmon.WaitForExit();
        return path;
    }

    private static List<string> Replay(string capture)
    {
        var r = RoceuioProcess.Run("replay", capture, "--emulate", "rxe:va", "--index-policy", "kernel", "--json");
        Assert.That(r.Exit, Is.EqualTo(0), r.Err);
        return ((JsonArray)JsonNode.Parse(r.Out)!)
            .Select(n => $"{n!["index"]} {System.Net.IPAddress.Parse((string)n["gid"]!)} v{n["gid_type"]} {n["ndev"]}").ToList();
    }

    [Test]
    public void Addresses_Macvlan_Flap_ManyAddresses_GiveTheKernelsRxeTable()
    {
        string cap = StartRtmon();
        _ns.IpBatch([
            "link add va address 02:00:00:00:0a:01 type veth peer name vb address 02:00:00:00:0b:01",
            "link set vb up", "link set va up",            // 0: the default GID
            "addr add 10.1.0.1/24 dev va",                 // 1
        ]);
        // IPv6 announcements wait for the link to be ready (see the MAC change test): one at a time.
        _ns.Ip("addr add fd00::1/64 dev va nodad");      // 2
        AwaitCapture(cap, c => HasAddress(c, "va", "fd00::1"), "fd00::1");
        _ns.Ip("addr add fd00::2/64 dev va nodad");      // 3
        AwaitCapture(cap, c => HasAddress(c, "va", "fd00::2"), "fd00::2");
        _ns.IpBatch([
            "link add mv0 link va address 02:00:00:00:0c:01 type macvlan mode bridge", "link set mv0 up",
            "addr add 10.2.0.1/24 dev mv0",                // 4
            // Admin down flushes va's IPv6 (keep_addr_on_down=0): 2 and 3 go; IPv4 and the macvlan's stay (9.7, 9.10).
            "link set va down", "link set va up",
        ]);
        // Twenty more addresses take the lowest free indexes: 2 and 3, then 5 to 22 (9.5).
        _ns.IpBatch(Enumerable.Range(1, 20).Select(i => $"addr add 10.3.0.{i}/32 dev va"));
        _ns.Ip("addr del 10.3.0.5/32 dev va");           // frees 7; the next add takes it at once
        _ns.Ip("addr add 10.4.0.1/32 dev va");
        StopRtmon(cap);

        var want = new SortedDictionary<int, string>
        {
            [0] = "fe80::ff:fe00:a01 v2 va", [1] = "::ffff:10.1.0.1 v2 va", [4] = "::ffff:10.2.0.1 v2 mv0",
        };
        int[] free = [2, 3, .. Enumerable.Range(5, 18)];
        for (int i = 1; i <= 20; i++)
            want[free[i - 1]] = $"::ffff:10.3.0.{i} v2 va";
        want[7] = "::ffff:10.4.0.1 v2 va";                // 10.3.0.5's index
        Assert.That(Replay(cap), Is.EqualTo(want.Select(kv => $"{kv.Key} {kv.Value}")));
    }

    private static bool HasAddress(NetdevCache c, string link, string ip)
        => c.FindByName(link) is { } l && l.Addresses.Any(a => a.ToIPAddress().Equals(System.Net.IPAddress.Parse(ip)));

    [Test]
    public void MacChangeWhileUp_DeletesAndReAddsEveryGidOfTheNetdev_InTheKernelsOrder()
    {
        string cap = StartRtmon();
        _ns.IpBatch([
            "link add va address 02:00:00:00:0a:01 type veth peer name vb address 02:00:00:00:0b:01",
            "link set vb up", "link set va up",
            "addr add 10.1.0.1/24 dev va", "addr add 10.1.0.2/24 dev va",            // primary, secondary
        ]);
        // The kernel's RoCE code sees an IPv6 address when ipv6_add_addr makes it (inet6addr NETDEV_UP), but rtnetlink
        // announces it only once the link is ready and DAD is over: netlink is all a daemon has, so wait for each
        // announcement before the next change, to keep the two orders the same.
        _ns.Ip("addr add fd00::1/64 dev va nodad");
        AwaitCapture(cap, c => HasAddress(c, "va", "fd00::1"), "fd00::1");
        _ns.Ip("addr add fd00::2/64 dev va nodad");                                  // the newest
        AwaitCapture(cap, c => HasAddress(c, "va", "fd00::2"), "fd00::2");
        _ns.IpBatch([
            "link add mv0 link va address 02:00:00:00:0c:01 type macvlan mode bridge", "link set mv0 up",
            "addr add 10.2.0.1/24 dev mv0",
            "link set va address 02:00:00:00:0a:02",
        ]);
        StopRtmon(cap);

        // Before the change: 0 default, 1-2 IPv4, 3 fd00::1, 4 fd00::2, 5 mv0's. NETDEV_CHANGEADDR deletes va's five and
        // re-adds them (9.9): the new default, IPv4 primary before secondary, IPv6 newest first; mv0's stays at 5.
        Assert.That(Replay(cap), Is.EqualTo(new[]
        {
            "0 fe80::ff:fe00:a02 v2 va", "1 ::ffff:10.1.0.1 v2 va", "2 ::ffff:10.1.0.2 v2 va",
            "3 fd00::2 v2 va", "4 fd00::1 v2 va", "5 ::ffff:10.2.0.1 v2 mv0",
        }));
    }
}
