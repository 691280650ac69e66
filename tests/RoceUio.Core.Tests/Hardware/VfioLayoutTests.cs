using System.Runtime.InteropServices;
using NUnit.Framework;
using RoceUio.Hardware.Pci;
using RoceUio.Hardware.Vfio;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Hardware;

/// <summary>
/// The C# VFIO ABI against native/vfio_layout.c compiled with this machine's headers. Debian 12's 6.1 headers have no
/// iommufd.h and no VFIO cdev ioctls: those values are pinned below from upstream include/uapi/linux/{vfio,iommufd}.h
/// (torvalds/linux master), and compared with native too when the headers have them.
/// </summary>
public class VfioLayoutTests
{
    private static object[] Numbers =>
    [
        new object[] { "VFIO_GET_API_VERSION", VfioAbi.GetApiVersion },
        new object[] { "VFIO_CHECK_EXTENSION", VfioAbi.CheckExtension },
        new object[] { "VFIO_SET_IOMMU", VfioAbi.SetIommu },
        new object[] { "VFIO_GROUP_GET_STATUS", VfioAbi.GroupGetStatus },
        new object[] { "VFIO_GROUP_SET_CONTAINER", VfioAbi.GroupSetContainer },
        new object[] { "VFIO_GROUP_UNSET_CONTAINER", VfioAbi.GroupUnsetContainer },
        new object[] { "VFIO_GROUP_GET_DEVICE_FD", VfioAbi.GroupGetDeviceFd },
        new object[] { "VFIO_DEVICE_GET_INFO", VfioAbi.DeviceGetInfo },
        new object[] { "VFIO_DEVICE_GET_REGION_INFO", VfioAbi.DeviceGetRegionInfo },
        new object[] { "VFIO_DEVICE_GET_IRQ_INFO", VfioAbi.DeviceGetIrqInfo },
        new object[] { "VFIO_DEVICE_SET_IRQS", VfioAbi.DeviceSetIrqs },
        new object[] { "VFIO_DEVICE_RESET", VfioAbi.DeviceReset },
        new object[] { "VFIO_IOMMU_GET_INFO", VfioAbi.IommuGetInfo },
        new object[] { "VFIO_IOMMU_MAP_DMA", VfioAbi.IommuMapDma },
        new object[] { "VFIO_IOMMU_UNMAP_DMA", VfioAbi.IommuUnmapDma },
        new object[] { "VFIO_API_VERSION", VfioAbi.ApiVersion },
        new object[] { "VFIO_TYPE1_IOMMU", VfioAbi.Type1Iommu },
        new object[] { "VFIO_TYPE1v2_IOMMU", VfioAbi.Type1v2Iommu },
        new object[] { "VFIO_NOIOMMU_IOMMU", VfioAbi.NoIommu },
        new object[] { "VFIO_GROUP_FLAGS_VIABLE", (int)VfioAbi.GroupFlagsViable },
        new object[] { "VFIO_GROUP_FLAGS_CONTAINER_SET", (int)VfioAbi.GroupFlagsContainerSet },
        new object[] { "VFIO_DEVICE_FLAGS_RESET", (int)VfioAbi.DeviceFlagsReset },
        new object[] { "VFIO_DEVICE_FLAGS_PCI", (int)VfioAbi.DeviceFlagsPci },
        new object[] { "VFIO_REGION_INFO_FLAG_READ", (int)VfioAbi.RegionFlagRead },
        new object[] { "VFIO_REGION_INFO_FLAG_WRITE", (int)VfioAbi.RegionFlagWrite },
        new object[] { "VFIO_REGION_INFO_FLAG_MMAP", (int)VfioAbi.RegionFlagMmap },
        new object[] { "VFIO_REGION_INFO_FLAG_CAPS", (int)VfioAbi.RegionFlagCaps },
        new object[] { "VFIO_REGION_INFO_CAP_SPARSE_MMAP", (int)VfioAbi.RegionCapSparseMmap },
        new object[] { "VFIO_REGION_INFO_CAP_MSIX_MAPPABLE", (int)VfioAbi.RegionCapMsixMappable },
        new object[] { "VFIO_DMA_MAP_FLAG_READ", (int)VfioAbi.DmaMapFlagRead },
        new object[] { "VFIO_DMA_MAP_FLAG_WRITE", (int)VfioAbi.DmaMapFlagWrite },
        new object[] { "VFIO_PCI_BAR0_REGION_INDEX", VfioAbi.PciBar0RegionIndex },
        new object[] { "VFIO_PCI_BAR5_REGION_INDEX", VfioAbi.PciBar5RegionIndex },
        new object[] { "VFIO_PCI_CONFIG_REGION_INDEX", VfioAbi.PciConfigRegionIndex },
        new object[] { "PCI_COMMAND", PciConfigSpace.CommandOffset },
        new object[] { "PCI_COMMAND_MEMORY", (int)PciConfigSpace.CommandMemory },
        new object[] { "PCI_COMMAND_MASTER", (int)PciConfigSpace.CommandMaster },
    ];

    [TestCaseSource(nameof(Numbers))]
    public void Constant_matches_the_kernel_header(string name, int value)
        => Assert.That(value, Is.EqualTo(NativeLayout.Get(name)), name);

