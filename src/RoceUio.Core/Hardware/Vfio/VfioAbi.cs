using System.Runtime.InteropServices;

namespace RoceUio.Hardware.Vfio;

/// <summary>
/// The VFIO and iommufd kernel ABI on x86_64: ioctl numbers, constants and argument structs, as in
/// include/uapi/linux/vfio.h and include/uapi/linux/iommufd.h. Every one of these ioctls is a bare <c>_IO(';', nr)</c>
/// (<c>(0x3B &lt;&lt; 8) | nr</c>): the argument's size travels in its own <c>argsz</c>/<c>size</c> field, which lets the
/// kernel accept both older and newer (larger) structs. native/vfio_layout.c prints the machine header's numbers and
/// tests/RoceUio.Core.Tests/Hardware/VfioLayoutTests.cs compares them with these; the cdev and iommufd values, newer than
/// Debian 12's 6.1 headers, are pinned there from the upstream header.
/// </summary>
public static class VfioAbi
{
    private const int VfioType = ';';   // VFIO_TYPE
    private const int VfioBase = 100;   // VFIO_BASE

    private static int Io(int nr) => (VfioType << 8) | nr;

    public const int ApiVersion = 0;          // VFIO_API_VERSION
    public const int Type1Iommu = 1;          // VFIO_TYPE1_IOMMU
    public const int Type1v2Iommu = 3;        // VFIO_TYPE1v2_IOMMU
    public const int NoIommu = 8;             // VFIO_NOIOMMU_IOMMU

    // Container (/dev/vfio/vfio)
    public static readonly int GetApiVersion = Io(VfioBase + 0);
    public static readonly int CheckExtension = Io(VfioBase + 1);
    public static readonly int SetIommu = Io(VfioBase + 2);
    // Group (/dev/vfio/N)
    public static readonly int GroupGetStatus = Io(VfioBase + 3);
    public static readonly int GroupSetContainer = Io(VfioBase + 4);
    public static readonly int GroupUnsetContainer = Io(VfioBase + 5);
    public static readonly int GroupGetDeviceFd = Io(VfioBase + 6);
    // Device
    public static readonly int DeviceGetInfo = Io(VfioBase + 7);
    public static readonly int DeviceGetRegionInfo = Io(VfioBase + 8);
    public static readonly int DeviceGetIrqInfo = Io(VfioBase + 9);
    public static readonly int DeviceSetIrqs = Io(VfioBase + 10);
    public static readonly int DeviceReset = Io(VfioBase + 11);
    // Type1 IOMMU (container)
    public static readonly int IommuGetInfo = Io(VfioBase + 12);
    public static readonly int IommuMapDma = Io(VfioBase + 13);
    public static readonly int IommuUnmapDma = Io(VfioBase + 14);
    // Device cdev (/dev/vfio/devices/vfioX, Linux >= 6.6)
    public static readonly int DeviceBindIommufd = Io(VfioBase + 18);
    public static readonly int DeviceAttachIommufdPt = Io(VfioBase + 19);
    public static readonly int DeviceDetachIommufdPt = Io(VfioBase + 20);
    // iommufd (/dev/iommu): IOMMUFD_CMD_BASE = 0x80
    public static readonly int IommuDestroy = Io(0x80);
    public static readonly int IommuIoasAlloc = Io(0x81);
    public static readonly int IommuIoasMap = Io(0x85);
    public static readonly int IommuIoasUnmap = Io(0x86);

    public const uint GroupFlagsViable = 1;         // VFIO_GROUP_FLAGS_VIABLE
    public const uint GroupFlagsContainerSet = 2;   // VFIO_GROUP_FLAGS_CONTAINER_SET
    public const uint DeviceFlagsReset = 1;         // VFIO_DEVICE_FLAGS_RESET
    public const uint DeviceFlagsPci = 2;           // VFIO_DEVICE_FLAGS_PCI
    public const uint RegionFlagRead = 1;           // VFIO_REGION_INFO_FLAG_READ
    public const uint RegionFlagWrite = 2;          // VFIO_REGION_INFO_FLAG_WRITE
    public const uint RegionFlagMmap = 4;           // VFIO_REGION_INFO_FLAG_MMAP
    public const uint RegionFlagCaps = 8;           // VFIO_REGION_INFO_FLAG_CAPS
    public const ushort RegionCapSparseMmap = 1;    // VFIO_REGION_INFO_CAP_SPARSE_MMAP
    public const ushort RegionCapMsixMappable = 3;  // VFIO_REGION_INFO_CAP_MSIX_MAPPABLE
    public const uint DmaMapFlagRead = 1;           // VFIO_DMA_MAP_FLAG_READ
    public const uint DmaMapFlagWrite = 2;          // VFIO_DMA_MAP_FLAG_WRITE
    public const int PciBar0RegionIndex = 0;        // VFIO_PCI_BAR0_REGION_INDEX
    public const int PciBar5RegionIndex = 5;        // VFIO_PCI_BAR5_REGION_INDEX
    public const int PciConfigRegionIndex = 7;      // VFIO_PCI_CONFIG_REGION_INDEX

