using NUnit.Framework;
using RoceUio.Cli.Config;
using RoceUio.Cli.Daemon;
using RoceUio.Hardware;
using RoceUio.Hardware.Emulation;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Drivers.Conformance.Toy;

/// <summary>
/// The toy family under the conformance suite, opened the way the daemon opens any family: a registry holding only
/// <see cref="ToyDriver.Descriptor"/>, and <see cref="DeviceFactory"/> emulating <c>toy:eth0,eth1</c> (files created,
/// model on a thread, driver over the files). "The hardware" is the model's active table.
/// </summary>
public sealed class ToyUnderTest : DeviceUnderTest
{
    private readonly TempDirectory _dir = new("roceuio-conf-toy");
    private readonly OpenedDevice _opened;
    private readonly EmulatedDevice _files;
    private readonly MmioRegion _bar;

    public ToyUnderTest()
    {
        var registry = new RoceDriverRegistry().Register(ToyDriver.Descriptor);
        var factory = new DeviceFactory { Drivers = registry, EmulationRoot = _dir.Path };
        _opened = factory.Open(new DeviceConfig("toy", ["eth0", "eth1"], Emulate: true)).Single();
        DeviceDirectory = Path.Combine(_dir.Path, _opened.Device.Name);
        _files = EmulatedDevice.Open(DeviceDirectory);
        _bar = new MmioRegion(_files.Bar(0), 0, RegisterByteOrder.LittleEndian);
    }

    public string DeviceDirectory { get; }
    public override IRoceDevice Device => _opened.Device;

    public override IReadOnlyList<HardwareGid> ReadHardware(int port)
        => ToyModel.ReadActive(_bar, port).Select(e => new HardwareGid(e.Slot, e.Gid, e.Type)).ToList();

    public override bool TryResolve(int port, int index, out int slot)
    {
        slot = index;
        return ((ToyDevice)Device).Holds(port, index);
    }

    /// <summary>Through the fault file, as for every model: an error status for the next table pushed.</summary>
    public override bool ArmRefusal(int port)
    {
        FaultInjection.Arm(DeviceDirectory, "error=0x42\n");
        Assert.That(FaultInjection.WaitTaken(DeviceDirectory, TimeSpan.FromSeconds(10)), Is.True, "the toy model takes its fault file");
        return true;
    }

    /// <summary>The toy has no QPs or AHs: nothing but the core holds an index.</summary>
    public override IDisposable? Use(int port, int index) => null;

    public override IReadOnlyList<string> DeviceViolations() => ToyModel.ReadViolations(DeviceDirectory);

    public override void Dispose()
    {
        _files.Dispose();
        _opened.Dispose();
        _dir.Dispose();
    }
}

/// <summary>The suite on the toy family, registered through the public registry alone.</summary>
public sealed class ToyConformance : RoceDeviceConformance
{
    protected override DeviceUnderTest CreateDevice() => new ToyUnderTest();

    [Test]
    public void The_toy_is_opened_by_name_from_its_registry_with_the_names_the_descriptor_gives()
    {
        using var dut = new ToyUnderTest();
        Assert.That((dut.Device.Name, dut.Device.DriverName, dut.Device.PortCount), Is.EqualTo(("toy0", "toy", 2)));
        Assert.That(File.Exists(Path.Combine(dut.DeviceDirectory, "device.conf")), Is.True, "the model's files are where the factory put them");
    }
}
