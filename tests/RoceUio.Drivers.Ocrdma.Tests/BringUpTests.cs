using NUnit.Framework;
using RoceUio.Drivers.Ocrdma.Model;
using RoceUio.Gids;
using RoceUio.Hardware;
using RoceUio.Roce;
using RoceUio.Testing;
using static RoceUio.Drivers.Ocrdma.OcrdmaBringUpLayout;
using static RoceUio.Drivers.Ocrdma.OcrdmaLayout;

namespace RoceUio.Drivers.Ocrdma.Tests;

/// <summary>
/// ocrdma's control path as ocrdma_init_hw / ocrdma_cleanup_hw build and take it down, against the model on a thread:
/// the kernel's order, the mailboxes byte by byte, RoCE v2 only with UDP encapsulation, and every refusal the model
/// makes (a command before the handshake, an MQ's CQ without an EQ, an MQ without its CQ, a teardown out of order).
/// </summary>
[TestFixture]
public class BringUpTests
{
    private sealed class Rig : IDisposable
    {
        public readonly TempDirectory Dir = new("ocrdma-bringup");
        public readonly EmulatedDevice Device;
        public readonly RoceUio.Hardware.Emulation.DeviceModelThread<OcrdmaDeviceModel> Model;

        public Rig(uint udpEncap = 3, bool rdmaMode = true)
        {
            Device = OcrdmaDeviceModel.CreateDevice(Dir.Path, udpEncap: udpEncap, rdmaMode: rdmaMode);
            Model = OcrdmaDeviceModel.StartThread(Dir.Path);
        }

        public OcrdmaDeviceModel M => Model.Model;

        public OcrdmaDevice Open() => OcrdmaDevice.Open(Device, new OcrdmaDeviceOptions());

        /// <summary>A second mailbox on the same doorbell, for commands sent by hand.</summary>
        public OcrdmaMailbox Mailbox()
            => new(new MmioRegion(Device.Bar(OcrdmaPci.DoorbellBar(Device.DeviceId)), 4, RegisterByteOrder.LittleEndian),
                   Device.Dma.Allocate(MailboxSize, PageSize4K), TimeSpan.FromSeconds(10));

        public void Dispose()
        {
            Model.Dispose();
            Device.Dispose();
            Dir.Dispose();
        }
    }

    private static readonly string[] KernelStart =
        ["FW_INIT", "CREATE_EQ", "CREATE_CQ", "CREATE_MQ_EXT", "GET_FW_CONFIG", "QUERY_CONFIG", "CREATE_AH_TBL"];

    private static readonly string[] KernelStop = ["DELETE_AH_TBL", "DELETE_MQ", "DELETE_CQ", "DELETE_EQ", "FW_CLEAN"];

    private static byte[] Wrb(Action<byte[]> fill)
    {
        var w = new byte[MailboxWrbSize];
        fill(w);
        return w;
    }

    [Test]
    public void Bring_up_and_shut_down_follow_ocrdma_init_hw_and_ocrdma_cleanup_hw()
    {
        using var rig = new Rig();
        OcrdmaDevice dev = rig.Open();
        Assert.That(rig.M.Commands, Is.EqualTo(KernelStart));
        Assert.That(rig.M.Queues, Is.EqualTo((true, 2, 7, 3)), "the handshake done, EQ 2, the MQ's CQ 7 on it, MQ 3 on that");
        Assert.That((dev.BringUp.EqId, dev.Mq.CqId, dev.Mq.MqId, dev.BringUp.FunctionMode), Is.EqualTo((2, 7, 3, FnModeRdma)));

        dev.ShutDown();
        Assert.That(rig.M.Commands.Skip(KernelStart.Length), Is.EqualTo(KernelStop));
        Assert.That(rig.M.Queues, Is.EqualTo((false, -1, -1, -1)), "nothing left on the device");
        Assert.That(rig.M.Violations, Is.Empty);
        dev.ShutDown();
        Assert.That(rig.M.Commands, Has.Length.EqualTo(KernelStart.Length + KernelStop.Length), "a second ShutDown sends nothing");
        dev.Dispose();
    }

