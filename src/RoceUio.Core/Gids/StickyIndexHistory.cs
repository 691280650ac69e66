using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

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
/// rotating addresses (IPv6 privacy addresses) cannot grow it without end. "Used" means remembered: every
/// <see cref="Remember"/> makes its key the newest. The keys are kept on a list from oldest to newest (nodes in an
/// array, linked by index), so forgetting the oldest and making a key the newest are a few stores each, not a
/// search; every call is constant time (a few dictionary operations), whatever the capacity.</para>
/// </remarks>
internal sealed class StickyIndexHistory
{
    /// <summary>One remembered key: its index, when it was last remembered, and its neighbours on the age list.</summary>
    private struct Node
    {
        public GidEntry Entry;
        public int Index;
        public long Stamp;
        public int Older, Newer;     // node numbers; -1 at the ends. A free node's Newer links the free list.
    }

    private readonly Dictionary<GidEntry, int> _byEntry;                          // key -> node
    private readonly Dictionary<(Gid, GidType), (int Index, int Netdev)> _byAddress;
    private readonly Node[] _nodes;
    private readonly FreeSlots _slots;
    private readonly int _limit;
    private int _oldest = -1, _newest = -1, _freeNode;
    private long _clock;

    /// <param name="capacity">The table's capacity.</param>
    /// <param name="slots">Told whenever a key starts or stops pointing at an index.</param>
    public StickyIndexHistory(int capacity, FreeSlots slots)
    {
        _limit = Math.Max(64, 4 * capacity);
        _slots = slots;
        // Sized once: one node and one dictionary entry more than the limit (a new key is added before the oldest
        // is forgotten), so remembering never allocates.
        _nodes = new Node[_limit + 1];
        for (int i = 0; i < _nodes.Length; i++)
            _nodes[i].Newer = i + 1 < _nodes.Length ? i + 1 : -1;
        _byEntry = new Dictionary<GidEntry, int>(_limit + 1, GidKeyComparer.Instance);
        _byAddress = new Dictionary<(Gid, GidType), (int, int)>(_limit + 1, GidKeyComparer.Instance);
    }

    public int Count => _byEntry.Count;

    /// <summary>The index <paramref name="e"/> last had (exact key), or -1.</summary>
    public int IndexOf(in GidEntry e) => _byEntry.TryGetValue(e, out int node) ? _nodes[node].Index : -1;

    /// <summary>The index the address (gid, type) last had on any netdev, or -1.</summary>
    public int IndexOfAddress(in GidEntry e) => _byAddress.TryGetValue((e.Gid, e.Type), out var m) ? m.Index : -1;

    /// <summary>Records that <paramref name="e"/> now lives at <paramref name="index"/>; it becomes the newest key.</summary>
    public void Remember(in GidEntry e, int index)
    {
        ref int node = ref CollectionsMarshal.GetValueRefOrAddDefault(_byEntry, e, out bool known);
        if (known)
        {
            ref Node n = ref _nodes[node];
            _slots.Forget(n.Index);
            Unlink(node);
            n.Index = index;
            n.Stamp = ++_clock;
            LinkNewest(node);
        }
        else
        {
            int fresh = _freeNode;
            _freeNode = _nodes[fresh].Newer;
            node = fresh;              // the last use of the dictionary ref: nothing below touches _byEntry before it
            _nodes[fresh] = new Node { Entry = e, Index = index, Stamp = ++_clock };
            LinkNewest(fresh);
        }
        _slots.Remember(index);
        _byAddress[(e.Gid, e.Type)] = (index, e.NetdevIfindex);
        if (_byEntry.Count > _limit)
            Forget(_oldest);
    }

    private void Forget(int node)
    {
        ref Node n = ref _nodes[node];
        GidEntry e = n.Entry;
        _byEntry.Remove(e);
        _slots.Forget(n.Index);
        // The address memory goes with the key only if it is this netdev's; usually it is, so remove first (one
        // dictionary operation) and put back the rare other netdev's memory.
        if (_byAddress.Remove((e.Gid, e.Type), out var a) && a.Netdev != e.NetdevIfindex)
            _byAddress[(e.Gid, e.Type)] = a;
        Unlink(node);
        n = default;
        n.Newer = _freeNode;
        _freeNode = node;
    }

    private void Unlink(int node)
    {
        ref Node n = ref _nodes[node];
        if (n.Older >= 0) _nodes[n.Older].Newer = n.Newer; else _oldest = n.Newer;
        if (n.Newer >= 0) _nodes[n.Newer].Older = n.Older; else _newest = n.Older;
    }

    private void LinkNewest(int node)
    {
        ref Node n = ref _nodes[node];
        n.Older = _newest;
        n.Newer = -1;
        if (_newest >= 0) _nodes[_newest].Newer = node; else _oldest = node;
        _newest = node;
    }

    /// <summary>Every remembered (entry, index), in index order, then oldest first.</summary>
    public List<(GidEntry Entry, int Index)> Export()
    {
        var list = new List<(GidEntry Entry, int Index, long Stamp)>(_byEntry.Count);
        for (int node = _oldest; node >= 0; node = _nodes[node].Newer)
            list.Add((_nodes[node].Entry, _nodes[node].Index, _nodes[node].Stamp));
        list.Sort((a, b) => a.Index != b.Index ? a.Index.CompareTo(b.Index) : a.Stamp.CompareTo(b.Stamp));
        return list.ConvertAll(x => (x.Entry, x.Index));
    }
}
