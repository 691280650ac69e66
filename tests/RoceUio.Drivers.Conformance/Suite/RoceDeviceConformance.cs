using System.Net;
using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Drivers.Conformance;

/// <summary>
/// The <see cref="IRoceDevice"/> contract (src/RoceUio.Core/Roce/IRoceDevice.cs), checked against a real driver over its
/// device model. A NIC family runs it by subclassing this fixture and returning a fresh <see cref="DeviceUnderTest"/>
/// from <see cref="CreateDevice"/> (docs/driver-guide.md, "Running the conformance suite").
/// </summary>
/// <remarks>
/// What is checked, per the contract: ports 1..PortCount with a capacity and RoCE GID types each; add, commit and
/// delete of every supported type on every port, ports independent; a full table; the same entry at two core indexes;
/// calls the core never makes (bad port, bad index, occupied index, zero GID, deleting what is not there) refused with a
/// <see cref="RoceDeviceException"/> naming the device, changing nothing; a command the device refuses leaves the driver
/// usable and as before (AddGid that throws leaves nothing, Commit that throws restores the shadow); a delete while the
/// entry is in the hardware and in use; add and delete within one burst; the same calls give the same hardware table.
/// After each test the device model must have seen nothing the real device would refuse.
/// </remarks>
[TestFixture]
[Parallelizable(ParallelScope.None)]
public abstract class RoceDeviceConformance
{
    private const int Netdev = 2, OtherNetdev = 3;
    private readonly List<DeviceUnderTest> _started = [];

    /// <summary>A freshly brought-up driver over a fresh device (model), with the views the suite reads.</summary>
    protected abstract DeviceUnderTest CreateDevice();

    private DeviceUnderTest Start()
    {
        DeviceUnderTest d = CreateDevice();
        _started.Add(d);
        return d;
    }

    [TearDown]
    public void StopDevices()
    {
        try
        {
            foreach (DeviceUnderTest d in _started)
                Assert.That(d.DeviceViolations(), Is.Empty, $"{d.Device.Name}: the device model saw commands the device would refuse");
        }
        finally
        {
            foreach (DeviceUnderTest d in _started)
                d.Dispose();
            _started.Clear();
        }
    }

    // ------------------------------------------------------------------------------------------------ identity

    [Test]
    public void Ports_are_numbered_from_1_each_with_a_capacity_and_RoCE_GID_types()
    {
        IRoceDevice d = Start().Device;
        Assert.That(d.Name, Is.Not.Empty);
        Assert.That(d.DriverName, Is.Not.Empty);
        Assert.That(d.PortCount, Is.InRange(1, 255));
        for (int p = 1; p <= d.PortCount; p++)
        {
            GidTypes types = d.SupportedGidTypes(p);
            int size = d.GidTableSize(p);
            Assert.That(types, Is.Not.EqualTo(GidTypes.None), $"port {p}: no GID type");
            Assert.That(types & ~GidTypes.Roce, Is.EqualTo(GidTypes.None), $"port {p}: a RoCE port supports RoCE v1 and/or v2 only, not {types}");
            Assert.That(size, Is.GreaterThanOrEqualTo(types.Count() + 1),
                $"port {p}: the table must hold a default slot per type and at least one address");
            // Asked again after other ports' answers: the same (the core sizes its tables once).
            for (int q = 1; q <= d.PortCount; q++)
                _ = (d.GidTableSize(q), d.SupportedGidTypes(q));
            Assert.That((d.GidTableSize(p), d.SupportedGidTypes(p)), Is.EqualTo((size, types)), $"port {p}: answers change between calls");
        }
        foreach (int bad in new[] { 0, d.PortCount + 1 })
        {
            var e = Assert.Catch<RoceDeviceException>(() => d.AddGid(bad, 0, Entry(1, FirstType(d, 1))), $"AddGid on port {bad}")!;
            Assert.That(e.Message, Does.Contain(d.Name).And.Contain($"port {bad}"), "the error names the device and the port");
        }
    }

