using NUnit.Framework;
using RoceUio.Netlink;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Netlink;

/// <summary>VLAN, bond and namespace-move events this kernel cannot make, fed as messages built in the kernel's layout.</summary>
public class NetdevCacheBuiltMessageTests
{
    private static readonly LinkSpec Eth0 = new(2, "eth0") { Mac = "24:8a:07:aa:bb:cc" };
    private static readonly LinkSpec Eth1 = new(3, "eth1") { Mac = "24:8a:07:aa:bb:cd" };

    private readonly List<string> _log = new();
    private NetdevCache _cache = null!;
    private EventLog _events = null!;

    [SetUp]
    public void SetUp()
    {
        _log.Clear();
        _cache = new NetdevCache { Log = _log.Add };
        _events = new EventLog();
        _cache.Subscribe(_events);
    }

    private void Feed(byte[] messages) => _cache.ApplyAll(messages);

    [Test]
    public void Vlan_OverEth_ParsedWithIdAndRealDevice_AndItsAddressesTracked()
    {
        Feed(RtnlMessages.NewLink(Eth0));
        Feed(RtnlMessages.NewLink(new LinkSpec(10, "eth0.100") { Mac = "24:8a:07:aa:bb:cc", Kind = "vlan", VlanId = 100, Link = 2 }));
        Feed(RtnlMessages.NewLink(new LinkSpec(11, "eth0.100.7") { Mac = "24:8a:07:aa:bb:cc", Kind = "vlan", VlanId = 7, Link = 10 }));
        Feed(RtnlMessages.NewAddress(10, "192.0.2.10/24"));

        Assert.That(_cache.TryGetLink(10, out NetdevLink vlan));
        Assert.That((vlan.Kind, vlan.VlanId, vlan.Link, vlan.Name), Is.EqualTo((NetdevKind.Vlan, (ushort)100, 2, "eth0.100")));
        Assert.That(_cache.LinkUppersOf(2), Is.EqualTo(new[] { 10 }), "the index: eth0.100 is over eth0");
        Assert.That(_cache.LinkUppersOf(10), Is.EqualTo(new[] { 11 }));
        var g = new NetlinkNetdevGraph(_cache);
        Assert.That(NetdevFilters.VlanRealDev(g, g.Find(10)!)?.Ifindex, Is.EqualTo(2));
        Assert.That(NetdevFilters.VlanRealDev(g, g.Find(11)!)?.Ifindex, Is.EqualTo(2), "nested vlan: vlan_dev_real_dev walks to the bottom");
        Assert.That(NetdevFilters.VlanRealDev(g, g.Find(2)!), Is.Null, "not a vlan");
        Assert.That(NetdevFilters.IsUpperDev(g, g.Find(2)!, g.Find(11)!), Is.True);
        Assert.That(NetdevFilters.IsUpperDev(g, g.Find(11)!, g.Find(2)!), Is.False);
        Assert.That(vlan.Addresses.Single().ToIPAddress().ToString(), Is.EqualTo("192.0.2.10"));
        Assert.That(_events.Lines, Is.EqualTo(new[]
        {
            "LinkAdded 2 eth0", "LinkAdded 10 eth0.100", "LinkAdded 11 eth0.100.7",
            "AddressAdded 10 192.0.2.10/24 if10 flags 0x0",
        }));
    }

