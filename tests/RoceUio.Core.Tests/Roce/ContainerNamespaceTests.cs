using System.Net;
using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// Netdevs that move into a container's namespace (how RoCE reaches Kubernetes pods): the kernel's RoCE notifiers see
/// every namespace (roce_gid_mgmt.c registers netdevice/inetaddr/inet6addr notifiers, which are called for all of
/// them, and rdma_roce_rescan_device walks for_each_net), and a macvlan keeps its lower device across the move, so
/// <c>is_eth_port_of_netdev_filter</c> (rdma_is_upper_dev_rcu) still says yes and its addresses in the container are
/// GIDs of the port, with ndev = the macvlan. Moving it (dev_change_net_namespace) is NETDEV_UNREGISTER then
/// NETDEV_REGISTER: its GIDs go, and the addresses it gets in the new namespace come back as GIDs. When the namespace
/// is destroyed its devices go, and their GIDs with them; while anything keeps the namespace alive they stay.
/// Real namespaces and `ip`; the monitor follows other namespaces (NETLINK_LISTEN_ALL_NSID, IFLA_TARGET_NETNSID dumps).
/// Needs root: fails, never skips, without it.
/// </summary>
[NonParallelizable]
public class ContainerNamespaceTests
{
    private const string VaMac = "02:00:00:00:0a:01", MvMac = "02:00:00:00:0c:01";
    private const string D1 = "fe80::ff:fe00:a01";   // va's default GID
    private const string Mv = "fe80::ff:fe00:c01";   // mv0's EUI-64 link-local

    private NetworkNamespace _host = null!, _pod = null!;
    private GidPipeline _p = null!;