    public const uint IoasMapFixedIova = 1;         // IOMMU_IOAS_MAP_FIXED_IOVA
    public const uint IoasMapWriteable = 2;         // IOMMU_IOAS_MAP_WRITEABLE
    public const uint IoasMapReadable = 4;          // IOMMU_IOAS_MAP_READABLE
}

/// <summary>struct vfio_group_status (vfio.h): argsz@0, flags@4.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VfioGroupStatus
{
    public uint Argsz;
    public uint Flags;
}

/// <summary>
/// struct vfio_device_info (vfio.h): argsz, flags, num_regions@8, num_irqs@12, cap_offset@16, pad@20. Upstream is 24
/// bytes; 6.1 headers lack <c>pad</c> (20 bytes). The kernel only needs argsz &gt;= 20, so the upstream size works on both.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct VfioDeviceInfo
{
    public uint Argsz;
    public uint Flags;
    public uint NumRegions;
    public uint NumIrqs;
    public uint CapOffset;
    public uint Pad;
}

/// <summary>struct vfio_region_info (vfio.h), 32 bytes: argsz, flags, index@8, cap_offset@12, size@16, offset@24.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VfioRegionInfo
{
    public uint Argsz;
    public uint Flags;
    public uint Index;
    public uint CapOffset;
    public ulong Size;
    public ulong Offset;
}

/// <summary>struct vfio_info_cap_header (vfio.h): id@0 (u16), version@2 (u16), next@4 (u32, offset from the info struct's start).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VfioInfoCapHeader
{
    public ushort Id;
    public ushort Version;
    public uint Next;
}

/// <summary>struct vfio_region_info_cap_sparse_mmap (vfio.h): header, nr_areas@8, reserved@12, areas[]@16.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VfioRegionInfoCapSparseMmap
{
    public VfioInfoCapHeader Header;
    public uint NrAreas;
    public uint Reserved;
}

/// <summary>struct vfio_region_sparse_mmap_area (vfio.h): offset@0, size@8.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VfioRegionSparseMmapArea
{
    public ulong Offset;
    public ulong Size;
}

/// <summary>struct vfio_iommu_type1_info (vfio.h), 24 bytes: argsz, flags, iova_pgsizes@8, cap_offset@16.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VfioIommuType1Info
{
    public uint Argsz;
    public uint Flags;
    public ulong IovaPgsizes;
    public uint CapOffset;
    public uint Pad;
}

/// <summary>struct vfio_iommu_type1_dma_map (vfio.h), 32 bytes: argsz, flags, vaddr@8, iova@16, size@24.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VfioIommuType1DmaMap
{
    public uint Argsz;
    public uint Flags;
    public ulong Vaddr;
    public ulong Iova;
    public ulong Size;
}

/// <summary>struct vfio_iommu_type1_dma_unmap (vfio.h), 24 bytes: argsz, flags, iova@8, size@16.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VfioIommuType1DmaUnmap
{
    public uint Argsz;
    public uint Flags;
    public ulong Iova;
    public ulong Size;
}

/// <summary>struct vfio_device_bind_iommufd (vfio.h, upstream), 24 bytes: argsz, flags, iommufd@8 (s32), out_devid@12, token_uuid_ptr@16.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VfioDeviceBindIommufd
{
    public uint Argsz;
    public uint Flags;
    public int Iommufd;
    public uint OutDevid;
    public ulong TokenUuidPtr;
}

/// <summary>struct vfio_device_attach_iommufd_pt (vfio.h, upstream), 16 bytes: argsz, flags, pt_id@8, pasid@12.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VfioDeviceAttachIommufdPt
{
    public uint Argsz;
    public uint Flags;
    public uint PtId;
    public uint Pasid;
}

/// <summary>struct iommu_ioas_alloc (iommufd.h), 12 bytes: size, flags, out_ioas_id@8.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IommuIoasAlloc
{
    public uint Size;
    public uint Flags;
    public uint OutIoasId;
}

/// <summary>struct iommu_ioas_map (iommufd.h), 40 bytes: size, flags, ioas_id@8, __reserved@12, user_va@16, length@24, iova@32.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IommuIoasMap
{
    public uint Size;
    public uint Flags;
    public uint IoasId;
    public uint Reserved;
    public ulong UserVa;
    public ulong Length;
    public ulong Iova;
}

/// <summary>struct iommu_ioas_unmap (iommufd.h), 24 bytes: size, ioas_id@4, iova@8, length@16.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IommuIoasUnmap
{
    public uint Size;
    public uint IoasId;
    public ulong Iova;
    public ulong Length;
}

/// <summary>struct iommu_destroy (iommufd.h), 8 bytes: size, id@4.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IommuDestroy
{
    public uint Size;
    public uint Id;
}