    [TestCase(3u, true)]
    [TestCase(1u, true)]
    [TestCase(2u, true)]
    [TestCase(0u, false)]
    public void RoCE_v2_is_reported_only_when_QUERY_CONFIG_says_UDP_encapsulation(uint l3Types, bool v2)
    {
        using var rig = new Rig(udpEncap: l3Types);
        using OcrdmaDevice dev = rig.Open();
        Assert.That(dev.BringUp.UdpEncap, Is.EqualTo(l3Types));
        Assert.That(dev.SupportedGidTypes(1), Is.EqualTo(v2 ? GidTypes.Roce : GidTypes.RoceV1));
        if (!v2)
            Assert.That(() => dev.AddGid(1, 1, new GidEntry(Gid.Parse("2001:db8::1"), GidType.RoceV2, 2)), Throws.InstanceOf<RoceDeviceException>());
    }

    [Test]
    public void A_function_not_in_RDMA_mode_is_refused_and_what_was_created_is_deleted_again()
    {
        using var rig = new Rig(rdmaMode: false);
        var e = Assert.Throws<RoceDeviceException>(() => rig.Open())!;
        Assert.That(e.Message, Does.Contain("not in RDMA mode"));
        Assert.That(rig.M.Commands, Is.EqualTo(KernelStart[..5].Concat(["DELETE_MQ", "DELETE_CQ", "DELETE_EQ", "FW_CLEAN"])));
        Assert.That(rig.M.Queues, Is.EqualTo((false, -1, -1, -1)));
        Assert.That(rig.M.Violations, Is.Empty);
    }

    // ---- golden bytes (ocrdma_sli.h structs, be_cmds.c patterns) ----

    [Test]
    public void The_handshake_patterns_are_be2nets()
    {
        Assert.That(Convert.ToHexString(FwInitPattern), Is.EqualTo("FF1234FFFF5678FF"));
        Assert.That(Convert.ToHexString(FwCleanPattern), Is.EqualTo("FFAABBFFFFCCDDFF"));
    }

    [Test]
    public void CREATE_EQ_is_version_2_with_four_pages_the_valid_bit_and_cnt_4()
    {
        byte[] w = Wrb(b => OcrdmaBringUp.EncodeCreateEq(b, 0x1_0000_8000));
        Assert.That(Convert.ToHexString(w.AsSpan(0, 68)), Is.EqualTo(
            "01000000" + "64000000" + "00000000" + "00000000" + "00000000" +       // WRB: embedded, payload 100
            "0D010000" + "14000000" + "54000000" + "02000000" +                  // COMMON 13, 20 s, cmd_len 84, version 2
            "04000000" + "00000020" + "00000010" + "00000000" + "00000000" +       // num_pages 4, valid bit 29, cnt 4 << 26
            "00800000" + "01000000" + "00900000"));                             // pa[0] lo/hi, pa[1] lo
        Assert.That(DmaAccess.ReadPa(w, CreateEqPa + 24), Is.EqualTo(0x1_0000_B000UL), "pa[3]: four consecutive 4 KiB pages");
    }

    [Test]
    public void The_MQs_CQ_is_version_2_bound_to_the_EQ_by_id()
    {
        byte[] w = Wrb(b => OcrdmaCommands.EncodeCreateMqCq(b, 0x1_0000_4000, 1, eqId: 2));
        Assert.That(Convert.ToHexString(w.AsSpan(20, 44)), Is.EqualTo(
            "0C010000" + "14000000" + "34000000" + "02000000" +                  // COMMON 12, cmd_len 52, version 2
            "01000100" + "004000A0" + "02000000" + "00010000" + "00000000" +       // pgsz 1 << 16 | 1 page; DEF_FLAGS; eqn 2; 256 CQEs
            "00400000" + "01000000"));                                          // pa[0]
    }

