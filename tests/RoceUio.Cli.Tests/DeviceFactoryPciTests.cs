using NUnit.Framework;
using RoceUio.Cli.Config;
using RoceUio.Cli.Daemon;
using RoceUio.Hardware;
using RoceUio.Hardware.Pci;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// The daemon's <c>pci</c> path for ocrdma over a fake sysfs tree (through the same PciBus and sysfs BAR access as real
/// hardware): which BAR it maps for a Skyhawk PF and VF, that bus mastering is on before bring-up, and that it reaches
/// the driver (no more "not implemented"). A full bring-up needs a device that can read physical memory, which no model
/// here can: that is covered against the model through the same driver entry point in the ocrdma tests.
/// </summary>
public class DeviceFactoryPciTests
{
    private static DeviceFactory Factory(FakeSysfs sysfs, TempDirectory dir)
    {
        return new DeviceFactory { EmulationRoot = dir["emulated"], Bus = new PciBus(new SysfsRoot(sysfs.Root, sysfs.Dev), BuiltinDrivers.Registry) };
    }

    [Test]
    public void ASkyhawkPf_HasItsDoorbellsMappedFromBar4()
    {
        using var sysfs = new FakeSysfs();
        using var dir = new TempDirectory();
        sysfs.AddFunction("0000:05:00.2", 0x10df, 0x0720, barSizes: [16 * 1024]); // BAR0 only: BAR4 is what it must ask for
        var e = Assert.Throws<HardwareAccessException>(() => Factory(sysfs, dir).Open(new DeviceConfig("ocrdma", ["eth3"], Pci: "0000:05:00.2")))!;
        Assert.That(e.Message, Does.Contain("resource4 is missing: BAR4 is not implemented"));
    }

    [Test]
    public void ASkyhawkVf_HasItsDoorbellsMappedFromBar0_WithBusMasteringOn_AndReachesTheDriver()
    {
        using var sysfs = new FakeSysfs();
        using var dir = new TempDirectory();
        string fn = sysfs.AddFunction("0000:05:01.0", 0x19a2, 0x0728, barSizes: [0x100]); // a BAR0 too small for MPU_MAILBOX_DB
        var e = Assert.Throws<RoceDeviceException>(() => Factory(sysfs, dir).Open(new DeviceConfig("ocrdma", ["eth4"], Pci: "0000:05:01.0")))!;
        Assert.That(e.Message, Does.StartWith("ocrdma0: the doorbell BAR0").And.Contain("resource0) is 0x100 bytes"));
        byte[] config = File.ReadAllBytes(Path.Combine(fn, "config"));
        Assert.That(config[4] & 0x6, Is.EqualTo(0x6), "PCI_COMMAND: memory space and bus master enabled");
    }
}
