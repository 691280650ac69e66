using NUnit.Framework;
using RoceUio.Drivers.Ocrdma.Model;
using RoceUio.Hardware;
using RoceUio.Testing;
using static RoceUio.Drivers.Ocrdma.OcrdmaBringUpLayout;
using static RoceUio.Drivers.Ocrdma.OcrdmaLayout;

namespace RoceUio.Drivers.Ocrdma.Tests;

/// <summary>
/// Every refusal of the model's bootstrap mailbox and of its AV-table commands that <see cref="BringUpTests"/> does
/// not already make: each case takes the model by hand (FW_INIT, CREATE_EQ, CREATE_CQ as the kernel sends them) to the
/// point where the mistake can be made, sends the kernel's command with the one field changed, and checks the status,
/// the reason, and that nothing was created or deleted.
/// </summary>
[TestFixture]
public class MailboxRefusalTests
{
    public enum Upto { Nothing, Handshake, Eq, Cq, Mq }

    public sealed class Rig : IDisposable
    {
        private readonly TempDirectory _dir = new("ocrdma-refusal");
        public readonly EmulatedDevice Device;
        public readonly RoceUio.Hardware.Emulation.DeviceModelThread<OcrdmaDeviceModel> Model;
        public readonly OcrdmaMailbox Mailbox;
        public readonly MmioRegion Db;
        public DmaBuffer Eq = null!, Cq = null!, Ring = null!;

        public Rig(Upto upto)
        {
            Device = OcrdmaDeviceModel.CreateDevice(_dir.Path);
            Model = OcrdmaDeviceModel.StartThread(_dir.Path);
            Db = new MmioRegion(Device.Bar(OcrdmaPci.DoorbellBar(Device.DeviceId)), 4, RegisterByteOrder.LittleEndian);
            Mailbox = new OcrdmaMailbox(Db, Device.Dma.Allocate(MailboxSize, PageSize4K), TimeSpan.FromSeconds(10));
            Eq = Device.Dma.Allocate(EqLength * EqeSize, PageSize4K);
            Cq = Device.Dma.Allocate(MqCqLength * McqeSize, PageSize4K);
            Ring = Device.Dma.Allocate(MqLength * MqeSize, PageSize4K);
            if (upto >= Upto.Handshake)
                Mailbox.Execute(Wrb(w => FwInitPattern.CopyTo(w)), "FW_INIT");
            if (upto >= Upto.Eq)
                Mailbox.Execute(CreateEq(this), "CREATE_EQ");
            if (upto >= Upto.Cq)
                Mailbox.Execute(CreateCq(this), "CREATE_CQ");
            if (upto >= Upto.Mq)
                Mailbox.Execute(CreateMq(this), "CREATE_MQ_EXT");
        }

        public OcrdmaDeviceModel M => Model.Model;

        public void Dispose()
        {
            Model.Dispose();
            Device.Dispose();
            _dir.Dispose();
        }
    }

    private static byte[] Wrb(Action<byte[]> fill)
    {
        var w = new byte[MailboxWrbSize];
        fill(w);
        return w;
    }

    private static byte[] CreateEq(Rig r) => Wrb(w => OcrdmaBringUp.EncodeCreateEq(w, r.Eq.DeviceAddress));
    private static byte[] CreateCq(Rig r) => Wrb(w => OcrdmaCommands.EncodeCreateMqCq(w, r.Cq.DeviceAddress, MqCqLength * McqeSize / PageSize4K, eqId: 2));
    private static byte[] CreateMq(Rig r) => Wrb(w => OcrdmaCommands.EncodeCreateMqExt(w, r.Ring.DeviceAddress, MqLength * MqeSize / PageSize4K, 7, MqLength));

    private const ulong Outside = 0x7000_0000_0000;

