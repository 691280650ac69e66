// The shared-memory GID table file, version 3: the byte layout written by GidShmWriter and read by GidShmReader
// and native/roceuio_gids.c. docs/shm-layout.md is the specification; this file and native/roceuio_gids.h follow
// it, and tests/ compare the two (ShmLayoutNativeTests).
//
// Locking rules (the only place they are written down for the C# side; the document states them for C11):
//  1. One writer per file (the daemon's worker thread, through GidShmWriter). Readers map the file read-only,
//     never write it, never take a lock and never block on the writer except while it is inside a window.
//  2. Three kinds of sequence counter (seqlocks), each a 32-bit word that is odd while the writer is changing what
//     it guards: the per-entry seq (the entry's 64 bytes), the per-stripe seq (that stripe's hash buckets), and the
//     table seq (every entry and bucket, for scans that need one consistent view). The writer makes a counter odd,
//     issues a full fence, stores the data, and makes it even with a release store. A reader loads the counter
//     (acquire), loads the data, then the counter again; an odd or changed value means retry. C readers load the
//     data relaxed and put an acquire fence before the second counter load; the C# reader loads every data word with
//     Volatile.Read (acquire), which keeps the second load after them just as well (and costs nothing on x64).
//     Data words are loaded as whole aligned 32- or 64-bit words, never byte by byte.
//  3. The generation (header) grows by one after each published batch of changes and after GONE is set, with a
//     release store followed by FUTEX_WAKE (shared, not FUTEX_PRIVATE_FLAG) on its address: a reader blocks with
//     FUTEX_WAIT on the generation it last saw.
//  4. A file never changes shape: a new table size is a new file, renamed over the old path after the old file
//     got GONE. A reader that sees GONE reopens the path.

using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace RoceUio.Shm;

/// <summary>Offsets and sizes of the shared-memory GID table file (docs/shm-layout.md), and its hash function.</summary>
public static class ShmLayout
{
    /// <summary>The 8 bytes at offset 0.</summary>
    public static ReadOnlySpan<byte> MagicBytes => "ROCEGIDS"u8;
    /// <summary>3: 32-byte buckets (the type packed beside index+1) and the one-multiply hash. Since 2, entries name
    /// their netdev by (ifindex in its own namespace, namespace inode, netnsid) and the hash key holds the namespace
    /// (version 1 wrote the daemon's internal key of a container's netdev as its ifindex).</summary>
    public const uint Version = 3;
    public const int HeaderSize = 256;
    public const int EntrySize = 64;
    public const int BucketSize = 32;
    /// <summary>Each stripe's sequence counter sits alone in a 64-byte line.</summary>
    public const int StripeSeqStride = 64;
    public const int DeviceNameSize = 64;
    public const int NetdevNameSize = 16;   // IFNAMSIZ

    // ---- header (offset: field) ----
    public const int HdrMagic = 0;              // u8[8]  "ROCEGIDS"
    public const int HdrVersion = 8;            // u32    3
    public const int HdrHeaderSize = 12;        // u32    256
    public const int HdrEntrySize = 16;         // u32    64
    public const int HdrCapacity = 20;          // u32    entries (GID table size)
    public const int HdrStripeCount = 24;       // u32    power of two
    public const int HdrBucketsPerStripe = 28;  // u32    power of two, > capacity
    public const int HdrBucketSize = 32;        // u32    32
    public const int HdrPort = 36;              // u32    port number, 1-based
    public const int HdrEntriesOffset = 40;     // u64
    public const int HdrStripesOffset = 48;     // u64
    public const int HdrBucketsOffset = 56;     // u64
    public const int HdrFileSize = 64;          // u64
    public const int HdrInstance = 72;          // u64    random, non-zero, new with every file
    public const int HdrWriterPid = 80;         // u32
    public const int HdrDefaultSlots = 84;      // u32    indexes 0..n-1 are default slots
    public const int HdrGidTypes = 88;          // u32    bit (1 << type) per supported type
    public const int HdrDeviceName = 96;        // char[64], NUL-padded
    public const int HdrNetns = 160;            // u64    the daemon's network namespace (its nsfs inode)
    public const int HdrGeneration = 192;       // u32    atomic; the futex word
    public const int HdrFlags = 196;            // u32    atomic; bit 0 GONE
    public const int HdrTableSeq = 200;         // u32    atomic; table seqlock

    public const uint FlagGone = 1;

