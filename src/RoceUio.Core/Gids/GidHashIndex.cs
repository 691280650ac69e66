using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
/// netdev &lt;&lt; 32 | type: the layout of a <see cref="GidEntry"/>'s bytes 16..23 (type, 3 bytes of padding,
/// netdev) with the padding zero. A hidden key's stored Tail also has <see cref="HiddenTailBit"/> (a padding bit)
/// set, and an empty position's Tail is that bit alone, so no reader's key ever compares equal to either: a reader
/// that matches a key needs no check of R.</para>
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

    /// <summary>Bit 8 of a stored Tail, in the padding between type and netdev: set for hidden keys and empty
    /// positions, never in a reader's key (<see cref="TailOf"/>, <see cref="EntryTail"/>).</summary>
    private const ulong HiddenTailBit = 1UL << 8;

    // The hash's two multipliers, random odd numbers per process, so that which keys collide cannot be worked out
    // from outside (as GidKeyComparer's seed). Static readonly: the optimising JIT compiles them in as constants.
    private static readonly ulong K1 = (ulong)Random.Shared.NextInt64() | 1;
    private static readonly ulong K2 = (ulong)Random.Shared.NextInt64() | 1;

    /// <summary>A <see cref="GidEntry"/> is laid out as the lookup reads it (checked once per process): the GID's
    /// Hi and Lo at bytes 0 and 8, the type at 16, the netdev at 20, 24 bytes in all.</summary>
    private static readonly bool EntryLayoutAsRead = CheckEntryLayout();

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
        for (int l = 0; l < lines; l++)
        {
            _lines[l].Tail0 = HiddenTailBit;        // empty: matches no reader's key
            _lines[l].Tail1 = HiddenTailBit;
        }
    }

    public int LineCount => (int)_lineMask + 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong TailOf(int netdev, GidType type) => (ulong)(uint)netdev << 32 | (byte)type;

    /// <summary>The tail of <paramref name="e"/> read as its bytes 16..23 (type, padding, netdev) with the padding
    /// masked off: one load and one and, where <see cref="TailOf"/> takes two loads, a shift and an or. Only where
    /// <see cref="EntryLayoutAsRead"/>; the 8 bytes read are inside the 24 of the entry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong EntryTail(in GidEntry e)
        => Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref Unsafe.As<GidEntry, byte>(ref Unsafe.AsRef(in e)), 16)) & 0xFFFF_FFFF_0000_00FFUL;

    private static bool CheckEntryLayout()
    {
        if (Unsafe.SizeOf<GidEntry>() != 24 || Unsafe.SizeOf<Gid>() != 16)
            return false;
        // Every byte distinct and non-zero, the padding filled with ones: each field must be read from where it is.
        Span<byte> raw = stackalloc byte[24];
        raw.Fill(0xFF);
        var e = new GidEntry(new Gid(0x0102_0304_0506_0708UL, 0x090A_0B0C_0D0E_0F10UL), (GidType)0x11, 0x1516_1718);
        Unsafe.As<byte, GidEntry>(ref raw[0]) = e;
        ref GidEntry back = ref Unsafe.As<byte, GidEntry>(ref raw[0]);
        return Unsafe.ReadUnaligned<ulong>(ref raw[0]) == e.Gid.SubnetPrefix
            && Unsafe.ReadUnaligned<ulong>(ref raw[8]) == e.Gid.InterfaceId
            && (Unsafe.ReadUnaligned<ulong>(ref raw[16]) & 0xFFFF_FFFF_0000_00FFUL) == TailOf(e.NetdevIfindex, e.Type)
            && back == e;
    }

    /// <summary>
    /// Two independent 64-bit multiplies added, by odd multipliers drawn at random per process (multiply-shift
    /// hashing: the home line is the sum's top bits, which depend on every bit of both products): the interface id
    /// (what differs between a port's GIDs) times one, the prefix with the tail xor-ed in times the other. Seven
    /// instructions on the one path every lookup takes (no seed to xor in: the multipliers are the seed).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong HashOf(ulong hi, ulong lo, ulong tail) => lo * K1 + (hi ^ tail) * K2;

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
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryFind(ulong hi, ulong lo, int netdev, GidType type, out int index)
    {
        Gid gid = new(hi, lo);
        return new Reader(this).TryFind(gid, type, netdev, out index);
    }

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

        /// <summary>As <see cref="GidHashIndex.TryFind"/>, for a whole entry (its tail read in one load).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool TryFind(in GidEntry e, out int index)
        {
            if (EntryLayoutAsRead)      // a constant once compiled: one of the two calls is all that is left
                return TryFind(in Unsafe.As<GidEntry, Gid>(ref Unsafe.AsRef(in e)), EntryTail(e), out index);
            return TryFind(e.Gid, TailOf(e.NetdevIfindex, e.Type), out index);
        }

        /// <summary>As <see cref="GidHashIndex.TryFind"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool TryFind(in Gid gid, GidType type, int netdev, out int index)
            => TryFind(gid, TailOf(netdev, type), out index);

        /// <remarks>
        /// The home line's two positions are answered inline, each with one branch on the GID (one 16-byte compare)
        /// and one on the tail, then one on the counter: read first with its odd bit cleared, it equals the second
        /// read only if it was even (a writer was not in the line) and unchanged (the counter only grows). An empty
        /// or hidden position never matches (its tail has <see cref="HiddenTailBit"/>), so a match needs no check of
        /// R. The GID's 16 bytes are one plain vector load between the counter's two reads: the first is a volatile
        /// (acquire) read, and <see cref="Volatile.ReadBarrier"/> keeps every read before it from moving after the
        /// second (on x64 it is no instruction). Anything else (a key past its home line, a miss, a writer in the
        /// line) goes to <see cref="TryFindSlow"/>, kept out of line so that this inlined path needs few registers.
        /// </remarks>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool TryFind(in Gid gid, ulong tail, out int index)
        {
            int shift = _lineShift;
            Line* lines = _lines;
            ulong hi = gid.SubnetPrefix, lo = gid.InterfaceId;
            ulong home = HashOf(hi, lo, tail) >> shift;          // < lines: the top log2(lines) bits
            Line* line = lines + (nint)home;
            Vector128<ulong> key = Vector128.LoadUnsafe(ref Unsafe.As<Gid, ulong>(ref Unsafe.AsRef(in gid)));
            int seq = Volatile.Read(ref line->Seq) & ~1;
            if (Vector128.Load(&line->Hi0) == key && Volatile.Read(ref line->Tail0) == tail)
            {
                int r = Volatile.Read(ref line->R0);
                Volatile.ReadBarrier();
                if (Volatile.Read(ref line->Seq) == seq)
                {
                    index = r - 1;
                    return true;
                }
            }
            // Slot 0 holds another key (about a quarter of the keys at the index's load): slot 1, still one line.
            else if (Vector128.Load(&line->Hi1) == key && Volatile.Read(ref line->Tail1) == tail)
            {
                int r = Volatile.Read(ref line->R1);
                Volatile.ReadBarrier();
                if (Volatile.Read(ref line->Seq) == seq)
                {
                    index = r - 1;
                    return true;
                }
            }
            index = TryFindSlow(lines, (1UL << (64 - shift)) - 1, home, hi, lo, tail);
            return index >= 0;
        }
    }

    /// <summary>The general lookup: probe line by line, each line read whole; then check no probed line changed.
    /// Returns the index, or -1 for a miss.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int TryFindSlow(Line* lines, ulong lineMask, ulong home, ulong hi, ulong lo, ulong tail)
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
                return found;           // one line, read whole: nothing to compare it with
            ulong again = 0;
            for (ulong n = 0, i = first; n < probed; n++, i = (i + 1) & lineMask)
                again += (uint)Volatile.Read(ref (lines + (nint)i)->Seq);
            if (again == seqSum)
                return found;
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
        Volatile.Write(ref KeyWord(last, ls, 0), 0UL);
        Volatile.Write(ref KeyWord(last, ls, 1), 0UL);
        Volatile.Write(ref KeyWord(last, ls, 2), HiddenTailBit);   // empty: matches no reader's key
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
