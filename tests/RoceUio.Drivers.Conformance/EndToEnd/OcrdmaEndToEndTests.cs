using NUnit.Framework;
using RoceUio.Drivers.Conformance.Fixtures;
using RoceUio.Drivers.Ocrdma;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Drivers.Conformance.EndToEnd;

/// <summary>
/// GID manager → core table → ocrdma driver → ocrdma device model (on a thread), with the driver's sgid references wired
/// to the core table (<see cref="CoreGidReferences"/>): a QP or AH that uses an index holds the core slot, so a deleted
/// GID stays pending in the core and in the host table that MODIFY_QP reads until the last user is gone. The model
/// checks every MODIFY_QP's sgid against the host table and that GID changes never touch the device.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.None)]
public class OcrdmaEndToEndTests
{
    private const string Mac0 = "24:8a:07:aa:bb:cc", Mac0New = "24:8a:07:aa:bb:ee", MacvlanMac = "02:00:00:00:00:a1";
    private static readonly OcrdmaPath Path = new(Gid.Parse("2001:db8::ffff"), 0x001122334455UL);
    private FakeNetdevs _net = null!;
    private GidManager _mgr = null!;
    private OcrdmaUnderTest _dut = null!;
    private List<string> _errors = null!;

    private OcrdmaDevice Driver => _dut.Driver;
    private GidTable Core => _mgr.Ports[0].Table;

    [SetUp]
    public void SetUp()
    {
        _net = new FakeNetdevs();
        _net.Add(2, "eth0", Mac0);
        var refs = new CoreGidReferences();
        _dut = new OcrdmaUnderTest(new OcrdmaDeviceOptions { References = refs, CommandTimeout = TimeSpan.FromSeconds(60) });
        // Kernel index policy: a new GID takes the lowest free slot, so "not N while held, N once released" is visible.
        _mgr = new GidManager(_net, IndexPolicy.Kernel);
        _errors = [];
        _mgr.Error = _errors.Add;
        _net.Manager = _mgr;
        refs.Attach(_mgr.AddDevice(Driver, [new PortBinding("eth0")]).Select(p => p.Table));
        Assert.That(Driver.Sgids.References, Is.SameAs(refs), "the driver counts nothing itself: its holds are the core's");
    }

    [TearDown]
    public void TearDown()
    {
        try
        {
            Assert.That(_dut.DeviceViolations(), Is.Empty, "the model saw a MODIFY_QP or AV that disagrees with the host table, or a BAR write on a GID change");
            Assert.That(_errors, Is.Empty);
        }
        finally
        {
            _dut.Dispose();
        }
    }

    [Test]
    public void A_QP_holding_an_index_keeps_the_core_slot_pending_after_the_address_goes_and_releasing_it_frees_the_slot()
    {
        _net.AddAddress("eth0", "192.0.2.1");
        var v2 = new GidEntry(Gid.Parse("::ffff:192.0.2.1"), GidType.RoceV2, 2);
        Assert.That(Core.TryFind(v2, out int n), Is.True);
        AssertHostTableEqualsCore();

        Driver.ModifyQpPath(7, 1, n, Path);
        int ah = Driver.CreateAddressHandle(1, n, new OcrdmaAhAttr(Path.Dgid, Path.DestinationMac));
        Assert.That(Core.ReferencesOf(n), Is.EqualTo(2), "the QP and the AH each hold the core entry");

        _net.RemoveAddress("eth0", "192.0.2.1");
        Assert.That(Core.StateOf(n), Is.EqualTo(GidEntryState.PendingDelete), $"index {n} is pending while the QP and AH use it");
        Assert.That(Driver.Sgids.StateOf(1, n), Is.EqualTo(OcrdmaSgidState.PendingDelete));
        Assert.That(Driver.Sgids.TryGet(1, n, out OcrdmaSgid kept) ? kept.Gid : (Gid?)null, Is.EqualTo(v2.Gid), "MODIFY_QP consumers still read the GID there");
        AssertHostTableEqualsCore();
        var refused = Assert.Catch<RoceDeviceException>(() => Driver.ModifyQpPath(8, 1, n, Path))!;
        Assert.That(refused.Message, Does.Contain($"sgid index {n}"), "no new user for a pending index");

        _net.AddAddress("eth0", "192.0.2.1");
        Assert.That(Core.TryFind(v2, out int readded), Is.True);
        Assert.That(readded, Is.Not.EqualTo(n), "the re-added GID does not land in the held index");
        Assert.That(Core.StateOf(n), Is.EqualTo(GidEntryState.PendingDelete));
        Driver.ModifyQpPath(8, 1, readded, Path); // the model checks the sgid bytes against the host table
        AssertHostTableEqualsCore();

        Driver.ReleaseQpPath(7);
        Assert.That(Core.StateOf(n), Is.EqualTo(GidEntryState.PendingDelete), "the AH still holds it");
        Driver.DestroyAddressHandle(ah);
        Assert.That(Core.StateOf(n), Is.EqualTo(GidEntryState.Free), "the last user is gone: the core slot is free");
        Assert.That(Driver.Sgids.StateOf(1, n), Is.EqualTo(OcrdmaSgidState.Free));
        AssertHostTableEqualsCore();

        // The freed index is the lowest free one again: the next new GID takes it.
        _net.AddAddress("eth0", "192.0.2.9");
        Assert.That(Core.TryFind(new GidEntry(Gid.Parse("::ffff:192.0.2.9"), GidType.RoceV1, 2), out int reused), Is.True);
        Assert.That(reused, Is.EqualTo(n), $"index {n} is reused once released");
        Driver.ModifyQpPath(9, 1, n, Path);
        AssertHostTableEqualsCore();
        Driver.ReleaseQpPath(8);
        Driver.ReleaseQpPath(9);
    }

