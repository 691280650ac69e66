using RoceUio.Gids;

namespace RoceUio.Drivers.Ocrdma;

/// <summary>
/// Who keeps a GID table entry alive while a queue pair or an address handle uses its index (the kernel's
/// <c>rdma_hold_gid_attr</c>/<c>rdma_put_gid_attr</c> on the core cache). While held, deleting the GID leaves the slot
/// pending: its index is not reused until the last <see cref="Release"/>. The core's GidTable implements this; until it
/// is wired in, <see cref="OcrdmaSgidTable"/> does.
/// </summary>
public interface ISgidReferences
{
    /// <summary>Takes a reference on a valid entry; false if the slot is empty or already pending delete.</summary>
    bool TryHold(int port, int index, out GidEntry entry);

    /// <summary>Drops a reference taken by <see cref="TryHold"/>.</summary>
    void Release(int port, int index);
}

/// <summary>One shadow entry as the consumers need it: the GID, how it goes on the wire (L3 type) and its VLAN.</summary>
public readonly record struct OcrdmaSgid(Gid Gid, GidType Type, int NetdevIfindex, ushort VlanId)
{
    /// <summary>rdma_gid_attr_network_type: RoCE v2 is IPv4 for a v4-mapped GID, IPv6 otherwise; IB and RoCE v1 are a GRH.</summary>
    public OcrdmaL3Type L3Type => Type != GidType.RoceV2 ? OcrdmaL3Type.IbGrh : Gid.IsIPv4Mapped ? OcrdmaL3Type.IPv4 : OcrdmaL3Type.IPv6;
}

/// <summary>The state of a shadow slot.</summary>
public enum OcrdmaSgidState : byte
{
    Free = 0,
    Valid = 1,
    /// <summary>Deleted by the core while users remain: the GID stays for them, the index is not reused.</summary>
    PendingDelete = 2,
}

/// <summary>
/// The host-side SGID table of an ocrdma port: 16 entries (ocrdma_sli.h <c>OCRDMA_MAX_SGID</c>), mirroring the core's
/// GID cache. It exists only on the host; ocrdma has no command that writes a GID (hw-layouts.md 2.4, P1): a GID reaches
/// the device only inside MODIFY_QP and address vectors, built from this table by index.
/// </summary>
/// <remarks>
/// Locking: every method takes the table's lock except <see cref="TryGet"/>, the hot lookup, which reads a slot under the
/// same lock without allocating. Users are counted per slot (QPs and AHs of this driver), independently of the external
/// <see cref="ISgidReferences"/>, so the shadow keeps a deleted entry's bytes while the driver still builds commands from it.
/// </remarks>
public sealed class OcrdmaSgidTable : ISgidReferences
{
    /// <summary><c>OCRDMA_MAX_SGID</c> (16 since v4.x; 8 in older trees).</summary>
    public const int Capacity = 16;

    private struct Slot
    {
        public OcrdmaSgidState State;
        public OcrdmaSgid Sgid;
        public int Users;
    }

    private readonly Slot[,] _slots;
    private readonly object _lock = new();

    public OcrdmaSgidTable(int portCount = 1)
    {
        if (portCount < 1)
            throw new ArgumentOutOfRangeException(nameof(portCount));
        PortCount = portCount;
        _slots = new Slot[portCount, Capacity];
    }

    public int PortCount { get; }

    /// <summary>Raised (outside the lock) after any change of a slot's contents or state.</summary>
    public event Action? Changed;

    public void Add(int port, int index, in OcrdmaSgid sgid)
    {
        Check(port, index);
        if (sgid.Gid.IsZero)
            throw new ArgumentException($"port {port} index {index}: the zero GID is never a table entry", nameof(sgid));
        lock (_lock)
        {
            ref Slot s = ref _slots[port - 1, index];
            if (s.State != OcrdmaSgidState.Free)
                throw new InvalidOperationException(
                    $"port {port} sgid index {index} is {Describe(s)}: it cannot take {sgid.Gid} until it is free");
            s.State = OcrdmaSgidState.Valid;
            s.Sgid = sgid;
            s.Users = 0;
        }
        Changed?.Invoke();
    }

