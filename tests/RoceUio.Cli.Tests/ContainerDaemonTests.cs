using System.Text.Json.Nodes;
using NUnit.Framework;
using RoceUio.Cli.Daemon;
using RoceUio.Cli.Output;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Shm;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// <c>roceuio run</c> (default <c>--netns all</c>) with a pod: a macvlan over the port's netdev moved into another
/// namespace keeps its lower device, so the addresses the pod gives it are GIDs of the port (the kernel's RoCE
/// notifiers see every namespace; is_eth_port_of_netdev_filter holds across the move), shown with the pod's netdev
/// name and, in the JSON form, its ifindex inside the pod (ndev->ifindex); they go when the pod's namespace is
/// destroyed. With <c>--netns own</c> the pod is not followed. rxe-shaped device (RoCE v2 only, one default slot),
/// kernel index policy.
/// </summary>
[NonParallelizable]
public class ContainerDaemonTests
{
    private const string Mac = "02:00:00:00:00:01";
    private const string Default = "fe80:0000:0000:0000:0000:00ff:fe00:0001";
    private const string V4Pod = "0000:0000:0000:0000:0000:ffff:0a00:0101";    // 10.0.1.1

    private NetworkNamespace _host = null!, _pod = null!;
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _host = NetworkNamespace.Create("roceuiocli");
        _pod = NetworkNamespace.Create("roceuioclipod");
        _dir = new TempDirectory("roceuio-daemon");
        foreach (NetworkNamespace ns in new[] { _host, _pod }) // no automatic link-locals: the rows are the steps' own
            NetworkNamespace.RunTool("ip", ["netns", "exec", ns.Name, "sysctl", "-qw",
                "net.ipv6.conf.default.addr_gen_mode=1", "net.ipv6.conf.all.addr_gen_mode=1"]);
        _host.IpBatch([$"link add veth0 address {Mac} type veth peer name veth1", "link set veth1 up", "link set veth0 up"]);
    }

    [TearDown]
    public void TearDown()
    {
        _pod.Dispose();
        _host.Dispose();
        _dir.Dispose();
    }

    private static void WaitUntil(Func<bool> condition, string what)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(10))
                Assert.Fail($"timed out waiting for {what}");
            Thread.Sleep(20);
        }
    }

    private static string Table(params string[] rows)
        => "DEV\tPORT\tINDEX\tGID\t\t\t\t\tIPv4  \t\tVER\tDEV\n---\t----\t-----\t---\t\t\t\t\t------------  \t---\t---\n"
           + string.Concat(rows) + $"n_gids_found={rows.Length}\n";

    private static string Row(int index, string gid, string ipv4, string ndev)
        => $"rxe0\t1\t{index}\t{gid}\t{(ipv4.Length > 0 ? ipv4 + "  \t" : "\t\t")}v2\t{ndev}\n";

    private void MoveMacvlanIntoPodWithAddress()
    {
        _host.IpBatch(["link add mv0 link veth0 address 02:00:00:00:00:02 type macvlan mode bridge", $"link set mv0 netns {_pod.Name}"]);
        _pod.IpBatch(["link set mv0 up", "addr add 10.0.1.1/24 dev mv0"]);
    }

    [Test]
    public void PodMacvlan_AddressIsAGidOfThePort_UntilThePodsNamespaceIsDestroyed()
    {
        using var d = DaemonProcess.Start(_host, _dir.Path, "--emulate", "rxe:veth0", "--index-policy", "kernel");
        d.WaitForGids(Table(Row(0, Default, "", "veth0")), "start");

        MoveMacvlanIntoPodWithAddress();
        List<GidRow> rows = d.WaitForGids(Table(Row(0, Default, "", "veth0"), Row(1, V4Pod, "10.0.1.1", "mv0")), "the pod's address");
        int inPod = int.Parse(_pod.Ip("-o link show mv0").Split(':')[0]);
        var json = (JsonArray)JsonNode.Parse(ShowGidsFormat.Json(rows))!;
        Assert.That(((string)json[1]!["ndev"]!, (int)json[1]!["ndev_ifindex"]!), Is.EqualTo(("mv0", inPod)),
                    "netdev_ifindex is the pod's own ifindex of mv0");
        var found = ControlHandlers.FromJson(d.Call("find", new JsonObject { ["ip"] = "10.0.1.1", ["ndev"] = "mv0" })).Select(r => r.Index);
        Assert.That(found, Is.EqualTo(new[] { 1 }));

        // The shared-memory table names the pod's netdev as a reader inside the pod knows it: its own ifindex there and
        // its namespace (the inode of /run/netns/POD, as ls -iL shows it), and the lookup by (ifindex, namespace) finds it.
        ulong podNs = NetnsFollower.InodeOf($"/run/netns/{_pod.Name}"), hostNs = NetnsFollower.InodeOf($"/run/netns/{_host.Name}");
        using (GidShmReader shm = GidShmReader.Open(GidShmWriter.PathOf(Path.Combine(_dir.Path, "shm"), "rxe0", 1)))
        {
            var podRow = shm.Snapshot().Single(e => e.Index == 1);
            Assert.That((podRow.Entry.NetdevIfindex, podRow.Netdev, podRow.NetNs), Is.EqualTo((inPod, "mv0", podNs)), "the pod's ifindex and namespace");
            Assert.That(podRow.NetNsId, Is.GreaterThanOrEqualTo(0), "the pod's namespace id in the daemon's");
            Assert.That(shm.NetNs, Is.EqualTo(hostNs).And.Not.EqualTo(podNs), "the header names the daemon's namespace");
            Assert.That(shm.TryFind(Gid.Parse("::ffff:10.0.1.1"), GidType.RoceV2, inPod, podNs, out int at) ? at : -1, Is.EqualTo(1));
            Assert.That(shm.TryFind(Gid.Parse("::ffff:10.0.1.1"), GidType.RoceV2, inPod, hostNs, out _), Is.False,
                        "the same ifindex in the daemon's namespace is another netdev");
        }

        _pod.Dispose(); // ip netns del: nothing else holds it, so the kernel destroys it and the macvlan with it
        d.WaitForGids(Table(Row(0, Default, "", "veth0")), "the pod's namespace destroyed");
        // A pod going away is news, not an error: said on stdout, nothing on stderr (a daemon run beside other
        // namespaces that come and go must not look like it failed).
        WaitUntil(() => System.Text.RegularExpressions.Regex.IsMatch(d.Stdout, @"netlink: namespace with id \d+ went away with \d+ netdev\(s\)\n"),
                  "the pod's going away on stdout");
        Assert.That(d.Terminate(), Is.Zero);
        Assert.That(d.Stderr, Is.Empty, "no errors");
    }

    /// <summary>A namespace made after the daemon started has no id in the daemon's namespace until a netdev moves
    /// into it from there (the kernel gives it one then: the move's RTM_DELLINK carries IFLA_NEW_NETNSID), so it is
    /// followed from that move on (README "Containers").</summary>
    [Test]
    public void PodCreatedAfterStart_IsFollowedOnceAMacvlanMovesIn()
    {
        using var d = DaemonProcess.Start(_host, _dir.Path, "--emulate", "rxe:veth0", "--index-policy", "kernel");
        d.WaitForGids(Table(Row(0, Default, "", "veth0")), "start");
        using NetworkNamespace late = NetworkNamespace.Create("roceuioclilate");
        NetworkNamespace.RunTool("ip", ["netns", "exec", late.Name, "sysctl", "-qw",
            "net.ipv6.conf.default.addr_gen_mode=1", "net.ipv6.conf.all.addr_gen_mode=1"]);
        _host.IpBatch(["link add mv0 link veth0 address 02:00:00:00:00:02 type macvlan mode bridge", $"link set mv0 netns {late.Name}"]);
        late.IpBatch(["link set mv0 up", "addr add 10.0.1.1/24 dev mv0"]);
        d.WaitForGids(Table(Row(0, Default, "", "veth0"), Row(1, V4Pod, "10.0.1.1", "mv0")), "the late pod's address");
        Assert.That(d.Terminate(), Is.Zero);
        Assert.That(d.Stderr, Is.Empty);
    }

    [Test]
    public void StickyState_RemembersTheHostsNetdevs_NotThePods()
    {
        using var d = DaemonProcess.Start(_host, _dir.Path, "--emulate", "rxe:veth0");
        _host.Ip("addr add 10.0.0.1/24 dev veth0");
        MoveMacvlanIntoPodWithAddress();
        d.WaitForGids(Table(Row(0, Default, "", "veth0"), Row(1, "0000:0000:0000:0000:0000:ffff:0a00:0001", "10.0.0.1", "veth0"),
                            Row(2, V4Pod, "10.0.1.1", "mv0")), "a host and a pod address");
        Assert.That(d.Terminate(), Is.Zero);
        // A pod's netdev may share a name with a host one; only the host's are saved by name.
        string state = File.ReadAllText(Path.Combine(d.StateDir, "gid-indexes.json"));
        Assert.That(state, Does.Contain("veth0"));
        Assert.That(state, Does.Not.Contain("mv0"));
    }

    [Test]
    public void NetnsOwn_DoesNotFollowThePod()
    {
        using var d = DaemonProcess.Start(_host, _dir.Path, "--emulate", "rxe:veth0", "--index-policy", "kernel", "--netns", "own");
        d.WaitForGids(Table(Row(0, Default, "", "veth0")), "start");
        MoveMacvlanIntoPodWithAddress();
        // Something the daemon must see after the pod's changes: once it shows, the pod's were processed (or ignored).
        _host.Ip("addr add 10.0.0.1/24 dev veth0");
        d.WaitForGids(Table(Row(0, Default, "", "veth0"), Row(1, "0000:0000:0000:0000:0000:ffff:0a00:0001", "10.0.0.1", "veth0")),
                      "a host address after the pod's");
        Assert.That(d.Terminate(), Is.Zero);
    }
}
