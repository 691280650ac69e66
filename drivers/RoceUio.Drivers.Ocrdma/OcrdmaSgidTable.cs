using RoceUio.Gids;

namespace RoceUio.Drivers.Ocrdma;

/// <summary>
/// Who keeps a GID table entry alive while a queue pair or an address handle uses its index (the kernel's
/// <c>rdma_hold_gid_attr</c>/<c>rdma_put_gid_attr</c> on the core cache), and the one place that counts those users.
/// While held, deleting the GID leaves the slot pending: its index is not reused until the last <see cref="Release"/>.
/// In the daemon this is the core's <see cref="GidTable"/> (<see cref="CoreGidReferences"/>); a device opened without
/// one (tests, driver-only use) counts its own users in <see cref="SgidUseCounter"/>.
/// </summary>
public interface ISgidReferences
{
    /// <summary>Takes a reference on a valid entry; false if the slot is empty or already pending delete.</summary>
    bool TryHold(int port, int index, out GidEntry entry);

    /// <summary>Drops a reference taken by <see cref="TryHold"/>.</summary>
    void Release(int port, int index);

    /// <summary>How many references are held on the index now (0 for an index nobody could hold yet).</summary>
    int ReferencesOf(int port, int index);
}

/// <summary>One host table entry as the consumers need it: the GID, how it goes on the wire (L3 type) and its VLAN.</summary>
public readonly record struct OcrdmaSgid(Gid Gid, GidType Type, int NetdevIfindex, ushort VlanId)
{
    /// <summary>rdma_gid_attr_network_type: RoCE v2 is IPv4 for a v4-mapped GID, IPv6 otherwise; IB and RoCE v1 are a GRH.</summary>
    public OcrdmaL3Type L3Type => Type != GidType.RoceV2 ? OcrdmaL3Type.IbGrh : Gid.IsIPv4Mapped ? OcrdmaL3Type.IPv4 : OcrdmaL3Type.IPv6;
}

/// <summary>The state of a host table slot.</summary>
public enum OcrdmaSgidState : byte
{
    Free = 0,
    Valid = 1,
    /// <summary>Deleted by the core while users remain: the GID stays for them, the index is not reused.</summary>
    PendingDelete = 2,
}

/// <summary>
/// The host-side SGID table of an ocrdma port: 16 entries (ocrdma_sli.h <c>OCRDMA_MAX_SGID</c>), slot → GID, what the
/// "hardware" holds. It exists only on the host; ocrdma has no command that writes a GID (hw-layouts.md 2.4, P1): a GID
/// reaches the device only inside MODIFY_QP and address vectors, built from this table by index.
/// </summary>
/// <remarks>
/// <para>One source of truth for "is this index still in use": the table counts nobody. It asks its
/// <see cref="ISgidReferences"/> (the core table's entry references, or the device's own <see cref="SgidUseCounter"/>).
/// A delete of a held index keeps the GID and marks it deleted (<see cref="OcrdmaSgidState.PendingDelete"/>: the QPs and
/// AVs built from it still carry those bytes); the driver calls <see cref="Released"/> after each release it makes, which
/// frees a deleted slot nobody holds any more. A deleted slot whose references went to zero elsewhere (a core holder that
/// is not this driver) reads as free and is taken by the next add: the core reuses an index only once it is free.</para>
/// <para>Locking: every method takes the table's lock, <see cref="TryGet"/> (the hot lookup) too, without allocating.
/// The references are read under it (lock-free on the core table), never the other way round, and no lock of the core
/// is taken under it, so the core's writer (which calls <see cref="Add"/>/<see cref="Delete"/> with its lock held) and a
/// consumer releasing a core entry cannot deadlock.</para>
/// </remarks>
public sealed class OcrdmaSgidTable
{
    /// <summary><c>OCRDMA_MAX_SGID</c> (16 since v4.x; 8 in older trees).</summary>
    public const int Capacity = 16;

    private struct Slot
    {
        public bool InUse;    // the slot holds a GID (valid, or deleted and kept for its users)
        public bool Deleted;  // the core deleted it; kept only while ISgidReferences says it is held
        public OcrdmaSgid Sgid;
    }