    [Test]
    public void Bond_EnslaveFailoverRelease_EmitsMasterAndActiveSlaveChanges()
    {
        var bond = new LinkSpec(20, "bond0") { Mac = "24:8a:07:aa:bb:cc", Kind = "bond", Flags = Iff.IFF_UP | Iff.IFF_MASTER | Iff.IFF_RUNNING | Iff.IFF_LOWER_UP };
        Feed(RtnlMessages.NewLink(Eth0));
        Feed(RtnlMessages.NewLink(Eth1));
        Feed(RtnlMessages.NewLink(bond));
        _events.Clear();

        // Enslave both; eth1 takes the bond's MAC (bonding sets the slave MAC in active-backup); eth0 becomes active.
        Feed(RtnlMessages.NewLink(Eth0 with { Master = 20, SlaveKind = "bond", Flags = Eth0.Flags | Iff.IFF_SLAVE }));
        Feed(RtnlMessages.NewLink(Eth1 with { Master = 20, SlaveKind = "bond", Mac = "24:8a:07:aa:bb:cc", Flags = Eth1.Flags | Iff.IFF_SLAVE }));
        Feed(RtnlMessages.NewLink(bond with { BondActiveSlave = 2 }));
        Assert.That(_cache.SlavesOf(20), Is.EqualTo(new[] { 2, 3 }), "the index: both slaves under bond0");
        var g = new NetlinkNetdevGraph(_cache);
        Assert.That(NetdevFilters.IsUpperDev(g, g.Find(3)!, g.Find(20)!), Is.True);
        Assert.That(_cache.TryGetLink(20, out NetdevLink b) && b.BondActiveSlave == 2 && b.BondMode == IflaBond.BOND_MODE_ACTIVEBACKUP);

        NetdevEvent enslave = _events.Events[1];
        Assert.That(enslave.Changes, Is.EqualTo(NetdevChanges.Master | NetdevChanges.Mac | NetdevChanges.Flags | NetdevChanges.Kind));
        Assert.That(enslave.PreviousMaster, Is.EqualTo(0));
        Assert.That(enslave.PreviousMac.ToString(), Is.EqualTo("24:8a:07:aa:bb:cd"));
        NetdevEvent active = _events.Events[2];
        Assert.That((active.Changes, active.PreviousBondActiveSlave), Is.EqualTo((NetdevChanges.BondActiveSlave, 0)));

        // Failover to eth1.
        _events.Clear();
        Feed(RtnlMessages.NewLink(bond with { BondActiveSlave = 3 }));
        Assert.That(_events.Events.Single().Has(NetdevChanges.BondActiveSlave) && _events.Events[0].PreviousBondActiveSlave == 2);
        Assert.That(b.BondActiveSlave, Is.EqualTo(3));

        // Release eth1: master gone, own MAC back.
        _events.Clear();
        Feed(RtnlMessages.NewLink(Eth1));
        Assert.That(_events.Events.Single().Changes, Is.EqualTo(NetdevChanges.Master | NetdevChanges.Mac | NetdevChanges.Flags | NetdevChanges.Kind));
        Assert.That(_events.Events[0].PreviousMaster, Is.EqualTo(20));
        Assert.That(_cache.SlavesOf(20), Is.EqualTo(new[] { 2 }), "eth1 left the index");
        Assert.That(NetdevFilters.IsUpperDev(g, g.Find(3)!, g.Find(20)!), Is.False);
    }

    [Test]
    public void NamespaceMove_DelLinkWithNewNetnsid_RemovesLinkAndAddresses()
    {
        Feed(RtnlMessages.NewLink(Eth0));
        Feed(RtnlMessages.NewAddress(2, "192.0.2.1/24"));
        Feed(RtnlMessages.NewAddress(2, "2001:db8::1/64"));
        _events.Clear();
        var w = new NetlinkMessageWriter();
        RtnlMessages.MoveLinkOut(w, Eth0, newNetNsId: 0, newIfindex: 7);
        Feed(w.ToArray());

        Assert.That(_cache.TryGetLink(2, out _), Is.False);
        Assert.That(_events.Lines, Is.EqualTo(new[]
        {
            "AddressRemoved 2 2001:db8::1/64 if2 flags 0x0", "AddressRemoved 2 192.0.2.1/24 if2 flags 0x0", "LinkRemoved 2 eth0",
        }));
        Assert.That(_cache.MalformedMessages, Is.Zero);
    }

    [Test]
    public void BridgeFamilyMessages_AndDuplicates_ChangeNothing()
    {
        Feed(RtnlMessages.NewLink(Eth0));
        _events.Clear();
        Feed(RtnlMessages.NewLink(Eth0));                                            // duplicate
        Feed(RtnlMessages.DelLink(Eth0 with { Family = AddressFamilies.AF_BRIDGE })); // "left the bridge"
        Feed(RtnlMessages.NewAddress(2, "192.0.2.1/24"));
        Feed(RtnlMessages.NewAddress(2, "192.0.2.1/24"));
        Assert.That(_cache.TryGetLink(2, out NetdevLink l) && l.Addresses.Count == 1);
        Assert.That(_events.Lines, Is.EqualTo(new[] { "AddressAdded 2 192.0.2.1/24 if2 flags 0x0" }));
    }

