using RoceUio.Hardware.Dma;

namespace RoceUio.Hardware.Pci;

/// <summary>
/// BARs through <c>resourceN</c> and the command register through <c>config</c>, as ixy's pci.c does and DPDK's
/// pci_uio.c does when bound to uio_pci_generic. The device sees physical addresses: DMA memory comes from pagemap.
/// </summary>
public sealed class SysfsDeviceAccess : IPciDeviceAccess
{
    private PciConfigSpace? _config;

    public SysfsDeviceAccess(PciFunction function, BarAccessMethod reportedAs = BarAccessMethod.Sysfs)
    {
        Function = function;
        Method = reportedAs;
    }

    public PciFunction Function { get; }
    public BarAccessMethod Method { get; }
    public PciConfigSpace Config => _config ??= PciConfigSpace.OpenSysfs(Path.Combine(Function.SysfsPath, "config"));

    public MappedBar MapBar(int index) => MapResource(Function, index);

    /// <summary>Maps <c>resourceN</c> of <paramref name="function"/> whole (its size is the file's size, as ixy's fstat).</summary>
    public static MappedBar MapResource(PciFunction function, int index)
    {
        string name = $"resource{index}";
        string path = Path.Combine(function.SysfsPath, name);
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new HardwareAccessException(function.Bar(index) is { IsIo: true }
                ? $"{function.Address}: BAR{index} is an I/O port BAR: {name} cannot be mapped"
                : $"{function.Address}: {path} is missing: BAR{index} is not implemented (see the 'resource' file)");
        long size = info.Length;
        if (size == 0)
            throw new HardwareAccessException($"{function.Address}: {name} has size 0: BAR{index} is not assigned (check dmesg for 'BAR {index}: no space')");
        try
        {
            return new MappedBar(index, MappedFile.Open(path, size), 0, size);
        }
        catch (MappedFileException e)
        {
            throw new HardwareAccessException(DescribeMapFailure(function.Address, index, e.ErrorNumber), e);
        }
    }

    /// <summary>Why mmap of <c>resourceN</c> failed, in terms of what to do (drivers/pci/pci-sysfs.c pci_mmap_resource).</summary>
    public static string DescribeMapFailure(PciAddress address, int index, int errorNumber) => errorNumber switch
    {
        1 /* EPERM */ => $"resource{index} could not be mapped: kernel lockdown (see /sys/kernel/security/lockdown) or missing CAP_SYS_RAWIO ({address})",
        13 /* EACCES */ => $"resource{index} could not be mapped: permission denied: run as root ({address})",
        22 /* EINVAL */ => $"resource{index} could not be mapped: the kernel refused it (a driver holds the region exclusively: unbind it) ({address})",
        _ => $"resource{index} could not be mapped: {Errno.Describe(errorNumber)} ({address})",
    };

    public void EnableBusMaster() => Config.EnableMemoryAndBusMaster();

    public IDmaAllocator CreateDmaAllocator(bool preferHugePages = true) => new PhysicalDmaAllocator(preferHugePages);

    public void Dispose() => _config?.Dispose();
}
