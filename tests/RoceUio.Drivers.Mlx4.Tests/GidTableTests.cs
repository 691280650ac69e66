using NUnit.Framework;
using RoceUio.Drivers.Mlx4;
using RoceUio.Gids;
using RoceUio.Roce;
using static RoceUio.Drivers.Mlx4.Tests.Tables;

namespace RoceUio.Drivers.Mlx4.Tests;

/// <summary>The shadow's slot rules (mlx4_ib_add_gid/del_gid) and the mailbox images of both formats.</summary>
[TestFixture]
public class GidTableTests
{
    private static Mlx4GidTable Sample(Mlx4GidFormat format)
    {
        var t = new Mlx4GidTable("mlx4_0", 1, format);
        t.Add(0, G("fe80::1"), GidType.RoceV1);
        if (format == Mlx4GidFormat.RoceAddr)
            t.Add(1, G("fe80::1"), GidType.RoceV2);
        t.Add(2, G("::ffff:192.0.2.1"), format == Mlx4GidFormat.RoceAddr ? GidType.RoceV2 : GidType.RoceV1);
        if (format == Mlx4GidFormat.RoceAddr)
            t.Add(3, G("::ffff:192.0.2.1"), GidType.RoceV1);
        t.Add(4, G("2001:db8::5"), format == Mlx4GidFormat.RoceAddr ? GidType.RoceV2 : GidType.RoceV1);
        return t;
    }

    [Test]
    public void ROCE_ADDR_mailbox_image_is_32_byte_entries_with_type_at_26_and_version_at_27()
    {
        var box = new byte[4096];
        Sample(Mlx4GidFormat.RoceAddr).WriteMailbox(box);

        string[] entries =
        [
            //  gid (16 bytes)                      rsrvd1+2 (10 bytes)   type version rsrvd3
            "FE800000000000000000000000000001" + "00000000000000000000" + "00" + "00" + "00000000", // fe80::1 v1
            "FE800000000000000000000000000001" + "00000000000000000000" + "01" + "02" + "00000000", // fe80::1 v2: IPv6
            "00000000000000000000FFFFC0000201" + "00000000000000000000" + "00" + "02" + "00000000", // v4-mapped v2: IPv4
            "00000000000000000000FFFFC0000201" + "00000000000000000000" + "00" + "00" + "00000000", // v4-mapped v1
            "20010DB8000000000000000000000005" + "00000000000000000000" + "01" + "02" + "00000000", // 2001:db8::5 v2
        ];
        var expected = new byte[4096];
        Convert.FromHexString(string.Concat(entries)).CopyTo(expected, 0);
        Assert.That(Convert.ToHexString(box), Is.EqualTo(Convert.ToHexString(expected)));
    }

    [Test]
    public void GID_TABLE_mailbox_image_is_16_byte_raw_GIDs_and_the_upper_half_stays_zero()
    {
        var box = new byte[4096];
        Sample(Mlx4GidFormat.GidTable).WriteMailbox(box);
        // Slots 0, 1, 2 in order of addition: entry i at 16 * i.
        string expected = "FE800000000000000000000000000001"
                        + "00000000000000000000FFFFC0000201"
                        + "20010DB8000000000000000000000005";
        var image = new byte[4096];
        Convert.FromHexString(expected).CopyTo(image, 0);
        Assert.That(Convert.ToHexString(box), Is.EqualTo(Convert.ToHexString(image)));
    }

    [Test]
    public void Identical_gid_and_type_share_one_slot_with_a_reference_count_and_the_slot_empties_at_zero()
    {
        var t = new Mlx4GidTable("mlx4_0", 1, Mlx4GidFormat.RoceAddr);
        Assert.That(t.Add(5, G("fe80::7"), GidType.RoceV2), Is.EqualTo(0));
        Assert.That(t.Add(9, G("fe80::7"), GidType.RoceV2), Is.EqualTo(0), "same (gid, type): same slot");
        Assert.That(t.Add(10, G("fe80::7"), GidType.RoceV1), Is.EqualTo(1), "another type: its own slot");
        Assert.That(t[0].RefCount, Is.EqualTo(2));
        Assert.That(t.TryGetRealIndex(9, out int real) && real == 0);

        t.Delete(5, G("fe80::7"), GidType.RoceV2);
        Assert.That(t[0].RefCount, Is.EqualTo(1));
        Assert.That(t.TryGetRealIndex(5, out _), Is.False);
        t.Delete(9, G("fe80::7"), GidType.RoceV2);
        Assert.That(t[0].IsEmpty);
        Assert.That(t.Add(11, G("fe80::8"), GidType.RoceV1), Is.EqualTo(0), "the first empty slot is taken");
    }

