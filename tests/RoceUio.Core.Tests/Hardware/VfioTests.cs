using System.Runtime.InteropServices;
using NUnit.Framework;
using RoceUio.Hardware;
using RoceUio.Hardware.Pci;
using RoceUio.Hardware.Vfio;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Hardware;

/// <summary>
/// This kernel has no VFIO: these tests cover what can run without it (the path decision from sysfs and /dev, the
/// errors, the region-info parser) against a fake tree; VfioLayoutTests checks the ABI numbers.
/// </summary>
public class VfioTests
{
    private FakeSysfs _sys = null!;
    private SysfsRoot Root => new(_sys.Root, _sys.Dev);

    [SetUp] public void SetUp() => _sys = new FakeSysfs();
    [TearDown] public void TearDown() => _sys.Dispose();

    private PciFunction Add(int? group)
    {
        _sys.AddFunction("0000:03:00.0", 0x15b3, 0x1007, driver: "vfio-pci", iommuGroup: group, barSizes: [1 << 20]);
        return new PciBus(Root).Get(PciAddress.Parse("0000:03:00.0"));
    }

    private void Touch(string devRelative)
    {
        string p = Path.Combine(_sys.Dev, devRelative);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, "");
    }

    [Test]
    public void No_iommu_group_says_how_to_get_one()
    {
        var e = Assert.Throws<HardwareAccessException>(() => VfioPaths.Choose(Root, Add(group: null)));
        Assert.That(e!.Message, Does.Contain("no IOMMU group: VFIO needs the IOMMU enabled (intel_iommu=on").And.Contain("no-IOMMU mode"));
    }

    [Test]
    public void Missing_dev_vfio_is_reported_as_no_vfio_in_the_kernel()
    {
        var e = Assert.Throws<HardwareAccessException>(() => VfioPaths.Choose(Root, Add(group: 12)));
        Assert.That(e!.Message, Is.EqualTo($"{_sys.Dev}/vfio is missing: this kernel has no VFIO loaded (modprobe vfio-pci; CONFIG_VFIO)"));
        // The same through the public entry point, as a user gets it.
        var f = new PciBus(Root).Get(PciAddress.Parse("0000:03:00.0"));
        e = Assert.Throws<HardwareAccessException>(() => PciDeviceAccess.Open(f, sysfs: Root));
        Assert.That(e!.Message, Does.Contain("vfio is missing"));
    }

    [Test]
    public void Group_noiommu_and_cdev_paths_are_chosen_from_what_exists()
    {
        var f = Add(group: 12);
        Touch("vfio/vfio");
        var e = Assert.Throws<HardwareAccessException>(() => VfioPaths.Choose(Root, f));
        Assert.That(e!.Message, Does.Contain("vfio/12 is missing: IOMMU group 12 has no VFIO node; is 0000:03:00.0 bound to vfio-pci?"));

        Touch("vfio/noiommu-12");
        VfioPaths p = VfioPaths.Choose(Root, f);
        Assert.That((p.Mode, p.NoIommu, p.GroupPath), Is.EqualTo((VfioMode.Group, true, Path.Combine(_sys.Dev, "vfio/noiommu-12"))));

        Touch("vfio/12");
        p = VfioPaths.Choose(Root, f);
        Assert.That((p.Mode, p.NoIommu, p.Group), Is.EqualTo((VfioMode.Group, false, (int?)12)));

        e = Assert.Throws<HardwareAccessException>(() => VfioPaths.Choose(Root, f, VfioMode.Iommufd));
        Assert.That(e!.Message, Does.Contain("has no vfio-dev/ directory").And.Contain("6.6"));

        Directory.CreateDirectory(Path.Combine(f.SysfsPath, "vfio-dev/vfio0"));
        e = Assert.Throws<HardwareAccessException>(() => VfioPaths.Choose(Root, f, VfioMode.Iommufd));
        Assert.That(e!.Message, Does.Contain("iommu is missing").And.Contain("CONFIG_IOMMUFD"));
        Assert.That(VfioPaths.Choose(Root, f).Mode, Is.EqualTo(VfioMode.Group), "auto falls back to the group while /dev/iommu is missing");

        Touch("iommu");
        Touch("vfio/devices/vfio0");
        p = VfioPaths.Choose(Root, f);
        Assert.That((p.Mode, p.DevicePath), Is.EqualTo((VfioMode.Iommufd, Path.Combine(_sys.Dev, "vfio/devices/vfio0"))));
        Assert.That(VfioPaths.Choose(Root, f, VfioMode.Group).Mode, Is.EqualTo(VfioMode.Group), "the override wins");
    }

    [Test]
    public void Opening_nodes_that_are_not_vfio_fails_at_the_first_ioctl_with_its_name()
    {
        var f = Add(group: 12);
        Touch("vfio/vfio");
        Touch("vfio/12");
        var e = Assert.Throws<HardwareAccessException>(() => VfioDeviceAccess.Open(f, Root));
        Assert.That(e!.Message, Does.Contain("vfio/vfio: VFIO_GET_API_VERSION failed").And.Contain("errno 25").And.Contain("not a VFIO/iommufd device node"));

        Directory.CreateDirectory(Path.Combine(f.SysfsPath, "vfio-dev/vfio0"));
        Touch("iommu");
        Touch("vfio/devices/vfio0");
        e = Assert.Throws<HardwareAccessException>(() => VfioDeviceAccess.Open(f, Root));
        Assert.That(e!.Message, Does.Contain("vfio/devices/vfio0: VFIO_DEVICE_BIND_IOMMUFD failed"));
    }

    [Test]
    public void Region_info_with_a_sparse_mmap_capability_is_parsed()
    {
        // vfio_region_info (32) + sparse-mmap cap at 32: header(8) nr_areas reserved (8) + 2 areas (16 each), then MSI-X cap.
        byte[] buf = new byte[32 + 16 + 32 + 8];
        var ri = new VfioRegionInfo { Argsz = (uint)buf.Length, Flags = VfioAbi.RegionFlagRead | VfioAbi.RegionFlagWrite | VfioAbi.RegionFlagMmap | VfioAbi.RegionFlagCaps,
                                      Index = 0, CapOffset = 32, Size = 0x10000, Offset = 0x100000000 };
        MemoryMarshal.Write(buf, in ri);
        var cap = new VfioRegionInfoCapSparseMmap { Header = new VfioInfoCapHeader { Id = VfioAbi.RegionCapSparseMmap, Version = 1, Next = 80 }, NrAreas = 2 };
        MemoryMarshal.Write(buf.AsSpan(32), in cap);
        MemoryMarshal.Write(buf.AsSpan(48), new VfioRegionSparseMmapArea { Offset = 0, Size = 0x2000 });
        MemoryMarshal.Write(buf.AsSpan(64), new VfioRegionSparseMmapArea { Offset = 0x3000, Size = 0xd000 });
        MemoryMarshal.Write(buf.AsSpan(80), new VfioInfoCapHeader { Id = VfioAbi.RegionCapMsixMappable, Version = 1, Next = 0 });

        VfioRegion r = VfioRegion.Parse(buf);
        Assert.That((r.Size, r.Offset, r.CanMmap), Is.EqualTo((0x10000UL, 0x100000000UL, true)));
        Assert.That(r.SparseAreas!.Select(a => (a.Offset, a.Size)), Is.EqualTo(new[] { (0UL, 0x2000UL), (0x3000UL, 0xd000UL) }));
        Assert.That(r.MsixMappable, Is.True);

        cap.NrAreas = 9;
        MemoryMarshal.Write(buf.AsSpan(32), in cap);
        var e = Assert.Throws<HardwareAccessException>(() => VfioRegion.Parse(buf));
        Assert.That(e!.Message, Does.Contain("9 sparse areas do not fit"));
    }
}