    [SetUp]
    public void SetUp()
    {
        _host = NetworkNamespace.Create();
        _pod = NetworkNamespace.Create("roceuiopod");
        foreach (NetworkNamespace ns in new[] { _host, _pod })
            NetworkNamespace.RunTool("ip", ["netns", "exec", ns.Name, "sysctl", "-qw",
                "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]);
        _host.Ip($"link add va address {VaMac} type veth peer name vb address 02:00:00:00:0b:01");
        _host.Ip("link set va up");
        _host.Ip("link set vb up");
    }

    [TearDown]
    public void TearDown()
    {
        try { _p?.Dispose(); }
        finally
        {
            _pod.Dispose();
            _host.Dispose();
        }
    }

    // The monitor follows other namespaces; the only namespace file it gives an id to at start is the pod's (so that
    // the test does not follow the rest of the machine).
    private void Start()
    {
        _p = new GidPipeline(new RecordingDevice("rxe0", 1, 64, GidTypes.RoceV2), IndexPolicy.Kernel, "va");
        _p.StartMonitor(_host, new NetlinkMonitorOptions
        {
            FollowNamespaces = true, NamespacePaths = [_pod.Path], ScanProcessNamespaces = false,
        });
    }

    /// <summary>The port's entries as "gid ndev@namespace", sorted.</summary>
    private List<string> Gids() => _p.GidRows(id => id < 0 ? "here" : "pod");

    private void AwaitGids(string what, params string[] want) => _p.AwaitGidRows(what, id => id < 0 ? "here" : "pod", want);

    private NetdevLink? PodLink(string name)
        => _p.Cache.Links.FirstOrDefault(l => !l.IsInOwnNamespace && l.Name == name);

    [Test]
    public void Macvlan_MovedIntoAPod_AndBack_ItsPodAddressesAreGids_OnThePortOfItsLowerDevice()
    {
        Start();
        _host.Ip($"link add mv0 link va address {MvMac} type macvlan mode bridge");
        _host.Ip("link set mv0 up");
        _host.Ip("addr add 10.2.0.1/24 dev mv0");
        AwaitGids("macvlan with an address on the host", $"{D1} va@here", $"{Mv} mv0@here", "::ffff:10.2.0.1 mv0@here");

        // The move unregisters mv0 here (its addresses are flushed): its GIDs go. In the pod it is down, address-less.
        _host.Ip($"link set mv0 netns {_pod.Name}");
        AwaitGids("macvlan moved into the pod", $"{D1} va@here");

        // The pod brings it up and gives it an address: GIDs of va's port again, ndev = the pod's mv0.
        _pod.Ip("link set mv0 up");
        _pod.Ip("addr add 10.2.0.9/24 dev mv0");
        _pod.Ip("addr add fd02::9/64 dev mv0 nodad");
        AwaitGids("addresses in the pod", $"{D1} va@here", $"{Mv} mv0@pod", "::ffff:10.2.0.9 mv0@pod", "fd02::9 mv0@pod");
        NetdevLink inPod = PodLink("mv0")!;
        Assert.That(inPod.LowerIfindex, Is.EqualTo(_p.Cache.FindByName("va")!.Ifindex),
                    "the pod's macvlan keeps va as its lower device");
        Assert.That(_p.Port().NetdevIfindex, Is.EqualTo(_p.Cache.FindByName("va")!.Ifindex), "the port stays on the host's va");

        _pod.Ip("addr del 10.2.0.9/24 dev mv0");
        AwaitGids("address removed in the pod", $"{D1} va@here", $"{Mv} mv0@pod", "fd02::9 mv0@pod");

        // Back to the host: unregistered in the pod (GIDs go), registered here down and without addresses.
        _pod.Ip($"link set mv0 netns {_host.Name}");
        AwaitGids("macvlan moved back", $"{D1} va@here");
        Assert.That(PodLink("mv0"), Is.Null);
        _host.Ip("link set mv0 up");
        _host.Ip("addr add 10.2.0.1/24 dev mv0");
        AwaitGids("host address again", $"{D1} va@here", $"{Mv} mv0@here", "::ffff:10.2.0.1 mv0@here");
        Assert.That(_p.Cache.MalformedMessages, Is.Zero);
    }

    [Test]
    public void PodNamespace_DeletedWhileSomethingKeepsItAlive_KeepsItsGids_UntilItIsDestroyed()
    {
        Start();
        _host.Ip($"link add mv0 link va address {MvMac} type macvlan mode bridge");
        _host.Ip($"link set mv0 netns {_pod.Name}");
        _pod.Ip("link set mv0 up");
        _pod.Ip("addr add 10.2.0.9/24 dev mv0");
        AwaitGids("address in the pod", $"{D1} va@here", $"{Mv} mv0@pod", "::ffff:10.2.0.9 mv0@pod");

        // `ip netns del` removes the name; a process (here: this test's open file) still holds the namespace, so it
        // lives on, its devices too, and so do their GIDs. It is still followed: a new address there is a GID.
        using (Microsoft.Win32.SafeHandles.SafeFileHandle alive = File.OpenHandle(_pod.Path))
        {
            NetworkNamespace.RunTool("ip", ["netns", "del", _pod.Name]);
            string nsPath = $"/proc/{Environment.ProcessId}/fd/{alive.DangerousGetHandle()}";
            NetworkNamespace.RunTool("nsenter", [$"--net={nsPath}", "ip", "addr", "add", "10.2.0.10/24", "dev", "mv0"]);
            AwaitGids("pod namespace unnamed but alive, one more address",
                $"{D1} va@here", $"{Mv} mv0@pod", "::ffff:10.2.0.9 mv0@pod", "::ffff:10.2.0.10 mv0@pod");
        }

        // The last reference is gone: the kernel destroys the namespace (cleanup_net: its ids are unhashed, RTM_DELNSID
        // here, then its devices are deleted, unheard). Every GID of its netdevs goes; the host's stay.
        AwaitGids("pod namespace destroyed", $"{D1} va@here");
        Assert.That(PodLink("mv0"), Is.Null);
        Assert.That(_p.Monitor!.FollowedNamespaces, Is.Zero);
    }

    [Test]
    public void PodMadeBeforeTheDaemonStarted_WithNoIdHere_IsFoundThroughItsNamespaceFile_AndDumped()
    {
        // The macvlan is created straight into the pod (IFLA_NET_NS_FD): the host namespace never gives the pod an id,
        // so nothing of the pod can be heard until the monitor gives it one from /run/netns.
        _host.Ip($"link add mv0 link va address {MvMac} netns {_pod.Name} type macvlan mode bridge");
        _pod.Ip("link set mv0 up");
        _pod.Ip("addr add 10.2.0.9/24 dev mv0");
        Assert.That(_host.Ip("netns list-id"), Does.Not.Contain(_pod.Name), "precondition: the pod has no id in the host");

        Start();
        Assert.That(Gids(), Is.EquivalentTo(new[] { $"{D1} va@here", "::ffff:10.2.0.9 mv0@pod" }.Concat(
                        PodHasLinkLocal() ? [$"{Mv} mv0@pod"] : [])),
                    $"the start-up dump includes the pod (followed {_p.Monitor!.FollowedNamespaces}; log:\n{string.Join('\n', _p.Log)})");
        Assert.That(_host.Ip("netns list-id"), Does.Contain(_pod.Name), "the monitor gave the pod an id (ip netns set NAME auto)");

        _pod.Ip("addr add 10.2.0.10/24 dev mv0");
        AwaitGids("address added in the pod after start", [
            $"{D1} va@here", $"{Mv} mv0@pod", "::ffff:10.2.0.9 mv0@pod", "::ffff:10.2.0.10 mv0@pod"]);
    }

    [Test]
    public void PodMadeAfterTheDaemonStarted_WithAMacvlanMadeStraightIntoIt_IsFollowed_ThroughTheNamespaceDirectory()
    {
        // `ip netns add` then a macvlan made straight into the new namespace (IFLA_NET_NS_FD): nothing moves from the
        // host, so the kernel never gives the namespace an id there; the monitor must see it appear in /run/netns (a
        // file first, the nsfs bind mount just after) and give it one itself. /run/netns is watched as a daemon does
        // (it may hold other tests' namespaces: they get ids in this test's private host namespace only).
        _p = new GidPipeline(new RecordingDevice("rxe0", 1, 64, GidTypes.RoceV2), IndexPolicy.Kernel, "va");
        _p.StartMonitor(_host, new NetlinkMonitorOptions
        {
            FollowNamespaces = true, NamespacePaths = ["/run/netns"], ScanProcessNamespaces = false,
        });
        AwaitGids("the host's veth only", $"{D1} va@here");

        NetworkNamespace late = NetworkNamespace.Create("roceuiolate");
        try
        {
            NetworkNamespace.RunTool("ip", ["netns", "exec", late.Name, "sysctl", "-qw",
                "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]);
            _host.Ip($"link add mv0 link va address {MvMac} netns {late.Name} type macvlan mode bridge");
            late.Ip("link set mv0 up");
            late.Ip("addr add 10.2.0.9/24 dev mv0");
            AwaitGids("addresses of the macvlan in the namespace made after start",
                $"{D1} va@here", $"{Mv} mv0@pod", "::ffff:10.2.0.9 mv0@pod");
            Assert.That(_host.Ip("netns list-id"), Does.Contain(late.Name), "the monitor gave the new namespace an id");
            Assert.That(_p.Monitor!.NamespaceWatcher!.Assigned, Is.GreaterThanOrEqualTo(1));

            late.Ip("addr del 10.2.0.9/24 dev mv0");
            AwaitGids("address removed there", $"{D1} va@here", $"{Mv} mv0@pod");
        }
        finally
        {
            late.Dispose();
        }
        AwaitGids("the namespace made after start destroyed", $"{D1} va@here");
    }

    [Test]
    public void NamespaceDirectoryMadeAfterTheDaemonStarted_IsWaitedFor_AndANamespaceMadeInItIsFollowed()
    {
        // As on a host where no `ip netns add` has run since boot: the directory does not exist when the monitor starts.
        // A private directory (not /run/netns, which exists), two levels missing; the namespace is made the way `ip netns
        // add` makes it (an empty file, then the nsfs bind mount onto it: unshare --net=FILE), and iproute2 takes the
        // path as the macvlan's namespace (netns_get_fd opens a name with a '/' as a path).
        string root = Path.Combine(Path.GetTempPath(), $"roceuio-netnsdir-{Environment.ProcessId}-{Guid.NewGuid():N}");
        string dir = Path.Combine(root, "run", "netns"), file = Path.Combine(dir, "late");
        _p = new GidPipeline(new RecordingDevice("rxe0", 1, 64, GidTypes.RoceV2), IndexPolicy.Kernel, "va");
        try
        {
            Directory.CreateDirectory(root);
            _p.StartMonitor(_host, new NetlinkMonitorOptions
            {
                FollowNamespaces = true, NamespacePaths = [dir], ScanProcessNamespaces = false,
            });
            AwaitGids("the host's veth only", $"{D1} va@here");

            Directory.CreateDirectory(dir);
            File.WriteAllBytes(file, []);
            NetworkNamespace.RunTool("unshare", [$"--net={file}", "sysctl", "-qw",
                "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]);
            _host.Ip($"link add mv0 link va address {MvMac} netns {file} type macvlan mode bridge");
            NetworkNamespace.RunTool("nsenter", [$"--net={file}", "ip", "link", "set", "mv0", "up"]);
            NetworkNamespace.RunTool("nsenter", [$"--net={file}", "ip", "addr", "add", "10.2.0.9/24", "dev", "mv0"]);
            AwaitGids("addresses of the macvlan in the namespace made in the new directory",
                $"{D1} va@here", $"{Mv} mv0@pod", "::ffff:10.2.0.9 mv0@pod");
            Assert.That(_p.Monitor!.NamespaceWatcher!.Assigned, Is.EqualTo(1));
        }
        finally
        {
            try { NetworkNamespace.RunTool("umount", [file]); }
            catch (AssertionException) { /* never mounted */ }
            Directory.Delete(root, recursive: true);
        }
        AwaitGids("the namespace destroyed with its last mount", $"{D1} va@here");
    }

    private bool PodHasLinkLocal() => _pod.Ip("-6 addr show dev mv0").Contains(IPAddress.Parse(Mv).ToString());
}