    [Test]
    public void Ipv6Dad_TentativeThenFinal_IsOneAddressChanged()
    {
        Feed(RtnlMessages.NewLink(Eth0));
        Feed(RtnlMessages.NewAddress(2, "2001:db8::5/64", IfaFlags.IFA_F_TENTATIVE | IfaFlags.IFA_F_PERMANENT));
        Feed(RtnlMessages.NewAddress(2, "2001:db8::5/64", IfaFlags.IFA_F_PERMANENT));
        Assert.That(_events.Events.Select(e => e.Type), Is.EqualTo(new[] { NetdevEventType.LinkAdded, NetdevEventType.AddressAdded, NetdevEventType.AddressChanged }));
        Assert.That(_events.Events[2].PreviousAddressFlags, Is.EqualTo(IfaFlags.IFA_F_TENTATIVE | IfaFlags.IFA_F_PERMANENT));
        Assert.That(_cache.TryGetLink(2, out NetdevLink l) && !l.Addresses[0].IsTentative);
    }

    [Test]
    public void Resync_RemovesWhatTheDumpNoLongerShows_AndAddsWhatItShows()
    {
        Feed(RtnlMessages.NewLink(Eth0));
        Feed(RtnlMessages.NewLink(Eth1));
        Feed(RtnlMessages.NewAddress(2, "192.0.2.1/24"));
        _events.Clear();
        _cache.BeginResync();
        Feed(RtnlMessages.NewLink(Eth0 with { Mac = "02:00:00:00:00:01" }));
        Feed(RtnlMessages.NewAddress(2, "192.0.2.2/24"));
        _cache.EndResync();
        Assert.That(_events.Lines, Is.EqualTo(new[]
        {
            "LinkChanged 2 eth0 [Mac]", "AddressAdded 2 192.0.2.2/24 if2 flags 0x0",
            "AddressRemoved 2 192.0.2.1/24 if2 flags 0x0", "LinkRemoved 3 eth1",
        }));
    }

    [Test]
    public void Capture_WrittenByUs_IsReadByIpMonitorFile_AndReplaysIntoTheSameCache()
    {
        using var dir = new TempDirectory();
        string path = dir["capture.rtmon"];
        using (var writer = RtmonCaptureWriter.Create(path))
        {
            writer.WriteMessage(RtnlMessages.NewLink(Eth0));
            writer.WriteEvents(RtnlMessages.NewLink(new LinkSpec(10, "eth0.100") { Mac = "24:8a:07:aa:bb:cc", Kind = "vlan", VlanId = 100, Link = 2 }));
            writer.WriteEvents(RtnlMessages.NewAddress(10, "192.0.2.10/24"));
            writer.WriteEvents(RtnlMessages.NewAddress(10, "2001:db8::10/64"));
            writer.WriteEvents(RtnlMessages.DelAddress(10, "192.0.2.10/24"));
        }
        // iproute2 decodes our file: the format and the message layouts are the kernel's.
        string decoded = NetworkNamespace.RunTool("ip", ["-d", "monitor", "file", path]);
        Assert.That(decoded, Does.Contain("eth0.100@eth0").And.Contain("vlan protocol 802.1Q id 100"));
        Assert.That(decoded, Does.Contain("inet 192.0.2.10/24").And.Contain("inet6 2001:db8::10/64").And.Contain("Deleted"));

        int applied = RtmonCaptureReader.Replay(File.ReadAllBytes(path), _cache);
        Assert.That(applied, Is.EqualTo(5));
        Assert.That(_cache.TryGetLink(10, out NetdevLink vlan) && vlan.VlanId == 100);
        Assert.That(vlan.Addresses.Select(a => a.ToIPAddress().ToString()), Is.EqualTo(new[] { "2001:db8::10" }));
    }
}
