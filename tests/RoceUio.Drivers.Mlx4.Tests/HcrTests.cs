using NUnit.Framework;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Hardware;
using RoceUio.Testing;

namespace RoceUio.Drivers.Mlx4.Tests;

/// <summary>The HCR protocol, byte by byte (hw-layouts.md 1.2, 1.3, 1.11).</summary>
[TestFixture]
public class HcrTests
{
    private const ulong WorkedMailbox = 0x1_2345_6000;

    [Test]
    public void Worked_example_SET_PORT_GID_TABLE_port1_toggle1_is_written_as_seven_big_endian_dwords_in_order()
    {
        // DMA memory starting at the worked example's mailbox address: the driver's mailbox is the first allocation.
        // The driver brings the firmware up (SET_PORT needs port 1 up); the zeroed mailbox is then an empty v1 table.
        using var rig = new ThreadRig(dmaBase: WorkedMailbox);
        Mlx4Device driver = rig.OpenDriver();
        Assert.That(driver.MailboxAddress, Is.EqualTo(WorkedMailbox));
        Assert.That(rig.Device.Dma.TryResolve(WorkedMailbox, 4096, out Span<byte> mailbox), Is.True);
        mailbox.Clear();
        var hcr = new Mlx4Hcr(rig.Device.Bar(0), "mlx4_0");
        if (hcr.Toggle == 0)
            hcr.Execute(0, WorkedMailbox, 0, 0, Mlx4Layout.CmdQueryFw, TimeSpan.FromSeconds(5)); // the example has T = 1
        mailbox.Clear();
        var trace = new RecordingTracer();
        hcr.Registers.Tracer = trace;

        hcr.Execute(WorkedMailbox, 0, 0x00000501, 1, 0x00c, TimeSpan.FromSeconds(5));

        Assert.That(trace.Writes, Is.EqualTo(new (long, uint)[]
        {
            (0x80680, 0x00000001), (0x80684, 0x23456000), (0x80688, 0x00000501),
            (0x8068c, 0x00000000), (0x80690, 0x00000000), (0x80694, 0xFFFF0000), (0x80698, 0x00A0100C),
        }));
        Assert.That(hcr.Toggle, Is.EqualTo(0u), "the toggle flips after each post");

        // The next command goes out with T = 0; ROCE_ADDR is sub-op 0x0D.
        trace.Writes.Clear();
        hcr.Execute(WorkedMailbox, 0, 0x00000D01, 1, 0x00c, TimeSpan.FromSeconds(5));
        Assert.That(trace.Writes[2], Is.EqualTo((0x80688L, 0x00000D01u)));
        Assert.That(trace.Writes[6], Is.EqualTo((0x80698L, 0x0080100Cu)));
    }

    [Test]
    public void The_device_sees_the_worked_example_as_big_endian_bytes_at_BAR0_0x80680()
    {
        using var dir = new TempDirectory();
        using var dev = new Mlx4ModelConfig().CreateDevice(dir.Path); // no model: nobody completes the command
        var hcr = new Mlx4Hcr(dev.Bar(0), "mlx4_0");

        var e = Assert.Throws<Mlx4CommandException>(() => hcr.Execute(WorkedMailbox, 0, 0x501, 1, 0x00c, TimeSpan.FromMilliseconds(50)))!;

        Assert.That(Convert.ToHexString(dev.Bar(0).Span(0x80680, 0x1c)), Is.EqualTo(
            "00000001" + "23456000" + "00000501" + "00000000" + "00000000" + "FFFF0000" + "00A0100C"));
        Assert.That(e.TimedOut, Is.True);
        Assert.That(e.Status, Is.Null);
        Assert.That(e.Message, Does.Contain("SET_PORT GID_TABLE port 1").And.Contain("in_mod 0x00000501").And.Contain("timed out after 50 ms"));
    }

    [Test]
    public void The_model_resets_the_HCR_and_completes_with_GO_clear_T_kept_and_the_status_in_the_top_byte()
    {
        using var rig = new ThreadRig(beforeModel: d =>
            new MmioRegion(d.Bar(0), 0, RegisterByteOrder.BigEndian).Write32(0x80698, 0xffffffff));
        var regs = new MmioRegion(rig.Device.Bar(0), 0, RegisterByteOrder.BigEndian);
        Assert.That(regs.Read32(0x80698), Is.EqualTo(0u), "reset: GO = 0, T = 0");

        var hcr = new Mlx4Hcr(rig.Device.Bar(0), "mlx4_0");
        Assert.That(hcr.Toggle, Is.EqualTo(1u), "after reset T = 0, so the driver's toggle is 1 (mlx4_cmd_init)");
        ulong box = rig.Device.Dma.Allocate(4096).DeviceAddress;
        // QUERY_FW: the one command a firmware fresh from reset answers besides MAP_FA.
        Assert.That(hcr.ExecuteForStatus(0, box, 0, 0, 0x004, TimeSpan.FromSeconds(5)), Is.EqualTo(0));
        Assert.That(regs.Read32(0x80698), Is.EqualTo(0x00200004u), "GO cleared, T = 1 kept, status 0");

        Assert.That(hcr.ExecuteForStatus(0, box, 1, 0, 0x004, TimeSpan.FromSeconds(5)), Is.EqualTo((byte)Mlx4Status.BadParam));
        Assert.That(regs.Read32(0x80698), Is.EqualTo(0x03000004u), "GO cleared, T = 0 kept, status BAD_PARAM");
        Assert.That(hcr.IsPending(), Is.False);
    }

