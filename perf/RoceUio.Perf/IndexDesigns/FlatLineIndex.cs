using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RoceUio.Gids;

namespace RoceUio.Perf.IndexDesigns;

/// <summary>
/// Design B of the index A/B: one flat, 64-byte-aligned array of cache lines; each line holds its own sequence
/// counter and two keys inline, so a hit reads one line and nothing else (no stripe header, no bucket-array
/// pointer, no length). Linear probing line to line; a one-wide-multiply hash. Readers follow the seqlock protocol
/// of GidTable.cs rule 2 per line (counter, fields, counter; all volatile reads). Insert-only: enough for the
/// lookup rows; the design's delete would be GidHashIndex's backward shift over (line, slot) positions.
/// </summary>
internal sealed unsafe class FlatLineIndex
{
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    private struct Line
    {
        [FieldOffset(0)] public int Seq;
        [FieldOffset(4)] public int Index0Plus1;
        [FieldOffset(8)] public int Index1Plus1;
        [FieldOffset(16)] public ulong Hi0;
        [FieldOffset(24)] public ulong Lo0;
        [FieldOffset(32)] public ulong Tail0;
        [FieldOffset(40)] public ulong Hi1;
        [FieldOffset(48)] public ulong Lo1;
        [FieldOffset(56)] public ulong Tail1;
    }

    private readonly byte[] _memory;   // pinned (POH): _lines points into it for the index's lifetime
    private readonly Line* _lines;
    private readonly ulong _mask;

    public FlatLineIndex(int capacity)
    {
        int lines = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(8, 2 * capacity));
        _memory = GC.AllocateArray<byte>(lines * 64 + 64, pinned: true);
        nint at = (nint)Unsafe.AsPointer(ref _memory[0]);
        _lines = (Line*)((at + 63) & ~(nint)63);
        _mask = (ulong)(lines - 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryFind(ulong hi, ulong lo, int netdev, GidType type, out int index)
    {
        ulong tail = IndexKeyHash.TailOf(netdev, type);
        ulong hash = IndexKeyHash.OneWideMultiply(hi, lo, tail);
        Line* line = _lines + (nint)(hash & _mask);
        int seq = Volatile.Read(ref line->Seq);
        int indexPlus1 = Volatile.Read(ref line->Index0Plus1);
        ulong differs = (Volatile.Read(ref line->Hi0) ^ hi) | (Volatile.Read(ref line->Lo0) ^ lo)
                      | (Volatile.Read(ref line->Tail0) ^ tail) | (uint)(seq & 1);
        if ((indexPlus1 == 0 ? (seq & 1) == 0 : differs == 0) && Volatile.Read(ref line->Seq) == seq)
        {
            index = indexPlus1 - 1;
            return indexPlus1 != 0;
        }
        return TryFindSlow(hash, hi, lo, tail, out index);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryFindSlow(ulong hash, ulong hi, ulong lo, ulong tail, out int index)
    {
        for (ulong n = 0, i = hash & _mask; n <= _mask; n++, i = (i + 1) & _mask)
        {
            Line* line = _lines + (nint)i;
            while (true)
            {
                int seq = Volatile.Read(ref line->Seq);
                if ((seq & 1) != 0) { Thread.SpinWait(1); continue; }
                int a = Volatile.Read(ref line->Index0Plus1), b = Volatile.Read(ref line->Index1Plus1);
                bool m0 = a != 0 && Volatile.Read(ref line->Hi0) == hi && Volatile.Read(ref line->Lo0) == lo && Volatile.Read(ref line->Tail0) == tail;
                bool m1 = b != 0 && Volatile.Read(ref line->Hi1) == hi && Volatile.Read(ref line->Lo1) == lo && Volatile.Read(ref line->Tail1) == tail;
                if (Volatile.Read(ref line->Seq) != seq)
                    continue;
                if (m0) { index = a - 1; return true; }
                if (m1) { index = b - 1; return true; }
                if (a == 0 || b == 0) { index = -1; return false; }
                break;   // line full, key not here: the next line
            }
        }
        index = -1;
        return false;
    }

    /// <summary>Inserts a key that is not there yet (single writer).</summary>
    public void Insert(in GidEntry key, int index)
    {
        ulong hi = key.Gid.SubnetPrefix, lo = key.Gid.InterfaceId, tail = IndexKeyHash.TailOf(key.NetdevIfindex, key.Type);
        for (ulong i = IndexKeyHash.OneWideMultiply(hi, lo, tail) & _mask; ; i = (i + 1) & _mask)
        {
            Line* line = _lines + (nint)i;
            if (line->Index0Plus1 != 0 && line->Index1Plus1 != 0)
                continue;
            Volatile.Write(ref line->Seq, line->Seq + 1);
            if (line->Index0Plus1 == 0)
            {
                Volatile.Write(ref line->Hi0, hi); Volatile.Write(ref line->Lo0, lo); Volatile.Write(ref line->Tail0, tail);
                Volatile.Write(ref line->Index0Plus1, index + 1);
            }
            else
            {
                Volatile.Write(ref line->Hi1, hi); Volatile.Write(ref line->Lo1, lo); Volatile.Write(ref line->Tail1, tail);
                Volatile.Write(ref line->Index1Plus1, index + 1);
            }
            Volatile.Write(ref line->Seq, line->Seq + 1);
            return;
        }
    }
}
