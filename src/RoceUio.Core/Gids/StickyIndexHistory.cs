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
/// search; every call is constant time, whatever the capacity.</para>
/// <para>Both memories live in one dictionary keyed on the address (gid, type): its value is the newest node of the
/// address's own list of nodes (one per netdev that had it, newest first). The exact memory is the node of the
/// address's list with the netdev (usually the list's only node); the address memory is the list's newest node,
/// which is the key that last remembered the address, as a separate (gid, type) memory overwritten by every
/// <see cref="Remember"/> would be. When the oldest key is forgotten it is the oldest of its address's list (every
/// other node there was remembered after it), so the address memory goes only when no netdev remembers the address.
/// A fresh key costs one look-up (<see cref="Recall"/>), one insert and one removal (the oldest key's); before the
/// two memories were merged it was six dictionary operations. The map is this class's own open-addressed table
/// (linear probing, backward-shift removal, at most half full, sized once): each bucket holds the head node and the
/// key's hash, so a probe compares hashes without touching other keys' nodes, and the hash is computed inline
/// rather than through a comparer interface. Forgetting the oldest key touches memory no other call touched for
/// 4 x capacity calls (its node and its bucket), so few cold lines per call is what counts here.</para>
/// </remarks>
internal sealed class StickyIndexHistory
{
    /// <summary>One remembered key: its index, when it was last remembered, its neighbours on the age list and on
    /// its address's list.</summary>
    private struct Node
    {
        public GidEntry Entry;
        public int Index;
        public long Stamp;
        public int Older, Newer;           // age list, node numbers; -1 at the ends. A free node's Newer links the free list.
        public int AddrOlder, AddrNewer;   // the address's list (same gid and type, other netdevs); -1 at the ends
    }

    /// <summary>A bucket of the address map: the address's newest node + 1 (0 = empty) and the address's hash.</summary>
    private struct Bucket
    {
        public int HeadPlus1;
        public uint Hash;
    }

