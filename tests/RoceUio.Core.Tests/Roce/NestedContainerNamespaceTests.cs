using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// Nested containers: a macvlan in namespace B whose lower device is a bridge in namespace C, the bridge's port a
/// macvlan over the port's netdev va here (host ← C ← B). The kernel's adjacency lists cross namespaces, so B's
/// macvlan is an upper of va at depth 3 (rdma_is_upper_dev_rcu walks them all) and the addresses B gives it are GIDs of
/// va's port with ndev = B's macvlan. B's messages name C by B's id for it (IFLA_LINK_NETNSID is written from B's point
/// of view), which the follower translates into C's id here. Real namespaces, veth, macvlan and bridge; the monitor
/// follows only the namespace files the test names. Needs root: fails, never skips, without it.
/// </summary>
[NonParallelizable]
public class NestedContainerNamespaceTests
{
    private const string VaMac = "02:00:00:00:0a:01";
    private const string D1 = "fe80::ff:fe00:a01";   // va's default GID

    private NetworkNamespace _host = null!, _b = null!, _c = null!;
    private GidPipeline _p = null!;

    [SetUp]
    public void SetUp()
    {
        _host = NetworkNamespace.Create();
        _b = NetworkNamespace.Create("roceuionb");
        _c = NetworkNamespace.Create("roceuionc");
        foreach (NetworkNamespace ns in new[] { _host, _b, _c }) // no automatic link-locals: the rows are the steps' own
            NetworkNamespace.RunTool("ip", ["netns", "exec", ns.Name, "sysctl", "-qw",
                "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
                "net.ipv6.conf.default.addr_gen_mode=1", "net.ipv6.conf.all.addr_gen_mode=1"]);
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
            _b.Dispose();
            _c.Dispose();
            _host.Dispose();
        }
    }

    private void Start(params NetworkNamespace[] follow)
    {
        _p = new GidPipeline(new RecordingDevice("rxe0", 1, 64, GidTypes.RoceV2), IndexPolicy.Kernel, "va");
        _p.StartMonitor(_host, new NetlinkMonitorOptions
        {
            FollowNamespaces = true, NamespacePaths = follow.Select(n => n.Path).ToList(), ScanProcessNamespaces = false,
        });
    }

    private string Where(int netNsId)
    {
        if (netNsId < 0)
            return "here";
        ulong ino = _p.Monitor!.NetNsInodeOf(netNsId);
        return ino == NetnsFollower.InodeOf(_b.Path) ? "B" : ino == NetnsFollower.InodeOf(_c.Path) ? "C" : $"ns{netNsId}";
    }

    /// <summary>The port's entries as "gid ndev@namespace", sorted.</summary>
    private List<string> Gids() => _p.GidRows(Where);

    private void AwaitGids(string what, params string[] want) => _p.AwaitGidRows(what, Where, want);

    // C: a bridge whose port is a macvlan over va; B: a macvlan over C's bridge, moved from C. How mvC gets to C:
    // moved from here (C gets an id here) or created straight into C (IFLA_NET_NS_FD: C gets none).
    private void BuildChain(bool moveIntoC)
    {
        if (moveIntoC)
            _host.IpBatch(["link add mvC link va address 02:00:00:00:0c:01 type macvlan mode bridge", $"link set mvC netns {_c.Name}"]);
        else
            _host.Ip($"link add mvC link va address 02:00:00:00:0c:01 netns {_c.Name} type macvlan mode bridge");
        _c.IpBatch(["link add brC type bridge", "link set mvC master brC", "link set mvC up", "link set brC up",
                    "link add mvB link brC address 02:00:00:00:0d:01 type macvlan mode bridge", $"link set mvB netns {_b.Name}"]);
        _b.IpBatch(["link set mvB up", "addr add 10.3.0.2/24 dev mvB", "addr add fd03::2/64 dev mvB nodad"]);
    }

    private NetdevLink Link(string name, string where)
        => _p.Cache.Links.Single(l => l.Name == name && Where(l.NetNsId) == where);

    [Test]
    public void MacvlanInB_OverABridgeInC_OverVa_ItsAddressesAreGidsOfVasPort_NamedInBsMessagesByBsIdForC()
    {
        Start(_b, _c);
        BuildChain(moveIntoC: true);
        AwaitGids("the chain built after start", $"{D1} va@here", "::ffff:10.3.0.2 mvB@B", "fd03::2 mvB@B");

        // What the user sees, and why: B's mvB is over C's brC (the cache's key for it), brC's port is mvC over va.
        NetdevLink mvB = Link("mvB", "B"), brC = Link("brC", "C"), mvC = Link("mvC", "C");
        Assert.That((mvB.LowerIfindex, mvC.Master, mvC.LowerIfindex), Is.EqualTo((brC.Ifindex, brC.Ifindex, _p.Cache.FindByName("va")!.Ifindex)));
        int cIdInB = (int)System.Text.Json.Nodes.JsonNode.Parse(_b.Ip("-j -d link show mvB"))![0]!["link_netnsid"]!;
        int cIdHere = mvC.NetNsId;
        Assert.That(cIdInB, Is.Not.EqualTo(cIdHere),
                    "precondition: B's id for C is not C's id here (B and C got ids 0 and 1 here in that order, C got 0 in B), "
                    + "so reading it as an id here would name B itself");

        // The address goes in B: its GID goes; C's bridge loses its port: mvB is no upper of va any more.
        _b.Ip("addr del 10.3.0.2/24 dev mvB");
        AwaitGids("B's IPv4 address removed", $"{D1} va@here", "fd03::2 mvB@B");
        _c.Ip("link set mvC nomaster");
        AwaitGids("mvC out of C's bridge", $"{D1} va@here");
        _c.Ip("link set mvC master brC");
        AwaitGids("mvC back in C's bridge", $"{D1} va@here", "fd03::2 mvB@B");
        Assert.That(_p.Cache.MalformedMessages, Is.Zero);
    }

    [Test]
    public void ThirdNamespaceWithNoIdHere_GetsOne_WhenBsMacvlanNamesIt_AndIsFollowed()
    {
        // C has no id here (mvC created straight into it) and is not among the files followed: only B is.
        Start(_b);
        BuildChain(moveIntoC: false);
        AwaitGids("the chain built after start, C unknown here", $"{D1} va@here", "::ffff:10.3.0.2 mvB@B", "fd03::2 mvB@B");
        Assert.That(_host.Ip("netns list-id"), Does.Contain(_c.Name), "C was given an id here (by asking for mvB from here)");
        Assert.That(_p.Monitor!.FollowedNamespaces, Is.EqualTo(2), "B and C followed");
    }

    [Test]
    public void ChainBuiltBeforeStart_ThirdNamespaceWithNoIdHere_TheStartUpDumpFindsIt()
    {
        BuildChain(moveIntoC: false);
        Assert.That(_host.Ip("netns list-id"), Does.Not.Contain(_c.Name), "precondition: C has no id here");
        Start(_b);
        AwaitGids("start", $"{D1} va@here", "::ffff:10.3.0.2 mvB@B", "fd03::2 mvB@B");

        _b.Ip("addr add 10.3.0.3/24 dev mvB");
        AwaitGids("an address added in B after start",
            $"{D1} va@here", "::ffff:10.3.0.2 mvB@B", "::ffff:10.3.0.3 mvB@B", "fd03::2 mvB@B");
    }
}
