namespace RoceUio.Gids;

/// <summary>
/// What a <see cref="GidTable"/> remembers for <see cref="IndexPolicy.Sticky"/>: the index each GID last had, so
/// that a GID that comes back gets it again. Writer-only state (the table's writer lock is held for every call).
/// </summary>
/// <remarks>
/// <para>The key is the whole identity (gid, type, netdev ifindex), the same key the table de-duplicates on, so two
/// entries that can live side by side (the port's link-local default and the same value on a VLAN, §9.4 of
/// kernel-gid.md) never fight over one memory. The netdev belongs in the key because:</para>
/// <list type="bullet">
/// <item>a link flap or admin down/up keeps the netdev and its ifindex, so the GID finds its old index;</item>
/// <item>a bond failover moves the bond's GIDs between ports with ndev = the bond, whose ifindex does not change,
/// and each port's table remembers its own indexes, so failing back restores them;</item>
/// <item>our daemon restarting does not change ifindexes (they live as long as the netdev), and
/// <see cref="GidTable.ExportAssignments"/>/<see cref="GidTable.ImportAssignments"/> carry the memory over.</item>
/// </list>
/// <para>The one case the ifindex loses is a netdev that is deleted and created again (a pod's macvlan): the same
/// address then comes back under a new ifindex. For that, a second, weaker memory keyed on (gid, type) alone is
/// consulted when the exact key has none: the address gets the index it last had on any netdev, if that slot is free.</para>
/// <para>The memory is bounded (4 x capacity keys, at least 64); past that the longest-unused key is forgotten, so
/// rotating addresses (IPv6 privacy addresses) cannot grow it without end.</para>
/// </remarks>
internal sealed class StickyIndexHistory
{
    private readonly record struct Memory(int Index, long Stamp);

    private readonly Dictionary<GidEntry, Memory> _byEntry = new();
    private readonly Dictionary<(Gid, GidType), (int Index, int Netdev)> _byAddress = new();
    private readonly int[] _rememberedBy;   // per index: how many keys remember it
    private readonly int _limit;
    private long _clock;

    public StickyIndexHistory(int capacity)
    {
        _rememberedBy = new int[capacity];
        _limit = Math.Max(64, 4 * capacity);
    }

    public int Count => _byEntry.Count;

    /// <summary>The index <paramref name="e"/> last had (exact key), or -1.</summary>
    public int IndexOf(in GidEntry e) => _byEntry.TryGetValue(e, out Memory m) ? m.Index : -1;

    /// <summary>The index the address (gid, type) last had on any netdev, or -1.</summary>
    public int IndexOfAddress(in GidEntry e) => _byAddress.TryGetValue((e.Gid, e.Type), out var m) ? m.Index : -1;

    /// <summary>True if a key other than <paramref name="self"/> remembers <paramref name="index"/>.</summary>
    public bool IsRememberedByAnother(int index, in GidEntry self)
        => _rememberedBy[index] - (IndexOf(self) == index ? 1 : 0) > 0;

    /// <summary>Records that <paramref name="e"/> now lives at <paramref name="index"/>.</summary>
    public void Remember(in GidEntry e, int index)
    {
        if (_byEntry.TryGetValue(e, out Memory old))
            _rememberedBy[old.Index]--;
        else if (_byEntry.Count >= _limit)
            ForgetOldest();
        _byEntry[e] = new Memory(index, ++_clock);
        _rememberedBy[index]++;
        _byAddress[(e.Gid, e.Type)] = (index, e.NetdevIndex);
    }

    private void ForgetOldest()
    {
        GidEntry oldest = default;
        long stamp = long.MaxValue;
        foreach (var (key, m) in _byEntry)
            if (m.Stamp < stamp)
                (oldest, stamp) = (key, m.Stamp);
        Forget(oldest);
    }

    private void Forget(in GidEntry e)
    {
        if (!_byEntry.Remove(e, out Memory m))
            return;
        _rememberedBy[m.Index]--;
        if (_byAddress.TryGetValue((e.Gid, e.Type), out var a) && a.Netdev == e.NetdevIndex)
            _byAddress.Remove((e.Gid, e.Type));
    }

    /// <summary>Every remembered (entry, index), in index order, then oldest first.</summary>
    public List<(GidEntry Entry, int Index)> Export()
    {
        var list = new List<(GidEntry Entry, int Index, long Stamp)>(_byEntry.Count);
        foreach (var (key, m) in _byEntry)
            list.Add((key, m.Index, m.Stamp));
        list.Sort((a, b) => a.Index != b.Index ? a.Index.CompareTo(b.Index) : a.Stamp.CompareTo(b.Stamp));
        return list.ConvertAll(x => (x.Entry, x.Index));
    }
}
