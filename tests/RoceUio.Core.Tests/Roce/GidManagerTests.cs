using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Roce;

/// <summary>The kernel's roce_gid_mgmt.c rules, step by step, against a hand-made netdev graph (kernel-gid.md 3 and 9).</summary>
public class GidManagerTests
{
    private const string Mac0 = "24:8a:07:aa:bb:cc";
    private const string Mac1 = "24:8a:07:aa:bb:dd";
    private const string Ll0 = "fe80::268a:7ff:feaa:bbcc";   // EUI-64 of Mac0
    private FakeNetdevs _net = null!;
    private GidManager _mgr = null!;
    private List<string> _errors = null!;

    private void Start(IRoceDevice device, params string[] netdevs)
    {
        _mgr = new GidManager(_net, IndexPolicy.Kernel);
        _errors = [];
        _mgr.Error = _errors.Add;
        _net.Manager = _mgr;
        _mgr.AddDevice(device, netdevs.Select(n => new PortBinding(n)).ToList());
    }

    [SetUp]
    public void SetUp() => _net = new FakeNetdevs();

    /// <summary>The port's valid entries as "index gid v1|v2 ndev", in index order.</summary>
    private List<string> Table(int port = 1)
    {
        var rows = new List<string>();
        foreach (var (index, e) in _mgr.Ports[port - 1].Table.EnumerateValid())
            rows.Add($"{index} {e.Gid.ToCompressedString()} {e.Type.ToShortString()} {_mgr.NameOf(e.NetdevIfindex)}");
        return rows;
    }

    private static RecordingDevice Dev(int ports = 1, int capacity = 16, GidTypes types = GidTypes.Roce)
        => new("mlx4_0", ports, capacity, types);

    /// <summary>The driver holds exactly what the core table holds (after each burst is committed).</summary>
    private static void AssertDriverMatches(GidManager mgr, RecordingDevice dev)
    {
        foreach (RocePort p in mgr.Ports)
        {
            var core = new Dictionary<int, GidEntry>();
            foreach (var (i, e) in p.Table.EnumerateValid())
                core[i] = e;
            var hw = dev.Hardware.Where(kv => kv.Key.Port == p.Port).ToDictionary(kv => kv.Key.Index, kv => kv.Value);
            Assert.That(hw, Is.EquivalentTo(core), $"driver and core table of port {p.Port} differ");
        }
    }

    [Test]
    public void BoundPort_GetsDefaultGids_V1AtZero_V2AtOne()
    {
        _net.Add(2, "eth0", Mac0);
        var dev = Dev();
        Start(dev, "eth0");
        Assert.That(Table(), Is.EqualTo(new[] { $"0 {Ll0} v1 eth0", $"1 {Ll0} v2 eth0" }));
        AssertDriverMatches(_mgr, dev);
    }

    [Test]
    public void V2OnlyPort_HasOneDefaultSlot_AndOneEntryPerAddress()
    {
        _net.Add(2, "eth0", Mac0);
        Start(Dev(types: GidTypes.RoceV2), "eth0");
        _net.AddAddress("eth0", "192.0.2.1");
        Assert.That(Table(), Is.EqualTo(new[] { $"0 {Ll0} v2 eth0", "1 ::ffff:192.0.2.1 v2 eth0" }));
    }

    [Test]
    public void Addresses_GetOneEntryPerType_V1First_AndLeaveOnDelete()
    {
        _net.Add(2, "eth0", Mac0);
        var dev = Dev();
        Start(dev, "eth0");
        _net.AddAddress("eth0", "192.0.2.1");
        _net.AddAddress("eth0", "2001:db8::1");
        Assert.That(Table(), Is.EqualTo(new[]
        {
            $"0 {Ll0} v1 eth0", $"1 {Ll0} v2 eth0",
            "2 ::ffff:192.0.2.1 v1 eth0", "3 ::ffff:192.0.2.1 v2 eth0",
            "4 2001:db8::1 v1 eth0", "5 2001:db8::1 v2 eth0",
        }));
        _net.RemoveAddress("eth0", "192.0.2.1");
        Assert.That(Table(), Has.Count.EqualTo(4).And.No.Contains("2 ::ffff:192.0.2.1 v1 eth0"));
        AssertDriverMatches(_mgr, dev);
    }

    [Test]
    public void OwnEui64LinkLocal_CollapsesOntoTheDefaultGid()
    {
        _net.Add(2, "eth0", Mac0);
        Start(Dev(), "eth0");
        _net.AddAddress("eth0", Ll0);
        Assert.That(Table(), Has.Count.EqualTo(2), "de-dup on (gid, type, ndev) also matches the default slots");
    }

