// The per-port RoCE GID table, after drivers/infiniband/core/cache.c (see docs/kernel-sources.md).
//
// Locking rules (the only place they are written down; GidSlot.cs and GidHashIndex.cs describe their halves):
//
//  1. Writers (Add, TryAdd, SetDefault, Delete, DeleteDefault, DeleteAllForNetdev, ImportAssignments, and the
//     slot free after the last Release) are serialised by _writerLock, as the kernel's table->lock mutex.
//     The programmer (hardware) and the listener are called with it held, so hardware writes and
//     notifications happen in table order. Neither may call a writer of the same table: that throws.
//  2. Readers (TryFind, TryGet, StateOf, Count, enumeration) take no lock, write no shared memory and never
//     allocate. They see each entry whole through sequence counters (seqlocks):
//       - the hashed index: one counter per 64-byte line (GidHashIndex), used by TryFind(in GidEntry);
//       - each slot: its own counter (GidSlot.Seq), used by TryGet, StateOf and the enumerator;
//       - the whole table: _tableSeq, bracketing every published change, used by the masked TryFind scan
//         so that "lowest matching index" is computed over one consistent view, as find_gid does under the
//         kernel's rwlock.
//     A writer (one at a time, rule 1) makes a counter odd, stores the data, and makes the counter even again,
//     every one of those a Volatile.Write (a release store): no data store can be seen before the odd value nor
//     after the even one, as write_seqcount_begin/end order them with smp_wmb. No atomic instruction is needed
//     (on x64 these are plain stores). A reader reads the counter, the data and the counter again, all with
//     Volatile.Read (acquire), so in .NET's memory model the second counter read cannot move above the data
//     reads; an odd or changed counter means retry. Writers never call out (programmer, listener) inside an
//     odd window, so a reader waits at most for a few stores (or for a preempted writer, where SpinWait yields).
//     The hash index's fast path is the same protocol unrolled for the key's home line: counter, the line's
//     fields, counter again, in that program order, and the answer is used only if the counter was even and
//     unchanged; anything else goes to the looping probe. A change that stores to several lines (a delete's
//     backward shift) opens all their counters before its first store and closes them after its last, and a probe
//     over several lines reads all their counters again at its end (their sum: counters only grow), so it answers
//     only from lines that were all as read at one moment. The array never grows or moves and a probe is bounded by
//     its length, so a torn view costs a retry, never a wrong answer or an endless loop.
//  3. The hardware is programmed before anything is published (TryAddGid) and before anything is unpublished
//     (DeleteGid): if the programmer refuses, no reader ever saw a change. A table made with publishAfterCommit
//     (the GID manager's) goes further, as the kernel's add_roce_gid stores an entry only after the driver's
//     add_gid returned: an added entry takes its slot (writers see it: dedup, slot choice) but stays invisible to
//     readers until PublishCommitted, which the manager calls once the port's push reached the hardware.
//     Deletes are visible at once and never undone.
//  4. References: TryHold and Release change only GidSlot.Word (state + count) with compare-and-swap, no lock.
//     A delete turns Valid into PendingDelete keeping the count (or straight into Free at count 0); the release
//     that takes a PendingDelete count to 0 frees the slot under _writerLock. Exactly one CAS observes
//     "PendingDelete, 0 references", so a slot is freed exactly once and never while held.
//  5. Writer-only state (the index's writer values, _history, _freeSlots, the batch buffer) is touched only under
//     _writerLock.

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RoceUio.Gids;

/// <summary>
/// The GID table of one RoCE port with the kernel's semantics (drivers/infiniband/core/cache.c): default slots at
/// the lowest indices, de-duplication on (gid, type, netdev), lowest-index find, entries that keep their index
/// while they exist, pending-delete slots held by references, and a change notification per add, delete and
/// delete-all batch. Any number of lock-free readers, writers serialised (locking rules at the top of GidTable.cs).
/// </summary>
public sealed class GidTable
{
    private const int MaxCapacity = 1 << 20;

    private readonly Lock _writerLock = new();
    private readonly GidSlot[] _slots;
    // Key -> the lowest visible index (readers) and, writer-only, the key's ordinary slot + 1 (0: none), published
    // or not: the one map of the table, so an update costs no dictionary operation.
    private readonly GidHashIndex _index;
    private readonly GidHashIndex.Reader _find;   // _index's lookup fields, read from this object by TryFind
    private readonly StickyIndexHistory _history;
    private readonly FreeSlots _freeSlots;
    private readonly IGidProgrammer? _programmer;
    private readonly IGidTableListener? _listener;
    private readonly List<GidChange> _batch = new();
    // publishAfterCommit: entries programmed but not yet visible, in the order they were added; and per default
    // slot, the default waiting there (an unpublished slot is Free to readers but taken for writers).
    private readonly bool _publishAfterCommit;
    private readonly List<(int Index, GidEntry Entry)> _unpublished = new();
    private readonly GidEntry?[] _unpublishedDefault;
    private int _tableSeq;
    private int _count;
    private bool _inCallback;