    // ---- entry (offset inside the entry) ----
    public const int EntSeq = 0;        // u32 seqlock
    public const int EntState = 4;      // u32 0 empty, 1 valid
    public const int EntGid = 8;        // u8[16], network order (read as two u64 words)
    public const int EntType = 24;      // u32 0 IB, 1 RoCE v1, 2 RoCE v2
    public const int EntNdev = 28;      // u32 netdev ifindex inside the netdev's own namespace (ndev->ifindex)
    public const int EntNdevNetns = 32; // u64 the netdev's namespace: its nsfs inode (st_ino of /proc/PID/ns/net); 0 unknown
    public const int EntNdevName = 40;  // char[16], NUL-padded
    public const int EntNdevNetnsId = 56; // s32 the netdev's namespace's id in the daemon's namespace; -1 the daemon's own

    public const uint StateEmpty = 0;
    public const uint StateValid = 1;

    // ---- hash bucket (offset inside the bucket; 32 bytes, 32-aligned, so one never straddles a cache line) ----
    public const int BktGid = 0;          // u8[16]
    public const int BktNdev = 16;        // u32
    public const int BktTypeIndex = 20;   // u32: bits 0..23 index + 1 (0 = empty bucket), bits 24..31 the GID type
    public const int BktNetns = 24;       // u64 the netdev's namespace inode
    public const int BktIndexBits = 24;
    public const uint BktIndexMask = (1u << BktIndexBits) - 1;

    /// <summary>The bucket's type/index word for a GID type and an index.</summary>
    public static uint TypeIndex(uint type, int index) => (uint)(index + 1) | (type << BktIndexBits);

    /// <summary>Stripes in a file (fixed by this writer; readers take it from the header).</summary>
    public const int DefaultStripeCount = 16;

    /// <summary>The layout's hash of a key (docs/shm-layout.md "Hash"): w0 and w1 are the GID's bytes 0..7 and 8..15
    /// read as little-endian u64s; a = w0 ^ (type | (u64)ndev &lt;&lt; 32) ^ K0, b = w1 ^ netns ^ K1; h = the low
    /// 64 bits of the 128-bit product a * b xor its high 64 bits (one multiply). The high half depends on every bit
    /// of a and b, so keys differing only in the GID's last byte (w1's top byte) spread over stripes and homes.
    /// Stripe: h &amp; (stripes-1); first bucket: (h &gt;&gt; 16) &amp; (buckets-1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Hash(ulong w0, ulong w1, uint type, uint ndev, ulong netns)
    {
        ulong hi = Math.BigMul(w0 ^ (type | ((ulong)ndev << 32)) ^ HashK0, w1 ^ netns ^ HashK1, out ulong lo);
        return hi ^ lo;
    }

    public const ulong HashK0 = 0x9E3779B97F4A7C15UL, HashK1 = 0xC2B2AE3D27D4EB4FUL;

    /// <summary>The first bucket a key probes in its stripe.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Home(ulong h, int bucketMask) => (int)((h >> HashHomeShift) & (uint)bucketMask);

    public const int HashHomeShift = 16;

    /// <summary>The GID's bytes 0..7 as the little-endian word the file holds (w0).</summary>
    public static ulong Word0(in Gids.Gid g) => BinaryPrimitives.ReverseEndianness(g.SubnetPrefix);

    /// <summary>The GID's bytes 8..15 as the little-endian word the file holds (w1).</summary>
    public static ulong Word1(in Gids.Gid g) => BinaryPrimitives.ReverseEndianness(g.InterfaceId);

    public static Gids.Gid GidOf(ulong w0, ulong w1) => new(BinaryPrimitives.ReverseEndianness(w0), BinaryPrimitives.ReverseEndianness(w1));

    /// <summary>Buckets per stripe for a table of <paramref name="capacity"/> entries: a power of two above the
    /// capacity, so that a stripe never fills whatever the keys hash to.</summary>
    public static int BucketsPerStripe(int capacity) => (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity + 1);

    public static long EntriesOffset => HeaderSize;
    public static long StripesOffset(int capacity) => Align64(EntriesOffset + (long)capacity * EntrySize);
    public static long BucketsOffset(int capacity, int stripes) => StripesOffset(capacity) + (long)stripes * StripeSeqStride;
    public static long FileSize(int capacity, int stripes)
        => Align(BucketsOffset(capacity, stripes) + (long)stripes * BucketsPerStripe(capacity) * BucketSize, 4096);

    private static long Align64(long v) => Align(v, 64);
    private static long Align(long v, long a) => (v + a - 1) / a * a;
}