    private static object[] Structs =>
    [
        new object[] { "vfio_group_status", typeof(VfioGroupStatus), new[] { ("flags", "Flags") } },
        new object[] { "vfio_device_info", typeof(VfioDeviceInfo), new[] { ("flags", "Flags"), ("num_regions", "NumRegions"), ("num_irqs", "NumIrqs"), ("cap_offset", "CapOffset") } },
        new object[] { "vfio_region_info", typeof(VfioRegionInfo), new[] { ("flags", "Flags"), ("index", "Index"), ("cap_offset", "CapOffset"), ("size", "Size"), ("offset", "Offset") } },
        new object[] { "vfio_info_cap_header", typeof(VfioInfoCapHeader), new[] { ("version", "Version"), ("next", "Next") } },
        new object[] { "vfio_region_info_cap_sparse_mmap", typeof(VfioRegionInfoCapSparseMmap), new[] { ("nr_areas", "NrAreas") } },
        new object[] { "vfio_region_sparse_mmap_area", typeof(VfioRegionSparseMmapArea), new[] { ("size", "Size") } },
        new object[] { "vfio_iommu_type1_info", typeof(VfioIommuType1Info), new[] { ("iova_pgsizes", "IovaPgsizes") } },
        new object[] { "vfio_iommu_type1_dma_map", typeof(VfioIommuType1DmaMap), new[] { ("flags", "Flags"), ("vaddr", "Vaddr"), ("iova", "Iova"), ("size", "Size") } },
        new object[] { "vfio_iommu_type1_dma_unmap", typeof(VfioIommuType1DmaUnmap), new[] { ("iova", "Iova"), ("size", "Size") } },
    ];

    [TestCaseSource(nameof(Structs))]
    public void Struct_layout_matches_the_kernel_header(string cName, Type type, (string C, string Cs)[] fields)
    {
        foreach (var (c, cs) in fields)
            Assert.That((long)Marshal.OffsetOf(type, cs), Is.EqualTo(NativeLayout.Get($"offsetof_{cName}_{c}")), $"{cName}.{c}");
        long native = NativeLayout.Get($"sizeof_{cName}");
        if (cName == "vfio_device_info")
            // 6.1 headers lack the trailing pad (20 bytes); upstream is 24. argsz tells the kernel which one we pass.
            Assert.That(native, Is.AnyOf(20L, 24L).And.LessThanOrEqualTo(Marshal.SizeOf(type)));
        else
            Assert.That(Marshal.SizeOf(type), Is.EqualTo(native), $"sizeof {cName}");
    }

    [Test]
    public void Upstream_only_definitions_are_pinned()
    {
        // include/uapi/linux/vfio.h (6.6+): VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18), ATTACH + 19, DETACH + 20.
        Assert.That(VfioAbi.DeviceBindIommufd, Is.EqualTo(0x3B76));
        Assert.That(VfioAbi.DeviceAttachIommufdPt, Is.EqualTo(0x3B77));
        Assert.That(VfioAbi.DeviceDetachIommufdPt, Is.EqualTo(0x3B78));
        // include/uapi/linux/iommufd.h: IOMMUFD_CMD_BASE 0x80; DESTROY 0x80, IOAS_ALLOC 0x81, IOAS_MAP 0x85, IOAS_UNMAP 0x86.
        Assert.That(VfioAbi.IommuDestroy, Is.EqualTo(0x3B80));
        Assert.That(VfioAbi.IommuIoasAlloc, Is.EqualTo(0x3B81));
        Assert.That(VfioAbi.IommuIoasMap, Is.EqualTo(0x3B85));
        Assert.That(VfioAbi.IommuIoasUnmap, Is.EqualTo(0x3B86));
        Assert.That((VfioAbi.IoasMapFixedIova, VfioAbi.IoasMapWriteable, VfioAbi.IoasMapReadable), Is.EqualTo((1u, 2u, 4u)));
        Assert.That(Marshal.SizeOf<VfioDeviceBindIommufd>(), Is.EqualTo(24));
        Assert.That((int)Marshal.OffsetOf<VfioDeviceBindIommufd>("Iommufd"), Is.EqualTo(8));
        Assert.That((int)Marshal.OffsetOf<VfioDeviceBindIommufd>("OutDevid"), Is.EqualTo(12));
        Assert.That(Marshal.SizeOf<VfioDeviceAttachIommufdPt>(), Is.EqualTo(16));
        Assert.That((int)Marshal.OffsetOf<VfioDeviceAttachIommufdPt>("PtId"), Is.EqualTo(8));
        Assert.That(Marshal.SizeOf<IommuIoasAlloc>(), Is.EqualTo(12));
        Assert.That((int)Marshal.OffsetOf<IommuIoasAlloc>("OutIoasId"), Is.EqualTo(8));
        Assert.That(Marshal.SizeOf<IommuIoasMap>(), Is.EqualTo(40));
        Assert.That(new[] { "IoasId", "UserVa", "Length", "Iova" }.Select(f => (int)Marshal.OffsetOf<IommuIoasMap>(f)), Is.EqualTo(new[] { 8, 16, 24, 32 }));
        Assert.That(Marshal.SizeOf<IommuIoasUnmap>(), Is.EqualTo(24));
        Assert.That(new[] { "Iova", "Length" }.Select(f => (int)Marshal.OffsetOf<IommuIoasUnmap>(f)), Is.EqualTo(new[] { 8, 16 }));
        Assert.That(Marshal.SizeOf<IommuDestroy>(), Is.EqualTo(8));

        // Where the machine's headers do have them, they must agree too.
        if (NativeLayout.Values.TryGetValue("VFIO_DEVICE_BIND_IOMMUFD", out long bind))
            Assert.That(VfioAbi.DeviceBindIommufd, Is.EqualTo(bind));
        if (NativeLayout.Values.TryGetValue("IOMMU_IOAS_MAP", out long map))
        {
            Assert.That(VfioAbi.IommuIoasMap, Is.EqualTo(map));
            Assert.That(Marshal.SizeOf<IommuIoasMap>(), Is.EqualTo(NativeLayout.Get("sizeof_iommu_ioas_map")));
        }
    }
}
