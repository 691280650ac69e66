using System.Text;
using RoceUio.Hardware.Dma;

namespace RoceUio.Hardware.Vfio;

/// <summary>
/// The type1 container/group path (Documentation/driver-api/vfio.rst; ixy vfio_init; DPDK eal_vfio.c): opens the
/// container, checks the API, attaches the group, sets the IOMMU model and hands out the device fd. Also the
/// <see cref="IIommuDmaMapper"/> for VFIO_IOMMU_MAP_DMA. Closing the group detaches it and drops its mappings.
/// </summary>
public sealed unsafe class VfioContainer : IIommuDmaMapper, IDisposable
{
    private int _container = -1;
    private int _group = -1;
    private readonly string _containerPath;

    private VfioContainer(string containerPath) => _containerPath = containerPath;

    public string GroupPath { get; private set; } = "";
    public int IommuType { get; private set; }

    /// <summary>Steps 2-4 of the vfio.rst example: container, API check, group viability, SET_CONTAINER, SET_IOMMU.</summary>
    public static VfioContainer Open(VfioPaths paths)
    {
        var c = new VfioContainer(paths.ContainerPath!) { GroupPath = paths.GroupPath! };
        try
        {
            c._container = VfioFile.Open(c._containerPath, "the VFIO container");
            int api = VfioFile.IoctlValue(c._container, VfioAbi.GetApiVersion, 0, c._containerPath, "VFIO_GET_API_VERSION");
            if (api != VfioAbi.ApiVersion)
                throw new HardwareAccessException($"{c._containerPath}: VFIO API version {api}, expected {VfioAbi.ApiVersion}");
            c.IommuType = paths.NoIommu ? VfioAbi.NoIommu
                : VfioFile.IoctlValue(c._container, VfioAbi.CheckExtension, VfioAbi.Type1v2Iommu, c._containerPath, "VFIO_CHECK_EXTENSION") == 1 ? VfioAbi.Type1v2Iommu
                : VfioAbi.Type1Iommu;
            if (VfioFile.IoctlValue(c._container, VfioAbi.CheckExtension, c.IommuType, c._containerPath, "VFIO_CHECK_EXTENSION") != 1)
                throw new HardwareAccessException($"{c._containerPath}: the kernel does not support VFIO IOMMU type {c.IommuType}"
                    + (paths.NoIommu ? " (enable_unsafe_noiommu_mode is off)" : " (no type1 IOMMU driver: modprobe vfio_iommu_type1)"));
            c._group = VfioFile.Open(c.GroupPath, $"IOMMU group {paths.Group}");
            var status = new VfioGroupStatus { Argsz = (uint)sizeof(VfioGroupStatus) };
            VfioFile.Ioctl(c._group, VfioAbi.GroupGetStatus, &status, c.GroupPath, "VFIO_GROUP_GET_STATUS");
            if ((status.Flags & VfioAbi.GroupFlagsViable) == 0)
                throw new HardwareAccessException($"IOMMU group {paths.Group} is not viable: every device in it must be bound to vfio-pci or unbound "
                    + $"(see /sys/kernel/iommu_groups/{paths.Group}/devices)");
            if ((status.Flags & VfioAbi.GroupFlagsContainerSet) == 0)
            {
                int fd = c._container;
                VfioFile.Ioctl(c._group, VfioAbi.GroupSetContainer, &fd, c.GroupPath, "VFIO_GROUP_SET_CONTAINER");
            }
            // SET_IOMMU works only once a group is attached (ixy comment).
            VfioFile.IoctlValue(c._container, VfioAbi.SetIommu, c.IommuType, c._containerPath, "VFIO_SET_IOMMU");
            return c;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }

    /// <summary>Step 5: the device fd for "DDDD:BB:DD.F".</summary>
    public int GetDeviceFd(string bdf)
    {
        byte[] name = Encoding.ASCII.GetBytes(bdf + "\0");
        fixed (byte* p = name)
            return VfioFile.Ioctl(_group, VfioAbi.GroupGetDeviceFd, p, GroupPath, $"VFIO_GROUP_GET_DEVICE_FD({bdf})");
    }

    public void Map(nint virtualAddress, ulong iova, ulong length)
    {
        if (IommuType == VfioAbi.NoIommu)
            throw new HardwareAccessException($"{GroupPath}: no-IOMMU mode cannot map DMA: use physical addresses (pagemap) instead");
        var map = new VfioIommuType1DmaMap
        {
            Argsz = (uint)sizeof(VfioIommuType1DmaMap),
            Flags = VfioAbi.DmaMapFlagRead | VfioAbi.DmaMapFlagWrite,
            Vaddr = (ulong)virtualAddress,
            Iova = iova,
            Size = length,
        };
        VfioFile.Ioctl(_container, VfioAbi.IommuMapDma, &map, _containerPath, $"VFIO_IOMMU_MAP_DMA(iova 0x{iova:x}, {length} bytes)");
    }

    public void Unmap(ulong iova, ulong length)
    {
        var unmap = new VfioIommuType1DmaUnmap { Argsz = (uint)sizeof(VfioIommuType1DmaUnmap), Iova = iova, Size = length };
        VfioFile.Ioctl(_container, VfioAbi.IommuUnmapDma, &unmap, _containerPath, $"VFIO_IOMMU_UNMAP_DMA(iova 0x{iova:x})");
    }

    public void Dispose()
    {
        VfioFile.Close(ref _group);
        VfioFile.Close(ref _container);
    }
}
