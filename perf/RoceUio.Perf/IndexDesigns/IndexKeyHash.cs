using System.Numerics;
using System.Runtime.CompilerServices;
using RoceUio.Gids;

namespace RoceUio.Perf.IndexDesigns;

/// <summary>
/// Hashes for a 128-bit GID plus its 8-byte tail (netdev &lt;&lt; 8 | type), for the index design A/B
/// (<see cref="GidIndexDesignBenchmarks"/>'s tag-group design C).
/// </summary>
internal static class IndexKeyHash
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong TailOf(int netdev, GidType type) => (ulong)(uint)netdev << 8 | (byte)type;

    /// <summary>
    /// One 64 x 64 → 128-bit multiply, its halves folded (wyhash's "mum"): one mulx and an xor. The interface id
    /// (the part that differs between a port's GIDs) is one factor; the prefix with the tail rotated in is the other.
    /// The seeds keep either factor from being zero for the keys a port holds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong OneWideMultiply(ulong hi, ulong lo, ulong tail)
    {
        ulong high = Math.BigMul(lo ^ 0xA0761D6478BD642FUL, hi ^ BitOperations.RotateLeft(tail, 32) ^ 0xE7037ED1A0B428DBUL, out ulong low);
        return high ^ low;
    }
}