    // ------------------------------------------------------------------------------------------------ add / delete

    [Test]
    public void Every_type_is_added_committed_and_deleted_on_every_port_and_ports_are_independent()
    {
        DeviceUnderTest dut = Start();
        IRoceDevice d = dut.Device;
        var expected = new Dictionary<int, Dictionary<int, GidEntry>>();
        for (int p = 1; p <= d.PortCount; p++)
        {
            expected[p] = [];
            int index = 0;
            foreach (GidType t in Types(d, p))
            {
                // A default GID, an IPv4 address and an IPv6 address of this type (the kernel's three shapes).
                expected[p][index++] = new GidEntry(Gid.DefaultFromMac([0x24, 0x8a, 0x07, 0x00, 0x00, (byte)p]), t, Netdev);
                expected[p][index++] = new GidEntry(Gid.FromIPAddress(IPAddress.Parse($"192.0.2.{p}")), t, Netdev);
                expected[p][index++] = new GidEntry(Gid.FromIPAddress(IPAddress.Parse($"2001:db8::{p}")), t, Netdev);
            }
            foreach (var (i, e) in expected[p])
                d.AddGid(p, i, e);
            d.Commit(p);
        }
        for (int p = 1; p <= d.PortCount; p++)
            AssertHolds(dut, p, expected[p]);

        // Port 1 emptied; the others keep theirs. A commit with nothing to do changes nothing.
        foreach (var (i, e) in expected[1])
            d.DeleteGid(1, i, e);
        d.Commit(1);
        expected[1].Clear();
        for (int p = 1; p <= d.PortCount; p++)
        {
            d.Commit(p);
            AssertHolds(dut, p, expected[p]);
        }
    }

    [Test]
    public void A_full_table_holds_an_entry_at_every_index_and_refuses_one_more()
    {
        DeviceUnderTest dut = Start();
        IRoceDevice d = dut.Device;
        for (int p = 1; p <= d.PortCount; p++)
        {
            GidType[] types = Types(d, p);
            int capacity = d.GidTableSize(p);
            var expected = new Dictionary<int, GidEntry>();
            for (int i = 0; i < capacity; i++)
                expected[i] = Entry(p * 1000 + i, types[i % types.Length]);
            foreach (var (i, e) in expected)
                d.AddGid(p, i, e);
            d.Commit(p);
            AssertHolds(dut, p, expected);
            Assert.That(dut.ReadHardware(p), Has.Count.EqualTo(capacity), $"port {p}: distinct entries take a slot each");

            var refused = Assert.Catch<RoceDeviceException>(() => d.AddGid(p, capacity, Entry(p * 1000 + capacity, types[0])))!;
            Assert.That(refused.Message, Does.Contain(d.Name));
            d.Commit(p);
            AssertHolds(dut, p, expected);

            foreach (var (i, e) in expected)
                d.DeleteGid(p, i, e);
            d.Commit(p);
            AssertHolds(dut, p, []);
        }
    }

    [Test]
    public void The_same_GID_and_type_at_two_indexes_are_two_entries_for_the_core()
    {
        // The core de-duplicates on (gid, type, netdev): the same GID of two netdevs takes two indexes.
        DeviceUnderTest dut = Start();
        IRoceDevice d = dut.Device;
        int p = d.PortCount;
        GidType t = FirstType(d, p);
        Gid g = Gid.FromIPAddress(IPAddress.Parse("2001:db8::77"));
        d.AddGid(p, 2, new GidEntry(g, t, Netdev));
        d.AddGid(p, 5, new GidEntry(g, t, OtherNetdev));
        d.Commit(p);
        AssertHolds(dut, p, new() { [2] = new(g, t, Netdev), [5] = new(g, t, OtherNetdev) });

        d.DeleteGid(p, 2, new GidEntry(g, t, Netdev));
        d.Commit(p);
        AssertHolds(dut, p, new() { [5] = new(g, t, OtherNetdev) });
        d.DeleteGid(p, 5, new GidEntry(g, t, OtherNetdev));
        d.Commit(p);
        AssertHolds(dut, p, []);
    }