    private readonly Bucket[] _byAddress;   // address -> its newest node; power-of-two length, at most half full
    private readonly int _bucketMask;
    private readonly Node[] _nodes;
    private readonly FreeSlots _slots;
    private readonly int _limit;
    private int _oldest = -1, _newest = -1, _freeNode, _count;
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
        _byAddress = new Bucket[(int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)(2 * (_limit + 1)))];
        _bucketMask = _byAddress.Length - 1;
    }

    /// <summary>Remembered keys.</summary>
    public int Count => _count;

    /// <summary>
    /// Both memories of <paramref name="e"/> with one dictionary look-up: the index the exact key last had
    /// (<paramref name="exact"/>) and the index the address (gid, type) last had on any netdev
    /// (<paramref name="address"/>); -1 where there is none.
    /// </summary>
    public void Recall(in GidEntry e, out int exact, out int address)
    {
        exact = address = -1;
        int at = FindBucket(e.Gid, e.Type, GidKeyComparer.HashOf(e.Gid, e.Type));
        if (at < 0)
            return;
        int head = _byAddress[at].HeadPlus1 - 1;
        address = _nodes[head].Index;
        int node = FindOnAddressList(head, e.NetdevIfindex);
        if (node >= 0)
            exact = _nodes[node].Index;
    }

    /// <summary>Records that <paramref name="e"/> now lives at <paramref name="index"/>; it becomes the newest key.</summary>
    public void Remember(in GidEntry e, int index)
    {
        uint hash = GidKeyComparer.HashOf(e.Gid, e.Type);
        int at = FindBucket(e.Gid, e.Type, hash);
        if (at < 0)
        {
            at = ~at;                        // the empty bucket the probe ended on: the address goes there
            _byAddress[at] = new Bucket { HeadPlus1 = 0, Hash = hash };
        }
        int head = _byAddress[at].HeadPlus1 - 1;
        int node = head >= 0 ? FindOnAddressList(head, e.NetdevIfindex) : -1;
        if (node >= 0)
        {
            ref Node n = ref _nodes[node];
            _slots.Forget(n.Index);
            Unlink(node);
            UnlinkFromAddress(node, ref head);
            n.Index = index;
            n.Stamp = ++_clock;
        }
        else
        {
            node = _freeNode;
            _freeNode = _nodes[node].Newer;
            _nodes[node] = new Node { Entry = e, Index = index, Stamp = ++_clock };
            _count++;
        }
        LinkNewest(node);
        LinkAddressNewest(node, ref head);
        _byAddress[at].HeadPlus1 = head + 1;   // before Forget below, which may move buckets
        _slots.Remember(index);
        if (_count > _limit)
            Forget(_oldest);
    }

    /// <summary>The bucket of the address, or the one's complement of the empty bucket where it would go.</summary>
    private int FindBucket(in Gid gid, GidType type, uint hash)
    {
        for (int i = (int)hash & _bucketMask; ; i = (i + 1) & _bucketMask)
        {
            ref Bucket b = ref _byAddress[i];
            if (b.HeadPlus1 == 0)
                return ~i;
            if (b.Hash == hash)
            {
                ref Node head = ref _nodes[b.HeadPlus1 - 1];
                if (head.Entry.Gid == gid && head.Entry.Type == type)
                    return i;
            }
        }
    }

    /// <summary>Empties bucket <paramref name="hole"/> (backward shift: no tombstones).</summary>
    private void RemoveBucket(int hole)
    {
        for (int j = (hole + 1) & _bucketMask; _byAddress[j].HeadPlus1 != 0; j = (j + 1) & _bucketMask)
        {
            // Move bucket j into the hole unless its home lies cyclically in (hole, j].
            int home = (int)_byAddress[j].Hash & _bucketMask;
            bool homeBetween = hole <= j ? hole < home && home <= j : hole < home || home <= j;
            if (!homeBetween)
            {
                _byAddress[hole] = _byAddress[j];
                hole = j;
            }
        }
        _byAddress[hole] = default;
    }

    private int FindOnAddressList(int head, int netdev)
    {
        for (int node = head; node >= 0; node = _nodes[node].AddrOlder)
            if (_nodes[node].Entry.NetdevIfindex == netdev)
                return node;
        return -1;
    }

    private void Forget(int node)
    {
        ref Node n = ref _nodes[node];
        _slots.Forget(n.Index);
        Unlink(node);
        int at = FindBucket(n.Entry.Gid, n.Entry.Type, GidKeyComparer.HashOf(n.Entry.Gid, n.Entry.Type));
        if (n.AddrNewer < 0 && n.AddrOlder < 0)
            RemoveBucket(at);                // the address's only node: the usual case
        else
        {
            // Other netdevs remember the address too. The oldest key is the oldest of its address's list (all the
            // others were remembered after it), so the list's newest, the address memory, stays.
            int head = _byAddress[at].HeadPlus1 - 1;
            UnlinkFromAddress(node, ref head);
            _byAddress[at].HeadPlus1 = head + 1;
        }
        n = default;
        n.Newer = _freeNode;
        _freeNode = node;
        _count--;
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

    private void UnlinkFromAddress(int node, ref int head)
    {
        ref Node n = ref _nodes[node];
        if (n.AddrNewer >= 0) _nodes[n.AddrNewer].AddrOlder = n.AddrOlder; else head = n.AddrOlder;
        if (n.AddrOlder >= 0) _nodes[n.AddrOlder].AddrNewer = n.AddrNewer;
        n.AddrOlder = n.AddrNewer = -1;
    }

    private void LinkAddressNewest(int node, ref int head)
    {
        ref Node n = ref _nodes[node];
        n.AddrOlder = head;
        n.AddrNewer = -1;
        if (head >= 0) _nodes[head].AddrNewer = node;
        head = node;
    }

    /// <summary>Every remembered (entry, index), in index order, then oldest first.</summary>
    public List<(GidEntry Entry, int Index)> Export()
    {
        var list = new List<(GidEntry Entry, int Index, long Stamp)>(_count);
        for (int node = _oldest; node >= 0; node = _nodes[node].Newer)
            list.Add((_nodes[node].Entry, _nodes[node].Index, _nodes[node].Stamp));
        list.Sort((a, b) => a.Index != b.Index ? a.Index.CompareTo(b.Index) : a.Stamp.CompareTo(b.Stamp));
        return list.ConvertAll(x => (x.Entry, x.Index));
    }
}