    /// <summary>The core deleted the entry: free it, or leave it pending while users remain.</summary>
    public void Delete(int port, int index, in Gid expected)
    {
        Check(port, index);
        lock (_lock)
        {
            ref Slot s = ref _slots[port - 1, index];
            if (s.State != OcrdmaSgidState.Valid)
                throw new InvalidOperationException($"port {port} sgid index {index} is {Describe(s)}: there is nothing to delete");
            if (s.Sgid.Gid != expected)
                throw new InvalidOperationException($"port {port} sgid index {index} holds {s.Sgid.Gid}, not {expected}");
            if (s.Users > 0)
                s.State = OcrdmaSgidState.PendingDelete;
            else
                s = default;
        }
        Changed?.Invoke();
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
            sgid = s.Sgid;
            return s.State != OcrdmaSgidState.Free;
        }
    }

    public OcrdmaSgidState StateOf(int port, int index)
    {
        Check(port, index);
        lock (_lock)
            return _slots[port - 1, index].State;
    }

    public int UsersOf(int port, int index)
    {
        Check(port, index);
        lock (_lock)
            return _slots[port - 1, index].Users;
    }

    /// <summary>A driver object starts using a valid entry. False if the slot is free or pending delete.</summary>
    public bool TryPin(int port, int index, out OcrdmaSgid sgid)
    {
        sgid = default;
        if ((uint)(port - 1) >= (uint)PortCount || (uint)index >= Capacity)
            return false;
        lock (_lock)
        {
            ref Slot s = ref _slots[port - 1, index];
            if (s.State != OcrdmaSgidState.Valid)
                return false;
            s.Users++;
            sgid = s.Sgid;
            return true;
        }
    }

    /// <summary>A driver object stops using the entry; the last user of a pending entry frees it.</summary>
    public void Unpin(int port, int index)
    {
        Check(port, index);
        bool freed = false;
        lock (_lock)
        {
            ref Slot s = ref _slots[port - 1, index];
            if (s.State == OcrdmaSgidState.Free || s.Users == 0)
                throw new InvalidOperationException($"port {port} sgid index {index} is {Describe(s)}: unbalanced release");
            if (--s.Users == 0 && s.State == OcrdmaSgidState.PendingDelete)
            {
                s = default;
                freed = true;
            }
        }
        if (freed)
            Changed?.Invoke();
    }

    bool ISgidReferences.TryHold(int port, int index, out GidEntry entry)
    {
        bool ok = TryPin(port, index, out OcrdmaSgid s);
        entry = new GidEntry(s.Gid, s.Type, s.NetdevIfindex);
        return ok;
    }

    void ISgidReferences.Release(int port, int index) => Unpin(port, index);

    /// <summary>A copy of every non-free slot, for the synthetic oracle and diagnostics.</summary>
    public List<(int Port, int Index, OcrdmaSgidState State, OcrdmaSgid Sgid)> Snapshot()
    {
        var list = new List<(int, int, OcrdmaSgidState, OcrdmaSgid)>();
        lock (_lock)
            for (int p = 0; p < PortCount; p++)
                for (int i = 0; i < Capacity; i++)
                    if (_slots[p, i].State != OcrdmaSgidState.Free)
                        list.Add((p + 1, i, _slots[p, i].State, _slots[p, i].Sgid));
        return list;
    }

    private void Check(int port, int index)
    {
        if ((uint)(port - 1) >= (uint)PortCount)
            throw new ArgumentOutOfRangeException(nameof(port), $"port {port}: ocrdma has ports 1..{PortCount}");
        if ((uint)index >= Capacity)
            throw new ArgumentOutOfRangeException(nameof(index), $"sgid index {index}: the table has {Capacity} entries (OCRDMA_MAX_SGID)");
    }

    private static string Describe(in Slot s) => s.State switch
    {
        OcrdmaSgidState.Free => "free",
        OcrdmaSgidState.Valid => $"in use by {s.Sgid.Gid} ({s.Users} users)",
        _ => $"pending delete of {s.Sgid.Gid} ({s.Users} users)",
    };
}
