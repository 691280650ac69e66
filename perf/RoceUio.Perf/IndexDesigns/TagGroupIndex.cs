using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using RoceUio.Gids;

namespace RoceUio.Perf.IndexDesigns;

/// <summary>
/// Design C of the index A/B, SwissTable/F14-style: groups of 16 slots; a group's first cache line holds its 16
/// one-byte tags (7 bits of the hash, high bit set; 0 = empty) and its sequence counter, compared 16 at a time with
/// one Vector128 compare; the keys follow inline, 32 bytes each (two to a line). Groups probed linearly.
/// A hit reads the tag line, then the one matching key's line. The tag load is a plain 16-byte load between the
/// two volatile sequence reads (x64 keeps loads in order; a torn tag vector is discarded by the sequence check).
/// Insert-only: enough for the lookup rows.
/// </summary>
internal sealed unsafe class TagGroupIndex
{
    private const int GroupSlots = 16;

    [StructLayout(LayoutKind.Explicit, Size = 32)]
    private struct Slot
    {
        [FieldOffset(0)] public ulong Hi;
        [FieldOffset(8)] public ulong Lo;
        [FieldOffset(16)] public ulong Tail;
        [FieldOffset(24)] public int IndexPlus1;
    }

    [StructLayout(LayoutKind.Explicit, Size = 64 + GroupSlots * 32)]
    private struct Group
    {
        [FieldOffset(0)] public Vector128<byte> Tags;
        [FieldOffset(16)] public int Seq;
        [FieldOffset(64)] public Slot First;
    }

    private readonly byte[] _memory;
    private readonly Group* _groups;
    private readonly ulong _mask;

    public TagGroupIndex(int capacity)
    {
        // Load factor at most 1/2 of the slots.
        int groups = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, 2 * capacity / GroupSlots));
        _memory = GC.AllocateArray<byte>(groups * sizeof(Group) + 64, pinned: true);
        nint at = (nint)Unsafe.AsPointer(ref _memory[0]);
        _groups = (Group*)((at + 63) & ~(nint)63);
        _mask = (ulong)(groups - 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte TagOf(ulong hash) => (byte)(hash >> 57 | 0x80);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryFind(ulong hi, ulong lo, int netdev, GidType type, out int index)
    {
        ulong tail = IndexKeyHash.TailOf(netdev, type);
        ulong hash = IndexKeyHash.OneWideMultiply(hi, lo, tail);
        Group* g = _groups + (nint)(hash & _mask);
        int seq = Volatile.Read(ref g->Seq);
        Vector128<byte> tags = Vector128.Load((byte*)g);
        uint matches = Vector128.Equals(tags, Vector128.Create(TagOf(hash))).ExtractMostSignificantBits();
        if (matches != 0)
        {
            ref Slot s = ref Unsafe.Add(ref g->First, BitOperations.TrailingZeroCount(matches));
            int indexPlus1 = Volatile.Read(ref s.IndexPlus1);
            ulong differs = (Volatile.Read(ref s.Hi) ^ hi) | (Volatile.Read(ref s.Lo) ^ lo) | (Volatile.Read(ref s.Tail) ^ tail)
                          | (uint)(seq & 1);
            if (differs == 0 && Volatile.Read(ref g->Seq) == seq)
            {
                index = indexPlus1 - 1;
                return true;
            }
        }
        return TryFindSlow(hash, hi, lo, tail, out index);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryFindSlow(ulong hash, ulong hi, ulong lo, ulong tail, out int index)
    {
        Vector128<byte> tag = Vector128.Create(TagOf(hash));
        for (ulong n = 0, i = hash & _mask; n <= _mask; n++, i = (i + 1) & _mask)
        {
            Group* g = _groups + (nint)i;
            while (true)
            {
                int seq = Volatile.Read(ref g->Seq);
                if ((seq & 1) != 0) { Thread.SpinWait(1); continue; }
                Vector128<byte> tags = Vector128.Load((byte*)g);
                uint matches = Vector128.Equals(tags, tag).ExtractMostSignificantBits();
                bool hasEmpty = Vector128.Equals(tags, Vector128<byte>.Zero).ExtractMostSignificantBits() != 0;
                int found = 0;
                for (; matches != 0; matches &= matches - 1)
                {
                    ref Slot s = ref Unsafe.Add(ref g->First, BitOperations.TrailingZeroCount(matches));
                    int ip1 = Volatile.Read(ref s.IndexPlus1);
                    if (Volatile.Read(ref s.Hi) == hi && Volatile.Read(ref s.Lo) == lo && Volatile.Read(ref s.Tail) == tail)
                    {
                        found = ip1;
                        break;
                    }
                }
                if (Volatile.Read(ref g->Seq) != seq)
                    continue;
                if (found != 0) { index = found - 1; return true; }
                if (hasEmpty) { index = -1; return false; }
                break;
            }
        }
        index = -1;
        return false;
    }

    public void Insert(in GidEntry key, int index)
    {
        ulong hi = key.Gid.SubnetPrefix, lo = key.Gid.InterfaceId, tail = IndexKeyHash.TailOf(key.NetdevIfindex, key.Type);
        ulong hash = IndexKeyHash.OneWideMultiply(hi, lo, tail);
        for (ulong i = hash & _mask; ; i = (i + 1) & _mask)
        {
            Group* g = _groups + (nint)i;
            uint empty = Vector128.Equals(g->Tags, Vector128<byte>.Zero).ExtractMostSignificantBits();
            if (empty == 0)
                continue;
            int at = BitOperations.TrailingZeroCount(empty);
            Volatile.Write(ref g->Seq, g->Seq + 1);
            ref Slot s = ref Unsafe.Add(ref g->First, at);
            Volatile.Write(ref s.Hi, hi); Volatile.Write(ref s.Lo, lo); Volatile.Write(ref s.Tail, tail);
            Volatile.Write(ref s.IndexPlus1, index + 1);
            Volatile.Write(ref ((byte*)g)[at], TagOf(hash));
            Volatile.Write(ref g->Seq, g->Seq + 1);
            return;
        }
    }
}
