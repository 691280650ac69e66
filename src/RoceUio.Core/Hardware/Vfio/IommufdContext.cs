using RoceUio.Hardware.Dma;

namespace RoceUio.Hardware.Vfio;

/// <summary>
/// The cdev/iommufd path (Linux ≥ 6.6; vfio.rst "Device cdev Example"; QEMU hw/vfio/iommufd.c): open the device's cdev
/// and <c>/dev/iommu</c>, BIND_IOMMUFD, allocate an IOAS, ATTACH the device to it; DMA through IOMMU_IOAS_MAP with a
/// fixed IOVA. Until the bind succeeds the device fd can do nothing else; closing it unbinds.
/// </summary>
public sealed unsafe class IommufdContext : IIommuDmaMapper, IDisposable
{
    private int _iommufd = -1;
    private int _device = -1;
    private readonly string _iommuPath;

    private IommufdContext(string iommuPath, string devicePath)
    {
        _iommuPath = iommuPath;
        DevicePath = devicePath;
    }

    public string DevicePath { get; }
    public uint DeviceId { get; private set; }
    public uint IoasId { get; private set; }

    /// <summary>The bound device fd (owned by this context).</summary>
    public int DeviceFd => _device;

    public static IommufdContext Open(VfioPaths paths)
    {
        var c = new IommufdContext(paths.IommufdPath!, paths.DevicePath!);
        try
        {
            c._device = VfioFile.Open(c.DevicePath, "the VFIO device cdev");
            c._iommufd = VfioFile.Open(c._iommuPath, "iommufd");
            var bind = new VfioDeviceBindIommufd { Argsz = (uint)sizeof(VfioDeviceBindIommufd), Iommufd = c._iommufd };
            VfioFile.Ioctl(c._device, VfioAbi.DeviceBindIommufd, &bind, c.DevicePath, "VFIO_DEVICE_BIND_IOMMUFD");
            c.DeviceId = bind.OutDevid;
            var alloc = new IommuIoasAlloc { Size = (uint)sizeof(IommuIoasAlloc) };
            VfioFile.Ioctl(c._iommufd, VfioAbi.IommuIoasAlloc, &alloc, c._iommuPath, "IOMMU_IOAS_ALLOC");
            c.IoasId = alloc.OutIoasId;
            var attach = new VfioDeviceAttachIommufdPt { Argsz = (uint)sizeof(VfioDeviceAttachIommufdPt), PtId = c.IoasId };
            VfioFile.Ioctl(c._device, VfioAbi.DeviceAttachIommufdPt, &attach, c.DevicePath, "VFIO_DEVICE_ATTACH_IOMMUFD_PT");
            return c;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }

    public void Map(nint virtualAddress, ulong iova, ulong length)
    {
        var map = new IommuIoasMap
        {
            Size = (uint)sizeof(IommuIoasMap),
            Flags = VfioAbi.IoasMapFixedIova | VfioAbi.IoasMapReadable | VfioAbi.IoasMapWriteable,
            IoasId = IoasId,
            UserVa = (ulong)virtualAddress,
            Length = length,
            Iova = iova,
        };
        VfioFile.Ioctl(_iommufd, VfioAbi.IommuIoasMap, &map, _iommuPath, $"IOMMU_IOAS_MAP(iova 0x{iova:x}, {length} bytes)");
    }

    public void Unmap(ulong iova, ulong length)
    {
        var unmap = new IommuIoasUnmap { Size = (uint)sizeof(IommuIoasUnmap), IoasId = IoasId, Iova = iova, Length = length };
        VfioFile.Ioctl(_iommufd, VfioAbi.IommuIoasUnmap, &unmap, _iommuPath, $"IOMMU_IOAS_UNMAP(iova 0x{iova:x})");
    }

    public void Dispose()
    {
        VfioFile.Close(ref _device);
        VfioFile.Close(ref _iommufd);
    }
}
