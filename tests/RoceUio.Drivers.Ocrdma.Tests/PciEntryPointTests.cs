using NUnit.Framework;
using RoceUio.Drivers.Ocrdma.Model;
using RoceUio.Gids;
using RoceUio.Hardware;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Drivers.Ocrdma.Tests;

/// <summary>
/// <see cref="OcrdmaDevice.Open(ushort, ushort, MappedFile, IDmaAllocator, OcrdmaDeviceOptions?)"/>, the entry point the
/// daemon's PCI path uses, against the same model (on a thread): the caller hands in the doorbell BAR and the DMA
/// allocator itself, as it does with a mapped resourceN / VFIO region and a physical or IOVA allocator.
/// </summary>
public class PciEntryPointTests
{
    private const ulong Dmac = 0x001122334455UL;

    private static OcrdmaDeviceOptions Quick => new()
    {
        CommandTimeout = TimeSpan.FromSeconds(5),
        MailboxTimeout = TimeSpan.FromSeconds(5),
        SourceMac = ModelFixture.SourceMac,
    };

    [TestCase(false, OcrdmaLayout.VendorEmulex, 4, TestName = "PF 10df:0720, doorbells in BAR4")]
    [TestCase(true, OcrdmaLayout.VendorServerEngines, 0, TestName = "VF 19a2:0728, doorbells in BAR0")]
    public void TheMappedBarEntryPoint_BringsUpTheFunctionAndModifiesAQp(bool vf, ushort vendor, int bar)
    {
        using var f = new ModelFixture(inProcess: true, vf: vf, vendor: vendor);
        ushort device = vf ? OcrdmaLayout.DeviceSkyhawkVf : OcrdmaLayout.DeviceSkyhawk;
        // A model needs the SYNTHETIC table to check MODIFY_QP; the PCI entry point makes none by itself.
        using OcrdmaDevice dev = f.Follow(OcrdmaDevice.Open(vendor, device, f.Device.Bar(bar), f.Device.Dma, Quick));

        Assert.That((dev.VendorId, dev.DeviceId, dev.IsVirtualFunction, dev.DoorbellBar), Is.EqualTo((vendor, device, vf, bar)));
        Assert.That(dev.PortCount, Is.EqualTo(1));
        Assert.That(dev.AhTableId, Is.Not.Zero, "CREATE_AH_TBL answered with the model's table id");
        dev.AddGid(1, 3, new GidEntry(Gid.Parse("::ffff:192.0.2.1"), GidType.RoceV2, 2));
        dev.ModifyQpPath(12, 1, 3, new OcrdmaPath(Gid.Parse("::ffff:192.0.2.2"), Dmac));
        int ah = dev.CreateAddressHandle(1, 3, new OcrdmaAhAttr(Gid.Parse("::ffff:192.0.2.9"), Dmac));
        dev.DestroyAddressHandle(ah);
        dev.ReleaseQpPath(12);
        Assert.That(f.Violations, Is.Empty);
    }

    [Test]
    public void TheMappedBarEntryPoint_WritesNoSyntheticTableNextToTheDevice()
    {
        using var f = new ModelFixture(inProcess: true);
        string shadow = Path.Combine(f.Dir.Path, SgidShadowFile.FileName);
        using OcrdmaDevice dev = OcrdmaDevice.Open(f.Device.VendorId, f.Device.DeviceId, f.Device.Bar(4), f.Device.Dma,
            new OcrdmaDeviceOptions { CommandTimeout = TimeSpan.FromSeconds(5) });
        dev.AddGid(1, 0, new GidEntry(Gid.Parse("fe80::1"), GidType.RoceV1, 2));
        Assert.That(File.Exists(shadow), Is.False, "no sgid_shadow on the PCI path (real hardware has no oracle)");
        // The model, which checks every path against that table, has therefore nothing to check against and refuses:
        // proof that the driver published nothing rather than publishing somewhere else it reads.
        var e = Assert.Throws<OcrdmaCommandException>(() => dev.ModifyQpPath(1, 1, 0, new OcrdmaPath(Gid.Parse("fe80::2"), Dmac)))!;
        Assert.That(e.MailboxStatus, Is.EqualTo(OcrdmaStatus.MbxIllegalField));
        Assert.That(File.Exists(shadow), Is.False);
        Assert.That(f.Violations, Has.Some.Contains("host names no sgid index"));
    }

