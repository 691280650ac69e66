using RoceUio.Gids;

namespace RoceUio.Drivers.Ocrdma;

/// <summary>
/// <see cref="ISgidReferences"/> over the core's per-port <see cref="GidTable"/>s: a queue pair or address handle of the
/// ocrdma driver holds a reference on the core entry (<see cref="GidTable.TryHold"/> / <see cref="GidTable.Release"/>, the
/// kernel's <c>rdma_hold_gid_attr</c> / <c>rdma_put_gid_attr</c>), so that deleting its GID leaves the core slot
/// <see cref="GidEntryState.PendingDelete"/> and the core does not reuse the index until the last user is gone. The core's
/// count is the only one: the driver's host table keeps slot → GID and asks <see cref="ReferencesOf"/> whether a deleted
/// GID is still held (as the kernel's del_gid leaves a held entry PENDING_DEL until its last rdma_put_gid_attr).
/// </summary>
/// <remarks>
/// <para>Why here and not in Core/Roce: <see cref="ISgidReferences"/> is the ocrdma driver's interface, and Core does not
/// know its drivers. The adapter needs only the table (Core/Gids), never the GID manager.</para>
/// <para>Order of creation: the driver is opened with this object as <see cref="OcrdmaDeviceOptions.References"/>, then the
/// GID manager registers the device and creates its tables; give them to <see cref="Attach"/> then
/// (<c>refs.Attach(manager.AddDevice(device, bindings).Select(p =&gt; p.Table))</c>). Until a port is attached, a hold on it is
/// a programming error (<see cref="InvalidOperationException"/>).</para>
/// <para>Locking: <see cref="Attach"/> publishes the table array with a volatile write; <see cref="TryHold"/> and
/// <see cref="Release"/> and <see cref="ReferencesOf"/> are lock-free (the table's own compare-and-swap), callable from any thread.</para>
/// </remarks>
public sealed class CoreGidReferences : ISgidReferences
{
    private GidTable?[] _tables;

    /// <param name="portCount">The device's ports (ocrdma: 1).</param>
    public CoreGidReferences(int portCount = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(portCount, 1);
        _tables = new GidTable?[portCount];
    }

    /// <summary>Connects the core tables, one per port, in port order (a <see cref="GidTable"/> knows its port).</summary>
    public void Attach(IEnumerable<GidTable> tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        var next = (GidTable?[])Volatile.Read(ref _tables).Clone();
        foreach (GidTable t in tables)
        {
            if ((uint)(t.Port - 1) >= (uint)next.Length)
                throw new ArgumentException($"the core table of port {t.Port} does not belong to a device with {next.Length} port(s)", nameof(tables));
            next[t.Port - 1] = t;
        }
        Volatile.Write(ref _tables, next);
    }

    public bool TryHold(int port, int index, out GidEntry entry) => Table(port).TryHold(index, out entry);

    public void Release(int port, int index) => Table(port).Release(index);

    /// <summary>The core entry's references (<see cref="GidTable.ReferencesOf"/>): what a delete and a release of the
    /// driver ask to know whether the host slot must keep its GID. 0 for a port not attached yet: nothing can hold it.</summary>
    public int ReferencesOf(int port, int index)
    {
        GidTable?[] tables = Volatile.Read(ref _tables);
        if ((uint)(port - 1) >= (uint)tables.Length)
            throw new ArgumentOutOfRangeException(nameof(port), port, $"port {port}: the device has ports 1..{tables.Length}");
        return tables[port - 1]?.ReferencesOf(index) ?? 0;
    }

    private GidTable Table(int port)
    {
        GidTable?[] tables = Volatile.Read(ref _tables);
        if ((uint)(port - 1) >= (uint)tables.Length)
            throw new ArgumentOutOfRangeException(nameof(port), port, $"port {port}: the device has ports 1..{tables.Length}");
        return tables[port - 1]
               ?? throw new InvalidOperationException($"port {port}: no core GID table is attached yet (call CoreGidReferences.Attach after the GID manager registered the device)");
    }
}
