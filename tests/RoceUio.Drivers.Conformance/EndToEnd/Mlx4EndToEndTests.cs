using NUnit.Framework;
using RoceUio.Drivers.Conformance.Fixtures;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Drivers.Conformance.EndToEnd;

/// <summary>
/// GID manager → core table → mlx4 driver → mlx4 device model (on a thread), driven by netdev events from a hand-made
/// graph. After every burst the model's hardware tables hold exactly what the core tables say (core index → hardware
/// slot through TryGetRealIndex, GID and type/version bytes), and each burst cost at most one SET_PORT per changed port.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.None)]
public class Mlx4EndToEndTests
{
    private const string Mac0 = "24:8a:07:aa:bb:cc", Mac1 = "24:8a:07:aa:bb:dd", Mac0New = "24:8a:07:aa:bb:ee";
    private const string MacvlanMac = "02:00:00:00:00:a1", BondMac = "02:00:00:00:00:b0";
    private FakeNetdevs _net = null!;
    private GidManager _mgr = null!;
    private Mlx4UnderTest _dut = null!;
    private List<string> _errors = null!;

    private Mlx4Device Driver => (Mlx4Device)_dut.Device;

    [SetUp]
    public void SetUp()
    {
        _net = new FakeNetdevs();
        _net.Add(2, "eth0", Mac0);
        _net.Add(3, "eth1", Mac1);
        // A ConnectX-3 without PORT_REMAP: the kernel cannot bond its ports (mlx4_do_bond: -EOPNOTSUPP), so the bond steps
        // below show the per-port rules; RoCE LAG on a card that has it is LagTests' (Drivers.Mlx4.Tests).
        _dut = new Mlx4UnderTest(new Mlx4ModelConfig { PortRemap = false }, inProcess: true);
        _mgr = new GidManager(_net, IndexPolicy.Sticky);
        _errors = [];
        _mgr.Error = _errors.Add;
        _net.Manager = _mgr;
    }

    [TearDown]
    public void TearDown() => _dut.Dispose();

    private void Register()
        => Step("register the device", () => _mgr.AddDevice(Driver, [new PortBinding("eth0"), new PortBinding("eth1")]));