    [Test]
    public void TheModelsSideChannel_FollowsTheDriverInTheDeviceDirectoryWhenAsked()
    {
        using var f = new ModelFixture(inProcess: true);
        using OcrdmaDevice dev = f.Open(new OcrdmaDeviceOptions { CommandTimeout = TimeSpan.FromSeconds(5) });
        dev.AddGid(1, 0, new GidEntry(Gid.Parse("fe80::1"), GidType.RoceV1, 2));
        OcrdmaShadowSnapshot s = SgidShadowFile.Parse(File.ReadAllText(Path.Combine(f.Dir.Path, SgidShadowFile.FileName)));
        Assert.That((s.TryGetGid(1, 0, out ShadowGid g), g.Gid), Is.EqualTo((true, Gid.Parse("fe80::1"))));
        Assert.That((dev.VendorId, dev.DeviceId, dev.DoorbellBar), Is.EqualTo((OcrdmaLayout.VendorEmulex, OcrdmaLayout.DeviceSkyhawk, 4)));
    }

    [TestCase((ushort)0x15b3, (ushort)0x1003, TestName = "a ConnectX-3 (mlx4's)")]
    [TestCase((ushort)0x19a2, (ushort)0x0710, TestName = "a BE3 (no ocrdma RoCE here)")]
    [TestCase((ushort)0x10df, (ushort)0xe220, TestName = "a Lancer")]
    [TestCase((ushort)0x8086, (ushort)0x0720, TestName = "a Skyhawk device id under another vendor")]
    public void AnotherPciId_IsRefusedBeforeAnyRegisterIsTouched(ushort vendor, ushort device)
    {
        using var dir = new TempDirectory("ocrdma-ids");
        using EmulatedDevice emu = OcrdmaDeviceModel.CreateDevice(dir.Path); // no model: nothing would answer
        var e = Assert.Throws<RoceDeviceException>(() =>
            OcrdmaDevice.Open(vendor, device, emu.Bar(4), emu.Dma, new OcrdmaDeviceOptions { Name = "ocrdma7" }))!;
        Assert.That(e.Message, Does.StartWith($"ocrdma7: PCI {vendor:x4}:{device:x4} is not a Skyhawk RoCE function")
            .And.Contain("want vendor 10df or 19a2, device 0720 (PF) or 0728 (VF)"));
        Assert.That(emu.Bar(4).Length, Is.GreaterThan(0));
        var db = new MmioRegion(emu.Bar(4), 4, RegisterByteOrder.LittleEndian);
        Assert.That(db.Read32(OcrdmaLayout.MpuMailboxDbOffset), Is.Zero, "no mailbox write");
        Assert.That(File.Exists(Path.Combine(dir.Path, SgidShadowFile.FileName)), Is.False);
    }

    [Test]
    public void ADoorbellBarTooSmallForTheMailboxDoorbell_IsRefusedWithItsSize()
    {
        using var dir = new TempDirectory("ocrdma-bar");
        using EmulatedDevice emu = OcrdmaDeviceModel.CreateDevice(dir.Path);
        using MappedFile tiny = MappedFile.Open(dir["resource4"], 0x100, create: true);
        var e = Assert.Throws<RoceDeviceException>(() =>
            OcrdmaDevice.Open(OcrdmaLayout.VendorEmulex, OcrdmaLayout.DeviceSkyhawk, tiny, emu.Dma, new OcrdmaDeviceOptions { Name = "ocrdma0" }))!;
        Assert.That(e.Message, Does.Contain("the doorbell BAR4").And.Contain("is 0x100 bytes").And.Contain("0x160 does not fit"));
    }
}
