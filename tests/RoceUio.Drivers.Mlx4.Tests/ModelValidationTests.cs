using NUnit.Framework;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Gids;
using static RoceUio.Drivers.Mlx4.Tests.Tables;

namespace RoceUio.Drivers.Mlx4.Tests;

/// <summary>
/// The model refuses what hw-layouts.md section 4 P0 says the device refuses. Each malformed command is sent by hand
/// through the HCR; a well-formed control case passes, so each refusal is about the one thing that is wrong.
/// </summary>
[TestFixture]
public class ModelValidationTests
{
    private const uint RoceAddrPort1 = 0x0D01;

    /// <summary>Sends one command with a v1_v2 mailbox prepared by <paramref name="fill"/>; returns the status and the model's last error.</summary>
    private static (byte Status, Mlx4ModelState State) Send(Mlx4ModelConfig config, Action<Span<byte>>? fill,
        uint inMod = RoceAddrPort1, byte opMod = 1, ushort opcode = 0x00c, long addressDelta = 0, ulong outParam = 0, bool noMailbox = false)
    {
        using var rig = new ThreadRig(config);
        rig.OpenDriver(); // the firmware started and both ports up: the GID table commands' phase
        long before = rig.Model.Model.Snapshot().Rejected;
        var box = rig.Device.Dma.Allocate(4096);
        Mlx4GidTable.WriteEntry(Mlx4GidFormat.RoceAddr, box.Span[..32], G("2001:db8::1"), GidType.RoceV2);
        fill?.Invoke(box.Span);
        var hcr = new Mlx4Hcr(rig.Device.Bar(0), "mlx4_0");
        ulong address = noMailbox ? 0 : (ulong)((long)box.DeviceAddress + addressDelta);
        byte status = hcr.ExecuteForStatus(address, outParam, inMod, opMod, opcode, TimeSpan.FromSeconds(5));
        Mlx4ModelState state = rig.Model.Model.Snapshot();
        return (status, state with { Rejected = state.Rejected - before });
    }

    private static void AssertRejected((byte Status, Mlx4ModelState State) r, Mlx4Status expected, string reason)
    {
        Assert.That((Mlx4Status)r.Status, Is.EqualTo(expected), r.State.LastError);
        Assert.That(r.State.LastError, Does.Contain(reason));
        Assert.That(r.State.Rejected, Is.EqualTo(1));
        Assert.That(r.State.Tables.All(t => t.Entries.Count == 0 && t.Format == null), "a refused command changes no table");
    }

    private static readonly Mlx4ModelConfig V1V2 = new();

    [Test]
    public void Control_a_well_formed_ROCE_ADDR_is_accepted_and_replaces_the_port_table()
    {
        var (status, state) = Send(V1V2, null);
        Assert.That(status, Is.Zero, state.LastError);
        Assert.That(state.Table(1).Entries.Single(), Is.EqualTo(new Mlx4ModelEntry(0, G("2001:db8::1"), 1, 2)));
        Assert.That(state.Table(2).Entries, Is.Empty);
    }

    [Test]
    public void An_unknown_opcode_is_BAD_OP() => AssertRejected(Send(V1V2, null, opcode: 0x0ff), Mlx4Status.BadOp, "opcode 0x0ff");

    [Test]
    public void SET_PORT_with_the_IB_op_modifier_is_BAD_PARAM() => AssertRejected(Send(V1V2, null, opMod: 0), Mlx4Status.BadParam, "op_mod 0");

    [TestCase(0x0701u, "sub-op 0x07")]
    [TestCase(0x0D00u, "port 0 does not exist")]
    [TestCase(0x0D03u, "port 3 does not exist")]
    [TestCase(0x10D01u, "bits 31:16 must be 0")]
    public void A_bad_in_modifier_is_BAD_PARAM(uint inMod, string reason) => AssertRejected(Send(V1V2, null, inMod), Mlx4Status.BadParam, reason);

    [Test]
    public void Port_2_of_a_one_port_device_is_BAD_PARAM()
        => AssertRejected(Send(V1V2 with { Ports = 1 }, null, 0x0D02), Mlx4Status.BadParam, "port 2 does not exist (1..1)");

    [Test]
    public void ROCE_ADDR_on_a_device_that_did_not_advertise_v1_v2_is_BAD_PARAM()
        => AssertRejected(Send(V1V2 with { RoceV1V2 = false }, null), Mlx4Status.BadParam, "bmme bit 19 clear");

    [Test]
    public void A_missing_mailbox_is_BAD_PARAM() => AssertRejected(Send(V1V2, null, noMailbox: true), Mlx4Status.BadParam, "no mailbox");

    [Test]
    public void A_mailbox_not_4096_aligned_is_BAD_PARAM() => AssertRejected(Send(V1V2, null, addressDelta: 256), Mlx4Status.BadParam, "not 4096-aligned");

