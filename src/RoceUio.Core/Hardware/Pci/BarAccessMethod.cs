namespace RoceUio.Hardware.Pci;

/// <summary>How a function's BARs reach the process.</summary>
public enum BarAccessMethod
{
    /// <summary>Pick from the bound kernel driver: vfio-pci → VFIO, uio_pci_generic → UIO, none → sysfs.</summary>
    Auto,
    /// <summary><c>/sys/bus/pci/devices/&lt;bdf&gt;/resourceN</c>; DMA by physical address (pagemap).</summary>
    Sysfs,
    /// <summary><c>/dev/uioN</c> maps (or resourceN when the UIO driver exposes none); DMA by physical address.</summary>
    Uio,
    /// <summary>A VFIO device fd (group/container or iommufd cdev); DMA by IOVA through the IOMMU.</summary>
    Vfio,
}
