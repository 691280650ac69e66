using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RoceUio.Gids;

/// <summary>
/// One slot of a <see cref="GidTable"/>: the entry's attributes, its state and its reference count.
/// The C# counterpart of <c>data_vec[i]</c> and its <c>struct ib_gid_table_entry</c> (cache.c).
/// </summary>
/// <remarks>
/// Locking (see also the rules at the top of GidTable.cs):
/// <list type="bullet">
/// <item><see cref="Seq"/> is the slot's sequence counter. The attributes (<see cref="Hi"/>, <see cref="Lo"/>,
/// <see cref="Netdev"/>, <see cref="Type"/>) change only while it is odd, and only when the slot goes from free to
/// valid (an entry is immutable while it exists, as b150c3862d21 made the kernel's).</item>
/// <item><see cref="Word"/> packs the state (low 2 bits) and the reference count (the rest), so that a hold, a
/// release and a delete can race with one compare-and-swap each and exactly one of them sees "pending delete, no
/// references" and frees the slot.</item>
/// </list>
/// </remarks>
[StructLayout(LayoutKind.Sequential)]
internal struct GidSlot
{
    public const int StateMask = 0b11;
    public const int OneReference = 1 << 2;

    public int Seq;
    public int Word;
    public ulong Hi;
    public ulong Lo;
    public int Netdev;
    public GidType Type;

    public static GidEntryState StateOf(int word) => (GidEntryState)(word & StateMask);
    public static int ReferencesOf(int word) => (int)((uint)word >> 2);
    public static int MakeWord(GidEntryState state, int references) => (references << 2) | (int)state;

    /// <summary>
    /// Reads a whole entry: retries while a writer is changing the attributes (odd <see cref="Seq"/>) or changed
    /// them during the read. Every read is volatile (acquire) so that the second read of <see cref="Seq"/> cannot
    /// move ahead of the reads of the attributes in .NET's memory model. Writes no shared memory, never allocates.
    /// </summary>
    public static GidEntryState Read(ref GidSlot slot, out GidEntry entry, out int references)
    {
        SpinWait spin = default;
        while (true)
        {
            int seq = Volatile.Read(ref slot.Seq);
            if ((seq & 1) == 0)
            {
                int word = Volatile.Read(ref slot.Word);
                ulong hi = Volatile.Read(ref slot.Hi);
                ulong lo = Volatile.Read(ref slot.Lo);
                int netdev = Volatile.Read(ref slot.Netdev);
                GidType type = (GidType)Volatile.Read(ref Unsafe.As<GidType, byte>(ref slot.Type));
                if (Volatile.Read(ref slot.Seq) == seq)
                {
                    entry = new GidEntry(new Gid(hi, lo), type, netdev);
                    references = ReferencesOf(word);
                    return StateOf(word);
                }
            }
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>
    /// Writer only (writer lock held, slot free): stores a new entry and makes it valid with no references, inside
    /// an odd <see cref="Seq"/> window of release stores (rule 2 at the top of GidTable.cs).
    /// </summary>
    public static void Publish(ref GidSlot slot, in GidEntry e)
    {
        Volatile.Write(ref slot.Seq, slot.Seq + 1);
        Volatile.Write(ref slot.Hi, e.Gid.SubnetPrefix);
        Volatile.Write(ref slot.Lo, e.Gid.InterfaceId);
        Volatile.Write(ref slot.Netdev, e.NetdevIfindex);
        Volatile.Write(ref Unsafe.As<GidType, byte>(ref slot.Type), (byte)e.Type);
        Volatile.Write(ref slot.Word, MakeWord(GidEntryState.Valid, 0));
        Volatile.Write(ref slot.Seq, slot.Seq + 1);
    }

    /// <summary>The entry's attributes as the writer sees them (writer lock held; no torn read possible).</summary>
    public readonly GidEntry Entry => new(new Gid(Hi, Lo), Type, Netdev);
}