    public static IEnumerable<TestCaseData> Cases()
    {
        TestCaseData C(string name, Upto upto, Func<Rig, byte[]> wrb, uint status, string why)
            => new TestCaseData(upto, wrb, status, why).SetName(name);
        yield return C("FW_INIT_twice_without_FW_CLEAN_or_a_reset_is_ILLEGAL_FIELD", Upto.Handshake, _ => Wrb(w => FwInitPattern.CopyTo(w)), 3,
            "FW_INIT again without FW_CLEAN or FUNCTION_RESET");
        yield return C("FW_CLEAN_without_FW_INIT_is_ILLEGAL_REQUEST", Upto.Nothing, _ => Wrb(w => FwCleanPattern.CopyTo(w)), 2, "FW_CLEAN without FW_INIT");
        yield return C("A_non_embedded_mailbox_command_is_ILLEGAL_FIELD", Upto.Handshake, r => Patch(CreateEq(r), MqeHdrFlags, 0), 3,
            "only embedded commands are modelled");
        yield return C("A_second_EQ_is_ILLEGAL_FIELD", Upto.Eq, CreateEq, 3, "the model serves one EQ, and EQ 2 exists");
        yield return C("CREATE_EQ_version_0_is_ILLEGAL_FIELD", Upto.Handshake, r => Patch(CreateEq(r), MbxVersion, 0), 3, "CREATE_EQ version 0 (ocrdma sends version 2)");
        yield return C("CREATE_EQ_with_9_pages_is_ILLEGAL_FIELD", Upto.Handshake, r => Patch(CreateEq(r), CreateEqNumPages, 9), 3, "9 pages (1..8, MAX_OCRDMA_EQ_PAGES)");
        yield return C("CREATE_EQ_without_the_valid_bit_is_ILLEGAL_FIELD", Upto.Handshake, r => Patch(CreateEq(r), CreateEqValid, 0), 3, "OCRDMA_CREATE_EQ_VALID is clear");
        yield return C("CREATE_EQ_on_pages_outside_DMA_is_ILLEGAL_FIELD", Upto.Handshake, r => Wrb(w => OcrdmaBringUp.EncodeCreateEq(w, Outside)), 3,
            "EQ page 0 at 0x700000000000 is outside DMA memory");
        yield return C("A_second_MQ_CQ_is_ILLEGAL_FIELD", Upto.Cq, CreateCq, 3, "the model serves the MQ's CQ only, and CQ 7 exists");
        yield return C("The_MQs_CQ_with_the_wrong_page_count_is_ILLEGAL_FIELD", Upto.Eq,
            r => Wrb(w => OcrdmaCommands.EncodeCreateMqCq(w, r.Cq.DeviceAddress, 2, eqId: 2)), 3, "2 pages where the MQ's CQ of 256 entries needs 1");
        yield return C("The_MQs_CQ_without_the_valid_flag_is_ILLEGAL_FIELD", Upto.Eq, r => Patch(CreateCq(r), CreateCqEvCntFlags, 0), 3,
            "OCRDMA_CREATE_CQ_FLAGS_VALID is clear");
        yield return C("The_MQs_CQ_outside_DMA_is_ILLEGAL_FIELD", Upto.Eq, r => Wrb(w => OcrdmaCommands.EncodeCreateMqCq(w, Outside, 1, eqId: 2)), 3,
            "CQ page 0x700000000000 is outside DMA memory");
        yield return C("CREATE_MQ_EXT_version_0_is_ILLEGAL_FIELD", Upto.Cq, r => Patch(CreateMq(r), MbxVersion, 0), 3, "CREATE_MQ_EXT version 0 (Skyhawk takes version 1)");
        yield return C("A_second_MQ_is_ILLEGAL_FIELD", Upto.Mq, CreateMq, 3, "the model serves one MQ, and MQ 3 exists");
        yield return C("CREATE_MQ_EXT_without_the_valid_bit_is_ILLEGAL_FIELD", Upto.Cq, r => Patch(CreateMq(r), CreateMqValid, 0), 3, "OCRDMA_CREATE_MQ_VALID is clear");
        yield return C("CREATE_MQ_EXT_with_another_ring_size_is_ILLEGAL_FIELD", Upto.Cq,
            r => Patch(CreateMq(r), CreateMqAsyncCqidRingsize, DmaAccess.Read32(CreateMq(r), CreateMqAsyncCqidRingsize) & ~(0xFu << CreateMqRingSizeShift)), 3,
            "ring size code 0 with 8 pages");
        yield return C("CREATE_MQ_EXT_on_pages_that_are_not_contiguous_is_ILLEGAL_FIELD", Upto.Cq,
            r => Patch(CreateMq(r), CreateMqPa + 8, (uint)(r.Ring.DeviceAddress + 3 * PageSize4K)), 3, "MQ page 1 is not contiguous with page 0");
        yield return C("CREATE_MQ_EXT_on_a_ring_outside_DMA_is_ILLEGAL_FIELD", Upto.Cq,
            r => Wrb(w => OcrdmaCommands.EncodeCreateMqExt(w, Outside, MqLength * MqeSize / PageSize4K, 7, MqLength)), 3, "MQ ring 0x700000000000 is outside DMA memory");
    }

    private static byte[] Patch(byte[] wrb, int offset, uint value)
    {
        DmaAccess.Write32(wrb, offset, value);
        return wrb;
    }

    [TestCaseSource(nameof(Cases))]
    public void The_model_refuses(Upto upto, Func<Rig, byte[]> wrb, uint status, string why)
    {
        using var rig = new Rig(upto);
        var before = rig.M.Queues;
        var e = Assert.Throws<OcrdmaCommandException>(() => rig.Mailbox.Execute(wrb(rig), "by hand"))!;
        Assert.That(e.CompletionStatus, Is.EqualTo(status), status == 2 ? "MCC_STATUS_ILLEGAL_REQUEST" : "MCC_STATUS_ILLEGAL_FIELD");
        Assert.That(rig.M.Violations.Single(), Does.Contain(why));
        Assert.That(rig.M.Queues, Is.EqualTo(before), "nothing was created or deleted");
    }