    [Test]
    public void A_mailbox_outside_DMA_memory_is_BAD_PARAM() => AssertRejected(Send(V1V2, null, addressDelta: 4 << 20), Mlx4Status.BadParam, "outside the device's DMA memory");

    [Test]
    public void An_out_param_on_SET_PORT_is_BAD_PARAM() => AssertRejected(Send(V1V2, null, outParam: 0x1000), Mlx4Status.BadParam, "out_param must be 0");

    [TestCase(16, 0x01, "reserved byte 16")]
    [TestCase(25, 0x80, "reserved byte 25")]
    [TestCase(30, 0x01, "reserved byte 30")]
    [TestCase(27, 1, "byte 27 (version) is 1")]
    [TestCase(26, 2, "byte 26 (type) is 2")]
    [TestCase(26, 0, "RoCE v2 GID 2001:0db8:0000:0000:0000:0000:0000:0005 has type 0; a non-v4-mapped GID is IPv6 (1)")]
    public void A_bad_byte_in_a_v1_v2_entry_is_BAD_PARAM(int offset, int value, string reason)
        => AssertRejected(Send(V1V2, b => b[32 * 5 + offset] = (byte)value, fill5: true), Mlx4Status.BadParam, $"entry 5 (mailbox +0x0a0): {reason}");

    [Test]
    public void A_v4_mapped_RoCE_v2_entry_marked_IPv6_is_BAD_PARAM()
        => AssertRejected(Send(V1V2, b =>
        {
            Mlx4GidTable.WriteEntry(Mlx4GidFormat.RoceAddr, b.Slice(64, 32), G("::ffff:192.0.2.1"), GidType.RoceV2);
            b[64 + 26] = 1;
        }), Mlx4Status.BadParam, "entry 2 (mailbox +0x040): RoCE v2 GID 0000:0000:0000:0000:0000:ffff:c000:0201 has type 1");

    [Test]
    public void A_RoCE_v1_entry_with_a_type_is_BAD_PARAM()
        => AssertRejected(Send(V1V2, b =>
        {
            Mlx4GidTable.WriteEntry(Mlx4GidFormat.RoceAddr, b.Slice(32, 32), G("fe80::1"), GidType.RoceV1);
            b[32 + 26] = 1;
        }), Mlx4Status.BadParam, "type 1 with version 0");

    [Test]
    public void An_empty_entry_with_a_version_is_BAD_PARAM()
        => AssertRejected(Send(V1V2, b => b[32 * 7 + 27] = 2), Mlx4Status.BadParam, "entry 7 (mailbox +0x0e0): an empty (zero) GID with type 0 version 2");

    [Test]
    public void QUERY_FW_with_an_in_param_is_BAD_PARAM()
        => AssertRejected(Send(V1V2, null, inMod: 0, opMod: 0, opcode: 0x004), Mlx4Status.BadParam, "in_param");

    // Entry 5 is a valid v2 GID before the tested byte is spoiled, so only that byte is wrong.
    private static (byte, Mlx4ModelState) Send(Mlx4ModelConfig config, Action<Span<byte>> fill, bool fill5)
        => Send(config, b =>
        {
            if (fill5)
                Mlx4GidTable.WriteEntry(Mlx4GidFormat.RoceAddr, b.Slice(32 * 5, 32), G("2001:db8::5"), GidType.RoceV2);
            fill(b);
        });
}

/// <summary>The same refusal seen across processes: the model process answers a malformed command by hand with BAD_PARAM.</summary>
[TestFixture]
[Parallelizable(ParallelScope.None)]
public class ModelProcessValidationTests
{
    [Test]
    public void The_model_process_rejects_a_malformed_SET_PORT_and_keeps_its_table()
    {
        using var rig = ProcessRig.Start();
        Mlx4Device d = rig.Driver;
        d.AddGid(1, 0, E("fe80::1", GidType.RoceV1));
        d.Commit(1);

        // GID_TABLE sub-op on port 1, but with the mailbox misaligned by 16 bytes.
        byte status = d.Hcr.ExecuteForStatus(d.MailboxAddress + 16, 0, 0x0501, 1, 0x00c, TimeSpan.FromSeconds(5));
        Assert.That((Mlx4Status)status, Is.EqualTo(Mlx4Status.BadParam));
        byte bad = d.Hcr.ExecuteForStatus(d.MailboxAddress, 0, 0x0D01, 1, 0x0ab, TimeSpan.FromSeconds(5));
        Assert.That((Mlx4Status)bad, Is.EqualTo(Mlx4Status.BadOp));

        Mlx4ModelState s = rig.State;
        Assert.That(s.Rejected, Is.EqualTo(2));
        Assert.That(s.LastError, Does.StartWith("BAD_OP"));
        AssertModelEqualsShadow(d, s);

        // The driver still works after the refusals.
        d.AddGid(1, 1, E("2001:db8::1", GidType.RoceV2));
        d.Commit(1);
        AssertModelEqualsShadow(d, rig.State);
    }
}
