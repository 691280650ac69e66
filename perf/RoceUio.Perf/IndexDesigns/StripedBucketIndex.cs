using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

using RoceUio.Gids;

namespace RoceUio.Perf.IndexDesigns;

/// <summary>
/// The real table's index up to round 4, kept here as the A/B's "before" (GidIndexDesignBenchmarks): (gid, type,
/// netdev) to the lowest valid slot index holding it.
/// A hash table split into stripes; each stripe is a small open-addressed (linear probing) table of its own, guarded
/// by a sequence counter (a seqlock).
/// </summary>
/// <remarks>
/// The seqlock rules were those at the top of src/RoceUio.Core/Gids/GidTable.cs, with one counter per stripe.
/// </remarks>
internal sealed class StripedBucketIndex
{
    /// <summary>One bucket: the key, the slot index plus one (0 = empty bucket), and the key's hash.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Bucket
    {
        public ulong Hi;
        public ulong Lo;
        public ulong Tail;      // netdev << 8 | type: one compare for both
        public int IndexPlus1;
        public uint Hash;
    }

    /// <summary>
    /// A stripe's header alone on 128 bytes, so that a writer's sequence stores never invalidate a line holding
    /// another stripe's header (no false sharing), whatever the array's alignment: array data starts 16 bytes past
    /// the object and objects are only 8-byte aligned, so the 16-byte header can straddle two lines; a 64-byte stride
    /// would let stripe i's Seq share a line with stripe i+1's Buckets (array data lands at 56 mod 64).
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Stripe
    {
        [FieldOffset(0)] public Bucket[] Buckets;
        [FieldOffset(8)] public int Seq;
        [FieldOffset(12)] public int Count;
    }

    private readonly Stripe[] _stripes;
    private readonly int _stripeMask;