    [Test]
    public void A_driver_started_against_a_device_left_with_T_set_takes_the_opposite_toggle_and_works()
    {
        using var rig = new ThreadRig();
        rig.OpenDriver();
        ulong box = rig.Device.Dma.Allocate(4096).DeviceAddress;
        var first = new Mlx4Hcr(rig.Device.Bar(0), "mlx4_0");
        if (first.Toggle == 0)
            first.Execute(0, box, 0, 0, Mlx4Layout.CmdQueryFw, TimeSpan.FromSeconds(5));
        rig.Device.Dma.TryResolve(box, 4096, out Span<byte> table);
        table.Clear();
        first.Execute(box, 0, 0x501, 1, 0x00c, TimeSpan.FromSeconds(5)); // leaves T = 1

        var second = new Mlx4Hcr(rig.Device.Bar(0), "mlx4_0");
        Assert.That(second.Toggle, Is.EqualTo(0u));
        Assert.That(second.ExecuteForStatus(box, 0, 0x501, 1, 0x00c, TimeSpan.FromSeconds(5)), Is.EqualTo(0));
    }

    [TestCase((byte)0x01, "INTERNAL_ERR", "EIO")]
    [TestCase((byte)0x02, "BAD_OP", "EPERM")]
    [TestCase((byte)0x03, "BAD_PARAM", "EINVAL")]
    [TestCase((byte)0x04, "BAD_SYS_STATE", "ENXIO")]
    [TestCase((byte)0x05, "BAD_RESOURCE", "EBADF")]
    [TestCase((byte)0x06, "RESOURCE_BUSY", "EBUSY")]
    [TestCase((byte)0x08, "EXCEED_LIM", "ENOMEM")]
    [TestCase((byte)0x09, "BAD_RES_STATE", "EBADF")]
    [TestCase((byte)0x0a, "BAD_INDEX", "EBADF")]
    [TestCase((byte)0x0b, "BAD_NVMEM", "EFAULT")]
    [TestCase((byte)0x0c, "ICM_ERROR", "ENFILE")]
    [TestCase((byte)0x10, "BAD_QP_STATE", "EINVAL")]
    [TestCase((byte)0x20, "BAD_SEG_PARAM", "EFAULT")]
    [TestCase((byte)0x21, "REG_BOUND", "EBUSY")]
    [TestCase((byte)0x22, "LAM_NOT_PRE", "EAGAIN")]
    [TestCase((byte)0x30, "BAD_PKT", "EINVAL")]
    [TestCase((byte)0x40, "BAD_SIZE", "ENOMEM")]
    [TestCase((byte)0x50, "MULTI_FUNC_REQ", "EACCES")]
    [TestCase((byte)0x07, "status 0x07", "EIO")]
    public void A_status_is_named_and_mapped_as_mlx4_status_to_errno(byte status, string name, string errno)
    {
        Assert.That(Mlx4StatusText.Name(status), Is.EqualTo(name));
        Assert.That(Mlx4StatusText.Errno(status), Is.EqualTo(errno));
    }

    [Test]
    public void PCI_table_has_ConnectX3_and_Pro_as_physical_functions_and_refuses_VFs()
    {
        Assert.That(Mlx4PciIds.TryFind(0x15b3, 0x1003, out var cx3) && cx3.Kind == Mlx4PciKind.PhysicalFunction && cx3.Name.Contains("ConnectX-3"));
        Assert.That(Mlx4PciIds.TryFind(0x15b3, 0x1007, out var pro) && pro.Name.Contains("ConnectX-3 Pro"));
        Assert.That(Mlx4PciIds.TryFind(0x15b3, 0x1004, out var vf) && vf.Kind == Mlx4PciKind.VirtualFunction);
        Assert.That(Mlx4PciIds.TryFind(0x15b3, 0x6340, out var gen2) && gen2.Kind == Mlx4PciKind.Gen2);
        Assert.That(Mlx4PciIds.All.Where(r => r.Kind == Mlx4PciKind.PhysicalFunction).Select(r => r.DeviceId),
            Is.EqualTo(Enumerable.Range(0x1003, 0x1010 - 0x1003 + 1).Where(d => d != 0x1004).Select(d => (ushort)d)));
        Assert.That(Mlx4PciIds.TryFind(0x8086, 0x1003, out _), Is.False, "another vendor");
        Assert.That(Mlx4PciIds.TryFind(0x15b3, 0x1013, out _), Is.False, "ConnectX-4 is mlx5's");

        using var dir = new TempDirectory();
        using var dev = new Mlx4ModelConfig().CreateDevice(dir.Path, deviceId: 0x1004);
        var e = Assert.Throws<RoceUio.Roce.RoceDeviceException>(() => Mlx4Device.Open(DeviceResources.Of(dev)))!;
        Assert.That(e.Message, Does.Contain("virtual function"));
    }
}