    [Test]
    public void Every_netdev_event_leaves_the_host_table_equal_to_the_core_table_without_touching_the_device()
    {
        AssertHostTableEqualsCore();
        _net.AddAddress("eth0", "192.0.2.1");
        AssertHostTableEqualsCore();
        _net.AddAddress("eth0", "2001:db8::1");
        AssertHostTableEqualsCore();
        Driver.ModifyQpPath(1, 1, 2, Path);
        _net.Change("eth0", n => n with { Mac = FakeNetdevs.Mac(Mac0New) });
        AssertHostTableEqualsCore();
        Assert.That(Core.StateOf(2), Is.EqualTo(GidEntryState.PendingDelete), "the MAC change deleted the QP's GID; the QP keeps it");
        _net.Add(20, "mv0", MacvlanMac, NetdevKind.Macvlan, lower: 2);
        _net.AddAddress("mv0", "198.51.100.7");
        AssertHostTableEqualsCore();
        Driver.ReleaseQpPath(1);
        AssertHostTableEqualsCore();
        _net.Remove("mv0");
        AssertHostTableEqualsCore();
        _net.Remove("eth0");
        AssertHostTableEqualsCore();
        Assert.That(Driver.Sgids.Snapshot(), Is.Empty, "eth0 unregistered: nothing left");
    }

    [Test]
    public void A_holder_outside_the_driver_keeps_a_deleted_GID_in_the_host_table_and_its_release_frees_it_there_too()
    {
        // The core's reference is the only count: whoever holds the core entry, the host table asks the core.
        _net.AddAddress("eth0", "192.0.2.1");
        var v2 = new GidEntry(Gid.Parse("::ffff:192.0.2.1"), GidType.RoceV2, 2);
        Assert.That(Core.TryFind(v2, out int n), Is.True);
        Assert.That(Core.TryHold(n, out _), Is.True, "a core user that is not this driver (rdma_get_gid_attr)");

        _net.RemoveAddress("eth0", "192.0.2.1");
        Assert.That(Core.StateOf(n), Is.EqualTo(GidEntryState.PendingDelete));
        Assert.That(Driver.Sgids.StateOf(1, n), Is.EqualTo(OcrdmaSgidState.PendingDelete), "held in the core: the GID stays in the host table");
        Assert.That(Driver.Sgids.TryGet(1, n, out OcrdmaSgid kept) ? kept.Gid : (Gid?)null, Is.EqualTo(v2.Gid));
        Assert.Catch<RoceDeviceException>(() => Driver.ModifyQpPath(3, 1, n, Path), "no new user for a pending index");
        AssertHostTableEqualsCore();

        Core.Release(n);
        Assert.That(Core.StateOf(n), Is.EqualTo(GidEntryState.Free));
        Assert.That(Driver.Sgids.StateOf(1, n), Is.EqualTo(OcrdmaSgidState.Free), "the core let go: the host table has nothing there");
        AssertHostTableEqualsCore();

        _net.AddAddress("eth0", "192.0.2.9");
        Assert.That(Core.TryFind(new GidEntry(Gid.Parse("::ffff:192.0.2.9"), GidType.RoceV2, 2), out int reused), Is.True);
        Assert.That(reused, Is.EqualTo(n), "the core reuses the index (its RoCE v1 twin takes the lower one again) and the host table takes the new GID there");
        Driver.ModifyQpPath(3, 1, n, Path); // the model checks the sgid bytes against the host table
        AssertHostTableEqualsCore();
        Driver.ReleaseQpPath(3);
    }

    /// <summary>Slot by slot: the same state and the same entry (valid and pending). The number of users is the core's
    /// alone (the driver's QPs and AVs hold core entries), so there is no second count to compare.</summary>
    private void AssertHostTableEqualsCore()
    {
        for (int i = 0; i < Core.Capacity; i++)
        {
            GidEntryState core = Core.StateOf(i);
            OcrdmaSgidState host = Driver.Sgids.StateOf(1, i);
            Assert.That(host.ToString(), Is.EqualTo(core.ToString()), $"index {i}: host table vs core table state");
            if (core == GidEntryState.Free)
                continue;
            Driver.Sgids.TryGet(1, i, out OcrdmaSgid s);
            if (Core.TryGet(i, out GidEntry e))
                Assert.That((s.Gid, s.Type, s.NetdevIfindex), Is.EqualTo((e.Gid, e.Type, e.NetdevIfindex)), $"index {i}: entry");
        }
    }
}
