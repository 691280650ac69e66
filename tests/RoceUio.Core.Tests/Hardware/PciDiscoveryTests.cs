using NUnit.Framework;
using RoceUio.Drivers;
using RoceUio.Hardware;
using RoceUio.Hardware.Pci;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Hardware;

public class PciDiscoveryTests
{
    private FakeSysfs _sys = null!;
    private RoceDriverRegistry _registry = null!;

    [SetUp]
    public void SetUp()
    {
        _sys = new FakeSysfs();
        _registry = new RoceDriverRegistry()
            .Register(IdsOnly("mlx4", new PciId(0x15b3, 0x1003), new PciId(0x15b3, 0x1007)))
            .Register(IdsOnly("ocrdma", new PciId(0x10df, 0x0720), new PciId(0x19a2, 0x0710)));
    }

    [TearDown]
    public void TearDown() => _sys.Dispose();

    /// <summary>A driver that only claims ids (discovery needs nothing else).</summary>
    private static RoceDriver IdsOnly(string name, params PciId[] ids)
        => new() { Name = name, PciIds = ids, Open = (_, _) => throw new NotSupportedException("discovery only") };

    private PciBus Bus => new(new SysfsRoot(_sys.Root, _sys.Dev), _registry);

    [Test]
    public void Scan_reads_ids_class_driver_group_and_matches_modules()
    {
        _sys.AddFunction("0000:00:03.0", 0x1af4, 0x1000, driver: "virtio-pci");
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: "mlx4_core", iommuGroup: 14, barSizes: [1 << 20, 0, 8 << 20]);
        _sys.AddFunction("0000:04:00.2", 0x10df, 0x0720, classCode: 0x020000);

        var all = Bus.Scan();

        Assert.That(all.Select(f => f.Address.ToString()), Is.EqualTo(new[] { "0000:00:03.0", "0000:03:00.0", "0000:04:00.2" }));
        PciFunction mlx = all[1];
        Assert.That((mlx.VendorId, mlx.DeviceId, mlx.ClassCode), Is.EqualTo(((ushort)0x15b3, (ushort)0x1007, 0x020000u)));
        Assert.That(mlx.KernelDriver, Is.EqualTo("mlx4_core"));
        Assert.That(mlx.IommuGroup, Is.EqualTo(14));
        Assert.That(mlx.DriverModule, Is.EqualTo("mlx4"));
        Assert.That(mlx.DriverOverride, Is.Null, "'(null)' in driver_override means none");
        Assert.That(mlx.Bar(0)!.Value.Size, Is.EqualTo(1UL << 20));
        Assert.That(mlx.Bar(1), Is.Null);
        Assert.That((mlx.Bar(2)!.Value.IsMemory, mlx.Bar(2)!.Value.IsIo, mlx.Bar(2)!.Value.Start), Is.EqualTo((true, false, 0xf200_0000UL)));
        Assert.That(all[0].DriverModule, Is.Null);
        Assert.That(all[2].KernelDriver, Is.Null);
        Assert.That(all[2].DriverModule, Is.EqualTo("ocrdma"));
        Assert.That(Bus.ScanSupported().Select(f => f.DriverModule), Is.EqualTo(new[] { "mlx4", "ocrdma" }));
    }

    [Test]
    public void Sysfs_root_comes_from_the_environment_when_not_given()
    {
        string? old = Environment.GetEnvironmentVariable(SysfsRoot.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(SysfsRoot.EnvironmentVariable, _sys.Root);
            _sys.AddFunction("0000:05:00.0", 0x15b3, 0x1003);
            Assert.That(new PciBus(drivers: _registry).Scan().Single().DriverModule, Is.EqualTo("mlx4"));
            Assert.That(new SysfsRoot("/elsewhere").Root, Is.EqualTo("/elsewhere"), "the constructor wins over the environment");
        }
        finally
        {
            Environment.SetEnvironmentVariable(SysfsRoot.EnvironmentVariable, old);
        }
        Assert.That(new SysfsRoot().Root, Is.EqualTo(old ?? "/sys"));
    }

    [Test]
    public void Registry_refuses_an_id_claimed_by_another_driver_and_keeps_what_it_had()
    {
        var e = Assert.Throws<InvalidOperationException>(() => _registry.Register(IdsOnly("other", new PciId(0x15b3, 0x9999), new PciId(0x15b3, 0x1003))));
        Assert.That(e!.Message, Is.EqualTo("PCI ID 15b3:1003 is already claimed by driver 'mlx4'; 'other' cannot claim it too"));
        Assert.That(_registry.Names, Is.EqualTo(new[] { "mlx4", "ocrdma" }));
        Assert.That(_registry.TryMatch(0x15b3, 0x9999, out RoceDriver _), Is.False, "nothing of the refused driver was kept");
    }

    [Test]
    public void Errors_name_what_is_missing()
    {
        var e = Assert.Throws<HardwareAccessException>(() => Bus.Get(PciAddress.Parse("0000:09:00.0")));
        Assert.That(e!.Message, Does.Contain("0000:09:00.0: no such PCI function"));

        e = Assert.Throws<HardwareAccessException>(() => new PciBus(new SysfsRoot(_sys.Root + "/nope"), _registry).Scan());
        Assert.That(e!.Message, Does.Contain("does not exist").And.Contain("sysfs"));

        string d = _sys.AddFunction("0000:06:00.0", 0x15b3, 0x1003);
        File.WriteAllText(Path.Combine(d, "vendor"), "banana\n");
        e = Assert.Throws<HardwareAccessException>(() => Bus.Scan());
        Assert.That(e!.Message, Does.Contain("vendor: 'banana' is not a hex number"));

        var f = Assert.Throws<FormatException>(() => PciAddress.Parse("03:00"));
        Assert.That(f!.Message, Does.Contain("expected DDDD:BB:DD.F"));
    }

    [TestCase("0000:03:00.0", "0000:03:00.0")]
    [TestCase("03:1f.7", "0000:03:1f.7")]
    [TestCase("abcd:ff:00.1", "abcd:ff:00.1")]
    public void Addresses_parse_and_print_like_lspci(string text, string printed)
        => Assert.That(PciAddress.Parse(text).ToString(), Is.EqualTo(printed));

    [TestCase("0000:03:20.0")]
    [TestCase("0000:03:00.8")]
    [TestCase("x:03:00.0")]
    public void Bad_addresses_are_refused(string text) => Assert.That(PciAddress.TryParse(text, out _), Is.False);
}
