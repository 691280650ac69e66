using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RoceUio.Gids;

/// <summary>
/// The hot-lookup index of a <see cref="GidTable"/>: (gid, type, netdev) to the lowest valid slot index holding it
/// (the readers' value), and per key one int the writers keep for themselves (the table: its ordinary slot).
/// One flat array of 64-byte cache lines; each line holds its own sequence counter (a seqlock) and two keys inline,
/// so a lookup that finds its key in its home line reads that one line and nothing else.
/// </summary>
/// <remarks>
/// <para>Layout of a line (this file's <see cref="Line"/>, 64 bytes, 64-byte aligned): Seq at 0, the readers' values
/// R0 and R1 at 4 and 8 (0 = empty position, &gt; 0 = index + 1, <see cref="Hidden"/> = a key the writers keep but
/// readers must not find), 4 bytes of padding, then key 0 (Hi, Lo, Tail) at 16..39 and key 1 at 40..63. Tail is
/// netdev &lt;&lt; 8 | type (bits 0..39); a hidden key's stored Tail also has bit 63 set, so that no reader's key
/// ever compares equal to it.</para>
/// <para>Positions: line l holds positions 2l and 2l + 1. A key's home is position 2 x (hash mod lines); linear
/// probing over positions from there; deletion by backward shift (no tombstones, so probes never lengthen with churn).
/// There are 2 x capacity lines (rounded up to a power of two), so at most a quarter of the positions are used (the
/// index holds at most one key per slot of the table) and nothing ever grows or moves.</para>
/// <para>Reader rule (the whole protocol is locking rule 2 at the top of GidTable.cs): a line's counter, its fields,
/// its counter again, all volatile (acquire) reads; an odd or changed counter means read the line again. A probe
/// that stops in its home line (almost every lookup) is answered from that one line. A probe over several lines
/// sums the counters it saw and, at its end, reads them all again: an unchanged sum means no writer touched any of
/// those lines in between (a counter only grows), so the lines were read as they all were at one moment, and a key
/// moved back across lines by a delete's shift can never be missed. Otherwise the probe starts again.</para>
/// <para>Writer rule (the table's writer lock is held): every change opens (makes odd) the counters of every line it
/// will store to, then stores, then closes them (even again), each with a release store. So a line whose counter is
/// even shows the whole index either before or after any change, never a change half made.</para>
/// </remarks>
internal sealed unsafe class GidHashIndex
{
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    private struct Line
    {
        [FieldOffset(0)] public int Seq;
        [FieldOffset(4)] public int R0;
        [FieldOffset(8)] public int R1;
        [FieldOffset(16)] public ulong Hi0;
        [FieldOffset(24)] public ulong Lo0;
        [FieldOffset(32)] public ulong Tail0;
        [FieldOffset(40)] public ulong Hi1;
        [FieldOffset(48)] public ulong Lo1;
        [FieldOffset(56)] public ulong Tail1;
    }

    /// <summary>The readers' value of a key kept for the writers only.</summary>
    private const int Hidden = -1;

    private const ulong HiddenTailBit = 1UL << 63;

    // Per process, so that which keys collide cannot be worked out from outside (as GidKeyComparer's seed).
    private static readonly ulong Seed = (ulong)Random.Shared.NextInt64() | 1;

    private readonly byte[] _memory;      // pinned (GC.AllocateArray pinned: the pinned object heap never moves it)
    private readonly Line* _lines;        // _memory's first 64-byte aligned address; _lineMask + 1 lines from there
    private readonly ulong _lineMask;
    private readonly int _lineShift;      // 64 - log2(lines): a key's home line is the top bits of its hash
    private readonly int[] _writerValues; // per position; writer-only (never read by readers)
    private readonly int _positionMask;

