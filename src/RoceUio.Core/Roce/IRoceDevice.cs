using RoceUio.Gids;

namespace RoceUio.Roce;

/// <summary>
/// What a NIC family implements so that the GID manager can keep its hardware in step with the core's tables.
/// This is the whole driver contract; a new NIC family is one class implementing it (plus its register layout).
/// It follows the kernel's <c>ib_device_ops.add_gid</c>/<c>del_gid</c> (drivers/infiniband/core/cache.c add_roce_gid, del_gid).
/// </summary>
/// <remarks>
/// Contract:
/// <list type="bullet">
/// <item>Ports are numbered 1..<see cref="PortCount"/>. Indexes are the core table's (0..capacity-1); a driver that
/// keeps its own hardware numbering (mlx4's real_index) maps them itself.</item>
/// <item>Calls come from one thread at a time (the GID manager's ordered worker); a driver needs no locking of its own
/// against these calls, but its hot-path consumers (QP/AH creation) may run on other threads.</item>
/// <item><see cref="AddGid"/> is called before the entry is published in the core table; if it throws, the entry is
/// not published and the driver must be as it was before the call.</item>
/// <item><see cref="DeleteGid"/> is called as soon as the core deletes the entry, even while references keep the slot
/// pending (be5914c124bc "RDMA/core: Delete RoCE GID in hw when corresponding IP is deleted"). The core never undoes
/// a delete; if it throws, the port is pushed again.</item>
/// <item>A driver may defer hardware writes until <see cref="Commit"/> (mlx4 pushes the whole table with one SET_PORT
/// for a burst). If <see cref="Commit"/> throws (refused, timed out), the driver keeps what it was told: its shadow
/// stays what the hardware must hold, and the caller (the GID manager's <see cref="PortSync"/>) calls Commit again,
/// with backoff, until it succeeds. Nothing is rolled back on either side. New core entries become visible after the
/// Commit that delivered them. A driver that writes at once implements Commit as nothing.</item>
/// <item>Errors are <see cref="RoceDeviceException"/> naming the device, port, command and status.</item>
/// </list>
/// </remarks>
public interface IRoceDevice : IDisposable
{
    /// <summary>The device name shown to users, e.g. <c>mlx4_0</c>.</summary>
    string Name { get; }

    /// <summary>The NIC family, e.g. <c>mlx4</c>, <c>ocrdma</c>.</summary>
    string DriverName { get; }

    int PortCount { get; }

    /// <summary>Capacity of the port's core GID table (mlx4: 128, ocrdma: 16, rxe: 1024).</summary>
    int GidTableSize(int port);

    /// <summary>The GID types the port supports: one default slot and one entry per address for each.</summary>
    GidTypes SupportedGidTypes(int port);

    void AddGid(int port, int index, in GidEntry entry);

    void DeleteGid(int port, int index, in GidEntry entry);

    /// <summary>Makes deferred changes of the port take effect on the hardware.</summary>
    void Commit(int port);
}

/// <summary>A device refused or failed a command. The message says which device, port and command, and why.</summary>
public class RoceDeviceException : Exception
{
    public RoceDeviceException(string message) : base(message) { }
    public RoceDeviceException(string message, Exception inner) : base(message, inner) { }
}
