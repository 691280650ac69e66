namespace RoceUio.Hardware.Pci;

/// <summary>
/// A PCI function as sysfs describes it (<c>/sys/bus/pci/devices/&lt;bdf&gt;</c>): its IDs and class, the kernel
/// driver bound to it (the <c>driver</c> link), its IOMMU group (the <c>iommu_group</c> link), its BARs, and the
/// RoceUio driver module that handles its IDs, if any. A snapshot: <see cref="PciBus.Get"/> reads it again.
/// </summary>
public sealed record PciFunction
{
    public required PciAddress Address { get; init; }
    /// <summary>The function's sysfs directory.</summary>
    public required string SysfsPath { get; init; }
    public required ushort VendorId { get; init; }
    public required ushort DeviceId { get; init; }
    /// <summary>Class, subclass and programming interface (<c>0x020000</c> is an Ethernet controller).</summary>
    public required uint ClassCode { get; init; }
    /// <summary>The kernel driver bound to it (<c>mlx4_core</c>, <c>vfio-pci</c>, <c>uio_pci_generic</c>), or null if none.</summary>
    public string? KernelDriver { get; init; }
    /// <summary>The IOMMU group number, or null when the function has none (IOMMU off).</summary>
    public int? IommuGroup { get; init; }
    /// <summary>The <c>driver_override</c> value, or null when empty or absent.</summary>
    public string? DriverOverride { get; init; }
    /// <summary>The RoceUio driver module registered for its IDs (<c>mlx4</c>, <c>ocrdma</c>), or null.</summary>
    public string? DriverModule { get; init; }
    public IReadOnlyList<PciResource> Resources { get; init; } = [];

    public PciId Id => new(VendorId, DeviceId);
    public bool IsNetworkController => ClassCode >> 16 == 0x02;

    /// <summary>The BAR's resource line, or null if the BAR is not implemented.</summary>
    public PciResource? Bar(int index)
    {
        foreach (PciResource r in Resources)
            if (r.Index == index)
                return r;
        return null;
    }

    public override string ToString()
        => $"{Address} [{VendorId:x4}:{DeviceId:x4}] class {ClassCode:x6} driver {KernelDriver ?? "(none)"}"
           + (DriverModule != null ? $" roceuio {DriverModule}" : "");
}