    /// <param name="capacity">The table's capacity: the most keys the index will ever hold.</param>
    public GidHashIndex(int capacity)
    {
        int lines = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(8, 2 * capacity));
        _memory = GC.AllocateArray<byte>(lines * sizeof(Line) + 63, pinned: true);
        nint at = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_memory));
        _lines = (Line*)((at + 63) & ~(nint)63);
        _lineMask = (ulong)(lines - 1);
        _lineShift = 64 - BitOperations.Log2((uint)lines);
        _writerValues = new int[2 * lines];
        _positionMask = 2 * lines - 1;
    }

    public int LineCount => (int)_lineMask + 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong TailOf(int netdev, GidType type) => (ulong)(uint)netdev << 8 | (byte)type;

    /// <summary>
    /// Two independent 64-bit multiplies added (multiplicative hashing of each half; the home line is the sum's top
    /// bits, which depend on every bit of both factors): the seeded interface id (what differs between a port's
    /// GIDs) times one odd constant, the prefix with the tail rotated in times another. Shorter than a 128-bit
    /// multiply folded (no high half to spill and fold) on the one path every lookup takes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong HashOf(ulong hi, ulong lo, ulong tail)
        => (lo ^ Seed) * 0x9E3779B97F4A7C15UL + (hi ^ BitOperations.RotateLeft(tail, 32)) * 0xC2B2AE3D27D4EB4FUL;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong HomeLineOf(ulong hi, ulong lo, ulong tail) => HashOf(hi, lo, tail) >> _lineShift;

    // Every line number below is a hash's top log2(lines) bits or masked by _lineMask (lines - 1, a power of two
    // minus one), and every position is masked by _positionMask, so each access is inside _memory's lines.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Line* LineOf(int position) => _lines + ((uint)(position & _positionMask) >> 1);

    private static ref int ReaderValue(Line* line, int slot) => ref *(int*)((byte*)line + 4 + 4 * slot);

    private static ref ulong KeyWord(Line* line, int slot, int word) => ref *(ulong*)((byte*)line + 16 + 24 * slot + 8 * word);

    // ---- readers ----

    /// <summary>The lowest valid index of (gid, type, netdev). Never blocks on a lock, never writes, never allocates.</summary>
    /// <remarks>
    /// The common cases, the key in its home line's slot 0 or an empty slot 0, are answered with one branch on the
    /// whole key (the three 64-bit differences and the counter's odd bit OR-ed together), and the next common ones
    /// (slot 1 of the same line) with a second; anything else goes to <see cref="TryFindSlow"/>, kept out of line so
    /// that this inlined path needs few registers.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryFind(ulong hi, ulong lo, int netdev, GidType type, out int index)
        => new Reader(this).TryFind(hi, lo, netdev, type, out index);

    /// <summary>What a lookup needs (the lines and the shift), copied into the owner (<see cref="GidTable"/> keeps
    /// one as a field), so that a lookup loads them from the object it was called on: no load of the index object
    /// first. Both are fixed for the index's lifetime, as is the memory the pointer points into.</summary>
    internal readonly struct Reader
    {
        private readonly Line* _lines;
        private readonly int _lineShift;

        public Reader(GidHashIndex index)
        {
            _lines = index._lines;
            _lineShift = index._lineShift;
        }

        /// <summary>As <see cref="GidHashIndex.TryFind"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool TryFind(ulong hi, ulong lo, int netdev, GidType type, out int index)
        {
            ulong tail = TailOf(netdev, type);
            ulong home = HashOf(hi, lo, tail) >> _lineShift;   // < lines: the top log2(lines) bits
            Line* line = _lines + (nint)home;
            int seq = Volatile.Read(ref line->Seq);
            int r = Volatile.Read(ref line->R0);
            ulong differs = (Volatile.Read(ref line->Hi0) ^ hi) | (Volatile.Read(ref line->Lo0) ^ lo)
                          | (Volatile.Read(ref line->Tail0) ^ tail) | (uint)(seq & 1);
            // The second counter read comes after the line's reads in program order, all volatile (acquire): an
            // unchanged even counter means they were whole. An empty position (r == 0) is a miss: with linear probing
            // and backward-shift deletes a key is never past an empty position of its probe. A match with r > 0 (a
            // hidden key's tail never matches) is the answer.
            if ((r == 0 ? (seq & 1) == 0 : differs == 0) && Volatile.Read(ref line->Seq) == seq)
            {
                index = r - 1;          // -1 for an empty home position: a miss
                return r != 0;
            }
            // Slot 0 holds another key (about one key in five at the index's load): the line's slot 1, still one line.
            if ((seq & 1) == 0)
            {
                int r1 = Volatile.Read(ref line->R1);
                ulong differs1 = (Volatile.Read(ref line->Hi1) ^ hi) | (Volatile.Read(ref line->Lo1) ^ lo)
                               | (Volatile.Read(ref line->Tail1) ^ tail);
                if ((r1 == 0 || differs1 == 0) && Volatile.Read(ref line->Seq) == seq)
                {
                    index = r1 - 1;
                    return r1 != 0;
                }
            }
            return TryFindSlow(_lines, (1UL << (64 - _lineShift)) - 1, home, hi, lo, tail, out index);
        }
    }

    /// <summary>The general lookup: probe line by line, each line read whole; then check no probed line changed.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool TryFindSlow(Line* lines, ulong lineMask, ulong home, ulong hi, ulong lo, ulong tail, out int index)
    {
        while (true)
        {
            ulong first = home & lineMask, probed = 0, seqSum = 0;
            int found = -1;
            bool stop = false;
            for (ulong i = first; !stop && probed <= lineMask; i = (i + 1) & lineMask)
            {
                Line* line = lines + (nint)i;
                int seq, r0, r1;
                bool m0, m1;
                while (true)
                {
                    seq = Volatile.Read(ref line->Seq);
                    if ((seq & 1) != 0)
                    {
                        WaitWhile(line, seq);
                        continue;
                    }
                    r0 = Volatile.Read(ref line->R0);
                    r1 = Volatile.Read(ref line->R1);
                    m0 = ((Volatile.Read(ref line->Hi0) ^ hi) | (Volatile.Read(ref line->Lo0) ^ lo) | (Volatile.Read(ref line->Tail0) ^ tail)) == 0;
                    m1 = ((Volatile.Read(ref line->Hi1) ^ hi) | (Volatile.Read(ref line->Lo1) ^ lo) | (Volatile.Read(ref line->Tail1) ^ tail)) == 0;
                    if (Volatile.Read(ref line->Seq) == seq)
                        break;
                }
                seqSum += (uint)seq;
                probed++;
                BetweenLinesForTest?.Invoke();
                // Positions in probe order: slot 0, then slot 1. The first empty one ends the probe.
                if (r0 == 0) stop = true;
                else if (m0 && r0 > 0) { found = r0 - 1; stop = true; }
                else if (r1 == 0) stop = true;
                else if (m1 && r1 > 0) { found = r1 - 1; stop = true; }
            }
            if (probed == 1)
            {
                index = found;          // one line, read whole: nothing to compare it with
                return found >= 0;
            }
            ulong again = 0;
            for (ulong n = 0, i = first; n < probed; n++, i = (i + 1) & lineMask)
                again += (uint)Volatile.Read(ref (lines + (nint)i)->Seq);
            if (again == seqSum)
            {
                index = found;
                return found >= 0;
            }
        }
    }

    /// <summary>A writer is in this line: wait without writing shared memory.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void WaitWhile(Line* line, int oddSeq)
    {
        SpinWait spin = default;
        while (Volatile.Read(ref line->Seq) == oddSeq)
            spin.SpinOnce(sleep1Threshold: -1);
    }

    /// <summary>Called by a multi-line probe after each line it read, for a test that makes a writer move a key
    /// between two of the probe's line reads (null outside such a test: one static read per line of a slow probe).</summary>
    internal static Action? BetweenLinesForTest;

    /// <summary>The key's home line, for tests that build a cluster over several lines.</summary>
    internal int HomeLineForTest(in GidEntry key)
        => (int)HomeLineOf(key.Gid.SubnetPrefix, key.Gid.InterfaceId, TailOf(key.NetdevIfindex, key.Type));

    /// <summary>The sequence counter of the key's home line, for tests that play a writer caught half way.</summary>
    internal ref int HomeLineSeqForTest(in GidEntry key)
    {
        return ref (_lines + (nint)HomeLineOf(key.Gid.SubnetPrefix, key.Gid.InterfaceId, TailOf(key.NetdevIfindex, key.Type)))->Seq;
    }

    // ---- writers (table writer lock held) ----

    /// <summary>The position holding <paramref name="key"/> (visible or hidden), or -1.</summary>
    public int Find(in GidEntry key)
    {
        ulong hi = key.Gid.SubnetPrefix, lo = key.Gid.InterfaceId, tail = TailOf(key.NetdevIfindex, key.Type);
        int p = HomeOf(hi, lo, tail);
        for (int n = 0; n <= _positionMask; n++, p = (p + 1) & _positionMask)
        {
            Line* line = LineOf(p);
            int slot = p & 1;
            if (ReaderValue(line, slot) == 0)
                return -1;
            if (KeyWord(line, slot, 0) == hi && KeyWord(line, slot, 1) == lo && (KeyWord(line, slot, 2) & ~HiddenTailBit) == tail)
                return p;
        }
        return -1;
    }

    private int HomeOf(ulong hi, ulong lo, ulong tail) => (int)HomeLineOf(hi, lo, tail) << 1;

    /// <summary>Adds <paramref name="key"/>, which must not be there: readers find <paramref name="readerIndex"/>
    /// (-1: readers do not find the key); the writers keep <paramref name="writerValue"/>. Returns its position.</summary>
    public int Add(in GidEntry key, int readerIndex, int writerValue)
    {
        ulong hi = key.Gid.SubnetPrefix, lo = key.Gid.InterfaceId, tail = TailOf(key.NetdevIfindex, key.Type);
        int p = HomeOf(hi, lo, tail);
        for (int n = 0; ReaderValue(LineOf(p), p & 1) != 0; n++, p = (p + 1) & _positionMask)
            if (n == _positionMask)
                throw new InvalidOperationException("GID hash index full: more keys than the table's capacity");
        Line* line = LineOf(p);
        int slot = p & 1;
        Open(line);
        Volatile.Write(ref KeyWord(line, slot, 0), hi);
        Volatile.Write(ref KeyWord(line, slot, 1), lo);
        Volatile.Write(ref KeyWord(line, slot, 2), readerIndex < 0 ? tail | HiddenTailBit : tail);
        Volatile.Write(ref ReaderValue(line, slot), readerIndex < 0 ? Hidden : readerIndex + 1);
        Close(line);
        _writerValues[p] = writerValue;
        return p;
    }

    /// <summary>The index readers find at <paramref name="position"/>, or -1 for a hidden key.</summary>
    public int ReaderIndexAt(int position)
    {
        int r = ReaderValue(LineOf(position), position & 1);
        return r > 0 ? r - 1 : -1;
    }

    /// <summary>Changes what readers find for the key at <paramref name="position"/> (-1: hide it).</summary>
    public void SetReaderIndexAt(int position, int readerIndex)
    {
        Line* line = LineOf(position);
        int slot = position & 1;
        ref ulong tail = ref KeyWord(line, slot, 2);
        Open(line);
        Volatile.Write(ref tail, readerIndex < 0 ? tail | HiddenTailBit : tail & ~HiddenTailBit);
        Volatile.Write(ref ReaderValue(line, slot), readerIndex < 0 ? Hidden : readerIndex + 1);
        Close(line);
    }

    /// <summary>The writers' own value of the key at <paramref name="position"/> (never read by readers).</summary>
    public ref int WriterValueAt(int position) => ref _writerValues[position & _positionMask];

    /// <summary>Removes the key at <paramref name="position"/> (backward-shift deletion).</summary>
    public void RemoveAt(int position)
    {
        int hole = position & _positionMask;
        // The positions that may move: from the hole to the last one before the next empty position. Every line they
        // span is opened before any store and closed after the last (the writer rule).
        int end = hole;
        for (int n = 0; n < _positionMask && ReaderValue(LineOf((end + 1) & _positionMask), (end + 1) & 1) != 0; n++)
            end = (end + 1) & _positionMask;
        int firstLine = hole >> 1, lines = (((end >> 1) - firstLine) & (int)_lineMask) + 1;
        for (int l = 0; l < lines; l++)
            Open(_lines + ((firstLine + l) & (int)_lineMask));

        for (int j = (hole + 1) & _positionMask; j != ((end + 1) & _positionMask); j = (j + 1) & _positionMask)
        {
            // Move position j into the hole unless its home lies cyclically in (hole, j].
            Line* from = LineOf(j);
            int fs = j & 1;
            int home = HomeOf(KeyWord(from, fs, 0), KeyWord(from, fs, 1), KeyWord(from, fs, 2) & ~HiddenTailBit);
            bool homeBetween = hole <= j ? hole < home && home <= j : hole < home || home <= j;
            if (homeBetween)
                continue;
            Line* to = LineOf(hole);
            int ts = hole & 1;
            for (int w = 0; w < 3; w++)
                Volatile.Write(ref KeyWord(to, ts, w), KeyWord(from, fs, w));
            Volatile.Write(ref ReaderValue(to, ts), ReaderValue(from, fs));
            _writerValues[hole] = _writerValues[j];
            hole = j;
        }
        Line* last = LineOf(hole);
        int ls = hole & 1;
        Volatile.Write(ref ReaderValue(last, ls), 0);
        for (int w = 0; w < 3; w++)
            Volatile.Write(ref KeyWord(last, ls, w), 0UL);
        _writerValues[hole] = 0;

        for (int l = 0; l < lines; l++)
            Close(_lines + ((firstLine + l) & (int)_lineMask));
    }

    // Writers are serialised by the table's lock, so the counters need ordering (release stores), not atomicity.
    private static void Open(Line* line) => Volatile.Write(ref line->Seq, line->Seq + 1);

    private static void Close(Line* line) => Volatile.Write(ref line->Seq, line->Seq + 1);

    // ---- the simple map over the above (tests; the table uses positions) ----

    /// <summary>Maps the key to <paramref name="index"/> for readers, inserting it or updating it.</summary>
    public void Set(in GidEntry key, int index)
    {
        int p = Find(key);
        if (p < 0)
            Add(key, index, 0);
        else
            SetReaderIndexAt(p, index);
    }

    /// <summary>Removes the key. False if it was not there.</summary>
    public bool Remove(in GidEntry key)
    {
        int p = Find(key);
        if (p < 0)
            return false;
        RemoveAt(p);
        return true;
    }
}