    [Test]
    public void The_EQ_doorbell_carries_the_id_type_bit_clear_and_rearm()
    {
        Assert.That(EqDoorbell(2, arm: true, clearInterrupt: true, numEqe: 0), Is.EqualTo(0x2000_0602u));
        Assert.That(EqDoorbell(2, arm: false, clearInterrupt: false, numEqe: 0), Is.EqualTo(0x0000_0402u));
        Assert.That(EqDoorbell(0x3FFF, arm: false, clearInterrupt: false, numEqe: 1), Is.EqualTo(0x0001_FDFFu), "id bits 13:9 go to 15:11");
        Assert.That((IsEqDoorbell(0x2000_0602), IsEqDoorbell(CqDoorbell(7, rearm: true, popped: 0))), Is.EqualTo((true, false)));
        Assert.That(EqDoorbellId(0x0001_FDFF), Is.EqualTo(0x3FFF));
    }

    [Test]
    public void GET_FW_CONFIG_and_QUERY_CONFIG_headers_are_ocrdma_init_emb_mqe_s()
    {
        var fw = new byte[MqeSize];
        OcrdmaBringUp.EncodeGetFwConfig(fw);
        Assert.That(Convert.ToHexString(fw.AsSpan(0, 36)), Is.EqualTo(
            "01000000" + "EC000000" + "00000000" + "00000000" + "00000000" + "3A010000" + "14000000" + "F0000000" + "00000000"),
            "embedded, pyld_len 236, COMMON 58, 20 s, cmd_len 240 (ocrdma_init_mch with the whole MQE)");
        var qc = new byte[MqeSize];
        OcrdmaCommands.InitEmbedded(qc, SubsysRoce, CmdRoceQueryConfig, MqeSize);
        Assert.That(Convert.ToHexString(qc.AsSpan(20, 12)), Is.EqualTo("010A0000" + "14000000" + "DC000000"), "ROCE 1, cmd_len 220");
    }

    [Test]
    public void The_L3_types_are_bits_4_3_of_max_pd_ca_ack_delay()
    {
        Assert.That((0xFFFF_1018u & QueryConfigL3TypeMask) >> QueryConfigL3TypeShift, Is.EqualTo(3u));
        Assert.That((IsUdpEncapSupported(0), IsUdpEncapSupported(L3TypeIPv4), IsUdpEncapSupported(L3TypeIPv6)), Is.EqualTo((false, true, true)));
    }

    [Test]
    public void DELETE_queue_commands_carry_the_id_after_the_header()
    {
        byte[] w = Wrb(b => OcrdmaBringUp.EncodeDeleteQueue(b, CmdCommonDeleteEq, 2));
        Assert.That(Convert.ToHexString(w.AsSpan(0, 40)), Is.EqualTo(
            "01000000" + "14000000" + "00000000" + "00000000" + "00000000" + "37010000" + "14000000" + "04000000" + "00000000" + "02000000"));
    }

    // ---- refusals ----

    [Test]
    public void A_command_before_the_handshake_is_refused()
    {
        using var rig = new Rig();
        OcrdmaMailbox mbox = rig.Mailbox();
        var eq = rig.Device.Dma.Allocate(EqLength * EqeSize, PageSize4K);
        byte[] w = Wrb(b => OcrdmaBringUp.EncodeCreateEq(b, eq.DeviceAddress));
        var e = Assert.Throws<OcrdmaCommandException>(() => mbox.Execute(w, "CREATE_EQ"))!;
        Assert.That(e.CompletionStatus, Is.EqualTo(2u), "MCC_STATUS_ILLEGAL_REQUEST");
        Assert.That(rig.M.Violations.Single(), Does.Contain("CREATE_EQ before the FW_INIT handshake"));
        Assert.That(rig.M.Queues.Eq, Is.EqualTo(-1), "no EQ was made");
    }