    [Test]
    public void Add_and_delete_within_one_burst_leave_nothing_and_delete_then_re_add_leaves_the_entry()
    {
        DeviceUnderTest dut = Start();
        IRoceDevice d = dut.Device;
        int p = 1;
        GidEntry e = Entry(10, FirstType(d, p));
        d.AddGid(p, 0, e);
        d.DeleteGid(p, 0, e);
        d.Commit(p);
        AssertHolds(dut, p, []);

        // A MAC change: the core deletes the defaults and adds them again in one burst.
        d.AddGid(p, 0, e);
        d.Commit(p);
        d.DeleteGid(p, 0, e);
        d.AddGid(p, 0, e);
        d.Commit(p);
        AssertHolds(dut, p, new() { [0] = e });
    }

    // ------------------------------------------------------------------------------------------------ refusals

    [Test]
    public void Calls_the_core_never_makes_are_refused_by_name_and_change_nothing()
    {
        DeviceUnderTest dut = Start();
        IRoceDevice d = dut.Device;
        int p = d.PortCount, capacity = d.GidTableSize(p);
        GidType t = FirstType(d, p);
        GidEntry held = Entry(1, t), other = Entry(2, t);
        d.AddGid(p, 3, held);
        d.Commit(p);
        IReadOnlyList<HardwareGid> before = dut.ReadHardware(p);

        var calls = new (string What, Action Call)[]
        {
            ("add at index -1", () => d.AddGid(p, -1, other)),
            ($"add at index {capacity} (capacity {capacity})", () => d.AddGid(p, capacity, other)),
            ("add at an index that holds an entry", () => d.AddGid(p, 3, other)),
            ("add of the zero GID", () => d.AddGid(p, 4, new GidEntry(Gid.Zero, t, Netdev))),
            ("delete at an empty index", () => d.DeleteGid(p, 4, other)),
            ("delete of another GID than the index holds", () => d.DeleteGid(p, 3, other)),
            ("delete at index -1", () => d.DeleteGid(p, -1, held)),
        };
        foreach (var (what, call) in calls)
        {
            var e = Assert.Catch<RoceDeviceException>(call, what)!;
            Assert.That(e.Message, Does.Contain(d.Name), $"{what}: the error names the device");
        }
        d.Commit(p);
        Assert.That(dut.ReadHardware(p), Is.EqualTo(before), "the hardware is as before");
        AssertHolds(dut, p, new() { [3] = held });

        // Still usable, and the refused adds left nothing behind at index 4.
        d.AddGid(p, 4, other);
        d.Commit(p);
        AssertHolds(dut, p, new() { [3] = held, [4] = other });
    }

