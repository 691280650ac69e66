namespace RoceUio.Gids;

/// <summary>
/// Enumerates the valid entries of a <see cref="GidTable"/> in index order, as (index, entry) pairs; a struct, so
/// <c>foreach (var (index, entry) in table)</c> allocates nothing. Each entry is read whole (per-slot seqlock);
/// the enumeration as a whole is not a snapshot: an entry added or deleted while it runs may or may not be seen.
/// </summary>
public struct ValidEntryEnumerator
{
    private readonly GidTable _table;
    private int _index;
    private (int Index, GidEntry Entry) _current;

    internal ValidEntryEnumerator(GidTable table)
    {
        _table = table;
        _index = -1;
        _current = default;
    }

    public readonly (int Index, GidEntry Entry) Current => _current;

    public bool MoveNext()
    {
        while (++_index < _table.Capacity)
        {
            if (_table.TryGet(_index, out GidEntry entry))
            {
                _current = (_index, entry);
                return true;
            }
        }
        return false;
    }

    /// <summary>Lets the enumerator itself be the target of <c>foreach</c> (as <see cref="GidTable.EnumerateValid"/> returns it).</summary>
    public readonly ValidEntryEnumerator GetEnumerator() => this;
}
