using NUnit.Framework;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Gids;
using RoceUio.Roce;
using static RoceUio.Drivers.Mlx4.Tests.Tables;

namespace RoceUio.Drivers.Mlx4.Tests;

/// <summary>The driver against the model in another process (<c>roceuio model mlx4 --dir</c>): the model's tables always equal the shadow.</summary>
[TestFixture]
[Parallelizable(ParallelScope.None)]
public class DriverAgainstModelProcessTests
{
    [Test]
    public void Bring_up_learns_firmware_ports_and_the_v1_v2_format_from_QUERY_FW_and_QUERY_DEV_CAP()
    {
        using var rig = ProcessRig.Start();
        Mlx4Device d = rig.Driver;
        Assert.That(d.Firmware.Version, Is.EqualTo("2.42.5000"));
        Assert.That(d.Firmware.CmdIfRev, Is.EqualTo(3));
        Assert.That(d.PortCount, Is.EqualTo(2));
        Assert.That(d.BmmeFlags & Mlx4Layout.BmmeFlagRoceV1V2, Is.Not.Zero);
        Assert.That(d.GidFormat, Is.EqualTo(Mlx4GidFormat.RoceAddr));
        Assert.That(d.SupportedGidTypes(1), Is.EqualTo(GidTypes.Roce));
        Assert.That(d.GidTableSize(2), Is.EqualTo(128));
        Assert.That(d.MailboxAddress % 4096, Is.Zero);
        Mlx4ModelState state = rig.State;
        Assert.That((state.Phase, state.PortsUp, state.Resets, state.Rejected), Is.EqualTo(("HcaUp", "1,2", 1L, 0L)),
            "reset once, the HCA initialised, both ports up, nothing refused");
        // QUERY_FW, MAP_FA, RUN_FW, MOD_STAT_CFG, QUERY_DEV_CAP, 2 QUERY_PORT, SET_ICM_SIZE, MAP_ICM_AUX, 14 MAP_ICM (one per
        // table with reserved entries), INIT_HCA, QUERY_ADAPTER, 2 x (SET_PORT general, INIT_PORT), CONFIG_DEV (RoCE v2 port).
        Assert.That(state.Accepted, Is.EqualTo(30));
        Assert.That(d.BringUp.BoardId, Is.EqualTo("MT_1090111023"), "QUERY_ADAPTER's board id, word-swapped back");
    }

    [Test]
    public void GIDs_of_both_types_on_both_ports_reach_the_model_as_ROCE_ADDR_entries_and_deletes_clear_them()
    {
        using var rig = ProcessRig.Start();
        Mlx4Device d = rig.Driver;
        d.AddGid(1, 0, E("fe80::268a:7ff:feaa:bbcc", GidType.RoceV1));
        d.AddGid(1, 1, E("fe80::268a:7ff:feaa:bbcc", GidType.RoceV2));
        d.AddGid(1, 2, E("::ffff:192.0.2.1", GidType.RoceV1));
        d.AddGid(1, 3, E("::ffff:192.0.2.1", GidType.RoceV2));
        d.AddGid(2, 0, E("fe80::268a:7ff:feaa:bbcd", GidType.RoceV1));
        d.AddGid(2, 1, E("2001:db8::2", GidType.RoceV2));
        d.Commit(1);
        d.Commit(2);

        Mlx4ModelState s = rig.State;
        AssertModelEqualsShadow(d, s);
        Assert.That(s.Table(1).Entries.Select(e => (e.Index, e.Type, e.Version)),
            Is.EqualTo(new[] { (0, (byte)0, (byte)0), (1, (byte)1, (byte)2), (2, (byte)0, (byte)0), (3, (byte)0, (byte)2) }),
            "v1 = version 0; v2 = version 2 with type 1 for IPv6 and 0 for v4-mapped");
        Assert.That(s.Table(2).Entries.Select(e => e.Gid), Is.EqualTo(new[] { G("fe80::268a:7ff:feaa:bbcd"), G("2001:db8::2") }));

        d.DeleteGid(1, 1, E("fe80::268a:7ff:feaa:bbcc", GidType.RoceV2));
        d.DeleteGid(2, 0, E("fe80::268a:7ff:feaa:bbcd", GidType.RoceV1));
        d.Commit(1);
        d.Commit(2);
        s = rig.State;
        AssertModelEqualsShadow(d, s);
        Assert.That(s.Table(1).Entries.Select(e => e.Index), Is.EqualTo(new[] { 0, 2, 3 }), "slot 1 emptied, the others keep their slots");
        Assert.That(s.Table(2).Entries.Select(e => e.Index), Is.EqualTo(new[] { 1 }));
    }