    [Test]
    public void A_command_the_device_refuses_changes_nothing_in_the_device_and_the_next_commit_delivers_the_changes()
    {
        DeviceUnderTest dut = Start();
        IRoceDevice d = dut.Device;
        int p = d.PortCount;
        GidEntry e0 = Entry(20, FirstType(d, p)), e1 = Entry(21, Types(d, p)[^1]);
        d.AddGid(p, 0, e0);
        d.Commit(p);
        IReadOnlyList<HardwareGid> before = dut.ReadHardware(p);

        if (!dut.ArmRefusal(p))
        {
            // The family sends no command for GID changes (a host table): then nothing is deferred to Commit, and
            // nothing can be refused: every change is in the table its consumers read as soon as the call returns.
            d.AddGid(p, 1, e1);
            AssertHolds(dut, p, new() { [0] = e0, [1] = e1 }, "after AddGid, before Commit");
            d.DeleteGid(p, 0, e0);
            AssertHolds(dut, p, new() { [1] = e1 }, "after DeleteGid, before Commit");
            d.Commit(p);
            AssertHolds(dut, p, new() { [1] = e1 }, "after Commit");
            return;
        }

        bool refusedAtAdd = false;
        try
        {
            d.AddGid(p, 1, e1);
        }
        catch (RoceDeviceException e)
        {
            refusedAtAdd = true; // a family that writes each GID at once: AddGid itself is refused
            AssertNamesDeviceAndPort(e, d, p);
        }
        if (!refusedAtAdd)
        {
            d.DeleteGid(p, 0, e0);
            var e = Assert.Catch<RoceDeviceException>(() => d.Commit(p), "the device refused the burst: Commit must throw")!;
            AssertNamesDeviceAndPort(e, d, p);
        }

        Assert.That(dut.ReadHardware(p), Is.EqualTo(before), "the device holds what it held before");
        if (refusedAtAdd)
        {
            AssertHolds(dut, p, new() { [0] = e0 }, "a refused AddGid changed nothing");
            d.AddGid(p, 1, e1);
            d.DeleteGid(p, 0, e0);
        }
        // No rollback (IRoceDevice contract): a refused Commit leaves the driver holding what the device must hold,
        // and the caller's next Commit delivers it.
        d.Commit(p);
        AssertHolds(dut, p, new() { [1] = e1 }, "the retried commit delivered the changes");
    }

    // ------------------------------------------------------------------------------------------------ pending delete

    [Test]
    public void A_GID_deleted_while_in_the_hardware_and_in_use_stays_for_its_user_and_its_index_is_reused_after()
    {
        DeviceUnderTest dut = Start();
        IRoceDevice d = dut.Device;
        int p = 1;
        GidType t = FirstType(d, p);
        GidEntry e = Entry(30, t), next = Entry(31, t);
        d.AddGid(p, 2, e);
        d.Commit(p);
        Assert.That(dut.TryResolve(p, 2, out int slot), Is.True);

        using (IDisposable? user = dut.Use(p, 2))
        {
            // The core deletes at once, even while a reference keeps its slot pending (be5914c124bc).
            d.DeleteGid(p, 2, e);
            Assert.That(dut.TryResolve(p, 2, out _), Is.False, "a deleted index resolves to nothing for new users");
            // ...and may add the same GID again at another index while the old one is pending.
            d.AddGid(p, 3, e);
            d.Commit(p);
            AssertResolvesTo(dut, p, 3, e);
            if (user is not null)
                Assert.That(dut.ReadHardware(p), Does.Contain(new HardwareGid(slot, e.Gid, e.Type)),
                    "the entry stays where its user reads it until the user is gone");
            else // no consumer of the driver's own holds the index: the core's reference keeps nothing in the hardware
                AssertHolds(dut, p, new() { [3] = e }, "with no consumer of the driver's own");
        }
        AssertHolds(dut, p, new() { [3] = e });

        // The core reuses index 2 only once the last user is gone.
        d.AddGid(p, 2, next);
        d.Commit(p);
        AssertHolds(dut, p, new() { [2] = next, [3] = e });
    }

    // ------------------------------------------------------------------------------------------------ determinism

    [Test]
    public void The_same_calls_give_the_same_hardware_table()
    {
        DeviceUnderTest a = Start(), b = Start();
        RunScript(a.Device);
        RunScript(b.Device);
        for (int p = 1; p <= a.Device.PortCount; p++)
        {
            Assert.That(b.ReadHardware(p), Is.EqualTo(a.ReadHardware(p)), $"port {p}: hardware tables of two runs");
            for (int i = 0; i < a.Device.GidTableSize(p); i++)
            {
                bool ra = a.TryResolve(p, i, out int sa), rb = b.TryResolve(p, i, out int sb);
                Assert.That((rb, sb), Is.EqualTo((ra, sa)), $"port {p} index {i}: hardware slot of two runs");
            }
        }
        Assert.That(a.ReadHardware(1), Is.Not.Empty, "the script leaves entries to compare");
    }

