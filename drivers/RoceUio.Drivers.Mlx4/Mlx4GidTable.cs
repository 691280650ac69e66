using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Drivers.Mlx4;

/// <summary>One hardware GID slot of the shadow: empty when <see cref="RefCount"/> is 0.</summary>
public readonly record struct Mlx4GidSlot(int Index, Gid Gid, GidType Type, int RefCount)
{
    public bool IsEmpty => RefCount == 0;
}

/// <summary>
/// The shadow of one port's 128 hardware GID slots, as drivers/infiniband/hw/mlx4/main.c keeps
/// <c>iboe-&gt;gids[port - 1]</c>: <c>mlx4_ib_add_gid</c> reuses the slot of an identical (gid, type, VLAN id) entry
/// (the VLAN id from <c>rdma_read_gid_l2_fields</c>) and counts references, or takes the first all-zero slot; <c>mlx4_ib_del_gid</c> clears the slot when the count drops to 0.
/// The core's table index maps to the hardware slot (<c>ctx-&gt;real_index</c>, <c>mlx4_ib_gid_index_to_real_index</c>).
/// <para>
/// Changes are batched: the shadow is what the hardware must hold, <see cref="NeedsPush"/> says it changed since the
/// last push that reached the hardware, and a failed push changes nothing here (no rollback: the GID manager's
/// PortSync retries the push until the hardware holds the shadow).
/// </para>
/// Locking: one writer (the device's caller, see IRoceDevice). <see cref="TryGetRealIndex"/> may run on any thread:
/// it reads one int, so it sees the index before or after a change, never a torn one.
/// </summary>
public sealed class Mlx4GidTable
{
    private struct Slot
    {
        public Gid Gid;
        public GidType Type;
        public ushort VlanId;   // gid_entry.vlan_id (mlx4_ib.h): part of the sharing key
        public int RefCount;
    }

    private readonly Slot[] _slots = new Slot[Mlx4Layout.MaxPortGids];
    private readonly int[] _coreToReal;
    private bool _changed;

    public Mlx4GidTable(string deviceName, int port, Mlx4GidFormat format, int coreTableSize = Mlx4Layout.MaxPortGids)
    {
        DeviceName = deviceName;
        Port = port;
        Format = format;
        _coreToReal = new int[coreTableSize];
        Array.Fill(_coreToReal, -1);
    }

    public string DeviceName { get; }
    public int Port { get; }
    public Mlx4GidFormat Format { get; }
    public int CoreTableSize => _coreToReal.Length;

    /// <summary>True when the shadow changed since the last push that reached the hardware (a refused or timed-out
    /// push leaves it true).</summary>
    public bool NeedsPush => _changed;

    /// <summary>Number of changes (adds and deletes) since the last push.</summary>
    public int PendingChanges { get; private set; }

    /// <summary>The hardware slot of a core index (<c>mlx4_ib_gid_index_to_real_index</c>); allocation-free.</summary>
    public bool TryGetRealIndex(int coreIndex, out int realIndex)
    {
        realIndex = -1;
        if ((uint)coreIndex >= (uint)_coreToReal.Length)
            return false;
        realIndex = Volatile.Read(ref _coreToReal[coreIndex]);
        return realIndex >= 0;
    }

    public Mlx4GidSlot this[int hwIndex]
    {
        get
        {
            Slot s = _slots[hwIndex];
            return new Mlx4GidSlot(hwIndex, s.Gid, s.Type, s.RefCount);
        }
    }

    /// <summary>The occupied hardware slots, in index order (a copy, for diagnostics and tests).</summary>
    public IReadOnlyList<Mlx4GidSlot> OccupiedSlots()
    {
        var list = new List<Mlx4GidSlot>();
        for (int i = 0; i < _slots.Length; i++)
            if (_slots[i].RefCount > 0)
                list.Add(this[i]);
        return list;
    }

    /// <summary>
    /// <c>mlx4_ib_add_gid</c>: records core index <paramref name="coreIndex"/> → the slot of (gid, type, VLAN id),
    /// sharing an identical entry's slot or taking the first empty one. So the port's default fe80 GID and the same
    /// fe80 GID on a VLAN netdev take two slots. Returns the hardware index. On error nothing changes.
    /// </summary>
    /// <param name="vlanId">The VLAN id of the entry's netdev (0 when it is not on a VLAN).</param>
    public int Add(int coreIndex, Gid gid, GidType type, ushort vlanId = 0)
    {
        CheckCoreIndex(coreIndex);
        if (gid.IsZero)
            throw new RoceDeviceException($"{Where}: cannot add the zero GID at core index {coreIndex} (it marks an empty slot)");
        if (_coreToReal[coreIndex] >= 0)
            throw new RoceDeviceException(
                $"{Where}: core index {coreIndex} already holds hardware slot {_coreToReal[coreIndex]} ({_slots[_coreToReal[coreIndex]].Gid}); delete it first");
        int found = -1, free = -1;
        for (int i = 0; i < _slots.Length; i++)
        {
            if (_slots[i].RefCount > 0 && _slots[i].Gid == gid && _slots[i].Type == type && _slots[i].VlanId == vlanId)
            {
                found = i;
                break;
            }
            if (free < 0 && _slots[i].RefCount == 0)
                free = i;
        }
        if (found < 0 && free < 0)
            throw new RoceDeviceException(
                $"{Where}: all {Mlx4Layout.MaxPortGids} hardware GID slots are in use (-ENOSPC); cannot add {gid} {type.ToShortString()} at core index {coreIndex}");
        _changed = true;
        int real = found >= 0 ? found : free;
        if (found < 0)
            _slots[real] = new Slot { Gid = gid, Type = type, VlanId = vlanId, RefCount = 1 };
        else
            _slots[real].RefCount++;
        Volatile.Write(ref _coreToReal[coreIndex], real);
        PendingChanges++;
        return real;
    }

