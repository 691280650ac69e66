using NUnit.Framework;
using RoceUio.Netlink;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Netlink;

/// <summary>
/// Real kernel events in a private network namespace: after each ip step the cache equals what `ip -j -d addr show`
/// reports. Needs root (fails, never skips, without it).
/// </summary>
[NonParallelizable]
public class NetlinkNamespaceTests
{
    private NetworkNamespace _ns = null!;
    private NetlinkMonitor _monitor = null!;
    private EventLog _events = null!;
    private readonly List<string> _log = new();

    [SetUp]
    public void SetUp()
    {
        _ns = NetworkNamespace.Create();
        _events = new EventLog();
        var cache = new NetdevCache { Log = _log.Add };
        cache.Subscribe(_events);
        _monitor = new NetlinkMonitor(cache) { Log = _log.Add };
        _ns.Run(() => { _monitor.Start(); return 0; });
    }

    [TearDown]
    public void TearDown()
    {
        _monitor.Dispose();
        _ns.Dispose();
    }

    private void Step(string description, params string[] ipCommands)
    {
        foreach (string c in ipCommands)
            _ns.Ip(c);
        NetlinkTestState.AssertCacheMatchesIp(_monitor, _ns, description);
    }

    [Test]
    public void VethMacvlanBridge_EveryStep_CacheEqualsIp()
    {
        Assert.That(_monitor.Cache.FindByName("lo"), Is.Not.Null, "initial dump");
        Step("veth pair", "link add va type veth peer name vb", "link set va up", "link set vb up");
        Step("IPv4 address", "addr add 10.1.0.1/24 dev va");
        Step("second IPv4 (secondary)", "addr add 10.1.0.2/24 dev va");
        Step("IPv6 address", "addr add fd00::1/64 dev va");
        Step("remove IPv4", "addr del 10.1.0.2/24 dev va");
        Step("peer down (va loses carrier)", "link set vb down");
        Step("peer up", "link set vb up");
        Step("admin down", "link set va down");
        Step("admin up", "link set va up");
        _events.Clear();
        Step("MAC change", "link set va address 02:11:22:33:44:55");
        Assert.That(_events.Events.Any(e => e.Type == NetdevEventType.LinkChanged && e.Has(NetdevChanges.Mac)), "LinkChanged(Mac)");
        Step("macvlan upper with addresses", "link add mv0 link va type macvlan mode bridge", "link set mv0 up",
             "addr add 10.2.0.1/24 dev mv0", "addr add fd01::1/64 dev mv0");
        NetdevLink va = _monitor.Cache.FindByName("va")!, mv0 = _monitor.Cache.FindByName("mv0")!, vb = _monitor.Cache.FindByName("vb")!;
        Assert.That(mv0.Kind, Is.EqualTo(NetdevKind.Macvlan));
        Assert.That(_monitor.Cache.LinkUppersOf(va.Ifindex), Is.EqualTo(new[] { mv0.Ifindex }), "macvlan is an upper of its lower");
        Assert.That(_monitor.Cache.LinkUppersOf(vb.Ifindex), Is.Empty, "a veth's IFLA_LINK (its peer) is not a lower");
        Assert.That(va.LowerIfindex, Is.EqualTo(0), "a veth has no lower");
        Step("bridge with vb as port", "link add br0 type bridge", "link set vb master br0", "link set br0 up");
        NetdevLink br0 = _monitor.Cache.FindByName("br0")!;
        Assert.That((vb.Master, br0.Kind), Is.EqualTo((br0.Ifindex, NetdevKind.Bridge)));
        Step("release bridge port", "link set vb nomaster");
        Assert.That(_monitor.Cache.FindByName("vb"), Is.Not.Null, "the AF_BRIDGE DELLINK of a leaving port does not delete the device");
        _events.Clear();
        Step("delete the veth pair (and with it the macvlan)", "link del va");
        Assert.That(_events.Events.Where(e => e.Type == NetdevEventType.LinkRemoved).Select(e => e.Link.Name),
            Is.EquivalentTo(new[] { "va", "vb", "mv0" }));
        Assert.That(_monitor.Cache.MalformedMessages, Is.Zero, string.Join('\n', _log));
        Assert.That(_monitor.Overruns, Is.Zero);
    }

    [Test]
    public void NamespaceMove_OfRealVeth_RemovesIt()
    {
        using var other = NetworkNamespace.Create();
        Step("veth", "link add va type veth peer name vb", "addr add 10.3.0.1/24 dev vb");
        _events.Clear();
        _ns.Ip($"link set vb netns {other.Name}");
        NetlinkTestState.AssertCacheMatchesIp(_monitor, _ns, "vb moved out");
        Assert.That(_events.Events.Select(e => (e.Type, e.Link.Name)), Does.Contain((NetdevEventType.LinkRemoved, "vb")));
        Assert.That(_monitor.Cache.FindByName("vb"), Is.Null);
    }

    [Test]
    public void Enobufs_TinyBufferAndBurst_ResyncsToTheRightState()
    {
        Step("veth", "link add va type veth peer name vb", "link set va up");
        int rcvbuf = _monitor.SetEventReceiveBuffer(4096, force: false);
        Assert.That(rcvbuf, Is.LessThanOrEqualTo(16384), "the tiny buffer took effect");
        _events.Clear();
        // 300 addresses added and 100 removed without reading: the kernel drops events (ENOBUFS).
        _ns.IpBatch(Enumerable.Range(0, 300).Select(i => $"addr add 10.{4 + i / 250}.{i % 250}.1/32 dev va"));
        _ns.IpBatch(Enumerable.Range(0, 100).Select(i => $"addr del 10.{4 + i / 250}.{i % 250}.1/32 dev va"));
        NetlinkTestState.AssertCacheMatchesIp(_monitor, _ns, "after the burst");
        Assert.That(_monitor.Overruns, Is.GreaterThan(0), "the burst overran the tiny buffer");
        Assert.That(_monitor.Resyncs, Is.GreaterThan(0), "an overrun triggers a re-dump");
        Assert.That(_monitor.ReceiveBufferBytes, Is.GreaterThan(rcvbuf), "the receive buffer was raised");
        Assert.That(_log, Has.Some.Contains("overrun"), "loss of sync is logged");
        Assert.That(_monitor.Cache.FindByName("va")!.Addresses.Count(a => a.IsIPv4), Is.EqualTo(200));
        // The events, lost or not, add up to the final state: 200 net IPv4 adds.
        int adds = _events.Events.Count(e => e.Type == NetdevEventType.AddressAdded && e.Address.IsIPv4);
        int dels = _events.Events.Count(e => e.Type == NetdevEventType.AddressRemoved && e.Address.IsIPv4);
        Assert.That(adds - dels, Is.EqualTo(200));
    }
}