    [Test]
    public void DELETE_EQ_of_an_EQ_that_is_still_armed_is_refused()
    {
        using var rig = new Rig(Upto.Eq);
        rig.Db.Write32(DbEqOffset, EqDoorbell(2, arm: true, clearInterrupt: true, numEqe: 0)); // ocrdma_create_eq arms it
        var e = Assert.Throws<OcrdmaCommandException>(() => rig.Mailbox.Execute(Wrb(w => OcrdmaBringUp.EncodeDeleteQueue(w, CmdCommonDeleteEq, 2)), "DELETE_EQ"))!;
        Assert.That(e.CompletionStatus, Is.EqualTo(3u));
        Assert.That(rig.M.Violations.Single(), Does.Contain("EQ 2 is still armed (ocrdma_destroy_eq disarms it before DELETE_EQ)"));
        rig.Db.Write32(DbEqOffset, EqDoorbell(2, arm: false, clearInterrupt: false, numEqe: 0));
        Assert.That(() => { rig.Mailbox.Execute(Wrb(w => OcrdmaBringUp.EncodeDeleteQueue(w, CmdCommonDeleteEq, 2)), "DELETE_EQ"); return rig.M.Queues.Eq; },
            Is.EqualTo(-1), "disarmed, it is deleted");
    }
    // ---- the AV table and the MQ (ocrdma_mbx_create_ah_tbl / ocrdma_mbx_delete_ah_tbl) ----

    private static void DeleteAhTable(OcrdmaDevice dev, int ahid)
    {
        var mqe = new byte[MqeSize];
        OcrdmaCommands.InitEmbedded(mqe, SubsysRoce, CmdRoceDeleteAhTbl, DeleteAhTblSize);
        DmaAccess.Write32(mqe, Payload, (uint)ahid);
        dev.Mq.Execute(mqe, "DELETE_AH_TBL");
    }

    [TestCase(5, "ahid 5, but the AV table is 1", TestName = "DELETE_AH_TBL_of_another_table_is_refused")]
    [TestCase(1, "no AV table is registered", TestName = "DELETE_AH_TBL_twice_is_refused")]
    public void A_DELETE_AH_TBL_the_model_cannot_match_is_refused(int ahid, string why)
    {
        using var rig = new Rig(Upto.Nothing);
        OcrdmaDevice dev = OcrdmaDevice.Open(DeviceResources.Of(rig.Device));
        if (why.StartsWith("no AV", StringComparison.Ordinal))
            DeleteAhTable(dev, 1);
        var e = Assert.Throws<OcrdmaCommandException>(() => DeleteAhTable(dev, ahid))!;
        Assert.That(e.MailboxStatus, Is.Not.Zero);
        Assert.That(rig.M.Violations.Single(), Does.Contain(why));
        dev.Dispose(); // an emulated device keeps running
    }

    [TestCase("pages", "ah_conf 0x", TestName = "CREATE_AH_TBL_with_another_geometry_is_refused")]
    [TestCase("pbl", "the PBL at 0x700000000000 is outside DMA memory", TestName = "CREATE_AH_TBL_with_its_PBL_outside_DMA_is_refused")]
    [TestCase("page", "AV table page 0 at 0x700000000000 is outside DMA memory", TestName = "CREATE_AH_TBL_with_an_AV_page_outside_DMA_is_refused")]
    public void A_malformed_CREATE_AH_TBL_is_ILLEGAL_FIELD(string broken, string why)
    {
        using var rig = new Rig(Upto.Nothing);
        OcrdmaDevice dev = OcrdmaDevice.Open(DeviceResources.Of(rig.Device));
        DeleteAhTable(dev, 1); // so that a second table may be registered
        DmaBuffer pbl = rig.Device.Dma.Allocate(PageSize4K, PageSize4K), table = rig.Device.Dma.Allocate(AhTablePages * PageSize4K, PageSize4K);
        OcrdmaCommands.EncodeAhTablePbl(pbl.Span, broken == "page" ? Outside : table.DeviceAddress, AhTablePages);
        var mqe = new byte[MqeSize];
        OcrdmaCommands.EncodeCreateAhTbl(mqe, broken == "pbl" ? Outside : pbl.DeviceAddress);
        if (broken == "pages")
            DmaAccess.Write32(mqe, CreateAhTblConf, DmaAccess.Read32(mqe, CreateAhTblConf) & ~CreateAhNumPagesMask | 4u << CreateAhNumPagesShift);
        var e = Assert.Throws<OcrdmaCommandException>(() => dev.Mq.Execute(mqe, "CREATE_AH_TBL"))!;
        Assert.That(e.MailboxStatus, Is.EqualTo(OcrdmaStatus.MbxIllegalField));
        Assert.That(rig.M.Violations.Single(), Does.Contain(why));
        dev.Dispose();
    }

    [Test]
    public void A_non_embedded_MQE_is_refused()
    {
        using var rig = new Rig(Upto.Nothing);
        OcrdmaDevice dev = OcrdmaDevice.Open(DeviceResources.Of(rig.Device));
        var mqe = new byte[MqeSize];
        OcrdmaBringUp.EncodeGetFwConfig(mqe);
        DmaAccess.Write32(mqe, MqeHdrFlags, 0);
        Assert.Throws<OcrdmaCommandException>(() => dev.Mq.Execute(mqe, "GET_FW_CONFIG"));
        Assert.That(rig.M.Violations.Single(), Does.Contain("only embedded MQEs are modelled"));
        dev.ShutDown();
    }
}
