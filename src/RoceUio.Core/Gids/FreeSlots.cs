namespace RoceUio.Gids;

/// <summary>
/// Where a <see cref="GidTable"/> finds a slot for a new ordinary GID in constant time: the free ordinary slots in
/// index order, and among them those that no remembered key of <see cref="StickyIndexHistory"/> points at.
/// Writer-only state (the table's writer lock is held for every call).
/// </summary>
/// <remarks>
/// The two policies' choices, as <c>GidTable.ChooseSlot</c> makes them, are "the lowest free ordinary slot" (the
/// kernel's find_gid <c>pempty</c>) and "the lowest free ordinary slot that no absent GID remembers"; both are the
/// lowest member of a <see cref="LowestFirstBitSet"/> kept here, instead of a walk over every slot. The table tells
/// this class when a slot becomes free or taken (a pending-delete slot is taken), and the history tells it when a
/// key starts or stops remembering an index. Default slots are never members.
/// </remarks>
internal sealed class FreeSlots
{
    private readonly LowestFirstBitSet _free;
    private readonly LowestFirstBitSet _freeUnremembered;
    private readonly int[] _rememberedBy;   // per index: how many remembered keys point at it
    private readonly int _firstOrdinary;

    /// <summary>Every ordinary slot (<paramref name="firstOrdinary"/>..capacity-1) starts free and unremembered.</summary>
    public FreeSlots(int capacity, int firstOrdinary)
    {
        _free = new LowestFirstBitSet(capacity);
        _freeUnremembered = new LowestFirstBitSet(capacity);
        _rememberedBy = new int[capacity];
        _firstOrdinary = firstOrdinary;
        for (int i = firstOrdinary; i < capacity; i++)
        {
            _free.Add(i);
            _freeUnremembered.Add(i);
        }
    }

    private bool IsOrdinary(int index) => index >= _firstOrdinary && index < _rememberedBy.Length;

    /// <summary>The lowest free ordinary slot, or -1.</summary>
    public int LowestFree() => _free.Lowest();

    /// <summary>The lowest free ordinary slot that no remembered key points at, or -1.</summary>
    public int LowestFreeUnremembered() => _freeUnremembered.Lowest();

    /// <summary>True when the ordinary slot <paramref name="index"/> is free (no entry, valid, pending delete or
    /// waiting to be published, holds it).</summary>
    public bool IsFree(int index) => _free.Contains(index);

    /// <summary>How many remembered keys point at <paramref name="index"/>.</summary>
    public int RememberedBy(int index) => _rememberedBy[index];

    /// <summary>The slot became free (a delete with no references, or the last release of a pending delete).</summary>
    public void MarkFree(int index)
    {
        if (!IsOrdinary(index))
            return;
        _free.Add(index);
        if (_rememberedBy[index] == 0)
            _freeUnremembered.Add(index);
    }

    /// <summary>The slot is no longer free (it holds an entry, valid or pending delete).</summary>
    public void MarkTaken(int index)
    {
        if (!IsOrdinary(index))
            return;
        _free.Remove(index);
        _freeUnremembered.Remove(index);
    }

    /// <summary>A remembered key now points at <paramref name="index"/>.</summary>
    public void Remember(int index)
    {
        if (_rememberedBy[index]++ == 0)
            _freeUnremembered.Remove(index);
    }

    /// <summary>A remembered key no longer points at <paramref name="index"/>.</summary>
    public void Forget(int index)
    {
        if (--_rememberedBy[index] == 0 && _free.Contains(index))
            _freeUnremembered.Add(index);
    }
}