    /// <param name="port">The port number (1-based, as the kernel and <see cref="Roce.IRoceDevice"/> count).</param>
    /// <param name="capacity">Slots in the table (mlx4: 128, ocrdma: 16, rxe: 1024), default slots included.</param>
    /// <param name="supportedTypes">The GID types the port supports; one default slot is reserved for each.</param>
    /// <param name="policy">How new GIDs get their index; <see cref="IndexPolicy.Sticky"/> unless told.</param>
    /// <param name="programmer">Programs the hardware; null for a table with no hardware behind it.</param>
    /// <param name="listener">Told about every change; null for none.</param>
    /// <param name="publishAfterCommit">Added entries become visible (and are announced) only at
    /// <see cref="PublishCommitted"/>, after the hardware took them (locking rule 3).</param>
    public GidTable(int port, int capacity, GidTypes supportedTypes, IndexPolicy policy = IndexPolicy.Sticky,
        IGidProgrammer? programmer = null, IGidTableListener? listener = null, bool publishAfterCommit = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        if ((supportedTypes & ~(GidTypes.Ib | GidTypes.Roce)) != 0 || supportedTypes == GidTypes.None)
            throw new ArgumentException($"port {port}: supported GID types '{supportedTypes}' must name at least one of Ib, RoceV1, RoceV2", nameof(supportedTypes));
        int defaults = supportedTypes.Count();
        if (capacity < defaults || capacity > MaxCapacity)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity,
                $"port {port}: a GID table needs {defaults}..{MaxCapacity} slots ({defaults} default slots for {supportedTypes})");
        if (!Enum.IsDefined(policy))
            throw new ArgumentOutOfRangeException(nameof(policy), policy, "unknown index policy");

