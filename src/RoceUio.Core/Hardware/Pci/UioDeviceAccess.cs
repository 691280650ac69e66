using RoceUio.Hardware.Dma;

namespace RoceUio.Hardware.Pci;

/// <summary>
/// A function bound to a UIO driver. A BAR comes from <c>/dev/uioN</c> when the UIO driver exposes a map at the BAR's
/// address; uio_pci_generic exposes none, so then it comes from <c>resourceN</c> as DPDK's pci_uio.c does. The
/// command register is set through sysfs <c>config</c> (uio_pci_generic does not enable bus mastering). DMA by
/// physical address: there is no IOMMU on this path.
/// </summary>
public sealed class UioDeviceAccess : IPciDeviceAccess
{
    private readonly SysfsDeviceAccess _sysfs;
    private readonly SysfsRoot _root;
    private UioDevice? _uio;

    public UioDeviceAccess(PciFunction function, SysfsRoot sysfs)
    {
        Function = function;
        _root = sysfs;
        _sysfs = new SysfsDeviceAccess(function, BarAccessMethod.Uio);
    }

    public PciFunction Function { get; }
    public BarAccessMethod Method => BarAccessMethod.Uio;
    public PciConfigSpace Config => _sysfs.Config;

    /// <summary>The function's UIO device; throws if the driver made none.</summary>
    public UioDevice Uio => _uio ??= UioDevice.Find(_root, Function)
        ?? throw new HardwareAccessException($"{Function.Address} is bound to {Function.KernelDriver} but has no uio/ directory: the UIO driver did not register a device");

    /// <summary>Where BAR <paramref name="index"/> comes from: a UIO map, or null for resourceN.</summary>
    public UioMap? SourceOf(int index)
    {
        PciResource? bar = Function.Bar(index);
        return bar is { } r ? Uio.MapAt(r.Start) : null;
    }

    public MappedBar MapBar(int index)
        => SourceOf(index) is { } map ? Uio.MapBar(index, map) : SysfsDeviceAccess.MapResource(Function, index);

    public void EnableBusMaster() => Config.EnableMemoryAndBusMaster();

    public IDmaAllocator CreateDmaAllocator(bool preferHugePages = true) => new PhysicalDmaAllocator(preferHugePages);

    public void Dispose() => _sysfs.Dispose();
}