    private readonly Slot[,] _slots;
    private readonly object _lock = new();

    /// <param name="portCount">The device's ports (ocrdma: 1).</param>
    /// <param name="references">Who counts the users of an index; null: a <see cref="SgidUseCounter"/> of this table.</param>
    public OcrdmaSgidTable(int portCount = 1, ISgidReferences? references = null)
    {
        if (portCount < 1)
            throw new ArgumentOutOfRangeException(nameof(portCount));
        PortCount = portCount;
        _slots = new Slot[portCount, Capacity];
        References = references ?? new SgidUseCounter(this);
    }

    public int PortCount { get; }

    /// <summary>The one count of who uses each index (see the remarks).</summary>
    public ISgidReferences References { get; }

    /// <summary>Raised (outside the lock) after any change of a slot's contents or state.</summary>
    public event Action? Changed;

    /// <summary>The core added an entry at a free index (or one whose deleted GID nobody holds any more).</summary>
    public void Add(int port, int index, in OcrdmaSgid sgid)
    {
        Check(port, index);
        if (sgid.Gid.IsZero)
            throw new ArgumentException($"port {port} index {index}: the zero GID is never a table entry", nameof(sgid));
        lock (_lock)
        {
            ref Slot s = ref _slots[port - 1, index];
            OcrdmaSgidState state = StateOf(s, port, index);
            if (state != OcrdmaSgidState.Free)
                throw new InvalidOperationException(
                    $"port {port} sgid index {index} is {Describe(s, state, port, index)}: it cannot take {sgid.Gid} until it is free");
            s = new Slot { InUse = true, Sgid = sgid };
        }
        Changed?.Invoke();
    }

    /// <summary>The core deleted the entry: free it, or keep it pending while <see cref="References"/> says it is held.</summary>
    public void Delete(int port, int index, in Gid expected)
    {
        Check(port, index);
        lock (_lock)
        {
            ref Slot s = ref _slots[port - 1, index];
            OcrdmaSgidState state = StateOf(s, port, index);
            if (state != OcrdmaSgidState.Valid)
                throw new InvalidOperationException($"port {port} sgid index {index} is {Describe(s, state, port, index)}: there is nothing to delete");
            if (s.Sgid.Gid != expected)
                throw new InvalidOperationException($"port {port} sgid index {index} holds {s.Sgid.Gid}, not {expected}");
            if (References.ReferencesOf(port, index) > 0)
                s.Deleted = true;
            else
                s = default;
        }
        Changed?.Invoke();
    }

    /// <summary>
    /// The driver released a reference on the index (after <see cref="ISgidReferences.Release"/>): a deleted slot that
    /// nobody holds any more is freed now. Returns true if it was.
    /// </summary>
    public bool Released(int port, int index)
    {
        Check(port, index);
        lock (_lock)
        {
            ref Slot s = ref _slots[port - 1, index];
            if (!s.InUse || !s.Deleted || References.ReferencesOf(port, index) > 0)
                return false;
            s = default;
        }
        Changed?.Invoke();
        return true;
    }

    /// <summary>The hot lookup by index: a valid or pending entry. Allocation-free.</summary>
    public bool TryGet(int port, int index, out OcrdmaSgid sgid)
    {
        if ((uint)(port - 1) >= (uint)PortCount || (uint)index >= Capacity)
        {
            sgid = default;
            return false;
        }
        lock (_lock)
        {
            ref Slot s = ref _slots[port - 1, index];
            bool present = StateOf(s, port, index) != OcrdmaSgidState.Free;
            sgid = present ? s.Sgid : default;
            return present;
        }
    }

    /// <summary>A valid entry (not free, not pending delete): what a new QP path or AV may be built from.</summary>
    public bool TryGetValid(int port, int index, out OcrdmaSgid sgid)
    {
        sgid = default;
        if ((uint)(port - 1) >= (uint)PortCount || (uint)index >= Capacity)
            return false;
        lock (_lock)
        {
            ref Slot s = ref _slots[port - 1, index];
            if (!s.InUse || s.Deleted)
                return false;
            sgid = s.Sgid;
            return true;
        }
    }