    [Test]
    public void Every_netdev_event_leaves_the_model_holding_what_the_core_tables_say_with_one_SET_PORT_per_changed_port()
    {
        Register();
        Assert.That(_mgr.Ports[0].Table.Count, Is.EqualTo(2), "eth0's default GIDs, v1 and v2");

        Step("IPv4 address on eth0", () => _net.AddAddress("eth0", "192.0.2.1"));
        Step("IPv6 address on eth0", () => _net.AddAddress("eth0", "2001:db8::1"));
        Step("IPv4 address on eth1", () => _net.AddAddress("eth1", "192.0.2.2"));
        Step("IPv4 address removed from eth0", () => _net.RemoveAddress("eth0", "192.0.2.1"));
        Step("MAC change of eth0", () => _net.Change("eth0", n => n with { Mac = FakeNetdevs.Mac(Mac0New) }));
        Assert.That(_mgr.Ports[0].Table.TryFind(new GidEntry(Gid.DefaultFromMac(FakeNetdevs.Mac(Mac0New)), GidType.RoceV2, 2), out _),
            Is.True, "the new default GID is in the core table (and so, checked above, in the hardware)");

        Step("macvlan over eth0", () => _net.Add(20, "mv0", MacvlanMac, NetdevKind.Macvlan, lower: 2));
        Step("address on the macvlan", () => _net.AddAddress("mv0", "198.51.100.7"));
        Assert.That(HardwareGids(1), Does.Contain(Gid.Parse("::ffff:198.51.100.7")), "the macvlan's address reaches port 1's hardware");
        Assert.That(HardwareGids(2), Does.Not.Contain(Gid.Parse("::ffff:198.51.100.7")), "...and not port 2's");

        Step("bond0 appears", () => _net.Add(10, "bond0", BondMac, NetdevKind.Bond));
        Step("address on bond0", () => _net.AddAddress("bond0", "192.0.2.50"));
        Step("eth0 enslaved", () => _net.Change("eth0", n => n with { Mac = FakeNetdevs.Mac(BondMac), MasterIfindex = 10 }));
        Step("eth0 active", () => _net.Change("bond0", n => n with { BondActiveSlave = 2 }));
        Step("eth1 enslaved", () => _net.Change("eth1", n => n with { Mac = FakeNetdevs.Mac(BondMac), MasterIfindex = 10 }));
        Assert.That(HardwareGids(1), Does.Contain(Gid.Parse("::ffff:192.0.2.50")), "the bond's address is on the active slave's port");
        Assert.That(HardwareGids(2), Does.Not.Contain(Gid.Parse("::ffff:192.0.2.50")));

        Step("failover to eth1", () => _net.Change("bond0", n => n with { BondActiveSlave = 3 }));
        Assert.That(HardwareGids(1), Does.Not.Contain(Gid.Parse("::ffff:192.0.2.50")), "failover moved the bond's address off port 1");
        Assert.That(HardwareGids(2), Does.Contain(Gid.Parse("::ffff:192.0.2.50")), "...onto port 2");

        Step("macvlan unregistered", () => _net.Remove("mv0"));
        Assert.That(HardwareGids(1), Does.Not.Contain(Gid.Parse("::ffff:198.51.100.7")));
        Step("bond0 unregistered", () => _net.Remove("bond0"));
        Assert.That(HardwareGids(1).Concat(HardwareGids(2)), Does.Not.Contain(Gid.Parse("::ffff:192.0.2.50")), "the bond's GIDs are gone from both ports");
        Step("eth1 unregistered", () => _net.Remove("eth1"));
        Assert.That(_dut.ReadHardware(2), Is.Empty, "everything of port 2's netdev is gone from the hardware");
        Assert.That(_errors, Has.Count.EqualTo(1), string.Join("\n", _errors));
        Assert.That(_errors[0], Does.Contain("no PORT_REMAP capability").And.Contain("the ports stay separate"),
            "the one report: the bond the kernel would have made (mlx4_err \"Failed to bond device\")");
    }

