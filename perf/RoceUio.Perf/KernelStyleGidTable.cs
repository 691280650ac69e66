using RoceUio.Gids;

namespace RoceUio.Perf;

/// <summary>
/// The baseline a user could write by copying the kernel: cache.c find_gid, a linear scan over every slot under a
/// reader-writer lock (ReaderWriterLockSlim for the kernel's rwlock_t), lowest match wins, first free slot for adds.
/// </summary>
internal sealed class KernelStyleGidTable
{
    private struct Slot
    {
        public bool Valid;
        public GidEntry Entry;
    }

    private readonly ReaderWriterLockSlim _rwlock = new(LockRecursionPolicy.NoRecursion);
    private readonly Slot[] _slots;
    private readonly int _defaults;

    public KernelStyleGidTable(int capacity, int defaultSlots)
    {
        _slots = new Slot[capacity];
        _defaults = defaultSlots;
    }

    public void Put(int index, in GidEntry e) => _slots[index] = new Slot { Valid = true, Entry = e };

    /// <summary>find_gid with mask GID|GID_TYPE|NETDEV, under read_lock_irqsave(&amp;table->rwlock).</summary>
    public bool TryFind(in GidEntry e, out int index)
    {
        _rwlock.EnterReadLock();
        try
        {
            return (index = Scan(e)) >= 0;
        }
        finally
        {
            _rwlock.ExitReadLock();
        }
    }

    private int Scan(in GidEntry e)
    {
        Slot[] slots = _slots;
        for (int i = 0; i < slots.Length; i++)
        {
            ref Slot s = ref slots[i];
            if (s.Valid && s.Entry.Type == e.Type && s.Entry.Gid == e.Gid && s.Entry.NetdevIfindex == e.NetdevIfindex)
                return i;
        }
        return -1;
    }

    /// <summary>rdma_query_gid: copy the entry under the read lock.</summary>
    public bool TryGet(int index, out GidEntry e)
    {
        _rwlock.EnterReadLock();
        try
        {
            ref Slot s = ref _slots[index];
            e = s.Entry;
            return s.Valid;
        }
        finally
        {
            _rwlock.ExitReadLock();
        }
    }

    /// <summary>__ib_cache_gid_add: de-dup and first free non-default slot in one pass, then the write.</summary>
    public int Add(in GidEntry e)
    {
        _rwlock.EnterWriteLock();
        try
        {
            int empty = -1;
            for (int i = 0; i < _slots.Length; i++)
            {
                ref Slot s = ref _slots[i];
                if (s.Valid && s.Entry == e)
                    return i;
                if (!s.Valid && empty < 0 && i >= _defaults)
                    empty = i;
            }
            if (empty >= 0)
                _slots[empty] = new Slot { Valid = true, Entry = e };
            return empty;
        }
        finally
        {
            _rwlock.ExitWriteLock();
        }
    }

    /// <summary>ib_cache_gid_del: find outside default slots, free the slot.</summary>
    public bool Delete(in GidEntry e)
    {
        _rwlock.EnterWriteLock();
        try
        {
            for (int i = _defaults; i < _slots.Length; i++)
            {
                if (_slots[i].Valid && _slots[i].Entry == e)
                {
                    _slots[i].Valid = false;
                    return true;
                }
            }
            return false;
        }
        finally
        {
            _rwlock.ExitWriteLock();
        }
    }
}
