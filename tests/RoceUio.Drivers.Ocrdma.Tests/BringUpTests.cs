using NUnit.Framework;
using RoceUio.Drivers;
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

        public Rig(uint udpEncap = 3, bool rdmaMode = true, uint postStage = PostStageArmFwRdy, int postDelayMs = 0)
        {
            Device = OcrdmaDeviceModel.CreateDevice(Dir.Path, udpEncap: udpEncap, rdmaMode: rdmaMode, postStage: postStage, postDelayMs: postDelayMs);
            Model = OcrdmaDeviceModel.StartThread(Dir.Path);
        }

        public OcrdmaDeviceModel M => Model.Model;

        public OcrdmaDevice Open(OcrdmaDeviceOptions? options = null) => OcrdmaDevice.Open(DeviceResources.Of(Device), options ?? new OcrdmaDeviceOptions());

        /// <summary>A second mailbox on the same doorbell, for commands sent by hand.</summary>
        public OcrdmaMailbox Mailbox(TimeSpan? timeout = null)
            => new(new MmioRegion(Device.Bar(OcrdmaPci.DoorbellBar(Device.DeviceId)), 4, RegisterByteOrder.LittleEndian),
                   Device.Dma.Allocate(MailboxSize, PageSize4K), timeout ?? TimeSpan.FromSeconds(10));

        public void Dispose()
        {
            Model.Dispose();
            Device.Dispose();
            Dir.Dispose();
        }
    }

    /// <summary>be_func_init (after the POST wait: FUNCTION_RESET, FW_INIT), then ocrdma_init_hw.</summary>
    private static readonly string[] KernelStart =
    [
        "FUNCTION_RESET", "FW_INIT", "CREATE_EQ", "CREATE_CQ", "CREATE_MQ_EXT", "GET_FW_CONFIG", "QUERY_CONFIG", "GET_FW_VER",
        "CREATE_AH_TBL",
    ];

    /// <summary>ocrdma_remove → ocrdma_cleanup_hw, then be_remove's FUNCTION_RESET and FW_CLEAN.</summary>
    private static readonly string[] KernelStop = ["DELETE_AH_TBL", "DELETE_MQ", "DELETE_CQ", "DELETE_EQ", "FUNCTION_RESET", "FW_CLEAN"];

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
        Assert.That(rig.M.Commands, Is.EqualTo(KernelStart[..6].Concat(["DELETE_MQ", "DELETE_CQ", "DELETE_EQ", "FUNCTION_RESET", "FW_CLEAN"])));
        Assert.That(rig.M.Queues, Is.EqualTo((false, -1, -1, -1)));
        Assert.That(rig.M.Violations, Is.Empty);
    }

    // ---- POST, the firmware version, Dispose ----

    [Test]
    public void Bring_up_waits_for_the_POST_stage_to_read_ARMFW_RDY_before_the_first_mailbox_command()
    {
        using var rig = new Rig(postDelayMs: 300);
        OcrdmaDevice dev = rig.Open();
        Assert.That((dev.BringUp.PostSemaphore, dev.BringUp.PostReads > 1), Is.EqualTo(((uint?)PostStageArmFwRdy, true)),
            "the driver read the stage until the model's POST was done");
        Assert.That(rig.M.Commands, Is.EqualTo(KernelStart), "nothing was posted before POST was done");
        Assert.That(rig.M.Violations, Is.Empty);
        dev.ShutDown();
    }

    [TestCase(PostStageRecoverableErr, "0xe000 (RECOVERABLE_ERR)")]
    [TestCase(PostStageArmFwUe, "0xf000 (ARMFW_UE, an unrecoverable error)")]
    [TestCase(0x0000u, "0x0000 (POST still running)")]
    public void A_function_whose_POST_never_reaches_ARMFW_RDY_is_refused_with_its_stage_and_nothing_is_posted(uint stage, string named)
    {
        using var rig = new Rig(postStage: stage);
        var e = Assert.Throws<RoceDeviceException>(() => rig.Open(new OcrdmaDeviceOptions { PostTimeout = TimeSpan.FromMilliseconds(200) }))!;
        Assert.That(e.Message, Does.Contain("did not finish POST").And.Contain(named).And.Contain("config space 0x94"));
        Assert.That(rig.M.Commands, Is.Empty, "the driver touched no mailbox");
    }

    [Test]
    public void The_driver_descriptor_reads_the_POST_stage_of_an_emulated_device_and_takes_post_timeout_ms()
    {
        using var rig = new Rig(postStage: PostStageArmFwUe);
        var ctx = new DriverOpenContext { Name = "ocrdma0", Settings = new Dictionary<string, long> { [OcrdmaDriver.PostTimeoutKey] = 150 } };
        var e = Assert.Throws<RoceDeviceException>(() => OcrdmaDriver.Descriptor.Open!(ctx, DeviceResources.Of(rig.Device)))!;
        Assert.That(e.Message, Does.Contain("within 0.1 s").Or.Contain("within 0.2 s"));
        Assert.That(e.Message, Does.Contain("0xf000 (ARMFW_UE"));
        Assert.That(OcrdmaDriver.Descriptor.Settings.Select(x => x.Key), Does.Contain("post_timeout_ms"));
    }

    [Test]
    public void The_model_refuses_a_mailbox_command_before_POST_is_done_and_never_completes_it()
    {
        using var rig = new Rig(postStage: PostStageRecoverableErr);
        // The driver's mailbox waits for RDY before it writes (be_mbox_db_ready_wait), so it never gets this far:
        var e = Assert.Throws<OcrdmaCommandException>(() => rig.Mailbox(TimeSpan.FromMilliseconds(100)).Execute(Wrb(b => FwInitPattern.CopyTo(b)), "FW_INIT"))!;
        Assert.That(e.Message, Does.Contain("RDY").And.Contain("not set before posting"));
        // A driver that skips the POST wait and writes the doorbell anyway:
        var db = new MmioRegion(rig.Device.Bar(OcrdmaPci.DoorbellBar(rig.Device.DeviceId)), 4, RegisterByteOrder.LittleEndian);
        DmaBuffer box = rig.Device.Dma.Allocate(MailboxSize, PageSize4K);
        FwInitPattern.CopyTo(box.Span);
        db.Write32(MpuMailboxDbOffset, MailboxHiWord(box.DeviceAddress));
        string[] seen = [];
        Assert.That(() => { lock (rig.M.Violations) seen = rig.M.Violations.ToArray(); return seen.Length; },
            Is.GreaterThan(0).After(5000, 5), "the model reports the write");
        Assert.That(seen[0], Does.Contain("while the POST stage is 0xe000 (RECOVERABLE_ERR)"));
        Assert.That(db.Read32(MpuMailboxDbOffset) & MpuMailboxDbReady, Is.Zero, "RDY stays clear: no firmware took it");
        Assert.That(rig.M.Queues.Handshake, Is.False, "the handshake did not happen");
    }

    [Test]
    public void GET_FW_VER_gives_the_running_firmware_version()
    {
        using var rig = new Rig();
        OcrdmaDevice dev = rig.Open();
        Assert.That(dev.BringUp.FirmwareVersion, Is.EqualTo(OcrdmaDeviceModel.FirmwareVersion));
        dev.ShutDown();
    }

    [Test]
    public void A_GET_FW_VER_with_a_cmd_len_other_than_ocrdma_init_mch_s_is_refused()
    {
        using var rig = new Rig();
        OcrdmaDevice dev = rig.Open();
        var mqe = new byte[MqeSize];
        OcrdmaBringUp.EncodeGetFwVer(mqe);
        DmaAccess.Write32(mqe, MbxCmdLength, 32);
        Assert.Throws<OcrdmaCommandException>(() => dev.Mq.Execute(mqe, "GET_FW_VER"));
        Assert.That(rig.M.Violations.Single(), Does.Contain("cmd_len 32: ocrdma_mbx_query_fw_ver sends 240"));
        dev.ShutDown();
    }

    [Test]
    public void A_second_run_on_a_function_an_earlier_run_left_up_resets_it_and_starts_again()
    {
        using var rig = new Rig();
        OcrdmaDevice first = rig.Open();
        first.Dispose(); // an emulated device keeps running: EQ, CQ, MQ and the AV table are still there
        Assert.That(rig.M.Queues, Is.EqualTo((true, 2, 7, 3)));
        OcrdmaDevice second = rig.Open();
        Assert.That(rig.M.Commands.Skip(KernelStart.Length), Is.EqualTo(KernelStart), "FUNCTION_RESET dropped the old queues, so FW_INIT and the creates were taken");
        Assert.That(rig.M.Violations, Is.Empty);
        second.ShutDown();
        Assert.That(rig.M.Queues, Is.EqualTo((false, -1, -1, -1)));
    }

    /// <summary>Memory the device reaches that is not an emulated device's shared file: what a real function gets.</summary>
    private sealed class ProcessDma(IDmaAllocator inner) : IDmaAllocator
    {
        public DmaBuffer Allocate(int length, int alignment = 4096) => inner.Allocate(length, alignment);
    }

    [Test]
    public void Dispose_of_a_real_function_takes_it_down_in_the_kernels_order_and_an_emulated_one_keeps_running()
    {
        using var rig = new Rig();
        OcrdmaDevice real = OcrdmaDevice.Open(rig.Device.VendorId, rig.Device.DeviceId, rig.Device.Bar(OcrdmaPci.DoorbellBar(rig.Device.DeviceId)),
            new ProcessDma(rig.Device.Dma), new OcrdmaDeviceOptions());
        real.Dispose();
        Assert.That(rig.M.Commands.Skip(KernelStart.Length), Is.EqualTo(KernelStop),
            "the queues and the AV table live in this process's memory: the firmware lets go of them before it goes");
        Assert.That(rig.M.Queues, Is.EqualTo((false, -1, -1, -1)));

        OcrdmaDevice emulated = rig.Open();
        int sent = rig.M.Commands.Length;
        emulated.Dispose();
        Assert.That(rig.M.Commands, Has.Length.EqualTo(sent), "an emulated device's DMA file outlives the process: nothing is sent");
        Assert.That(rig.M.Queues, Is.EqualTo((true, 2, 7, 3)));
        Assert.That(rig.M.Violations, Is.Empty);
    }

    // ---- golden bytes (ocrdma_sli.h structs, be_cmds.c patterns) ----

    [Test]
    public void FUNCTION_RESET_is_an_embedded_WRB_with_a_bare_request_header()
    {
        byte[] w = Wrb(b => OcrdmaBringUp.EncodeFunctionReset(b));
        // struct be_mcc_wrb: embedded (bit 0), payload_length 16, tag0, tag1, rsvd; struct be_cmd_req_hdr: opcode 61
        // (OPCODE_COMMON_FUNCTION_RESET), subsystem 1 (CMD_SUBSYSTEM_COMMON), port 0, domain 0, timeout 0,
        // request_length 16 - sizeof(hdr) = 0, version 0.
        Assert.That(Convert.ToHexString(w.AsSpan(0, 36)), Is.EqualTo(
            "01000000" + "10000000" + "00000000" + "00000000" + "00000000" + "3D010000" + "00000000" + "00000000" + "00000000"));
        Assert.That(w.AsSpan(36).ToArray(), Is.All.Zero);
    }

    [Test]
    public void GET_FW_VER_is_COMMON_35_with_the_whole_MQE_as_its_length_and_running_ver_at_36()
    {
        var mqe = new byte[MqeSize];
        OcrdmaBringUp.EncodeGetFwVer(mqe);
        Assert.That(Convert.ToHexString(mqe.AsSpan(0, 36)), Is.EqualTo(
            "01000000" + "EC000000" + "00000000" + "00000000" + "00000000" + "23010000" + "14000000" + "F0000000" + "00000000"),
            "ocrdma_init_emb_mqe (pyld_len 236), ocrdma_init_mch(OCRDMA_CMD_GET_FW_VER, OCRDMA_SUBSYS_COMMON, sizeof(*cmd))");
        Assert.That((FwVerRunning, FwVerLength), Is.EqualTo((20 + 16, 32)), "struct ocrdma_fw_ver_rsp: mqe_hdr (20), mbx_rsp (16), running_ver[32]");
    }

    [Test]
    public void CREATE_MQ_EXT_is_struct_ocrdma_create_mq_req_as_ocrdma_mbx_create_mq_fills_it()
    {
        byte[] w = Wrb(b => OcrdmaCommands.EncodeCreateMqExt(b, 0x1_0000_0000, 8, cqId: 7, MqLength));
        Assert.That(Convert.ToHexString(w.AsSpan(0, 76)), Is.EqualTo(
            "01000000" + "68000000" + "00000000" + "00000000" + "00000000" +   // WRB: embedded, payload 104 (sizeof the request)
            "5A010000" + "14000000" + "58000000" + "01000000" +              // COMMON 90, 20 s, cmd_len 88, rsvd_version 1
            "08000700" +                                                    // cqid_pages: 8 pages | cq id 7 << 16
            "22001000" +                                                    // async_event_bitmap: GRP5 (5), LINK (1), RDMA (0x14)
            "07000800" +                                                    // async_cqid_ringsize: cq 7 | ocrdma_encoded_q_len(128) = 8 << 16
            "00000080" + "01000000" + "00000000" +                          // valid BIT(31), async_cqid_valid BIT(0), rsvd
            "00000000" + "01000000" + "00100000" + "01000000"));            // pa[0], pa[1]: consecutive 4 KiB pages
    }

    [Test]
    public void CREATE_AH_TBL_is_struct_ocrdma_create_ah_tbl_and_its_PBL_puts_pa_hi_first()
    {
        var mqe = new byte[MqeSize];
        OcrdmaCommands.EncodeCreateAhTbl(mqe, 0x1_2345_6000);
        Assert.That(Convert.ToHexString(mqe.AsSpan(0, 48)), Is.EqualTo(
            "01000000" + "54000000" + "00000000" + "00000000" + "00000000" +   // MQE: embedded, pyld_len 84 (104 - the MQE header)
            "040A0000" + "14000000" + "44000000" + "00000000" +              // ROCE 4, 20 s, cmd_len 68
            "00004020" +                                                    // ah_conf: 8 pages << 19, 4 KiB (code 0), entry 64 << 23
            "00604523" + "01000000"));                                      // tbl_addr[0]: the PBL 0x1_2345_6000, lo then hi
        var pbl = new byte[16];
        OcrdmaCommands.EncodeAhTablePbl(pbl, 0x1_0000_F000, 2);
        Assert.That(Convert.ToHexString(pbl), Is.EqualTo("01000000" + "00F00000" + "01000000" + "00000100"),
            "struct ocrdma_pbe { pa_hi; pa_lo; } for each 4 KiB page of the AV table");
    }

    [Test]
    public void The_POST_stage_is_the_low_16_bits_of_config_dword_0x94()
    {
        Assert.That((SliportSemaphoreOffsetSh, PostStageMask, PostStageArmFwRdy), Is.EqualTo((0x94, 0xFFFFu, 0xC000u)));
        Assert.That(PostStageName(0x8000_C000), Is.EqualTo("0xc000 (ARMFW_RDY), POST_ERROR_BIT set"));
        using var dir = new TempDirectory("ocrdma-config");
        EmulatedPciConfig.Create(dir.Path, VendorEmulex, DeviceSkyhawk);
        byte[] cfg = File.ReadAllBytes(Path.Combine(dir.Path, EmulatedPciConfig.FileName));
        Assert.That(Convert.ToHexString(cfg.AsSpan(0, 4)), Is.EqualTo("DF102007"), "vendor 10df, device 0720, little-endian");
        Assert.That(EmulatedPciConfig.PostSemaphore(dir.Path)!(), Is.Zero, "POST not done until a model runs");
    }

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
    public void DELETE_MQ_while_the_AV_table_is_registered_is_refused()
    {
        using var rig = new Rig();
        OcrdmaDevice dev = rig.Open();
        byte[] w = Wrb(b => OcrdmaBringUp.EncodeDeleteQueue(b, CmdCommonDeleteMq, 3));
        var e = Assert.Throws<OcrdmaCommandException>(() => rig.Mailbox().Execute(w, "DELETE_MQ"))!;
        Assert.That(e.CompletionStatus, Is.EqualTo(3u));
        Assert.That(rig.M.Violations.Single(), Does.Contain("AV table 1 is still registered through MQ 3: DELETE_AH_TBL first"));
        Assert.That(rig.M.Queues, Is.EqualTo((true, 2, 7, 3)));
        dev.ShutDown();
        Assert.That(rig.M.Queues, Is.EqualTo((false, -1, -1, -1)));
    }

    [Test]
    public void A_FUNCTION_RESET_that_is_not_be2nets_bare_header_is_refused()
    {
        using var rig = new Rig();
        byte[] w = Wrb(b => OcrdmaBringUp.EncodeFunctionReset(b));
        DmaAccess.Write32(w, MqeHdrPayloadLength, 20);
        var e = Assert.Throws<OcrdmaCommandException>(() => rig.Mailbox().Execute(w, "FUNCTION_RESET"))!;
        Assert.That(e.CompletionStatus, Is.EqualTo(3u));
        Assert.That(rig.M.Violations.Single(), Does.Contain("payload_length 16 and request_length 0"));
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
