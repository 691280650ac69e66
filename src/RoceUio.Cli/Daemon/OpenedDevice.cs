using RoceUio.Drivers;
using RoceUio.Gids;
using RoceUio.Hardware.Emulation;
using RoceUio.Roce;

namespace RoceUio.Cli.Daemon;

/// <summary>
/// An opened device and everything it needs kept alive (device model thread, mapped files, PCI access), with the
/// netdev each of its ports follows and where it came from (for <c>show devices</c>).
/// </summary>
public sealed class OpenedDevice(DriverHandle handle, IReadOnlyList<string> netdevs, string pciAddress, string mapping, IReadOnlyList<IDisposable> owned)
    : IDisposable
{
    public IRoceDevice Device { get; } = handle.Device;
    /// <summary>Port p (1-based) follows <c>Netdevs[p - 1]</c>.</summary>
    public IReadOnlyList<string> Netdevs { get; } = netdevs;
    public string PciAddress { get; } = pciAddress;
    /// <summary>sysfs, uio, vfio, emulated, attached or software.</summary>
    public string Mapping { get; } = mapping;

    /// <summary>The device model this process runs for it (<c>--emulate</c>), or null (PCI, attached, software).</summary>
    public DeviceModelThread? Model { get; init; }

    /// <summary>For <c>show devices</c>: "serving", why the model died, or "-" when this process runs none.</summary>
    public string ModelStatus => Model is null ? "-" : Model.Failure ?? "serving";

    public DaemonDevice ToDaemonDevice() => new(Device, PciAddress, Mapping, () => ModelStatus);

    /// <summary>Connects the driver to the core tables once the manager made them (ocrdma: queue pairs and address
    /// handles then hold the core entry, so a deleted GID in use stays pending there too). Null if not needed.</summary>
    public Action<IEnumerable<GidTable>>? AttachTables { get; } = handle.AttachTables;

    /// <summary>Closes the driver, then the model and the mappings, newest first.</summary>
    public void Dispose()
    {
        Device.Dispose();
        for (int i = owned.Count - 1; i >= 0; i--)
            owned[i].Dispose();
    }
}
