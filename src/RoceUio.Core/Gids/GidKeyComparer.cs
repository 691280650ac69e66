using System.Runtime.CompilerServices;

namespace RoceUio.Gids;

/// <summary>
/// Equality and hashing for the table's writer-side dictionaries (the non-default entries, the sticky history):
/// field compares and one multiply-xorshift mix with a per-process random seed, instead of the record struct's
/// generated members (EqualityComparer per field, HashCode.Combine per GID half). The seed keeps the bucket a key
/// lands in unpredictable from outside, as HashCode's own seed does.
/// </summary>
internal sealed class GidKeyComparer : IEqualityComparer<GidEntry>, IEqualityComparer<(Gid, GidType)>
{
    public static readonly GidKeyComparer Instance = new();

    private static readonly ulong Seed = (ulong)Random.Shared.NextInt64() | 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Mix(ulong hi, ulong lo, ulong tail)
    {
        ulong x = ((hi ^ Seed) * 0x9E3779B97F4A7C15UL) ^ lo ^ (tail << 40 | tail >> 24);
        x *= 0xBF58476D1CE4E5B9UL;
        return (int)(x ^ (x >> 32));
    }

    public bool Equals(GidEntry a, GidEntry b) => a.Gid == b.Gid && a.Type == b.Type && a.NetdevIfindex == b.NetdevIfindex;

    public int GetHashCode(GidEntry e)
        => Mix(e.Gid.SubnetPrefix, e.Gid.InterfaceId, (ulong)(uint)e.NetdevIfindex << 8 | (byte)e.Type);

    public bool Equals((Gid, GidType) a, (Gid, GidType) b) => a.Item1 == b.Item1 && a.Item2 == b.Item2;

    public int GetHashCode((Gid, GidType) k) => Mix(k.Item1.SubnetPrefix, k.Item1.InterfaceId, (byte)k.Item2);

    /// <summary>The (gid, type) hash, for a writer-side table of its own (StickyIndexHistory) that calls it
    /// directly instead of through an interface.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint HashOf(in Gid gid, GidType type) => (uint)Mix(gid.SubnetPrefix, gid.InterfaceId, (byte)type);
}