    [Test]
    public void LinkDown_RemovesNothing()
    {
        _net.Add(2, "eth0", Mac0);
        Start(Dev(), "eth0");
        _net.AddAddress("eth0", "192.0.2.1");
        var before = Table();
        _net.Change("eth0", n => n with { IsUp = false });
        Assert.That(Table(), Is.EqualTo(before));
    }

    [Test]
    public void MacChange_DeletesAndReAddsDefaultsAndAddresses()
    {
        _net.Add(2, "eth0", Mac0);
        var dev = Dev();
        Start(dev, "eth0");
        _net.AddAddress("eth0", "192.0.2.1");
        _net.Change("eth0", n => n with { Mac = FakeNetdevs.Mac(Mac1) });
        Assert.That(Table(), Is.EqualTo(new[]
        {
            "0 fe80::268a:7ff:feaa:bbdd v1 eth0", "1 fe80::268a:7ff:feaa:bbdd v2 eth0",
            "2 ::ffff:192.0.2.1 v1 eth0", "3 ::ffff:192.0.2.1 v2 eth0",
        }));
        AssertDriverMatches(_mgr, dev);
    }

    [Test]
    public void MacvlanAndVlanUppers_AddTheirAddresses_WithoutDefaultGids()
    {
        _net.Add(2, "eth0", Mac0);
        Start(Dev(), "eth0");
        _net.Add(5, "mv0", "02:00:00:00:00:05", NetdevKind.Macvlan, lower: 2);
        _net.Add(6, "eth0.7", Mac0, NetdevKind.Vlan, lower: 2);
        _net.AddAddress("mv0", "198.51.100.5");
        _net.AddAddress("eth0.7", Ll0);   // the same value as the default GID, but on the VLAN
        Assert.That(Table(), Is.EqualTo(new[]
        {
            $"0 {Ll0} v1 eth0", $"1 {Ll0} v2 eth0",
            "2 ::ffff:198.51.100.5 v1 mv0", "3 ::ffff:198.51.100.5 v2 mv0",
            $"4 {Ll0} v1 eth0.7", $"5 {Ll0} v2 eth0.7",
        }));
    }

    [Test]
    public void OtherNetdevs_AndNonEthernet_NeverAppear()
    {
        _net.Add(2, "eth0", Mac0);
        _net.Add(3, "eth1", Mac1);
        Start(Dev(), "eth0");
        _net.Add(4, "ipip0", "00:00:00:00:00:00", NetdevKind.Other, ethernet: false);
        _net.AddAddress("eth1", "192.0.2.9");
        _net.AddAddress("ipip0", "192.0.2.10");
        Assert.That(Table(), Has.Count.EqualTo(2));
    }

    [Test]
    public void Unregister_DeletesEverythingOfTheNetdev_AndRebindsWhenItReturns()
    {
        _net.Add(2, "eth0", Mac0);
        var dev = Dev();
        Start(dev, "eth0");
        _net.Add(5, "mv0", "02:00:00:00:00:05", NetdevKind.Macvlan, lower: 2);
        _net.AddAddress("mv0", "198.51.100.5");
        _net.Remove("mv0");
        Assert.That(Table(), Has.Count.EqualTo(2));
        _net.Remove("eth0");
        Assert.That(Table(), Is.Empty);
        Assert.That(_mgr.Ports[0].NetdevIfindex, Is.Zero);
        _net.Add(9, "eth0", Mac0);
        Assert.That(Table(), Is.EqualTo(new[] { $"0 {Ll0} v1 eth0", $"1 {Ll0} v2 eth0" }));
        AssertDriverMatches(_mgr, dev);
    }