    [Test]
    public void The_same_gid_and_type_on_another_VLAN_takes_its_own_slot()
    {
        // mlx4_ib_add_gid (drivers/infiniband/hw/mlx4/main.c) shares a slot only when gid, gid_type and vlan_id
        // (from rdma_read_gid_l2_fields) all match: the port's default fe80 GID and a VLAN netdev's equal EUI-64
        // link-local take two slots.
        var t = new Mlx4GidTable("mlx4_0", 1, Mlx4GidFormat.RoceAddr);
        Assert.That(t.Add(0, G("fe80::268a:7ff:feaa:bbcc"), GidType.RoceV1), Is.EqualTo(0));
        Assert.That(t.Add(2, G("fe80::268a:7ff:feaa:bbcc"), GidType.RoceV1, vlanId: 100), Is.EqualTo(1), "VLAN 100: its own slot");
        Assert.That(t.Add(3, G("fe80::268a:7ff:feaa:bbcc"), GidType.RoceV1, vlanId: 100), Is.EqualTo(1), "same VLAN: shared");
        Assert.That(t.Add(4, G("fe80::268a:7ff:feaa:bbcc"), GidType.RoceV1, vlanId: 200), Is.EqualTo(2), "another VLAN");
        Assert.That((t[0].RefCount, t[1].RefCount, t[2].RefCount), Is.EqualTo((1, 2, 1)));
    }

    [Test]
    public void A_full_table_refuses_the_129th_GID_with_ENOSPC_and_changes_nothing()
    {
        var t = new Mlx4GidTable("mlx4_0", 2, Mlx4GidFormat.RoceAddr, coreTableSize: 256);
        for (int i = 0; i < 128; i++)
            t.Add(i, new Gid(Gid.LinkLocalPrefix, (ulong)i + 1), GidType.RoceV2);
        var before = t.OccupiedSlots();
        var e = Assert.Throws<RoceDeviceException>(() => t.Add(200, G("2001:db8::99"), GidType.RoceV2))!;
        Assert.That(e.Message, Does.Contain("mlx4_0 port 2").And.Contain("all 128 hardware GID slots").And.Contain("ENOSPC"));
        Assert.That(t.OccupiedSlots(), Is.EqualTo(before));
        Assert.That(t.TryGetRealIndex(200, out _), Is.False);
        Assert.That(t.Add(201, new Gid(Gid.LinkLocalPrefix, 5), GidType.RoceV2), Is.EqualTo(4), "an existing entry can still be shared");
    }

    [Test]
    public void NeedsPush_follows_changes_until_a_push_succeeds_and_nothing_is_ever_rolled_back()
    {
        var t = new Mlx4GidTable("mlx4_0", 1, Mlx4GidFormat.RoceAddr);
        t.Add(0, G("fe80::1"), GidType.RoceV1);
        t.PushSucceeded();
        Assert.That(t.NeedsPush, Is.False);
        t.Add(1, G("fe80::2"), GidType.RoceV1);
        t.Delete(0, G("fe80::1"), GidType.RoceV1);
        t.Add(2, G("fe80::3"), GidType.RoceV2);
        Assert.That((t.NeedsPush, t.PendingChanges), Is.EqualTo((true, 3)));
        // A failed push does not call the table: it stays what the hardware must hold.
        Assert.That(t.OccupiedSlots().Select(s => $"{s.Index} {s.Gid.ToCompressedString()} {s.Type}"),
            Is.EqualTo(new[] { "0 fe80::3 RoceV2", "1 fe80::2 RoceV1" }), "fe80::3 took the slot the delete freed");
        t.PushSucceeded();
        Assert.That((t.NeedsPush, t.PendingChanges), Is.EqualTo((false, 0)));
    }

    [Test]
    public void Deleting_what_was_not_added_there_is_refused_with_the_entry_named()
    {
        var t = new Mlx4GidTable("mlx4_0", 1, Mlx4GidFormat.RoceAddr);
        t.Add(3, G("fe80::1"), GidType.RoceV1);
        Assert.That(() => t.Delete(3, G("fe80::1"), GidType.RoceV2),
            Throws.TypeOf<RoceDeviceException>().With.Message.Contains("core index 3 holds fe80:0000:0000:0000:0000:0000:0000:0001 v1"));
        Assert.That(() => t.Delete(4, G("fe80::1"), GidType.RoceV1), Throws.TypeOf<RoceDeviceException>().With.Message.Contains("holds no GID"));
        Assert.That(() => t.Add(3, G("fe80::2"), GidType.RoceV1), Throws.TypeOf<RoceDeviceException>().With.Message.Contains("already holds"));
        Assert.That(() => t.Add(4, Gid.Zero, GidType.RoceV1), Throws.TypeOf<RoceDeviceException>().With.Message.Contains("zero GID"));
        Assert.That(t.PendingChanges, Is.EqualTo(1), "refused calls change nothing");
    }
}