    /// <param name="capacity">The table's capacity: the most keys the index will ever hold.</param>
    public StripedBucketIndex(int capacity)
    {
        // About 8 keys per stripe, 4 to 64 stripes; each stripe starts at a load factor of at most 1/8 for an even
        // spread and grows (doubling) when a skewed spread fills it past 1/2. At 1/8 about 95% of keys sit in their
        // home bucket (measured on sequential, IPv4-mapped and EUI-64 keys: 121..126 of 128; at 1/4 it was 108..120),
        // which is what TryFind's one-bucket fast path answers; the price is 32 bytes x 8 per slot of the table
        // (mlx4's 128 slots: 32 KiB). Only the buckets that hold keys are touched by lookups.
        int stripes = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(capacity / 8, 4, 64));
        int buckets = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, 8 * capacity / stripes));
        _stripes = new Stripe[stripes];
        _stripeMask = stripes - 1;
        for (int i = 0; i < stripes; i++)
            _stripes[i].Buckets = new Bucket[buckets];
    }

    public int StripeCount => _stripes.Length;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong TailOf(int netdev, GidType type) => (ulong)(uint)netdev << 8 | (byte)type;

    /// <summary>A multiply-xorshift mix of the 16-byte GID, the netdev and the type (all 64 bits used).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong HashOf(ulong hi, ulong lo, ulong tail)
    {
        ulong x = (hi * 0x9E3779B97F4A7C15UL) ^ lo ^ (tail << 40 | tail >> 24);
        x *= 0xBF58476D1CE4E5B9UL;
        return x ^ (x >> 31);
    }

    /// <summary>The lowest valid index of (gid, type, netdev). Never blocks on a lock, never allocates.</summary>
    /// <remarks>
    /// The common cases, a key in its home bucket or an empty home bucket, are answered here with one branch on
    /// the whole key (the three 64-bit differences OR-ed together) and no loop; everything else (a key further along
    /// the probe, an odd or changed sequence) goes to <see cref="TryFindSlow"/>, kept out of line so that this inlined
    /// path needs few registers and nothing is spilled to the stack around the retry.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryFind(ulong hi, ulong lo, int netdev, GidType type, out int index)
    {
        ulong tail = TailOf(netdev, type);
        ulong hash = HashOf(hi, lo, tail);
        // _stripes.Length - 1 == _stripeMask: masked, so always in range.
        ref Stripe stripe = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_stripes), (nint)((uint)(hash >> 48) & (uint)_stripeMask));
        int seq = Volatile.Read(ref stripe.Seq);
        Bucket[] buckets = Volatile.Read(ref stripe.Buckets);
        // Length is a power of two: the masked index is always inside the array.
        ref Bucket home = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(buckets), (nint)((uint)hash & (uint)(buckets.Length - 1)));
        int indexPlus1 = Volatile.Read(ref home.IndexPlus1);
        // Zero only when the key matches and the sequence was even (no writer inside). An empty bucket holds zeros
        // and may "match" a zero key, so an empty bucket is told apart by indexPlus1 below.
        ulong differs = (Volatile.Read(ref home.Hi) ^ hi) | (Volatile.Read(ref home.Lo) ^ lo)
                      | (Volatile.Read(ref home.Tail) ^ tail) | (uint)(seq & 1);
        // The second sequence read comes after every bucket read in program order, and they are all volatile
        // (acquire), so it cannot be satisfied before them: an unchanged even sequence means the reads were whole.
        if ((indexPlus1 == 0 ? (seq & 1) == 0 : differs == 0) && Volatile.Read(ref stripe.Seq) == seq)
        {
            index = indexPlus1 - 1;          // -1 for an empty home bucket: a miss
            return indexPlus1 != 0;
        }
        return TryFindSlow(ref stripe, hash, hi, lo, tail, out index);
    }

    /// <summary>
    /// The general lookup: read the sequence, probe, read the sequence again; retry while a writer is in the stripe
    /// or was during the probe.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool TryFindSlow(ref Stripe stripe, ulong hash, ulong hi, ulong lo, ulong tail, out int index)
    {
        while (true)
        {
            int seq = Volatile.Read(ref stripe.Seq);
            if ((seq & 1) == 0)
            {
                int found = Probe(Volatile.Read(ref stripe.Buckets), (uint)hash, hi, lo, tail);
                if (Volatile.Read(ref stripe.Seq) == seq)
                {
                    index = found;
                    return found >= 0;
                }
            }
            Retry(ref stripe, seq);
        }
    }

    /// <summary>
    /// Linear probe from the key's home bucket. The index is masked by <c>Length - 1</c> (a power of two), so it is
    /// always inside the array and the bounds check can be skipped (Unsafe.Add on the array's first element).
    /// The stored 32-bit hash is compared first: a colliding neighbour is passed over with one compare.
    /// </summary>
    private static int Probe(Bucket[] buckets, uint hash, ulong hi, ulong lo, ulong tail)
    {
        int mask = buckets.Length - 1;
        ref Bucket first = ref MemoryMarshal.GetArrayDataReference(buckets);
        int i = (int)hash & mask;
        for (int n = 0; n <= mask; n++)
        {
            ref Bucket b = ref Unsafe.Add(ref first, i);
            int indexPlus1 = Volatile.Read(ref b.IndexPlus1);
            if (indexPlus1 == 0)
                return -1;
            if (Volatile.Read(ref b.Hash) == hash
                && ((Volatile.Read(ref b.Hi) ^ hi) | (Volatile.Read(ref b.Lo) ^ lo) | (Volatile.Read(ref b.Tail) ^ tail)) == 0)
                return indexPlus1 - 1;
            i = (i + 1) & mask;
        }
        return -1;
    }

    /// <summary>A writer is in (or just left) this stripe: wait without writing shared memory.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Retry(ref Stripe stripe, int seenSeq)
    {
        SpinWait spin = default;
        while (Volatile.Read(ref stripe.Seq) == seenSeq && (seenSeq & 1) != 0)
            spin.SpinOnce(sleep1Threshold: -1);
    }

    // ---- writers (table writer lock held) ----

    /// <summary>Maps the key to <paramref name="index"/>, inserting it or updating its index.</summary>
    public void Set(in GidEntry key, int index)
    {
        ulong hi = key.Gid.SubnetPrefix, lo = key.Gid.InterfaceId, tail = TailOf(key.NetdevIfindex, key.Type);
        ulong hash = HashOf(hi, lo, tail);
        ref Stripe stripe = ref _stripes[(int)(hash >> 48) & _stripeMask];
        BeginWrite(ref stripe);
        try
        {
            Bucket[] buckets = stripe.Buckets;
            int at = FindBucket(buckets, (uint)hash, hi, lo, tail);
            if (at >= 0)
            {
                Volatile.Write(ref buckets[at].IndexPlus1, index + 1);
                return;
            }
            if (2 * (stripe.Count + 1) > buckets.Length)
            {
                buckets = Grow(buckets);
                Volatile.Write(ref stripe.Buckets, buckets);
            }
            Insert(buckets, new Bucket { Hi = hi, Lo = lo, Tail = tail, IndexPlus1 = index + 1, Hash = (uint)hash });
            stripe.Count++;
        }
        finally
        {
            EndWrite(ref stripe);
        }
    }

    /// <summary>Removes the key (backward-shift deletion, no tombstones). False if it was not there.</summary>
    public bool Remove(in GidEntry key)
    {
        ulong hi = key.Gid.SubnetPrefix, lo = key.Gid.InterfaceId, tail = TailOf(key.NetdevIfindex, key.Type);
        ulong hash = HashOf(hi, lo, tail);
        ref Stripe stripe = ref _stripes[(int)(hash >> 48) & _stripeMask];
        Bucket[] buckets = stripe.Buckets;
        int hole = FindBucket(buckets, (uint)hash, hi, lo, tail);
        if (hole < 0)
            return false;
        BeginWrite(ref stripe);
        int mask = buckets.Length - 1;
        for (int j = (hole + 1) & mask; buckets[j].IndexPlus1 != 0; j = (j + 1) & mask)
        {
            // Move bucket j into the hole unless its home lies cyclically in (hole, j].
            int home = (int)buckets[j].Hash & mask;
            bool homeBetween = hole <= j ? hole < home && home <= j : hole < home || home <= j;
            if (!homeBetween)
            {
                Store(ref buckets[hole], buckets[j]);
                hole = j;
            }
        }
        Store(ref buckets[hole], default);
        stripe.Count--;
        EndWrite(ref stripe);
        return true;
    }

    // A writer's window (rule 2 at the top of GidTable.cs): the odd sequence and every bucket store are release
    // stores, so no bucket store can be seen before the odd value nor after the next even one. Writers are
    // serialised by the table's lock, so the increments need no atomic instruction (plain stores on x64).
    private static void BeginWrite(ref Stripe stripe) => Volatile.Write(ref stripe.Seq, stripe.Seq + 1);

    private static void EndWrite(ref Stripe stripe) => Volatile.Write(ref stripe.Seq, stripe.Seq + 1);

    private static void Store(ref Bucket to, in Bucket b)
    {
        Volatile.Write(ref to.Hi, b.Hi);
        Volatile.Write(ref to.Lo, b.Lo);
        Volatile.Write(ref to.Tail, b.Tail);
        Volatile.Write(ref to.Hash, b.Hash);
        Volatile.Write(ref to.IndexPlus1, b.IndexPlus1);
    }

    private static int FindBucket(Bucket[] buckets, uint hash, ulong hi, ulong lo, ulong tail)
    {
        int mask = buckets.Length - 1;
        for (int i = (int)hash & mask, n = 0; n <= mask && buckets[i].IndexPlus1 != 0; i = (i + 1) & mask, n++)
            if (buckets[i].Hi == hi && buckets[i].Lo == lo && buckets[i].Tail == tail)
                return i;
        return -1;
    }

    private static void Insert(Bucket[] buckets, in Bucket b)
    {
        int mask = buckets.Length - 1;
        int i = (int)b.Hash & mask;
        while (buckets[i].IndexPlus1 != 0)
            i = (i + 1) & mask;
        Store(ref buckets[i], b);
    }

    private static Bucket[] Grow(Bucket[] old)
    {
        var grown = new Bucket[old.Length * 2];
        foreach (ref readonly Bucket b in old.AsSpan())
            if (b.IndexPlus1 != 0)
                Insert(grown, b);
        return grown;
    }
}
