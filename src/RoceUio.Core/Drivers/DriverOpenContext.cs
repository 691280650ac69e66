using RoceUio.Hardware;

namespace RoceUio.Drivers;

/// <summary>
/// What the program tells a driver when it opens a device: the name to show, the netdevs its ports follow, the
/// services every driver may use (MMIO tracing, a netdev's VLAN id and MAC address), and the per-device settings of the
/// config (keys from <see cref="RoceDriver.Settings"/>, already checked).
/// </summary>
public sealed record DriverOpenContext
{
    /// <summary>The device's name (<c>mlx4_0</c>, <c>ocrdma1</c>).</summary>
    public required string Name { get; init; }
    /// <summary>Port p (1-based) follows <c>Netdevs[p - 1]</c>.</summary>
    public IReadOnlyList<string> Netdevs { get; init; } = [];
    /// <summary>Records every register access from bring-up on (<c>--mmio-trace</c>); null: no tracing.</summary>
    public IMmioTracer? Tracer { get; init; }
    /// <summary>The VLAN id of a netdev by ifindex, 0 when it is not a VLAN device (rdma_read_gid_l2_fields).</summary>
    public Func<int, ushort>? VlanOfNetdev { get; init; }
    /// <summary>The MAC address of a netdev by name, as a 48-bit number, or null when it is not known.</summary>
    public Func<string, ulong?>? MacOfNetdev { get; init; }
    /// <summary>The per-device config values, by key.</summary>
    public IReadOnlyDictionary<string, long> Settings { get; init; } = new Dictionary<string, long>();

    /// <summary>The setting <paramref name="key"/> as a duration in milliseconds, or <paramref name="otherwise"/>.</summary>
    public TimeSpan Milliseconds(string key, TimeSpan otherwise)
        => Settings.TryGetValue(key, out long ms) ? TimeSpan.FromMilliseconds(ms) : otherwise;

    /// <summary>The MAC address of port <paramref name="port"/>'s netdev (1-based), or null when unknown.</summary>
    public ulong? PortMac(int port)
        => port >= 1 && port <= Netdevs.Count && MacOfNetdev is { } f ? f(Netdevs[port - 1]) : null;
}