    /// <summary>
    /// <c>mlx4_ib_del_gid</c>: drops core index <paramref name="coreIndex"/>'s reference; the slot empties at 0.
    /// The entry must be the one that was added there. Returns the hardware index it held.
    /// </summary>
    public int Delete(int coreIndex, Gid gid, GidType type)
    {
        CheckCoreIndex(coreIndex);
        int real = _coreToReal[coreIndex];
        if (real < 0)
            throw new RoceDeviceException($"{Where}: core index {coreIndex} holds no GID; nothing to delete");
        ref Slot s = ref _slots[real];
        if (s.Gid != gid || s.Type != type)
            throw new RoceDeviceException(
                $"{Where}: core index {coreIndex} holds {s.Gid} {s.Type.ToShortString()} in hardware slot {real}, not {gid} {type.ToShortString()}");
        _changed = true;
        Volatile.Write(ref _coreToReal[coreIndex], -1);
        if (--s.RefCount == 0)
            s = default;
        PendingChanges++;
        return real;
    }

    /// <summary>Writes the whole table in the port's format into a zeroed mailbox (<c>mlx4_ib_update_gids_v1/_v1_v2</c>).</summary>
    public void WriteMailbox(Span<byte> mailbox)
    {
        int size = Mlx4Layout.TableBytes(Format);
        if (mailbox.Length < size)
            throw new ArgumentException($"{Where}: the mailbox has {mailbox.Length} bytes, the table needs {size}", nameof(mailbox));
        int stride = Format == Mlx4GidFormat.RoceAddr ? Mlx4Layout.GidEntrySizeV1V2 : Mlx4Layout.GidEntrySizeV1;
        for (int i = 0; i < _slots.Length; i++)
        {
            Span<byte> entry = mailbox.Slice(i * stride, stride);
            if (_slots[i].RefCount == 0)
                entry.Clear();
            else
                WriteEntry(Format, entry, _slots[i].Gid, _slots[i].Type);
        }
    }

    /// <summary>
    /// One mailbox entry. GID_TABLE: the 16 raw bytes. ROCE_ADDR: raw GID at 0..15, reserved 16..25 and 28..31 zero,
    /// byte 26 <c>type</c> = 1 iff RoCE v2 and not v4-mapped, byte 27 <c>version</c> = 2 iff RoCE v2 (else 0).
    /// </summary>
    public static void WriteEntry(Mlx4GidFormat format, Span<byte> entry, Gid gid, GidType type)
    {
        int stride = format == Mlx4GidFormat.RoceAddr ? Mlx4Layout.GidEntrySizeV1V2 : Mlx4Layout.GidEntrySizeV1;
        if (entry.Length != stride)
            throw new ArgumentException($"a {format} entry is {stride} bytes, got {entry.Length}", nameof(entry));
        entry.Clear();
        gid.WriteBytes(entry);
        if (format == Mlx4GidFormat.RoceAddr && type == GidType.RoceV2)
        {
            entry[Mlx4Layout.V1V2Version] = Mlx4Layout.V1V2VersionRoceV2;
            entry[Mlx4Layout.V1V2Type] = gid.IsIPv4Mapped ? Mlx4Layout.V1V2TypeIPv4 : Mlx4Layout.V1V2TypeIPv6;
        }
    }

    /// <summary>The hardware must be told the whole table again although nothing in it changed (its mirror on the
    /// other port of a bonded device is new).</summary>
    public void MarkChanged() => _changed = true;

    /// <summary>The push reached the hardware: the shadow is what the hardware holds.</summary>
    public void PushSucceeded()
    {
        _changed = false;
        PendingChanges = 0;
    }

    private void CheckCoreIndex(int coreIndex)
    {
        if ((uint)coreIndex >= (uint)_coreToReal.Length)
            throw new RoceDeviceException($"{Where}: core index {coreIndex} is outside the table (0..{_coreToReal.Length - 1})");
    }

    private string Where => $"{DeviceName} port {Port}";
}
