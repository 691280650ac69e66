using NUnit.Framework;
using RoceUio.Hardware;
using RoceUio.Hardware.Pci;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Hardware;

public class BarAccessTests
{
    private FakeSysfs _sys = null!;
    private SysfsRoot Root => new(_sys.Root, _sys.Dev);

    [SetUp] public void SetUp() => _sys = new FakeSysfs();
    [TearDown] public void TearDown() => _sys.Dispose();

    private PciFunction Get(string bdf) => new PciBus(Root).Get(PciAddress.Parse(bdf));

    [TestCase(null, BarAccessMethod.Sysfs)]
    [TestCase("vfio-pci", BarAccessMethod.Vfio)]
    [TestCase("uio_pci_generic", BarAccessMethod.Uio)]
    public void Auto_follows_the_bound_driver(string? driver, BarAccessMethod expected)
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: driver);
        Assert.That(BarAccessPolicy.Choose(Get("0000:03:00.0")), Is.EqualTo(expected));
    }

    [Test]
    public void A_kernel_driver_holding_the_function_gives_the_way_out()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: "mlx4_core", iommuGroup: 3);
        var e = Assert.Throws<HardwareAccessException>(() => BarAccessPolicy.Choose(Get("0000:03:00.0")));
        Assert.That(e!.Message, Is.EqualTo("0000:03:00.0 is bound to mlx4_core; unbind it or run `roceuio bind 0000:03:00.0 --vfio`"));
        e = Assert.Throws<HardwareAccessException>(() => BarAccessPolicy.Choose(Get("0000:03:00.0"), BarAccessMethod.Sysfs));
        Assert.That(e!.Message, Does.Contain("is bound to mlx4_core; unbind it"));
    }

    [Test]
    public void An_override_that_cannot_work_says_how_to_bind()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007);
        var e = Assert.Throws<HardwareAccessException>(() => BarAccessPolicy.Choose(Get("0000:03:00.0"), BarAccessMethod.Vfio));
        Assert.That(e!.Message, Is.EqualTo("0000:03:00.0 is not bound to vfio-pci; run `roceuio bind 0000:03:00.0 --vfio`"));
        e = Assert.Throws<HardwareAccessException>(() => BarAccessPolicy.Choose(Get("0000:03:00.0"), BarAccessMethod.Uio));
        Assert.That(e!.Message, Does.Contain("--uio"));
        _sys.BindDriver("0000:03:00.0", "uio_pci_generic");
        Assert.That(BarAccessPolicy.Choose(Get("0000:03:00.0"), BarAccessMethod.Sysfs), Is.EqualTo(BarAccessMethod.Sysfs),
            "resourceN works under uio_pci_generic, as in DPDK");
    }

    [Test]
    public void Sysfs_resource_is_mapped_and_bus_mastering_set_through_config()
    {
        string dir = _sys.AddFunction("0000:03:00.0", 0x10df, 0x0720, barSizes: [16384]);
        using IPciDeviceAccess dev = PciDeviceAccess.Open(Get("0000:03:00.0"), sysfs: Root);
        Assert.That(dev.Method, Is.EqualTo(BarAccessMethod.Sysfs));
        Assert.That(dev.Config.ReadUInt16(PciConfigSpace.VendorIdOffset), Is.EqualTo(0x10df));

        dev.EnableBusMaster();
        byte[] cfg = File.ReadAllBytes(Path.Combine(dir, "config"));
        Assert.That(BitConverter.ToUInt16(cfg, 4), Is.EqualTo(PciConfigSpace.CommandMemory | PciConfigSpace.CommandMaster));

        using MappedBar bar = dev.MapBar(0);
        Assert.That(bar.Size, Is.EqualTo(16384));
        MmioRegion regs = bar.Region(RegisterByteOrder.LittleEndian);
        regs.Write32(0x100, 0xdeadbeef);
        byte[] res = File.ReadAllBytes(Path.Combine(dir, "resource0"));
        Assert.That(BitConverter.ToUInt32(res, 0x100), Is.EqualTo(0xdeadbeef), "a register write lands in resource0");

        var e = Assert.Throws<HardwareAccessException>(() => dev.MapBar(1));
        Assert.That(e!.Message, Does.Contain("resource1 is missing: BAR1 is not implemented"));
    }

    [Test]
    public void Resource_map_failures_say_why()
    {
        var a = PciAddress.Parse("0000:03:00.0");
        Assert.That(SysfsDeviceAccess.DescribeMapFailure(a, 0, 1), Does.StartWith("resource0 could not be mapped: kernel lockdown"));
        Assert.That(SysfsDeviceAccess.DescribeMapFailure(a, 2, 22), Does.StartWith("resource2 could not be mapped: the kernel refused it (a driver holds the region exclusively: unbind it)"));
        Assert.That(SysfsDeviceAccess.DescribeMapFailure(a, 0, 13), Does.Contain("run as root"));

        string dir = _sys.AddFunction("0000:03:00.0", 0x10df, 0x0720, barSizes: [4096, 4096]);
        File.WriteAllBytes(Path.Combine(dir, "resource1"), []);
        using IPciDeviceAccess dev = PciDeviceAccess.Open(Get("0000:03:00.0"), sysfs: Root);
        var e = Assert.Throws<HardwareAccessException>(() => dev.MapBar(1));
        Assert.That(e!.Message, Does.Contain("resource1 has size 0: BAR1 is not assigned"));
        // Something that is not a BAR file where resource0 should be is reported as missing, not mapped.
        File.Delete(Path.Combine(dir, "resource0"));
        Directory.CreateDirectory(Path.Combine(dir, "resource0"));
        e = Assert.Throws<HardwareAccessException>(() => dev.MapBar(0));
        Assert.That(e!.Message, Does.Contain("resource0"));
    }

    [Test]
    public void Uio_maps_are_parsed_and_bars_come_from_dev_uio_at_index_times_page_size()
    {
        string dir = _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1003, driver: "uio_pci_generic", barSizes: [8192, 0, 4096]);
        string uio = Path.Combine(_sys.Root, "class/uio/uio3");
        AddMap(uio, 0, "BAR0", 0xf000_0000, 8192);
        AddMap(uio, 1, "BAR2", 0xf200_0000, 4096);
        File.WriteAllText(Path.Combine(uio, "name"), "uio_pci_generic\n");
        Directory.CreateDirectory(Path.Combine(dir, "uio"));
        File.CreateSymbolicLink(Path.Combine(dir, "uio/uio3"), uio);
        long page = Environment.SystemPageSize;
        string node = Path.Combine(_sys.Dev, "uio3");
        using (var fs = File.Create(node))
        {
            fs.SetLength(2 * page + 4096);
            fs.Position = 1 * page + 0x10;   // map1 starts at mmap offset 1 * page size
            fs.Write(BitConverter.GetBytes(0x12345678u));
        }

        using var dev = (UioDeviceAccess)PciDeviceAccess.Open(Get("0000:03:00.0"), sysfs: Root);
        Assert.That(dev.Uio.Number, Is.EqualTo(3));
        Assert.That(dev.Uio.Name, Is.EqualTo("uio_pci_generic"));
        Assert.That(dev.Uio.Maps.Select(m => (m.Index, m.Name, m.Address, m.Size)),
            Is.EqualTo(new[] { (0, (string?)"BAR0", 0xf000_0000UL, 8192UL), (1, "BAR2", 0xf200_0000UL, 4096UL) }));
        Assert.That(dev.SourceOf(2)!.Index, Is.EqualTo(1));
        using MappedBar bar2 = dev.MapBar(2);
        Assert.That(bar2.File.Path, Is.EqualTo(node));
        Assert.That(bar2.Region(RegisterByteOrder.LittleEndian).Read32(0x10), Is.EqualTo(0x12345678u));
    }

    [Test]
    public void Uio_without_maps_falls_back_to_resourceN_like_dpdk()
    {
        string dir = _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1003, driver: "uio_pci_generic", barSizes: [8192]);
        Directory.CreateDirectory(Path.Combine(_sys.Root, "class/uio/uio0"));
        Directory.CreateDirectory(Path.Combine(dir, "uio"));
        File.CreateSymbolicLink(Path.Combine(dir, "uio/uio0"), Path.Combine(_sys.Root, "class/uio/uio0"));
        using var dev = (UioDeviceAccess)PciDeviceAccess.Open(Get("0000:03:00.0"), sysfs: Root);
        Assert.That(dev.SourceOf(0), Is.Null);
        using MappedBar bar = dev.MapBar(0);
        Assert.That(bar.File.Path, Does.EndWith("0000:03:00.0/resource0"));
    }

    [Test]
    public void Uio_driver_without_a_uio_device_is_reported()
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1003, driver: "uio_pci_generic", barSizes: [8192]);
        using var dev = (UioDeviceAccess)PciDeviceAccess.Open(Get("0000:03:00.0"), sysfs: Root);
        var e = Assert.Throws<HardwareAccessException>(() => dev.MapBar(0));
        Assert.That(e!.Message, Does.Contain("has no uio/ directory"));
    }

    private static void AddMap(string uio, int index, string name, ulong addr, ulong size)
    {
        string m = Path.Combine(uio, "maps", $"map{index}");
        Directory.CreateDirectory(m);
        File.WriteAllText(Path.Combine(m, "name"), name + "\n");
        File.WriteAllText(Path.Combine(m, "addr"), $"0x{addr:x16}\n");
        File.WriteAllText(Path.Combine(m, "size"), $"0x{size:x16}\n");
        File.WriteAllText(Path.Combine(m, "offset"), "0x0\n");
    }
}