    [Test]
    public void All_128_slots_fill_a_129th_is_refused_and_the_model_holds_exactly_the_shadow()
    {
        using var rig = ProcessRig.Start();
        Mlx4Device d = rig.Driver;
        for (int i = 0; i < 128; i++)
        {
            var type = i % 2 == 0 ? GidType.RoceV1 : GidType.RoceV2;
            Gid gid = i % 3 == 0 ? Gid.FromIPv4([10, 0, (byte)(i >> 8), (byte)i]) : new Gid(0x2001_0db8_0000_0000UL, (ulong)i + 1);
            d.AddGid(1, i, new GidEntry(gid, type, 2));
            if (i % 32 == 31)
                d.Commit(1);
        }
        AssertModelEqualsShadow(d, rig.State);
        Assert.That(rig.State.Table(1).Entries, Has.Count.EqualTo(128));

        long accepted = rig.State.Accepted;
        // The core table has 128 entries too (shared slots make the hardware table never fuller than the core's), so a
        // 129th GID has no index to go to; ENOSPC of the hardware table itself is in GidTableTests.
        Assert.That(() => d.AddGid(1, 128, E("2001:db8::ffff", GidType.RoceV2)),
            Throws.TypeOf<RoceDeviceException>().With.Message.Contains("core index 128 is outside the table"));
        Assert.That(() => d.AddGid(1, 0, E("2001:db8::ffff", GidType.RoceV2)),
            Throws.TypeOf<RoceDeviceException>().With.Message.Contains("core index 0 already holds"));
        d.Commit(1); // nothing changed: no SET_PORT
        Assert.That(rig.State.Accepted, Is.EqualTo(accepted));
        AssertModelEqualsShadow(d, rig.State);
    }

    [Test]
    public void Two_core_entries_share_one_hardware_slot_which_stays_until_the_last_one_goes()
    {
        using var rig = ProcessRig.Start();
        Mlx4Device d = rig.Driver;
        d.AddGid(1, 4, E("2001:db8::77", GidType.RoceV2));
        d.AddGid(1, 9, E("2001:db8::77", GidType.RoceV2));
        d.Commit(1);
        Assert.That(d.TryGetRealIndex(1, 4, out int a) && d.TryGetRealIndex(1, 9, out int b) && a == 0 && b == 0, "core 4 and 9 -> HW slot 0");
        Assert.That(rig.State.Table(1).Entries, Has.Count.EqualTo(1));

        d.DeleteGid(1, 4, E("2001:db8::77", GidType.RoceV2));
        d.Commit(1);
        AssertModelEqualsShadow(d, rig.State);
        Assert.That(rig.State.Table(1).Entries.Single().Gid, Is.EqualTo(G("2001:db8::77")), "still referenced by core index 9");

        d.DeleteGid(1, 9, E("2001:db8::77", GidType.RoceV2));
        d.Commit(1);
        AssertModelEqualsShadow(d, rig.State);
        Assert.That(rig.State.Table(1).Entries, Is.Empty);
    }

    [Test]
    public void A_burst_of_changes_to_one_port_is_pushed_with_one_SET_PORT()
    {
        using var rig = ProcessRig.Start();
        Mlx4Device d = rig.Driver;
        long before = rig.State.Accepted;
        for (int i = 0; i < 20; i++)
            d.AddGid(2, i, new GidEntry(new Gid(Gid.LinkLocalPrefix, (ulong)i + 1), GidType.RoceV1, 3));
        d.DeleteGid(2, 7, new GidEntry(new Gid(Gid.LinkLocalPrefix, 8), GidType.RoceV1, 3));
        d.Commit(2);
        d.Commit(1); // port 1 did not change: no command
        Assert.That(rig.State.Accepted, Is.EqualTo(before + 1));
        AssertModelEqualsShadow(d, rig.State);
    }

    [Test]
    public void A_device_without_v1_v2_gets_GID_TABLE_pushes_and_RoCE_v2_is_refused()
    {
        using var rig = ProcessRig.Start(new Mlx4ModelConfig { Ports = 1, RoceV1V2 = false });
        Mlx4Device d = rig.Driver;
        Assert.That(d.PortCount, Is.EqualTo(1));
        Assert.That(d.GidFormat, Is.EqualTo(Mlx4GidFormat.GidTable));
        Assert.That(d.SupportedGidTypes(1), Is.EqualTo(GidTypes.RoceV1));
        Assert.That(() => d.AddGid(1, 0, E("2001:db8::1", GidType.RoceV2)),
            Throws.TypeOf<RoceDeviceException>().With.Message.Contains("RoCE v1 only"));
        Assert.That(() => d.AddGid(2, 0, E("2001:db8::1", GidType.RoceV1)),
            Throws.TypeOf<RoceDeviceException>().With.Message.Contains("port 2 does not exist"));

        d.AddGid(1, 0, E("fe80::1", GidType.RoceV1));
        d.AddGid(1, 1, E("::ffff:198.51.100.7", GidType.RoceV1));
        d.Commit(1);
        Mlx4ModelState s = rig.State;
        Assert.That(s.Table(1).Format, Is.EqualTo(Mlx4GidFormat.GidTable));
        AssertModelEqualsShadow(d, s);
    }

    [Test]
    public void A_firmware_with_an_unsupported_command_interface_revision_is_refused_at_bring_up()
    {
        var e = Assert.Throws<RoceDeviceException>(() => ProcessRig.Start(new Mlx4ModelConfig { CmdIfRev = 1 }))!;
        Assert.That(e.Message, Does.Contain("command interface revision 1").And.Contain("2..3"));
    }
}