    private static void RunScript(IRoceDevice d)
    {
        for (int p = 1; p <= d.PortCount; p++)
        {
            GidType[] types = Types(d, p);
            int n = Math.Min(d.GidTableSize(p), 12);
            for (int i = 0; i < n; i++)
                d.AddGid(p, i, Entry(i % 5, types[i % types.Length], Netdev + i / 5));
            d.Commit(p);
            for (int i = 1; i < n; i += 3)
                d.DeleteGid(p, i, Entry(i % 5, types[i % types.Length], Netdev + i / 5));
            d.AddGid(p, 1, Entry(99, types[0]));
            d.Commit(p);
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /// <summary>A distinct GID per <paramref name="n"/>: IPv4-mapped for even n, global IPv6 for odd (both RoCE v2 shapes).</summary>
    protected static GidEntry Entry(int n, GidType type, int netdev = Netdev)
        => new(n % 2 == 0 ? Gid.FromIPAddress(new IPAddress([198, 51, (byte)(n >> 8), (byte)n]))
                          : Gid.FromIPAddress(IPAddress.Parse($"2001:db8::{n:x}")), type, netdev);

    protected static GidType[] Types(IRoceDevice d, int port)
    {
        Span<GidType> buf = stackalloc GidType[3];
        return buf[..d.SupportedGidTypes(port).CopyTo(buf)].ToArray();
    }

    private static GidType FirstType(IRoceDevice d, int port) => Types(d, port)[0];

    private static void AssertNamesDeviceAndPort(RoceDeviceException e, IRoceDevice d, int port)
        => Assert.That(e.Message, Does.Contain(d.Name).And.Contain($"port {port}"), "the error names the device and the port");

    private static void AssertResolvesTo(DeviceUnderTest dut, int port, int index, GidEntry e)
    {
        Assert.That(dut.TryResolve(port, index, out int slot), Is.True, $"port {port} index {index} resolves to a hardware slot");
        Assert.That(dut.ReadHardware(port).Where(h => h.Slot == slot).Select(h => (h.Gid, h.Type)),
            Is.EqualTo(new[] { (e.Gid, e.Type) }), $"port {port} index {index} → slot {slot}");
    }

    /// <summary>
    /// The device holds exactly <paramref name="expected"/> for the port: every expected core index resolves to a slot
    /// holding its GID and type, no other index resolves, and the device holds nothing in a slot no index uses.
    /// </summary>
    protected static void AssertHolds(DeviceUnderTest dut, int port, Dictionary<int, GidEntry> expected, string when = "")
    {
        IReadOnlyList<HardwareGid> hw = dut.ReadHardware(port);
        string at = $"port {port}{(when.Length > 0 ? " " + when : "")}";
        var used = new HashSet<int>();
        for (int i = 0; i < dut.Device.GidTableSize(port); i++)
        {
            bool resolves = dut.TryResolve(port, i, out int slot);
            if (!expected.TryGetValue(i, out GidEntry e))
            {
                Assert.That(resolves, Is.False, $"{at}: index {i} holds nothing but resolves to slot {slot}");
                continue;
            }
            Assert.That(resolves, Is.True, $"{at}: index {i} ({e}) resolves to no hardware slot");
            Assert.That(hw.Where(h => h.Slot == slot).Select(h => (h.Gid, h.Type)), Is.EqualTo(new[] { (e.Gid, e.Type) }),
                $"{at}: index {i} → slot {slot}; the device holds [{string.Join(", ", hw)}]");
            used.Add(slot);
        }
        Assert.That(hw.Select(h => h.Slot).Where(s => !used.Contains(s)), Is.Empty, $"{at}: slots no index uses; the device holds [{string.Join(", ", hw)}]");
    }
}
