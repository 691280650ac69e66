using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Drivers;

/// <summary>
/// A device a driver opened: the device itself and, when the driver needs it, how to connect it to the core GID tables
/// once the manager made them (ocrdma: queue pairs and address handles then hold the core entry).
/// </summary>
public sealed class DriverHandle(IRoceDevice device)
{
    public IRoceDevice Device { get; } = device;

    /// <summary>Called with the device's core tables (port order) after the manager added the device; null if not needed.</summary>
    public Action<IEnumerable<GidTable>>? AttachTables { get; init; }
}
