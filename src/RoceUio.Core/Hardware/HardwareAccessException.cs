namespace RoceUio.Hardware;

/// <summary>
/// A device could not be found, bound, mapped or given DMA memory. The message names the device or file and says what
/// to do about it (unbind a driver, enable the IOMMU, reserve hugepages, run as root).
/// </summary>
public class HardwareAccessException : IOException
{
    public HardwareAccessException(string message) : base(message) { }
    public HardwareAccessException(string message, Exception inner) : base(message, inner) { }
}
