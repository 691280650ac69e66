using System.Net;
using NUnit.Framework;
using RoceUio.Core.Tests.Netlink;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// The whole pipeline on real kernel events: a private network namespace, `ip` commands, the netlink monitor, the cache,
/// the graph, the manager and a recording driver. After each step the port's table is written out as the kernel's
/// rules give it (kernel-gid.md 3 and 9: index, GID, type, ndev) and the driver's add/del calls are exactly the
/// difference. Needs root: fails, never skips, without it.
/// </summary>
/// <remarks>
/// MAC addresses are fixed so that the EUI-64 values can be written out: a MAC 02:00:00:00:XX:YY gives the default GID
/// (and the kernel's addrgenmode eui64 link-local) fe80::ff:fe00:XXYY (the U/L bit of 02 flips to 00).
/// DAD is off in the namespace (accept_dad=0) so that no address lingers as tentative; the table does not care about
/// flags (9.3) but the cache-equals-ip check of each step does.
/// </remarks>
[NonParallelizable]
public class GidPipelineNamespaceTests
{
    private const GidTypes V1V2 = GidTypes.Roce;
    private const string VaMac = "02:00:00:00:0a:01", VaMac2 = "02:00:00:00:0a:02";
    private const string D1 = "fe80::ff:fe00:a01";   // EUI-64 of VaMac: va's default GID and its link-local
    private const string D2 = "fe80::ff:fe00:a02";   // after the MAC change
    private const string Mv = "fe80::ff:fe00:c01";   // mv0's link-local
    private const string Br = "fe80::ff:fe00:d01";   // br0's link-local

    private NetworkNamespace _ns = null!;
    private GidPipeline _p = null!;