        Port = port;
        Capacity = capacity;
        SupportedTypes = supportedTypes;
        Policy = policy;
        DefaultSlotCount = defaults;
        _programmer = programmer;
        _listener = listener;
        _publishAfterCommit = publishAfterCommit;
        _unpublishedDefault = new GidEntry?[defaults];
        _slots = new GidSlot[capacity];
        _index = new GidHashIndex(capacity);
        _find = new GidHashIndex.Reader(_index);
        _freeSlots = new FreeSlots(capacity, firstOrdinary: defaults);
        _history = new StickyIndexHistory(capacity, _freeSlots);
    }

    public int Port { get; }
    public int Capacity { get; }
    public GidTypes SupportedTypes { get; }
    public IndexPolicy Policy { get; }

    /// <summary>Reserved default slots: indices 0..DefaultSlotCount-1, one per supported type.</summary>
    public int DefaultSlotCount { get; }

    /// <summary>Valid entries (pending-delete slots not counted).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Entries added but not yet visible (a publishAfterCommit table between a change and its push).
    /// Writer-side state: read it on the writer's thread.</summary>
    public int UnpublishedCount => _unpublished.Count;

    /// <summary>The slot array itself, for tests that play a writer caught half way (InternalsVisibleTo).</summary>
    internal GidSlot[] SlotsForTest => _slots;

    /// <summary>The hash index itself, for the same kind of tests.</summary>
    internal GidHashIndex IndexForTest => _index;

    /// <summary>The default slot holding the valid default GID of <paramref name="type"/> for
    /// <paramref name="netdevIndex"/>, or -1 (find_gid with GID_TYPE | DEFAULT | NETDEV and default = true).</summary>
    public int FindDefault(GidType type, int netdevIndex)
    {
        for (int i = 0; i < DefaultSlotCount; i++)
            if (GidSlot.StateOf(Volatile.Read(ref _slots[i].Word)) == GidEntryState.Valid
                && _slots[i].Entry.Type == type && _slots[i].Entry.NetdevIfindex == netdevIndex)
                return i;
        return -1;
    }

    /// <summary>The first free default slot whatever the type (find_gid's <c>empty</c> with default = true), or -1.</summary>
    private int FirstFreeDefaultSlot()
    {
        for (int i = 0; i < DefaultSlotCount; i++)
            if (IsFree(i) && _unpublishedDefault[i] is null)
                return i;
        return -1;
    }

    /// <summary>As <see cref="FindDefault"/>, counting a default that waits to be published (writer lock held).</summary>
    private int FindDefaultForWriter(GidType type, int netdevIndex)
    {
        int slot = FindDefault(type, netdevIndex);
        if (slot >= 0)
            return slot;
        for (int i = 0; i < DefaultSlotCount; i++)
            if (_unpublishedDefault[i] is { } d && d.Type == type && d.NetdevIfindex == netdevIndex)
                return i;
        return -1;
    }

    /// <summary>True if <paramref name="index"/> is a reserved default slot (<c>is_gid_index_default</c>).</summary>
    public bool IsDefaultSlot(int index) => (uint)index < (uint)DefaultSlotCount;

    // ======================================================================================================
    // Readers: no lock, no shared-memory writes, no allocation.
    // ======================================================================================================

    /// <summary>
    /// The hot lookup: the lowest valid index holding (gid, type, netdev), default slots included (the mask
    /// GID|GID_TYPE|NETDEV of <c>ib_cache_gid_add</c>'s de-dup). Goes through the hash index (one cache line).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryFind(in GidEntry e, out int index) => _find.TryFind(e, out index);

    /// <summary>
    /// The kernel's <c>find_gid</c>: the lowest valid index whose attributes match on the bits of
    /// <paramref name="mask"/>; with <see cref="GidFindMask.Default"/>, only slots whose default-ness equals
    /// <paramref name="defaultSlot"/>. A mask of exactly Gid|GidType|Netdev uses the hash index; any other mask
    /// scans the slots over one consistent view (the table sequence counter).
    /// </summary>
    public bool TryFind(in Gid gid, GidType type, int netdevIndex, GidFindMask mask, bool defaultSlot, out int index)
    {
        if (mask == (GidFindMask.Gid | GidFindMask.GidType | GidFindMask.Netdev))
            return _find.TryFind(gid, type, netdevIndex, out index);
        SpinWait spin = default;
        while (true)
        {
            int seq = Volatile.Read(ref _tableSeq);
            if ((seq & 1) == 0)
            {
                int found = Scan(gid.SubnetPrefix, gid.InterfaceId, type, netdevIndex, mask, defaultSlot);
                if (Volatile.Read(ref _tableSeq) == seq)
                {
                    index = found;
                    return found >= 0;
                }
            }
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    private int Scan(ulong hi, ulong lo, GidType type, int netdev, GidFindMask mask, bool defaultSlot)
    {
        GidSlot[] slots = _slots;
        for (int i = 0; i < slots.Length; i++)
        {
            ref GidSlot s = ref slots[i];
            if (GidSlot.StateOf(Volatile.Read(ref s.Word)) != GidEntryState.Valid)
                continue;
            if ((mask & GidFindMask.Default) != 0 && IsDefaultSlot(i) != defaultSlot)
                continue;
            if ((mask & GidFindMask.GidType) != 0 && Volatile.Read(ref Unsafe.As<GidType, byte>(ref s.Type)) != (byte)type)
                continue;
            if ((mask & GidFindMask.Gid) != 0 && (Volatile.Read(ref s.Hi) != hi || Volatile.Read(ref s.Lo) != lo))
                continue;
            if ((mask & GidFindMask.Netdev) != 0 && Volatile.Read(ref s.Netdev) != netdev)
                continue;
            return i;
        }
        return -1;
    }

    /// <summary>The entry at <paramref name="index"/> if it is valid (query by index; <c>rdma_query_gid</c>).</summary>
    public bool TryGet(int index, out GidEntry entry)
    {
        if ((uint)index >= (uint)_slots.Length)
        {
            entry = default;
            return false;
        }
        if (GidSlot.Read(ref _slots[index], out entry, out _) == GidEntryState.Valid)
            return true;
        entry = default;
        return false;
    }

    /// <summary>
    /// <c>rdma_get_gid_attr</c>'s answers without taking a reference (<c>rdma_query_gid</c> plus the error):
    /// <see cref="GidQueryError.InvalidArgument"/> for an index outside the table, <see cref="GidQueryError.NoData"/>
    /// for an empty or pending-delete slot.
    /// </summary>
    public GidQueryError Query(int index, out GidEntry entry)
    {
        entry = default;
        if ((uint)index >= (uint)_slots.Length)
            return GidQueryError.InvalidArgument;
        if (GidSlot.Read(ref _slots[index], out entry, out _) == GidEntryState.Valid)
            return GidQueryError.None;
        entry = default;
        return GidQueryError.NoData;
    }

    /// <summary>
    /// <c>rdma_read_gid_attr_ndev_rcu</c> for the entry a holder took at <paramref name="index"/>: its netdev while the
    /// entry is valid. Once the entry is deleted (pending delete while the holder keeps it) the kernel has detached
    /// the netdev and answers <see cref="GidQueryError.InvalidArgument"/>; so does this, however long the hold lasts.
    /// </summary>
    public GidQueryError ReadNetdev(int index, out int netdevIndex)
    {
        netdevIndex = 0;
        if ((uint)index >= (uint)_slots.Length || GidSlot.Read(ref _slots[index], out GidEntry e, out _) != GidEntryState.Valid)
            return GidQueryError.InvalidArgument;
        netdevIndex = e.NetdevIfindex;
        return GidQueryError.None;
    }

    /// <summary>
    /// <c>rdma_find_gid_by_filter</c>: the lowest valid entry holding <paramref name="gid"/> for which the caller's
    /// <paramref name="filter"/> says yes, with a reference taken on it (release it with <see cref="Release"/>), or
    /// <see cref="GidQueryError.NotFound"/>. Allocation-free with a static lambda and a struct or cached state.
    /// </summary>
    public GidQueryError FindByFilter<TState>(in Gid gid, GidFilter<TState> filter, TState state, out int index, out GidEntry entry)
    {
        ArgumentNullException.ThrowIfNull(filter);
        while (true)
        {
            index = -1;
            for (int i = 0; i < _slots.Length; i++)
            {
                if (GidSlot.Read(ref _slots[i], out GidEntry e, out _) != GidEntryState.Valid || e.Gid != gid)
                    continue;
                if (filter(e, i, state))
                {
                    index = i;
                    break;
                }
            }
            if (index < 0)
            {
                entry = default;
                return GidQueryError.NotFound;
            }
            // The entry may have been deleted since it was read: then look again (the kernel reads and takes the
            // reference under one read lock; here the hold's compare-and-swap tells).
            if (TryHold(index, out entry))
            {
                if (entry.Gid == gid && filter(entry, index, state))
                    return GidQueryError.None;
                Release(index);
            }
        }
    }

    /// <summary>The state of slot <paramref name="index"/>.</summary>
    public GidEntryState StateOf(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_slots.Length, nameof(index));
        return GidSlot.StateOf(Volatile.Read(ref _slots[index].Word));
    }

    /// <summary>References held on slot <paramref name="index"/> (valid or pending delete).</summary>
    public int ReferencesOf(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_slots.Length, nameof(index));
        return GidSlot.ReferencesOf(Volatile.Read(ref _slots[index].Word));
    }

    /// <summary>The valid entries in index order; allocation-free <c>foreach</c>.</summary>
    public ValidEntryEnumerator GetEnumerator() => new(this);

    /// <summary>The valid entries in index order, as (Index, Entry).</summary>
    public ValidEntryEnumerator EnumerateValid() => new(this);

    // ======================================================================================================
    // References (rdma_get_gid_attr / rdma_put_gid_attr): lock-free, compare-and-swap on GidSlot.Word.
    // ======================================================================================================

    /// <summary>
    /// Takes a reference on the valid entry at <paramref name="index"/> (a queue pair or address handle using it).
    /// While held, a delete leaves the slot <see cref="GidEntryState.PendingDelete"/> and it is not reused.
    /// False (no reference taken) if the slot is not valid (<c>-ENODATA</c>) or out of range (<c>-EINVAL</c>).
    /// </summary>
    public bool TryHold(int index, out GidEntry entry)
    {
        entry = default;
        if ((uint)index >= (uint)_slots.Length)
            return false;
        ref GidSlot s = ref _slots[index];
        while (true)
        {
            int word = Volatile.Read(ref s.Word);
            if (GidSlot.StateOf(word) != GidEntryState.Valid)
                return false;
            if (GidSlot.ReferencesOf(word) == GidSlot.ReferencesOf(int.MaxValue))
                throw new InvalidOperationException($"port {Port} GID index {index}: too many references");
            if (Interlocked.CompareExchange(ref s.Word, word + GidSlot.OneReference, word) == word)
                break;
        }
        // Held: the attributes cannot change until the slot is freed, which needs this reference released. The CAS
        // is a full fence after the writer's release store of Valid, so the attributes are visible and whole.
        entry = s.Entry;
        return true;
    }

    /// <summary>
    /// Drops a reference taken by <see cref="TryHold"/>. The last release of a pending-delete entry frees its slot
    /// (under the writer lock, as the kernel's free_gid_work takes table->lock).
    /// </summary>
    /// <exception cref="InvalidOperationException">The slot holds no reference (a release without a hold).</exception>
    public void Release(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_slots.Length, nameof(index));
        ref GidSlot s = ref _slots[index];
        int word, next;
        do
        {
            word = Volatile.Read(ref s.Word);
            if (GidSlot.ReferencesOf(word) == 0)
                throw new InvalidOperationException($"port {Port} GID index {index}: Release without a matching TryHold (slot is {GidSlot.StateOf(word)})");
            next = word - GidSlot.OneReference;
        } while (Interlocked.CompareExchange(ref s.Word, next, word) != word);

        if (next == GidSlot.MakeWord(GidEntryState.PendingDelete, 0))
        {
            lock (_writerLock)
            {
                BeginTableWrite();
                try { Volatile.Write(ref s.Word, GidSlot.MakeWord(GidEntryState.Free, 0)); }
                finally { EndTableWrite(); }
                _freeSlots.MarkFree(index);
            }
        }
    }

    // ======================================================================================================
    // Writers: serialised by _writerLock.
    // ======================================================================================================

    /// <summary>
    /// <c>ib_cache_gid_add</c>: adds an ordinary (non-default) GID and returns its index. If (gid, type, netdev) is
    /// already valid anywhere, default slots included, returns that index and changes nothing (no event).
    /// </summary>
    /// <exception cref="ArgumentException">Zero GID, unsupported type, or a RoCE GID without a netdev.</exception>
    /// <exception cref="GidTableFullException">No free non-default slot; nothing changed.</exception>
    /// <exception cref="InvalidOperationException">The programmer refused it; nothing changed.</exception>
    public int Add(in GidEntry e) => IndexOrThrow(TryAdd(e, out int index, out string? error), index, error, nameof(e));

    /// <summary>
    /// As <see cref="Add"/>, with the outcome as a <see cref="GidWriteResult"/> and, unless Added or Exists, the
    /// reason in <paramref name="error"/> (what and where). Never throws for a full table, bad input or a refusal.
    /// </summary>
    public GidWriteResult TryAdd(in GidEntry e, out int index, out string? error)
    {
        index = -1;
        if (InvalidReason(e) is { } why)
        {
            error = why;
            return GidWriteResult.Invalid;
        }
        using (EnterWriter())
        {
            error = null;
            if (TryFindForWriter(e, out index))
                return GidWriteResult.Exists;
            // Not found: the key is not in the index either (a key there is visible, or has its ordinary slot).
            index = ChooseSlot(e);
            if (index < 0)
            {
                error = FullMessage(e);
                return GidWriteResult.Full;
            }
            if (!ProgramAdd(index, e, out error))
            {
                index = -1;
                return GidWriteResult.DeviceRefused;
            }
            _freeSlots.MarkTaken(index);
            _history.Remember(e, index);
            Show(index, e, isDefault: false, keyAbsent: true);
            return GidWriteResult.Added;
        }
    }

    /// <summary>
    /// <c>ib_cache_gid_set_default_gid</c> (SET) for one type. If a default slot already holds a default of
    /// <c>e.Type</c> for the same netdev, returns its index without comparing the GID value (kernel semantics: on a
    /// MAC change, call <see cref="DeleteDefault"/> first). Otherwise <paramref name="e"/> takes the first free
    /// default slot, whatever type the slot held before (cache.c find_gid's <c>empty</c>: a NULL slot whose
    /// default-ness matches; slots are not tied to a type). So while a default slot is pending delete (held by a QP
    /// across a MAC change) the new v1 default can land at 1 and the v2 default find no slot, as in the kernel.
    /// </summary>
    /// <exception cref="GidTableFullException">No default slot is free (held by other defaults or pending delete).</exception>
    public int SetDefault(in GidEntry e) => IndexOrThrow(TrySetDefault(e, out int index, out string? error), index, error, nameof(e));

    /// <summary>As <see cref="SetDefault"/>, with the outcome as a <see cref="GidWriteResult"/>.</summary>
    public GidWriteResult TrySetDefault(in GidEntry e, out int index, out string? error)
    {
        index = -1;
        if (InvalidReason(e) is { } why)
        {
            error = why;
            return GidWriteResult.Invalid;
        }
        using (EnterWriter())
        {
            error = null;
            index = FindDefaultForWriter(e.Type, e.NetdevIfindex);
            if (index >= 0)
                return GidWriteResult.Exists;
            index = FirstFreeDefaultSlot();
            if (index < 0)
            {
                error = $"port {Port}: cannot set default GID {e}: no free default slot ({DescribeDefaultSlots()})";
                return GidWriteResult.Full;
            }
            if (!ProgramAdd(index, e, out error))
            {
                index = -1;
                return GidWriteResult.DeviceRefused;
            }
            Show(index, e, isDefault: true);
            return GidWriteResult.Added;
        }
    }

    private int IndexOrThrow(GidWriteResult result, int index, string? error, string paramName) => result switch
    {
        GidWriteResult.Added or GidWriteResult.Exists => index,
        GidWriteResult.Full => throw new GidTableFullException(Port, Capacity, error!),
        GidWriteResult.Invalid => throw new ArgumentException(error, paramName),
        _ => throw new InvalidOperationException(error),
    };

    /// <summary>
    /// Makes every entry added since the last call visible, in the order they were added, each with its event (a
    /// publishAfterCommit table: the manager calls this once the port's push succeeded). Returns how many.
    /// </summary>
    public int PublishCommitted() => PublishCommitted(int.MaxValue);

    /// <summary>
    /// As <see cref="PublishCommitted()"/> for the <paramref name="oldest"/> entries that wait (at most): the ones a push
    /// that reached the hardware carried, when later adds wait for a push still to come (a device programmed off the
    /// worker). Returns how many.
    /// </summary>
    public int PublishCommitted(int oldest)
    {
        using (EnterWriter())
        {
            int n = Math.Min(oldest, _unpublished.Count);
            for (int i = 0; i < n; i++)
            {
                var (index, e) = _unpublished[i];
                bool isDefault = IsDefaultSlot(index);
                if (isDefault)
                    _unpublishedDefault[index] = null;
                MakeVisible(index, e, isDefault);
                Notify(new GidChange(Port, index, null, e));
            }
            _unpublished.RemoveRange(0, n);
            return n;
        }
    }

    /// <summary>
    /// <c>ib_cache_gid_set_default_gid</c> (DELETE) for one type: deletes the default of <paramref name="type"/> if it
    /// belongs to <paramref name="netdevIndex"/>. False if there is none.
    /// </summary>
    public bool DeleteDefault(GidType type, int netdevIndex)
    {
        using (EnterWriter())
        {
            int slot = FindDefault(type, netdevIndex);
            if (slot < 0)
                return DropUnpublishedDefault(type, netdevIndex);
            GidEntry held = _slots[slot].Entry;
            ProgramDelete(slot, held);
            Unpublish(slot, held, isDefault: true);
            Notify(new GidChange(Port, slot, held, null));
            return true;
        }
    }

    /// <summary>
    /// <c>ib_cache_gid_del</c>: deletes (gid, type, netdev) from the non-default slots. False if it is not there.
    /// A held entry stays <see cref="GidEntryState.PendingDelete"/> until its last <see cref="Release"/>.
    /// </summary>
    public bool Delete(in GidEntry e)
    {
        using (EnterWriter())
        {
            // One probe of the index finds the key's ordinary slot; nothing changes before the device accepted.
            int position = _index.Find(e);
            int index = position < 0 ? -1 : _index.WriterValueAt(position) - 1;
            if (index < 0)
                return false;
            ProgramDelete(index, e);
            if (IsFree(index))
            {
                // Added in this burst and never shown: no reader saw it, so no event either.
                DropUnpublished(index, e, position);
                return true;
            }
            Unpublish(index, e, isDefault: false, position);
            Notify(new GidChange(Port, index, e, null));
            return true;
        }
    }

    /// <summary>
    /// <c>ib_cache_gid_del_all_netdev_gids</c>: deletes every valid entry of the netdev, defaults included, in index
    /// order, with one listener call for the batch. Returns how many were deleted.
    /// </summary>
    /// <remarks>
    /// If the programmer throws part way, the entries it already deleted stay deleted (the table mirrors the
    /// hardware), the failing entry and the rest stay valid, the listener hears of the part that was done, and the
    /// exception propagates.
    /// </remarks>
    public int DeleteAllForNetdev(int netdevIndex)
    {
        using (EnterWriter())
        {
            _batch.Clear();
            try
            {
                for (int i = 0; i < _slots.Length; i++)
                {
                    if (GidSlot.StateOf(Volatile.Read(ref _slots[i].Word)) != GidEntryState.Valid || _slots[i].Netdev != netdevIndex)
                        continue;
                    GidEntry e = _slots[i].Entry;
                    ProgramDelete(i, e);
                    Unpublish(i, e, isDefault: IsDefaultSlot(i));
                    _batch.Add(new GidChange(Port, i, e, null));
                }
            }
            finally
            {
                if (_batch.Count > 0)
                    Notify(CollectionsMarshal.AsSpan(_batch));
            }
            int shown = _batch.Count;
            for (int i = _unpublished.Count - 1; i >= 0; i--)
            {
                var (index, e) = _unpublished[i];
                if (e.NetdevIfindex != netdevIndex)
                    continue;
                ProgramDelete(index, e);
                DropUnpublished(index, e);
            }
            return shown;
        }
    }

    /// <summary>
    /// What the sticky policy remembers: every (entry, index) assignment it knows, live ones included, in index
    /// order. Save it before a daemon restart and give it to <see cref="ImportAssignments"/> after.
    /// </summary>
    public IReadOnlyList<(GidEntry Entry, int Index)> ExportAssignments()
    {
        lock (_writerLock)
            return _history.Export();
    }

    /// <summary>
    /// Loads remembered assignments (from <see cref="ExportAssignments"/>), oldest first. An entry that is valid
    /// now keeps its index (an index never changes while its entry exists). All are checked before any is taken.
    /// </summary>
    /// <exception cref="ArgumentException">An index outside the non-default slots, a zero GID or an unsupported type.</exception>
    public void ImportAssignments(IEnumerable<(GidEntry Entry, int Index)> assignments)
    {
        ArgumentNullException.ThrowIfNull(assignments);
        var list = assignments.ToList();
        foreach (var (e, index) in list)
        {
            Validate(e, nameof(assignments));
            if (index < DefaultSlotCount || index >= Capacity)
                throw new ArgumentException(
                    $"port {Port}: remembered index {index} of {e} is outside the non-default slots {DefaultSlotCount}..{Capacity - 1}", nameof(assignments));
        }
        using (EnterWriter())
        {
            foreach (var (e, index) in list)
                if (OrdinaryIndexOf(e) < 0)
                    _history.Remember(e, index);
        }
    }

    // ---- writer helpers (writer lock held) ----

    private Lock.Scope EnterWriter()
    {
        Lock.Scope scope = _writerLock.EnterScope();
        if (_inCallback)
        {
            scope.Dispose();
            throw new InvalidOperationException(
                $"port {Port}: a GID table writer was called from the table's own programmer or listener; queue the change instead");
        }
        return scope;
    }

    private void Validate(in GidEntry e, string paramName)
    {
        if (InvalidReason(e) is { } why)
            throw new ArgumentException(why, paramName);
    }

    /// <summary>Why <paramref name="e"/> can never be an entry of this table (-EINVAL), or null.</summary>
    private string? InvalidReason(in GidEntry e)
    {
        if (e.Gid.IsZero)
            return $"port {Port}: the zero GID is never a valid entry (IB spec 4.1.1(6)): {e}";
        if (!SupportedTypes.Contains(e.Type))
            return $"port {Port} does not support {e.Type} GIDs (supported: {SupportedTypes}): {e}";
        if (e.NetdevIfindex < 0 || (e.NetdevIfindex == 0 && e.Type != GidType.Ib))
            return $"port {Port}: a RoCE GID needs its netdev's ifindex (> 0): {e}";
        return null;
    }

    /// <summary>The writers' find (writer lock held): a visible entry (default slots included) or one added but not
    /// yet shown.</summary>
    private bool TryFindForWriter(in GidEntry e, out int index)
    {
        int position = _index.Find(e);
        if (position >= 0)
        {
            index = _index.ReaderIndexAt(position);
            if (index >= 0)
                return true;
            index = _index.WriterValueAt(position) - 1;   // an ordinary entry not yet published
            if (index >= 0)
                return true;
        }
        index = -1;
        if (_unpublished.Count == 0)
            return false;
        for (int i = 0; i < DefaultSlotCount; i++)
            if (_unpublishedDefault[i] == e)
            {
                index = i;
                return true;
            }
        index = -1;
        return false;
    }

    /// <summary>The ordinary slot of <paramref name="e"/> (valid or waiting to be published), or -1.</summary>
    private int OrdinaryIndexOf(in GidEntry e)
    {
        int position = _index.Find(e);
        return position < 0 ? -1 : _index.WriterValueAt(position) - 1;
    }

    /// <summary>Makes an added entry visible now, or queues it for <see cref="PublishCommitted"/>.</summary>
    /// <param name="keyAbsent">The caller knows the key is not in the index (saves MakeVisible a probe).</param>
    private void Show(int index, in GidEntry e, bool isDefault, bool keyAbsent = false)
    {
        if (_publishAfterCommit)
        {
            if (!isDefault)
                _index.Add(e, readerIndex: -1, writerValue: index + 1);   // the writers' only, until published
            _unpublished.Add((index, e));
            if (isDefault)
                _unpublishedDefault[index] = e;
            return;
        }
        MakeVisible(index, e, isDefault, keyAbsent);
        Notify(new GidChange(Port, index, null, e));
    }

    /// <summary>Forgets an entry added but never shown (deleted in the same burst): its slot is free again.</summary>
    private void DropUnpublished(int index, in GidEntry e, int position = -1)
    {
        for (int i = _unpublished.Count - 1; i >= 0; i--)
            if (_unpublished[i].Index == index)
            {
                _unpublished.RemoveAt(i);
                break;
            }
        if (IsDefaultSlot(index))
            _unpublishedDefault[index] = null;
        else
        {
            int p = position >= 0 ? position : _index.Find(e);
            _index.WriterValueAt(p) = 0;
            if (_index.ReaderIndexAt(p) < 0)
                _index.RemoveAt(p);           // hidden: nobody else has the key (else readers see it at a default slot)
            _freeSlots.MarkFree(index);
        }
    }

    private bool DropUnpublishedDefault(GidType type, int netdevIndex)
    {
        for (int i = 0; i < DefaultSlotCount; i++)
            if (_unpublishedDefault[i] is { } d && d.Type == type && d.NetdevIfindex == netdevIndex)
            {
                ProgramDelete(i, d);
                DropUnpublished(i, d);
                return true;
            }
        return false;
    }

    private bool IsFree(int index) => GidSlot.StateOf(Volatile.Read(ref _slots[index].Word)) == GidEntryState.Free;

    private string DescribeDefaultSlots()
    {
        var parts = new List<string>();
        for (int i = 0; i < DefaultSlotCount; i++)
        {
            int word = Volatile.Read(ref _slots[i].Word);
            parts.Add(GidSlot.StateOf(word) switch
            {
                GidEntryState.Valid => $"{i}: {_slots[i].Entry}",
                GidEntryState.PendingDelete => $"{i}: pending delete, {GidSlot.ReferencesOf(word)} reference(s)",
                _ => $"{i}: free",
            });
        }
        return string.Join("; ", parts);
    }

    // The free bitmap, not the slot state: a slot taken by an entry that waits to be published reads Free.
    private bool IsFreeOrdinary(int index) => index >= DefaultSlotCount && index < Capacity && _freeSlots.IsFree(index);

    /// <summary>The slot a new ordinary GID takes under the table's policy, or -1 if none is free. Constant time:
    /// the lowest free slots come from <see cref="FreeSlots"/>, not from a walk over the table.</summary>
    private int ChooseSlot(in GidEntry e)
    {
        if (Policy == IndexPolicy.Sticky)
        {
            _history.Recall(e, out int exact, out int address);   // both memories, one look-up
            if (IsFreeOrdinary(exact))
                return exact;
            if (IsFreeOrdinary(address))
                return address;
            // The first free slot that no other key remembers. e's own remembered slot, if it has one, is not free
            // (it would have been taken above), so "no other key" is "no key".
            int unremembered = _freeSlots.LowestFreeUnremembered();
            if (unremembered >= 0)
                return unremembered;
        }
        // find_gid's pempty: the first NULL slot that is not a default slot.
        return _freeSlots.LowestFree();
    }

    private string FullMessage(in GidEntry e)
    {
        int pending = 0;
        for (int i = DefaultSlotCount; i < Capacity; i++)
            if (GidSlot.StateOf(Volatile.Read(ref _slots[i].Word)) == GidEntryState.PendingDelete)
                pending++;
        return $"port {Port}: GID table is full (capacity {Capacity}: {DefaultSlotCount} default slot(s), "
             + $"{Capacity - DefaultSlotCount - pending} valid, {pending} pending delete); cannot add {e}";
    }

    private bool ProgramAdd(int index, in GidEntry e, out string? refusal)
    {
        refusal = null;
        if (_programmer is null)
            return true;
        _inCallback = true;
        try { return _programmer.TryAddGid(Port, index, e, out refusal); }
        finally { _inCallback = false; }
    }

    private void ProgramDelete(int index, in GidEntry e)
    {
        if (_programmer is null)
            return;
        _inCallback = true;
        try { _programmer.DeleteGid(Port, index, e); }
        finally { _inCallback = false; }
    }

    private void Notify(GidChange change) => Notify(new ReadOnlySpan<GidChange>(in change));

    private void Notify(ReadOnlySpan<GidChange> batch)
    {
        if (_listener is null)
            return;
        _inCallback = true;
        try { _listener.OnGidChanged(this, batch); }
        finally { _inCallback = false; }
    }

    private void BeginTableWrite() => Volatile.Write(ref _tableSeq, _tableSeq + 1);

    private void EndTableWrite() => Volatile.Write(ref _tableSeq, _tableSeq + 1);

    /// <summary>Makes a programmed entry visible: slot, hash index, count, all inside one table write. (Its slot is
    /// already taken for writers: the free bitmap, and for a queued ordinary entry its hidden key in the index.)</summary>
    private void MakeVisible(int index, in GidEntry e, bool isDefault, bool keyAbsent = false)
    {
        BeginTableWrite();
        try
        {
            GidSlot.Publish(ref _slots[index], e);
            // The hash index keeps the lowest valid index of the key: a default slot is below any other.
            int position = keyAbsent ? -1 : _index.Find(e);
            if (position < 0)
                _index.Add(e, index, writerValue: isDefault ? 0 : index + 1);
            else
            {
                int current = _index.ReaderIndexAt(position);
                if (current < 0 || index < current)
                    _index.SetReaderIndexAt(position, index);
            }
            Volatile.Write(ref _count, _count + 1);
        }
        finally
        {
            EndTableWrite();
        }
    }

    /// <summary>
    /// Takes a deleted entry out of sight: Valid becomes PendingDelete with its references, or Free with none
    /// (cache.c del_gid); the hash index falls back to the key's other valid slot, if any.
    /// </summary>
    /// <param name="position">The key's position in the index, if the caller has it.</param>
    private void Unpublish(int index, in GidEntry e, bool isDefault, int position = -1)
    {
        BeginTableWrite();
        try
        {
            ref GidSlot s = ref _slots[index];
            int word, next;
            do
            {
                word = Volatile.Read(ref s.Word);
                int refs = GidSlot.ReferencesOf(word);
                next = refs == 0 ? GidSlot.MakeWord(GidEntryState.Free, 0) : GidSlot.MakeWord(GidEntryState.PendingDelete, refs);
            } while (Interlocked.CompareExchange(ref s.Word, next, word) != word);
            if (GidSlot.StateOf(next) == GidEntryState.Free)
                _freeSlots.MarkFree(index);

            int p = position >= 0 ? position : _index.Find(e);
            int other = -1;
            bool keep;
            if (isDefault)
            {
                // The same key may be an ordinary entry too: readers fall back to it once it is published; until then
                // the key stays, hidden, for the writers.
                int ordinary = _index.WriterValueAt(p) - 1;
                keep = ordinary >= 0;
                if (keep && GidSlot.StateOf(Volatile.Read(ref _slots[ordinary].Word)) == GidEntryState.Valid)
                    other = ordinary;
            }
            else
            {
                _index.WriterValueAt(p) = 0;
                for (int d = 0; d < DefaultSlotCount && other < 0; d++)
                    if (GidSlot.StateOf(Volatile.Read(ref _slots[d].Word)) == GidEntryState.Valid && _slots[d].Entry == e)
                        other = d;
                keep = other >= 0;
            }
            if (keep)
                _index.SetReaderIndexAt(p, other);
            else
                _index.RemoveAt(p);
            Volatile.Write(ref _count, _count - 1);
        }
        finally
        {
            EndTableWrite();
        }
    }
}
