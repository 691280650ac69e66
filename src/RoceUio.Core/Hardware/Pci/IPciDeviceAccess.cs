namespace RoceUio.Hardware.Pci;

/// <summary>
/// A PCI function opened for user-space driving: its BARs, its config space, and DMA memory whose addresses it can
/// use. Made by <see cref="PciDeviceAccess.Open"/>; one implementation per <see cref="BarAccessMethod"/>.
/// </summary>
public interface IPciDeviceAccess : IDisposable
{
    PciFunction Function { get; }
    BarAccessMethod Method { get; }
    PciConfigSpace Config { get; }

    /// <summary>Maps BAR <paramref name="index"/>; throws with the reason when it cannot.</summary>
    MappedBar MapBar(int index);

    /// <summary>Turns on memory decoding and bus mastering (the command register) so that the BARs decode and DMA flows.</summary>
    void EnableBusMaster();

    /// <summary>An allocator of memory the device can DMA to: physical addresses (sysfs/UIO) or IOVAs (VFIO).</summary>
    IDmaAllocator CreateDmaAllocator(bool preferHugePages = true);
}

/// <summary>Opens functions with the method <see cref="BarAccessPolicy"/> picks (or the one requested).</summary>
public static class PciDeviceAccess
{
    public static IPciDeviceAccess Open(PciFunction function, BarAccessMethod requested = BarAccessMethod.Auto, SysfsRoot? sysfs = null)
    {
        sysfs ??= SysfsRoot.Default;
        return BarAccessPolicy.Choose(function, requested) switch
        {
            BarAccessMethod.Sysfs => new SysfsDeviceAccess(function),
            BarAccessMethod.Uio => new UioDeviceAccess(function, sysfs),
            BarAccessMethod.Vfio => Vfio.VfioDeviceAccess.Open(function, sysfs),
            var m => throw new InvalidOperationException($"no access for {m}"),
        };
    }
}
