using RoceUio.Hardware;

namespace RoceUio.Drivers;

/// <summary>
/// The settings every driver's options share (a family's options record derives from this and adds its own):
/// the name users see, MMIO tracing and the VLAN id of a netdev. The family's descriptor fills them from the
/// <see cref="DriverOpenContext"/> it is opened with.
/// </summary>
public abstract record RoceDeviceOptions
{
    /// <summary>The name shown to users (<c>mlx4_0</c>, <c>ocrdma0</c>).</summary>
    public string Name { get; init; } = "";
    /// <summary>Records every register access from bring-up on (<c>roceuio run --mmio-trace</c>); null: no tracing.</summary>
    public IMmioTracer? Tracer { get; init; }
    /// <summary>The VLAN id of a netdev (by ifindex), 0 when it is not on a VLAN (rdma_read_gid_l2_fields). Null: no VLANs.</summary>
    public Func<int, ushort>? VlanOfNetdev { get; init; }
}
