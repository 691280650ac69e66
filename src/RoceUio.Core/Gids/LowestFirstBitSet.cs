using System.Numerics;

namespace RoceUio.Gids;

/// <summary>
/// A set of small integers (slot indices) that answers "the lowest member" without a scan: a bitmap with summary
/// levels above it (bit i of level k+1 is set when word i of level k is not zero), as the kernel's IDA and
/// find_first_bit over a two-level bitmap do. Add, Remove and Lowest each touch one word per level: one level up to
/// 64 slots, two up to 4,096, four for the table's largest capacity (2^20). Writer-only (no concurrent use).
/// </summary>
internal sealed class LowestFirstBitSet
{
    // _levels[0] holds one bit per member; the last level is a single word.
    private readonly ulong[][] _levels;

    public LowestFirstBitSet(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
        var levels = new List<ulong[]>();
        int bits = capacity;
        do
        {
            int words = (bits + 63) >> 6;
            levels.Add(new ulong[words]);
            bits = words;
        } while (bits > 1);
        _levels = levels.ToArray();
    }

    public int Capacity { get; }

    public bool Contains(int i) => (uint)i < (uint)Capacity && (_levels[0][i >> 6] & (1UL << i)) != 0;

    public void Add(int i)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)i, (uint)Capacity, nameof(i));
        foreach (ulong[] level in _levels)
        {
            ref ulong word = ref level[i >> 6];
            bool wasEmpty = word == 0;
            word |= 1UL << i;          // the shift count is taken mod 64
            if (!wasEmpty)
                return;                // the levels above already know this word is not empty
            i >>= 6;
        }
    }

    public void Remove(int i)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)i, (uint)Capacity, nameof(i));
        foreach (ulong[] level in _levels)
        {
            ref ulong word = ref level[i >> 6];
            word &= ~(1UL << i);
            if (word != 0)
                return;                // still not empty: the levels above stay as they are
            i >>= 6;
        }
    }

    /// <summary>The lowest member, or -1 if the set is empty.</summary>
    public int Lowest()
    {
        ulong[][] levels = _levels;
        if (levels[^1][0] == 0)
            return -1;
        int i = 0;
        for (int k = levels.Length - 1; k >= 0; k--)
            i = (i << 6) | BitOperations.TrailingZeroCount(levels[k][i]);
        return i;
    }
}