    [Test]
    public void Bond_DefaultsOnEverySlavePort_AddressesOnlyOnTheActiveSlave_FailoverMovesThem()
    {
        const string bondMac = "02:00:00:00:00:b0";
        const string bondLl = "fe80::ff:fe00:b0";
        _net.Add(2, "eth0", Mac0);
        _net.Add(3, "eth1", Mac1);
        var dev = Dev(ports: 2);
        Start(dev, "eth0", "eth1");
        _net.Add(10, "bond0", bondMac, NetdevKind.Bond);
        _net.AddAddress("bond0", "192.0.2.50");
        // Enslave: the slave takes the bond's MAC and the bond as master (one RTM_NEWLINK each).
        _net.Change("eth0", n => n with { Mac = FakeNetdevs.Mac(bondMac), MasterIfindex = 10 });
        _net.Change("bond0", n => n with { BondActiveSlave = 2 });
        _net.Change("eth1", n => n with { Mac = FakeNetdevs.Mac(bondMac), MasterIfindex = 10 });
        Assert.That(Table(1), Is.EqualTo(new[]
        {
            $"0 {bondLl} v1 bond0", $"1 {bondLl} v2 bond0",
            "2 ::ffff:192.0.2.50 v1 bond0", "3 ::ffff:192.0.2.50 v2 bond0",
        }));
        Assert.That(Table(2), Is.EqualTo(new[] { $"0 {bondLl} v1 bond0", $"1 {bondLl} v2 bond0" }));

        _net.Change("bond0", n => n with { BondActiveSlave = 3 });
        Assert.That(Table(1), Is.EqualTo(new[] { $"0 {bondLl} v1 bond0", $"1 {bondLl} v2 bond0" }));
        Assert.That(Table(2), Is.EqualTo(new[]
        {
            $"0 {bondLl} v1 bond0", $"1 {bondLl} v2 bond0",
            "2 ::ffff:192.0.2.50 v1 bond0", "3 ::ffff:192.0.2.50 v2 bond0",
        }));

        // Release eth1 (the active one): bond GIDs leave its port, and its own MAC and default GIDs come back.
        _net.Change("bond0", n => n with { BondActiveSlave = 2 });
        _net.Change("eth1", n => n with { Mac = FakeNetdevs.Mac(Mac1), MasterIfindex = 0 });
        Assert.That(Table(2), Is.EqualTo(new[] { "0 fe80::268a:7ff:feaa:bbdd v1 eth1", "1 fe80::268a:7ff:feaa:bbdd v2 eth1" }));
        Assert.That(Table(1), Has.Count.EqualTo(4));
        AssertDriverMatches(_mgr, dev);
    }

    [Test]
    public void DevIdChange_IsNoEvent_TheNextDefaultGidUsesIt()
    {
        // The kernel has no notifier for dev_id; make_default_gid reads it when a default is next made (CHANGEADDR).
        _net.Add(2, "eth0", Mac0);
        var dev = Dev();
        Start(dev, "eth0");
        _net.Change("eth0", n => n with { DevId = 1 });
        Assert.That(Table(), Is.EqualTo(new[] { $"0 {Ll0} v1 eth0", $"1 {Ll0} v2 eth0" }), "dev_id alone changes nothing");
        _net.Change("eth0", n => n with { Mac = FakeNetdevs.Mac(Mac1) });
        // 24:8a:07:aa:bb:dd with dev_id 1: bytes 3-4 are the dev_id, no U/L flip.
        Assert.That(Table(), Is.EqualTo(new[] { "0 fe80::248a:700:1aa:bbdd v1 eth0", "1 fe80::248a:700:1aa:bbdd v2 eth0" }));
        AssertDriverMatches(_mgr, dev);
    }

    /// <summary>Two slaves enslaved to bond0 (MAC 02:..:b0) with eth0 active and the bond holding 192.0.2.50.</summary>
    private RecordingDevice StartBondedPair(byte mode)
    {
        _net.Add(2, "eth0", Mac0);
        _net.Add(3, "eth1", Mac1);
        var dev = Dev(ports: 2);
        Start(dev, "eth0", "eth1");
        _net.Add(10, "bond0", "02:00:00:00:00:b0", NetdevKind.Bond);
        _net.Change("bond0", n => n with { BondMode = mode });
        _net.AddAddress("bond0", "192.0.2.50");
        _net.Change("eth0", n => n with { Mac = FakeNetdevs.Mac("02:00:00:00:00:b0"), MasterIfindex = 10 });
        _net.Change("eth1", n => n with { Mac = FakeNetdevs.Mac("02:00:00:00:00:b0"), MasterIfindex = 10 });
        _net.Change("bond0", n => n with { BondActiveSlave = 2 });
        return dev;
    }

    [Test]
    public void BondActiveSlaveBecomesNone_IsNoFailover_GidsStayOnTheLastActivePort()
    {
        // bond_change_active_slave (bond_main.c) calls NETDEV_BONDING_FAILOVER only "if (new_active)": all slaves down
        // leaves curr_active_slave NULL and the bond's GIDs where they were.
        var dev = StartBondedPair(IflaBond.BOND_MODE_ACTIVEBACKUP);
        Assert.That(Table(1), Does.Contain("2 ::ffff:192.0.2.50 v1 bond0"));
        _net.Change("bond0", n => n with { BondActiveSlave = 0 });
        Assert.That(Table(1), Does.Contain("2 ::ffff:192.0.2.50 v1 bond0").And.Contain("3 ::ffff:192.0.2.50 v2 bond0"));
        Assert.That(Table(2).Where(r => r.Contains("192.0.2.50")), Is.Empty);
        // The first new active slave afterwards is a failover again.
        _net.Change("bond0", n => n with { BondActiveSlave = 3 });
        Assert.That(Table(1).Where(r => r.Contains("192.0.2.50")), Is.Empty);
        Assert.That(Table(2), Does.Contain("2 ::ffff:192.0.2.50 v1 bond0"));
        AssertDriverMatches(_mgr, dev);
    }