    [Test]
    public void A_SET_PORT_refused_with_status_0x08_leaves_the_port_out_of_sync_and_the_retry_heals_it_without_another_event()
    {
        long now = 5000;
        _mgr.Clock = () => now;
        Register();
        Step("IPv4 address on eth0", () => _net.AddAddress("eth0", "192.0.2.1"));
        long rejected = _dut.State.Rejected;
        _dut.ArmRefusal(1);
        var refusedEntry = new GidEntry(Gid.Parse("::ffff:192.0.2.9"), GidType.RoceV2, 2);
        Step("refused: IPv4 address on eth0", () => _net.AddAddress("eth0", "192.0.2.9"), refused: true);
        Assert.That(_dut.State.Rejected, Is.EqualTo(rejected + 1), "the model refused the SET_PORT");
        Assert.That(_errors, Has.Count.EqualTo(1));
        Assert.That(_errors[0], Does.Contain("mlx4_0 port 1").And.Contain("EXCEED_LIM").And.Contain("out of sync").And.Contain("192.0.2.9"));
        Assert.That(_mgr.Ports[0].Table.TryFind(refusedEntry, out _), Is.False,
            "not visible while the hardware does not have it (add_roce_gid stores after the driver's add_gid)");
        RocePort behind = _mgr.OutOfSyncPorts.Single();
        Assert.That((behind.Port, behind.Sync.OutOfSyncSinceMs), Is.EqualTo((1, now)));
        Assert.That(behind.Sync.Why, Does.Contain("status 0x08 EXCEED_LIM"));
        Assert.That(HardwareGids(1), Does.Contain(Gid.Parse("::ffff:192.0.2.1")).And.Not.Contain(refusedEntry.Gid), "the model kept its table");

        // Nothing else happens on the netdevs: the worker's next turns retry once the backoff (10 ms) passed.
        now += 9;
        Step("before the backoff", () => _mgr.EndOfBurst(), refused: true);
        now += 1;
        long accepted = _dut.State.Accepted;
        _mgr.EndOfBurst();
        Assert.That(_dut.State.Accepted, Is.EqualTo(accepted + 1), "the retry was one SET_PORT");
        Assert.That(_mgr.OutOfSyncPorts, Is.Empty);
        Assert.That(_mgr.Ports[0].Table.TryFind(refusedEntry, out _), Is.True, "visible once the hardware has it");
        Assert.That(HardwareGids(1), Does.Contain(refusedEntry.Gid));
        AssertModelEqualsCore("after the retry");
        Assert.That(_errors, Has.Count.EqualTo(1), "one failure, reported once");
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /// <summary>Runs one burst and checks: one SET_PORT accepted per port that had a table change in the burst (the
    /// manager's change log says which), none for the others; then the model equals the core tables. A refused burst
    /// leaves the port out of sync (the driver's shadow is ahead of the model until the retry), so it checks only that
    /// nothing was accepted.</summary>
    private void Step(string what, Action burst, bool refused = false)
    {
        var changes = new List<string>();
        _mgr.Log = changes.Add;
        long accepted = _dut.State.Accepted;
        burst();
        _mgr.Log = null;
        int changedPorts = _mgr.Ports.Count(p => changes.Any(c => c.StartsWith($"{p}:", StringComparison.Ordinal) || c.StartsWith($"{p} ", StringComparison.Ordinal)));
        Assert.That(_dut.State.Accepted - accepted, Is.EqualTo(refused ? 0 : changedPorts),
            $"{what}: SET_PORTs accepted; {changedPorts} port(s) changed:\n{string.Join("\n", changes)}");
        if (!refused)
            AssertModelEqualsCore(what);
    }

    private List<Gid> HardwareGids(int port) => _dut.ReadHardware(port).Select(h => h.Gid).ToList();

    private void AssertModelEqualsCore(string what)
    {
        Mlx4ModelState state = _dut.State;
        foreach (RocePort port in _mgr.Ports)
        {
            string at = $"{what}: port {port.Port}";
            Mlx4ModelPortTable model = state.Table(port.Port);
            var bySlot = model.Entries.ToDictionary(e => e.Index);
            var used = new HashSet<int>();
            for (int i = 0; i < port.Table.Capacity; i++)
            {
                bool mapped = Driver.TryGetRealIndex(port.Port, i, out int real);
                if (!port.Table.TryGet(i, out GidEntry e))
                {
                    Assert.That(mapped, Is.False, $"{at}: core index {i} is {port.Table.StateOf(i)} but maps to hardware slot {real}");
                    continue;
                }
                Assert.That(mapped, Is.True, $"{at}: core index {i} ({e}) has no hardware slot");
                Assert.That(bySlot.TryGetValue(real, out Mlx4ModelEntry hw), Is.True, $"{at}: core index {i} ({e}) → slot {real}, which the model does not hold");
                byte version = e.Type == GidType.RoceV2 ? (byte)2 : (byte)0;
                byte type = e.Type == GidType.RoceV2 && !e.Gid.IsIPv4Mapped ? (byte)1 : (byte)0;
                Assert.That((hw.Gid, hw.Type, hw.Version), Is.EqualTo((e.Gid, type, version)), $"{at}: core index {i} ({e}) → slot {real}: GID, type byte, version byte");
                used.Add(real);
            }
            Assert.That(bySlot.Keys.Where(s => !used.Contains(s)), Is.Empty, $"{at}: the model holds slots no core entry uses");
            if (model.Entries.Count > 0)
                Assert.That(model.Format, Is.EqualTo(Mlx4GidFormat.RoceAddr), at);
        }
    }
}
