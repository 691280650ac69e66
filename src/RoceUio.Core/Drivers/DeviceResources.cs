using RoceUio.Hardware;

namespace RoceUio.Drivers;

/// <summary>
/// What a driver opens a device over, whatever is behind it: the function's PCI ids, its BARs (mapped on first ask:
/// a sysfs resource, UIO or VFIO region of a PCI function, or a file of an emulated device) and memory the device can
/// reach. <see cref="ModelDirectory"/> is the emulated device's directory (its side files), null for real hardware.
/// All of it stays the opener's: the driver must not dispose it.
/// </summary>
public sealed class DeviceResources(ushort vendorId, ushort deviceId, Func<int, MappedFile> mapBar, IDmaAllocator dma, string? modelDirectory)
{
    public ushort VendorId { get; } = vendorId;
    public ushort DeviceId { get; } = deviceId;
    public IDmaAllocator Dma { get; } = dma;
    /// <summary>The emulated device's directory, or null for a PCI function.</summary>
    public string? ModelDirectory { get; } = modelDirectory;

    /// <summary>BAR <paramref name="index"/>, mapped with its first byte at offset 0.</summary>
    public MappedFile Bar(int index) => mapBar(index);

    /// <summary>The resources of an emulated device (its bar files and dma file).</summary>
    public static DeviceResources Of(EmulatedDevice device)
        => new(device.VendorId, device.DeviceId, device.Bar, device.Dma, device.Directory);
}
