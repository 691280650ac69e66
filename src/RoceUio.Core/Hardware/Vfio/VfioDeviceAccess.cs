using RoceUio.Hardware.Dma;
using RoceUio.Hardware.Pci;

namespace RoceUio.Hardware.Vfio;

/// <summary>
/// A function bound to vfio-pci, opened through the group or the iommufd cdev (<see cref="VfioPaths"/>). BARs and
/// config come from the device fd; DMA memory is mapped through the IOMMU at IOVAs.
/// </summary>
public sealed class VfioDeviceAccess : IPciDeviceAccess
{
    private readonly IDisposable _owner;
    private readonly IIommuDmaMapper _iommu;
    private readonly VfioDevice _device;
    private PciConfigSpace? _config;

    private VfioDeviceAccess(PciFunction function, VfioPaths paths, IDisposable owner, IIommuDmaMapper iommu, VfioDevice device)
    {
        Function = function;
        Paths = paths;
        _owner = owner;
        _iommu = iommu;
        _device = device;
    }

    public static VfioDeviceAccess Open(PciFunction function, SysfsRoot sysfs, VfioMode mode = VfioMode.Auto)
    {
        VfioPaths paths = VfioPaths.Choose(sysfs, function, mode);
        string bdf = function.Address.ToString();
        if (paths.Mode == VfioMode.Iommufd)
        {
            var ctx = IommufdContext.Open(paths);
            try
            {
                return new VfioDeviceAccess(function, paths, ctx, ctx, new VfioDevice(ctx.DeviceFd, $"{bdf} ({paths.DevicePath})", ownsFd: false));
            }
            catch
            {
                ctx.Dispose();
                throw;
            }
        }
        var container = VfioContainer.Open(paths);
        try
        {
            int fd = container.GetDeviceFd(bdf);
            return new VfioDeviceAccess(function, paths, container, container, new VfioDevice(fd, $"{bdf} ({paths.GroupPath})", ownsFd: true));
        }
        catch
        {
            container.Dispose();
            throw;
        }
    }

    public PciFunction Function { get; }
    public VfioPaths Paths { get; }
    public BarAccessMethod Method => BarAccessMethod.Vfio;
    public VfioDevice Device => _device;
    public PciConfigSpace Config => _config ??= _device.OpenConfig();

    public MappedBar MapBar(int index) => _device.MapBar(index);

    public void EnableBusMaster() => Config.EnableMemoryAndBusMaster();

    public IDmaAllocator CreateDmaAllocator(bool preferHugePages = true)
        => Paths.NoIommu ? new PhysicalDmaAllocator(preferHugePages) : new IovaDmaAllocator(_iommu, preferHugePages);

    public void Dispose()
    {
        _config?.Dispose();
        _device.Dispose();
        _owner.Dispose();
    }
}