    [Test]
    public void The_MQs_CQ_without_an_EQ_is_refused()
    {
        using var rig = new Rig();
        OcrdmaMailbox mbox = rig.Mailbox();
        mbox.Execute(Wrb(b => FwInitPattern.CopyTo(b)), "FW_INIT");
        var cq = rig.Device.Dma.Allocate(MqCqLength * McqeSize, PageSize4K);
        byte[] w = Wrb(b => OcrdmaCommands.EncodeCreateMqCq(b, cq.DeviceAddress, 1, eqId: 2));
        var e = Assert.Throws<OcrdmaCommandException>(() => mbox.Execute(w, "CREATE_CQ"))!;
        Assert.That(e.CompletionStatus, Is.EqualTo(3u), "MCC_STATUS_ILLEGAL_FIELD");
        Assert.That(rig.M.Violations.Single(), Does.Contain("no EQ exists (ocrdma_create_eqs comes first)"));
    }

    [Test]
    public void An_MQ_without_its_CQ_is_refused()
    {
        using var rig = new Rig();
        OcrdmaMailbox mbox = rig.Mailbox();
        mbox.Execute(Wrb(b => FwInitPattern.CopyTo(b)), "FW_INIT");
        var eq = rig.Device.Dma.Allocate(EqLength * EqeSize, PageSize4K);
        mbox.Execute(Wrb(b => OcrdmaBringUp.EncodeCreateEq(b, eq.DeviceAddress)), "CREATE_EQ");
        var ring = rig.Device.Dma.Allocate(MqLength * MqeSize, PageSize4K);
        byte[] w = Wrb(b => OcrdmaCommands.EncodeCreateMqExt(b, ring.DeviceAddress, MqLength * MqeSize / PageSize4K, 7, MqLength));
        var e = Assert.Throws<OcrdmaCommandException>(() => mbox.Execute(w, "CREATE_MQ_EXT"))!;
        Assert.That(e.CompletionStatus, Is.EqualTo(3u));
        Assert.That(rig.M.Violations.Single(), Does.Contain("no CQ exists (ocrdma_mbx_mq_cq_create comes first)"));
        Assert.That(rig.M.Queues, Is.EqualTo((true, 2, -1, -1)));
    }

    [TestCase(CmdCommonDeleteEq, 2, "CQ 7 is still bound to EQ 2: DELETE_CQ first")]
    [TestCase(CmdCommonDeleteCq, 7, "MQ 3 still completes into CQ 7: DELETE_MQ first")]
    public void A_queue_deleted_before_the_one_that_uses_it_is_refused(byte opcode, int id, string why)
    {
        using var rig = new Rig();
        OcrdmaDevice dev = rig.Open();
        OcrdmaMailbox mbox = rig.Mailbox();
        byte[] w = Wrb(b => OcrdmaBringUp.EncodeDeleteQueue(b, opcode, id));
        var e = Assert.Throws<OcrdmaCommandException>(() => mbox.Execute(w, CommandName(SubsysCommon, opcode)))!;
        Assert.That(e.CompletionStatus, Is.EqualTo(3u));
        Assert.That(rig.M.Violations.Single(), Does.Contain(why));
        Assert.That(rig.M.Queues, Is.EqualTo((true, 2, 7, 3)), "nothing was deleted");
        dev.ShutDown(); // the right order still works
        Assert.That(rig.M.Queues, Is.EqualTo((false, -1, -1, -1)));
    }

    [Test]
    public void FW_CLEAN_with_queues_left_is_refused()
    {
        using var rig = new Rig();
        OcrdmaDevice dev = rig.Open();
        var e = Assert.Throws<OcrdmaCommandException>(() => rig.Mailbox().Execute(Wrb(b => FwCleanPattern.CopyTo(b)), "FW_CLEAN"))!;
        Assert.That(e.CompletionStatus, Is.EqualTo(3u));
        Assert.That(rig.M.Violations.Single(), Does.Contain("FW_CLEAN with queues left (EQ 2, CQ 7, MQ 3)"));
        Assert.That(rig.M.Queues.Handshake, Is.True);
        dev.ShutDown();
    }
}