    [Test]
    public void TlbBondActiveSlaveChange_IsNoFailover()
    {
        // Only BOND_MODE_ACTIVEBACKUP sends NETDEV_BONDING_FAILOVER; balance-tlb (5) changes its active slave silently.
        const byte BalanceTlb = 5;
        var dev = StartBondedPair(BalanceTlb);
        List<string> port1 = Table(1), port2 = Table(2);
        _net.Change("bond0", n => n with { BondActiveSlave = 3 });
        Assert.That((Table(1), Table(2)), Is.EqualTo((port1, port2)));
        AssertDriverMatches(_mgr, dev);
    }

    [Test]
    public void FullTable_IsReported_AndKeepsWhatWasThere()
    {
        _net.Add(2, "eth0", Mac0);
        Start(Dev(capacity: 6), "eth0");
        _net.AddAddress("eth0", "192.0.2.1");
        _net.AddAddress("eth0", "192.0.2.2");
        _net.AddAddress("eth0", "192.0.2.3");
        Assert.That(Table(), Has.Count.EqualTo(6));
        Assert.That(_errors, Has.Some.Contains("192.0.2.3").And.Some.Contains("mlx4_0 port 1"));
        Assert.That(Table(), Does.Contain("2 ::ffff:192.0.2.1 v1 eth0"));
    }

    [Test]
    public void OneCommitPerBurst()
    {
        _net.Add(2, "eth0", Mac0);
        var dev = Dev();
        Start(dev, "eth0");
        dev.Calls.Clear();
        _net.Change("eth0", n => n with { Mac = FakeNetdevs.Mac(Mac1) });
        Assert.That(dev.Calls.Count(c => c.StartsWith("commit")), Is.EqualTo(1));
        Assert.That(dev.Calls.Count(c => c.StartsWith("del")), Is.EqualTo(2));
        Assert.That(dev.Calls.Count(c => c.StartsWith("add")), Is.EqualTo(2));
    }

    [Test]
    public async Task Subscribers_SeeEachChange()
    {
        _net.Add(2, "eth0", Mac0);
        Start(Dev(), "eth0");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var seen = new List<GidChangeEvent>();
        var stream = _mgr.Changes.Subscribe(cts.Token);   // registered now, before the change
        var reader = Task.Run(async () =>
        {
            await foreach (GidChangeEvent e in stream)
            {
                seen.Add(e);
                if (seen.Count == 2) break;
            }
        });
        _net.AddAddress("eth0", "192.0.2.1");
        await reader;
        Assert.That(seen.Select(e => (e.Index, e.Old, e.New?.Type)),
            Is.EqualTo(new[] { (2, (GidEntry?)null, (GidType?)GidType.RoceV1), (3, null, GidType.RoceV2) }));
    }

    [Test]
    public async Task PortChanges_OneGidChangePerAdd_AndOnePerDeleteAllBatch()
    {
        // cache.c dispatch_gid_change_event: after each add and each single delete, and once for a netdev's delete-all.
        _net.Add(2, "eth0", Mac0);
        Start(Dev(ports: 1), "eth0");
        _net.Add(5, "mv0", "02:00:00:00:00:05", NetdevKind.Macvlan, lower: 2);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var seen = new List<GidPortChangeEvent>();
        var stream = _mgr.PortChanges.Subscribe(cts.Token);
        var reader = Task.Run(async () =>
        {
            await foreach (GidPortChangeEvent e in stream)
            {
                seen.Add(e);
                if (seen.Count == 5) break;
            }
        });
        _net.AddAddress("mv0", "192.0.2.1");      // v1 add, v2 add: two events
        _net.AddAddress("mv0", "192.0.2.2");      // two more
        _net.Remove("mv0");                        // NETDEV_UNREGISTER: one delete-all batch of 4
        await reader;
        Assert.That(seen, Is.EqualTo(new[]
        {
            new GidPortChangeEvent("mlx4_0", 1, 1), new GidPortChangeEvent("mlx4_0", 1, 1),
            new GidPortChangeEvent("mlx4_0", 1, 1), new GidPortChangeEvent("mlx4_0", 1, 1),
            new GidPortChangeEvent("mlx4_0", 1, 4),
        }));
    }
}