    [SetUp]
    public void SetUp()
    {
        _ns = NetworkNamespace.Create();
        NetworkNamespace.RunTool("ip", ["netns", "exec", _ns.Name, "sysctl", "-qw",
            "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]);
    }

    [TearDown]
    public void TearDown()
    {
        try { _p?.Dispose(); }
        finally { _ns.Dispose(); }
    }

    private void Start(IndexPolicy policy, int capacity = 32, GidTypes types = V1V2)
    {
        _p = new GidPipeline(new RecordingDevice("rxe0", 1, capacity, types), policy, "va");
        _p.StartMonitor(_ns);
    }

    private static bool Has(NetdevCache cache, string link, string address)
    {
        var want = IPAddress.Parse(address);
        return cache.FindByName(link) is { } l && l.Addresses.Any(a => a.ToIPAddress().Equals(want));
    }

    private static bool HasNoIPv6(NetdevCache cache, string link)
        => cache.FindByName(link) is { } l && !l.Addresses.Any(a => a.IsIPv6);

    /// <summary>
    /// Runs the ip commands, then pumps events (bounded: 30 s, for a busy machine) until the table equals <paramref name="table"/>, the cache
    /// equals `ip addr show` and <paramref name="until"/> holds; then asserts the table, the driver's contents, and the
    /// driver's calls of the step.
    /// </summary>
    private void Step(string what, string[] ip, IEnumerable<string> table, IEnumerable<string> calls,
                      Func<NetdevCache, bool>? until = null, bool callsInAnyOrder = false)
    {
        foreach (string c in ip)
            _ns.Ip(c);
        string[] want = table.ToArray();
        long deadline = Environment.TickCount64 + 30_000;
        while (true)
        {
            _p.Pump(20);
            bool settled = _p.Table().SequenceEqual(want) && (until?.Invoke(_p.Cache) ?? true)
                           && NetlinkTestState.FromCache(_p.Cache) == NetlinkTestState.FromIp(_ns);
            if (settled || Environment.TickCount64 > deadline)
                break;
        }
        _p.Pump(0);
        Assert.That(_p.Table(), Is.EqualTo(want), $"after '{what}': table (log:\n{string.Join('\n', _p.Log)})");
        if (until is not null)
            Assert.That(until(_p.Cache), $"after '{what}': the awaited kernel state never came");
        _p.AssertDriverMatches(what);
        List<string> seen = _p.TakeCalls();
        if (callsInAnyOrder)
            Assert.That(seen, Is.EquivalentTo(calls), $"after '{what}': driver calls");
        else
            Assert.That(seen, Is.EqualTo(calls), $"after '{what}': driver calls");
        Assert.That(_p.Errors, Is.Empty, $"after '{what}': manager errors");
    }

    private static IEnumerable<string> R(int index, string gid, string ndev) => GidPipeline.Rows(index, gid, ndev, V1V2);
    private static IEnumerable<string> Add(int index, string gid) => GidPipeline.Calls("add", index, gid, V1V2);
    private static IEnumerable<string> Del(int index, string gid) => GidPipeline.Calls("del", index, gid, V1V2);
    private static IEnumerable<string> Cat(params IEnumerable<string>[] parts) => parts.SelectMany(p => p);
    private static readonly string[] None = [];

    [Test]
    public void Veth_Addresses_Flaps_MacChange_Macvlan_Bridge_Delete_TableFollowsTheKernelRules()
    {
        Start(IndexPolicy.Kernel);
        Assert.That(_p.Table(), Is.Empty, "the port's netdev does not exist yet");
        Assert.That(_p.Port().NetdevIfindex, Is.Zero);

        // The port binds when its netdev appears (rdma_roce_rescan_port): default GIDs only, v1 at 0 and v2 at 1.
        Step("veth pair created", [$"link add va address {VaMac} type veth peer name vb address 02:00:00:00:0b:01"],
            R(0, D1, "va"), Add(0, D1));
        Assert.That(_p.Port().NetdevIfindex, Is.EqualTo(_p.Cache.FindByName("va")!.Ifindex));

        // Up: the kernel adds va's EUI-64 link-local, which equals the default GID on the same ndev and collapses onto
        // the default slots (9.4): no new entry, no driver call. vb is not the port's netdev: its link-local never counts.
        Step("both ends up", ["link set va up", "link set vb up"], R(0, D1, "va"), None,
            until: c => Has(c, "va", D1) && Has(c, "vb", "fe80::ff:fe00:b01"));

        Step("IPv4 address", ["addr add 10.1.0.1/24 dev va"],
            Cat(R(0, D1, "va"), R(2, "::ffff:10.1.0.1", "va")), Add(2, "::ffff:10.1.0.1"));
        Step("second IPv4 (secondary)", ["addr add 10.1.0.2/24 dev va"],
            Cat(R(0, D1, "va"), R(2, "::ffff:10.1.0.1", "va"), R(4, "::ffff:10.1.0.2", "va")), Add(4, "::ffff:10.1.0.2"));
        Step("IPv6 global", ["addr add fd00::1/64 dev va nodad"],
            Cat(R(0, D1, "va"), R(2, "::ffff:10.1.0.1", "va"), R(4, "::ffff:10.1.0.2", "va"), R(6, "fd00::1", "va")),
            Add(6, "fd00::1"));
        Step("secondary IPv4 removed", ["addr del 10.1.0.2/24 dev va"],
            Cat(R(0, D1, "va"), R(2, "::ffff:10.1.0.1", "va"), R(6, "fd00::1", "va")), Del(4, "::ffff:10.1.0.2"));

        // Carrier loss alone changes nothing (9.7).
        Step("peer down: va loses carrier", ["link set vb down"],
            Cat(R(0, D1, "va"), R(2, "::ffff:10.1.0.1", "va"), R(6, "fd00::1", "va")), None,
            until: c => (c.FindByName("va")!.Flags & Iff.IFF_LOWER_UP) == 0);

        // Admin down: the RoCE code removes nothing, but the kernel flushes va's IPv6 addresses (keep_addr_on_down=0),
        // so fd00::1's GIDs go; the link-local's RTM_DELADDR finds only the default slots, which a delete never touches;
        // IPv4 stays (9.7).
        Step("admin down", ["link set va down"],
            Cat(R(0, D1, "va"), R(2, "::ffff:10.1.0.1", "va")), Del(6, "fd00::1"),
            until: c => HasNoIPv6(c, "va"));

        // Admin up (NETDEV_UP: defaults and IPs re-added, all de-duplicated): the link-local comes back onto the defaults.
        Step("admin up", ["link set va up", "link set vb up"],
            Cat(R(0, D1, "va"), R(2, "::ffff:10.1.0.1", "va")), None,
            until: c => Has(c, "va", D1));

        // Kernel index policy: a new entry takes the lowest free index (9.5): 4, not its old 6.
        Step("IPv6 global again", ["addr add fd00::1/64 dev va nodad"],
            Cat(R(0, D1, "va"), R(2, "::ffff:10.1.0.1", "va"), R(4, "fd00::1", "va")), Add(4, "fd00::1"));

        // MAC change (NETDEV_CHANGEADDR, 9.9): everything of va deleted in index order, then the new default, IPv4, and
        // IPv6 global before link-local. The kernel keeps the old EUI-64 link-local, which no longer equals the default
        // GID and so gets entries of its own.
        Step("MAC change", [$"link set va address {VaMac2}"],
            Cat(R(0, D2, "va"), R(2, "::ffff:10.1.0.1", "va"), R(4, "fd00::1", "va"), R(6, D1, "va")),
            Cat(Del(0, D1), Del(2, "::ffff:10.1.0.1"), Del(4, "fd00::1"),
                Add(0, D2), Add(2, "::ffff:10.1.0.1"), Add(4, "fd00::1"), Add(6, D1)));
        string[] vaRows = [.. R(0, D2, "va"), .. R(2, "::ffff:10.1.0.1", "va"), .. R(4, "fd00::1", "va"), .. R(6, D1, "va")];

        // Bridge over va. Decision, from the kernel's filters (kernel-gid.md 3): enslaving va to br0 is CHANGEUPPER
        // (linking); br0 is not a bond master, so the default GIDs stay va's (is_upper_ndev_bond_master_filter false,
        // is_ndev_for_default_gid_filter still true for va); add_netdev_upper_ips runs is_eth_port_of_netdev_filter(va, br0):
        // br0 is an upper of va (netdev_has_upper_dev_all_rcu sees the master link) and the bond state of va against a
        // non-bond upper is NA, so br0's addresses DO get entries on va's port, with ndev = br0, and br0 gets no default GID.
        // (Same answer as for a macvlan; a bridge's IPs are reachable over the port.) br0's MAC is set explicitly so
        // that it does not follow its ports' MACs.
        Step("bridge over va, up", ["link add br0 address 02:00:00:00:0d:01 type bridge", "link set va master br0",
                                    "link set br0 up"],
            Cat(vaRows, R(8, Br, "br0")), Add(8, Br),
            until: c => Has(c, "br0", Br));
        Step("bridge address", ["addr add 10.3.0.1/24 dev br0"],
            Cat(vaRows, R(8, Br, "br0"), R(10, "::ffff:10.3.0.1", "br0")), Add(10, "::ffff:10.3.0.1"));
        // Deleting the bridge unlinks va (CHANGEUPPER unlinking: del_netdev_upper_ips of br0 on va's port) and unregisters
        // br0 (del_netdev_ips): everything of br0 goes, nothing else. Which of the two removes which row depends on the
        // order netlink reports them, so the calls are compared as a set.
        Step("bridge deleted", ["link del br0"],
            vaRows, Cat(Del(8, Br), Del(10, "::ffff:10.3.0.1")),
            until: c => c.FindByName("br0") is null, callsInAnyOrder: true);

        // macvlan over va (after the bridge: a bridge port cannot carry a macvlan, both take va's rx_handler): its
        // addresses with ndev = mv0, its own link-local as separate entries, no default GID (9.10). Kernel policy: it
        // reuses the bridge's freed indexes from 8 on.
        Step("macvlan up", ["link add mv0 link va address 02:00:00:00:0c:01 type macvlan mode bridge", "link set mv0 up"],
            Cat(vaRows, R(8, Mv, "mv0")), Add(8, Mv),
            until: c => Has(c, "mv0", Mv));
        Step("macvlan addresses", ["addr add 10.2.0.1/24 dev mv0", "addr add fd01::1/64 dev mv0 nodad"],
            Cat(vaRows, R(8, Mv, "mv0"), R(10, "::ffff:10.2.0.1", "mv0"), R(12, "fd01::1", "mv0")),
            Cat(Add(10, "::ffff:10.2.0.1"), Add(12, "fd01::1")));

        Step("macvlan deleted", ["link del mv0"], vaRows,
            Cat(Del(8, Mv), Del(10, "::ffff:10.2.0.1"), Del(12, "fd01::1")), callsInAnyOrder: true);

        // Unregistering the port's netdev deletes everything of it, defaults included (9.13); the port is unbound.
        Step("port netdev deleted", ["link del va"], None,
            Cat(Del(0, D2), Del(2, "::ffff:10.1.0.1"), Del(4, "fd00::1"), Del(6, D1)),
            until: c => c.FindByName("va") is null, callsInAnyOrder: true);
        Assert.That(_p.Port().NetdevIfindex, Is.Zero);
        Assert.That(_p.Device.Hardware, Is.Empty);
        Assert.That(_p.Cache.MalformedMessages, Is.Zero);
    }

    /// <summary>
    /// The index policies end to end: after a link flap (which flushes IPv6) and an address delete + re-add, Sticky puts
    /// each GID back at its old index even though a lower slot has freed; Kernel takes the lowest free index (9.5).
    /// </summary>
    [TestCase(IndexPolicy.Kernel, 2, 4)]
    [TestCase(IndexPolicy.Sticky, 4, 6)]
    public void IndexPolicy_LinkFlapAndReAdd(IndexPolicy policy, int ipv6Back, int ipv4Back)
    {
        Start(policy);
        Step("veth up", [$"link add va address {VaMac} type veth peer name vb", "link set va up", "link set vb up"],
            R(0, D1, "va"), Add(0, D1), until: c => Has(c, "va", D1));
        // One address per step: the kernel may hold an IPv6 address's RTM_NEWADDR back until the link is ready
        // (carrier through linkwatch), so in one batch it can arrive after a later IPv4 address and take its index.
        Step("first IPv4", ["addr add 10.1.0.1/24 dev va"],
            Cat(R(0, D1, "va"), R(2, "::ffff:10.1.0.1", "va")), Add(2, "::ffff:10.1.0.1"));
        Step("IPv6", ["addr add fd00::1/64 dev va nodad"],
            Cat(R(0, D1, "va"), R(2, "::ffff:10.1.0.1", "va"), R(4, "fd00::1", "va")), Add(4, "fd00::1"));
        Step("second IPv4", ["addr add 10.9.0.3/24 dev va"],
            Cat(R(0, D1, "va"), R(2, "::ffff:10.1.0.1", "va"), R(4, "fd00::1", "va"), R(6, "::ffff:10.9.0.3", "va")),
            Add(6, "::ffff:10.9.0.3"));
        Step("link flap flushes IPv6", ["link set va down"],
            Cat(R(0, D1, "va"), R(2, "::ffff:10.1.0.1", "va"), R(6, "::ffff:10.9.0.3", "va")), Del(4, "fd00::1"),
            until: c => HasNoIPv6(c, "va"));
        Step("link back up", ["link set va up"],
            Cat(R(0, D1, "va"), R(2, "::ffff:10.1.0.1", "va"), R(6, "::ffff:10.9.0.3", "va")), None,
            until: c => Has(c, "va", D1));
        Step("a lower slot frees", ["addr del 10.1.0.1/24 dev va"],
            Cat(R(0, D1, "va"), R(6, "::ffff:10.9.0.3", "va")), Del(2, "::ffff:10.1.0.1"));

        Step("IPv6 re-added", ["addr add fd00::1/64 dev va nodad"],
            Cat(R(0, D1, "va"), R(ipv6Back, "fd00::1", "va"), R(6, "::ffff:10.9.0.3", "va")).OrderBy(Index),
            Add(ipv6Back, "fd00::1"));
        // Delete and re-add 10.9.0.3 (another subnet: deleting 10.1.0.1 must not take it along as a secondary, 9.8): Kernel moves it to the lowest free index, Sticky keeps 6 although 2 is free.
        _ns.Ip("addr del 10.9.0.3/24 dev va");
        Step("IPv4 deleted and re-added", ["addr add 10.9.0.3/24 dev va"],
            Cat(R(0, D1, "va"), R(ipv6Back, "fd00::1", "va"), R(ipv4Back, "::ffff:10.9.0.3", "va")).OrderBy(Index),
            Cat(Del(6, "::ffff:10.9.0.3"), Add(ipv4Back, "::ffff:10.9.0.3")));
        if (policy == IndexPolicy.Sticky)
            Assert.That(_p.Port().Table.TryGet(2, out _), Is.False, "Sticky leaves the freed slot 2 free");
    }

    private static int Index(string row) => int.Parse(row[..row.IndexOf(' ')], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// ENOBUFS through the whole pipeline: a tiny receive buffer and a burst of 300 adds and 100 deletes overrun the
    /// event socket; the monitor re-dumps, the cache's diff reaches the manager as events, and the table ends up holding
    /// exactly the kernel's entries for the final address set (rxe-like port: RoCE v2 only, 1024 slots).
    /// </summary>
    [Test]
    public void Enobufs_BurstOfAddressChanges_FinalTableIsTheKernelsForTheFinalAddresses()
    {
        Start(IndexPolicy.Kernel, capacity: 1024, types: GidTypes.RoceV2);
        Step("veth up", [$"link add va address {VaMac} type veth peer name vb", "link set va up", "link set vb up"],
            GidPipeline.Rows(0, D1, "va", GidTypes.RoceV2), GidPipeline.Calls("add", 0, D1, GidTypes.RoceV2),
            until: c => Has(c, "va", D1));
        NetlinkMonitor monitor = _p.Monitor!;
        int rcvbuf = monitor.SetEventReceiveBuffer(4096, force: false);
        Assert.That(rcvbuf, Is.LessThanOrEqualTo(16384), "the tiny buffer took effect");

        // Not pumping meanwhile: the kernel drops events once the buffer is full.
        _ns.IpBatch(Enumerable.Range(0, 300).Select(i => $"addr add 10.{4 + i / 250}.{i % 250}.1/32 dev va"));
        _ns.IpBatch(Enumerable.Range(0, 100).Select(i => $"addr del 10.{4 + i / 250}.{i % 250}.1/32 dev va"));
        var expected = new List<string> { $"{D1} v2 va" };
        for (int i = 100; i < 300; i++)
            expected.Add($"::ffff:10.{4 + i / 250}.{i % 250}.1 v2 va");
        expected.Sort(StringComparer.Ordinal);

        long deadline = Environment.TickCount64 + 10000;
        while (Environment.TickCount64 < deadline && !_p.TableContent().SequenceEqual(expected))
            _p.Pump(50);
        _p.Pump(0);

        Assert.That(monitor.Overruns, Is.GreaterThan(0), "the burst overran the tiny buffer");
        Assert.That(monitor.Resyncs, Is.GreaterThan(0), "and the monitor re-dumped");
        Assert.That(_p.TableContent(), Is.EqualTo(expected), "one v2 entry per final address, plus the default");
        Assert.That(_p.Table()[0], Is.EqualTo($"0 {D1} v2 va"), "the default stays in its slot");
        Assert.That(_p.TableContentByIfindex(), Is.EqualTo(_p.FreshRescanContent()), "equal to a manager built from scratch on the final state");
        _p.AssertDriverMatches("after the burst");
        Assert.That(_p.Errors, Is.Empty);
        // Every entry the driver was told to add and not deleted is in the table: the adds minus deletes add up.
        List<string> calls = _p.TakeCalls();
        Assert.That(calls.Count(c => c.StartsWith("add")) - calls.Count(c => c.StartsWith("del")), Is.EqualTo(200), "net adds of the burst: the 200 addresses left");
    }
}
