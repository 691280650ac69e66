using Tmds.Linux;
using RoceUio.Hardware.Pci;
using static Tmds.Linux.LibC;

namespace RoceUio.Hardware.Vfio;

/// <summary>
/// A VFIO device fd: its info, its regions (from the kernel, never a hard-coded <c>index &lt;&lt; 40</c>), BAR mmap
/// (sparse areas around the MSI-X table as DPDK pci_vfio_mmap_bar does), the config region and reset.
/// </summary>
public sealed unsafe class VfioDevice : IDisposable
{
    private int _fd;
    private readonly bool _ownsFd;

    public VfioDevice(int fd, string name, bool ownsFd)
    {
        _fd = fd;
        _ownsFd = ownsFd;
        Name = name;
        var info = new VfioDeviceInfo { Argsz = (uint)sizeof(VfioDeviceInfo) };
        VfioFile.Ioctl(fd, VfioAbi.DeviceGetInfo, &info, name, "VFIO_DEVICE_GET_INFO");
        if ((info.Flags & VfioAbi.DeviceFlagsPci) == 0)
            throw new HardwareAccessException($"{name}: the VFIO device is not a PCI device (flags 0x{info.Flags:x})");
        NumRegions = (int)info.NumRegions;
        CanReset = (info.Flags & VfioAbi.DeviceFlagsReset) != 0;
    }

    public string Name { get; }
    public int Fd => _fd;
    public int NumRegions { get; }
    public bool CanReset { get; }

    /// <summary>GET_REGION_INFO, called again with a larger buffer when the kernel asks for room for capabilities.</summary>
    public VfioRegion GetRegion(int index)
    {
        if (index < 0 || index >= NumRegions)
            throw new HardwareAccessException($"{Name}: region {index} does not exist (the device has {NumRegions})");
        int size = sizeof(VfioRegionInfo);
        while (true)
        {
            byte[] buf = new byte[size];
            fixed (byte* p = buf)
            {
                var ri = (VfioRegionInfo*)p;
                ri->Argsz = (uint)size;
                ri->Index = (uint)index;
                VfioFile.Ioctl(_fd, VfioAbi.DeviceGetRegionInfo, p, Name, $"VFIO_DEVICE_GET_REGION_INFO({index})");
                if (ri->Argsz > size && size == sizeof(VfioRegionInfo))
                {
                    size = (int)ri->Argsz;   // dpdk pci_vfio_get_region_info: room for the capability chain
                    continue;
                }
            }
            return VfioRegion.Parse(buf);
        }
    }

    /// <summary>Maps a BAR region: whole, or its sparse areas at their places inside a PROT_NONE reservation.</summary>
    public MappedBar MapBar(int bar)
    {
        VfioRegion r = GetRegion(VfioAbi.PciBar0RegionIndex + bar);
        if (r.Size == 0)
            throw new HardwareAccessException($"{Name}: BAR{bar} is not implemented");
        if (!r.CanMmap)
            throw new HardwareAccessException($"{Name}: BAR{bar} cannot be mmap'ed through VFIO (flags 0x{r.Flags:x}); it is reachable only by pread/pwrite");
        long len = (long)r.Size;
        if (r.SparseAreas is null || r.MsixMappable)
            return new MappedBar(bar, MappedFile.Adopt($"{Name} BAR{bar}", Mmap(null, len, (long)r.Offset, 0, bar), len), 0, len);
        // Reserve the BAR's span, then map the allowed areas over it; the holes (MSI-X) stay PROT_NONE.
        void* reserve = mmap(null, (size_t)(nuint)len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (reserve == MAP_FAILED)
            throw new HardwareAccessException($"{Name}: cannot reserve {len} bytes for BAR{bar}: {Errno.Describe(errno)}");
        MappedFile whole = MappedFile.Adopt($"{Name} BAR{bar}", (byte*)reserve, len);
        try
        {
            foreach (var a in r.SparseAreas)
                Mmap((byte*)reserve + a.Offset, (long)a.Size, (long)(r.Offset + a.Offset), MAP_FIXED, bar);   // released with the reservation
        }
        catch
        {
            whole.Dispose();
            throw;
        }
        return new MappedBar(bar, whole, 0, len);
    }

    private byte* Mmap(void* at, long length, long offset, int extraFlags, int bar)
    {
        void* m = mmap(at, (size_t)(nuint)length, PROT_READ | PROT_WRITE, MAP_SHARED | extraFlags, _fd, offset);
        if (m == MAP_FAILED)
            throw new HardwareAccessException($"{Name}: BAR{bar} could not be mapped ({length} bytes at region offset 0x{offset:x}): {Errno.Describe(errno)}");
        return (byte*)m;
    }

    /// <summary>Config space through the config region (pread/pwrite at its offset).</summary>
    public PciConfigSpace OpenConfig()
    {
        VfioRegion r = GetRegion(VfioAbi.PciConfigRegionIndex);
        return new PciConfigSpace(_fd, (long)r.Offset, $"{Name} config");
    }

    /// <summary>VFIO_DEVICE_RESET; a device without reset (EINVAL) is left as it is, as DPDK does.</summary>
    public void Reset()
    {
        if (ioctl(_fd, VfioAbi.DeviceReset, 0) < 0)
        {
            int e = errno;
            if (e != 22)
                throw VfioFile.Failure(e, Name, "VFIO_DEVICE_RESET");
        }
    }

    public void Dispose()
    {
        if (_ownsFd)
            VfioFile.Close(ref _fd);
    }
}