    public OcrdmaSgidState StateOf(int port, int index)
    {
        Check(port, index);
        lock (_lock)
            return StateOf(_slots[port - 1, index], port, index);
    }

    /// <summary>A copy of every non-free slot, for the device model's side channel and diagnostics.</summary>
    public List<(int Port, int Index, OcrdmaSgidState State, OcrdmaSgid Sgid)> Snapshot()
    {
        var list = new List<(int, int, OcrdmaSgidState, OcrdmaSgid)>();
        lock (_lock)
            for (int p = 0; p < PortCount; p++)
                for (int i = 0; i < Capacity; i++)
                    if (StateOf(_slots[p, i], p + 1, i) is var state and not OcrdmaSgidState.Free)
                        list.Add((p + 1, i, state, _slots[p, i].Sgid));
        return list;
    }

    // Under _lock. A deleted slot is pending only while someone holds it.
    private OcrdmaSgidState StateOf(in Slot s, int port, int index)
        => !s.InUse ? OcrdmaSgidState.Free
            : !s.Deleted ? OcrdmaSgidState.Valid
            : References.ReferencesOf(port, index) > 0 ? OcrdmaSgidState.PendingDelete
            : OcrdmaSgidState.Free;

    private void Check(int port, int index)
    {
        if ((uint)(port - 1) >= (uint)PortCount)
            throw new ArgumentOutOfRangeException(nameof(port), $"port {port}: ocrdma has ports 1..{PortCount}");
        if ((uint)index >= Capacity)
            throw new ArgumentOutOfRangeException(nameof(index), $"sgid index {index}: the table has {Capacity} entries (OCRDMA_MAX_SGID)");
    }

    private string Describe(in Slot s, OcrdmaSgidState state, int port, int index) => state switch
    {
        OcrdmaSgidState.Free => "free",
        OcrdmaSgidState.Valid => $"in use by {s.Sgid.Gid} ({References.ReferencesOf(port, index)} references)",
        _ => $"pending delete of {s.Sgid.Gid} ({References.ReferencesOf(port, index)} references)",
    };
}

/// <summary>
/// The <see cref="ISgidReferences"/> of an ocrdma device opened without a core table (tests, driver-only use): one
/// counter per index, and an index can be held only while its host slot is valid. With a core table
/// (<see cref="CoreGidReferences"/>) this is not used: the core's entry references are the only count.
/// </summary>
/// <remarks>Lock-free (interlocked counters). A hold that races a delete may succeed on a slot the delete just freed; the
/// driver checks the slot after every hold and gives such a hold back, as it does with the core's.</remarks>
public sealed class SgidUseCounter : ISgidReferences
{
    private readonly OcrdmaSgidTable _table;
    private readonly int[] _counts;

    internal SgidUseCounter(OcrdmaSgidTable table)
    {
        _table = table;
        _counts = new int[table.PortCount * OcrdmaSgidTable.Capacity];
    }

    public bool TryHold(int port, int index, out GidEntry entry)
    {
        entry = default;
        if (!_table.TryGetValid(port, index, out OcrdmaSgid s))
            return false;
        Interlocked.Increment(ref _counts[Position(port, index)]);
        entry = new GidEntry(s.Gid, s.Type, s.NetdevIfindex);
        return true;
    }

    public void Release(int port, int index)
    {
        ref int count = ref _counts[Position(port, index)];
        int c;
        do
        {
            c = Volatile.Read(ref count);
            if (c == 0)
                throw new InvalidOperationException($"port {port} sgid index {index}: release without a matching hold");
        } while (Interlocked.CompareExchange(ref count, c - 1, c) != c);
    }

    public int ReferencesOf(int port, int index) => Volatile.Read(ref _counts[Position(port, index)]);

    private int Position(int port, int index)
    {
        if ((uint)(port - 1) >= (uint)_table.PortCount || (uint)index >= OcrdmaSgidTable.Capacity)
            throw new ArgumentOutOfRangeException(nameof(index), $"port {port} sgid index {index}: out of range");
        return (port - 1) * OcrdmaSgidTable.Capacity + index;
    }
}
