using System.Runtime.CompilerServices;
using System.Text;
using RoceUio.Gids;
using static Tmds.Linux.LibC;

namespace RoceUio.Shm;

/// <summary>
/// Reads one port's shared-memory GID table (docs/shm-layout.md) that <c>roceuio run</c> publishes: lookups are a
/// few memory reads, no system call, no lock, no allocation, no write to the shared memory (rules at the top of
/// ShmLayout.cs). Safe from many threads. When <see cref="IsGone"/> turns true, open the path again.
/// </summary>
public sealed unsafe class GidShmReader : IDisposable
{
    /// <summary>How long a reader retries a window that stays open (a writer killed inside it) before it gives up.</summary>
    private const long StuckTicks = 1000;   // ms

    private readonly ShmFile _file;
    private readonly byte* _entries, _stripeSeqs, _buckets;
    private readonly uint* _generation, _flags, _tableSeq;
    private readonly int _stripeMask, _bucketMask;

    public string Path { get; }
    public string Device { get; }
    public int Port { get; }
    public int Capacity { get; }
    public int DefaultSlotCount { get; }
    public GidTypes SupportedTypes { get; }
    public ulong Instance { get; }
    public int WriterPid { get; }
    /// <summary>The writer's network namespace (nsfs inode): the namespace of the netdevs the lookups without a
    /// namespace argument mean.</summary>
    public ulong NetNs { get; }

    private GidShmReader(string path, ShmFile file)
    {
        Path = path;
        _file = file;
        byte* b = file.Base;
        Capacity = (int)*(uint*)(b + ShmLayout.HdrCapacity);
        int stripes = (int)*(uint*)(b + ShmLayout.HdrStripeCount);
        int buckets = (int)*(uint*)(b + ShmLayout.HdrBucketsPerStripe);
        Port = (int)*(uint*)(b + ShmLayout.HdrPort);
        DefaultSlotCount = (int)*(uint*)(b + ShmLayout.HdrDefaultSlots);
        SupportedTypes = (GidTypes)(byte)(*(uint*)(b + ShmLayout.HdrGidTypes));
        Instance = *(ulong*)(b + ShmLayout.HdrInstance);
        WriterPid = (int)*(uint*)(b + ShmLayout.HdrWriterPid);
        NetNs = *(ulong*)(b + ShmLayout.HdrNetns);
        Device = CString(new ReadOnlySpan<byte>(b + ShmLayout.HdrDeviceName, ShmLayout.DeviceNameSize));
        _entries = b + *(ulong*)(b + ShmLayout.HdrEntriesOffset);
        _stripeSeqs = b + *(ulong*)(b + ShmLayout.HdrStripesOffset);
        _buckets = b + *(ulong*)(b + ShmLayout.HdrBucketsOffset);
        _stripeMask = stripes - 1;
        _bucketMask = buckets - 1;
        _generation = (uint*)(b + ShmLayout.HdrGeneration);
        _flags = (uint*)(b + ShmLayout.HdrFlags);
        _tableSeq = (uint*)(b + ShmLayout.HdrTableSeq);
    }

    /// <summary>Opens <c>DIR/&lt;dev&gt;/&lt;port&gt;</c> read-only and checks its header.</summary>
    public static GidShmReader Open(string dir, string device, int port) => Open(GidShmWriter.PathOf(dir, device, port));

    /// <summary>Opens a table file read-only and checks its header: magic, version, sizes and offsets against the
    /// file's length. A file that does not pass is refused with what is wrong, never mapped half-understood.</summary>
    public static GidShmReader Open(string path)
    {
        int fd = ShmFile.Open(path, O_RDONLY);
        ShmFile? file = null;
        try
        {
            long size = ShmFile.SizeOf(fd, path);
            if (size < ShmLayout.HeaderSize)
                throw new InvalidDataException($"{path}: {size} bytes is shorter than the {ShmLayout.HeaderSize}-byte header: not a RoceUio GID table file");
            file = ShmFile.Map(path, fd, size, writable: false);
            Validate(path, file.Base, size);
            return new GidShmReader(path, file);
        }
        catch
        {
            file?.Dispose();
            throw;
        }
        finally
        {
            close(fd);
        }
    }

    private static void Validate(string path, byte* b, long size)
    {
        if (!new ReadOnlySpan<byte>(b, 8).SequenceEqual(ShmLayout.MagicBytes))
            throw new InvalidDataException($"{path}: bad magic (offset 0 is not \"ROCEGIDS\"): not a RoceUio GID table file");
        uint U(int off) => *(uint*)(b + off);
        ulong Q(int off) => *(ulong*)(b + off);
        if (U(ShmLayout.HdrVersion) != ShmLayout.Version)
            throw new InvalidDataException($"{path}: layout version {U(ShmLayout.HdrVersion)}, this reader knows version {ShmLayout.Version} only"
                                           + " (use the reader that came with the daemon that wrote it)");
        if (U(ShmLayout.HdrHeaderSize) != ShmLayout.HeaderSize || U(ShmLayout.HdrEntrySize) != ShmLayout.EntrySize || U(ShmLayout.HdrBucketSize) != ShmLayout.BucketSize)
            throw new InvalidDataException($"{path}: header/entry/bucket sizes {U(ShmLayout.HdrHeaderSize)}/{U(ShmLayout.HdrEntrySize)}/{U(ShmLayout.HdrBucketSize)}, expected {ShmLayout.HeaderSize}/{ShmLayout.EntrySize}/{ShmLayout.BucketSize}");
        uint capacity = U(ShmLayout.HdrCapacity), stripes = U(ShmLayout.HdrStripeCount), buckets = U(ShmLayout.HdrBucketsPerStripe);
        if (capacity == 0 || capacity > 1 << 20 || !uint.IsPow2(stripes) || !uint.IsPow2(buckets) || buckets <= capacity || stripes > 1 << 12)
            throw new InvalidDataException($"{path}: capacity {capacity}, {stripes} stripes of {buckets} buckets: not a consistent table (stripes and buckets powers of two, buckets > capacity)");
        if (Q(ShmLayout.HdrFileSize) != (ulong)size)
            throw new InvalidDataException($"{path}: the header says {Q(ShmLayout.HdrFileSize)} bytes, the file has {size}");
        ulong entries = Q(ShmLayout.HdrEntriesOffset), seqs = Q(ShmLayout.HdrStripesOffset), bkts = Q(ShmLayout.HdrBucketsOffset);
        bool inside = entries >= ShmLayout.HeaderSize && entries % 64 == 0 && entries + (ulong)capacity * ShmLayout.EntrySize <= (ulong)size
                      && seqs % 64 == 0 && seqs + (ulong)stripes * ShmLayout.StripeSeqStride <= (ulong)size
                      && bkts % 32 == 0 && bkts + (ulong)stripes * buckets * ShmLayout.BucketSize <= (ulong)size;
        if (!inside)
            throw new InvalidDataException($"{path}: entries at {entries}, stripe counters at {seqs}, buckets at {bkts}: outside the {size}-byte file or misaligned");
    }

    private static string CString(ReadOnlySpan<byte> b)
    {
        int n = b.IndexOf((byte)0);
        return Encoding.UTF8.GetString(n < 0 ? b : b[..n]);
    }

    /// <summary>Grows by one after every published batch of changes (and when the file goes away).</summary>
    public uint Generation => Volatile.Read(ref *_generation);

    /// <summary>True once the writer gave this file up (port removed, daemon stopped or restarted, new table size):
    /// open the path again.</summary>
    public bool IsGone => (Volatile.Read(ref *_flags) & ShmLayout.FlagGone) != 0;

    // ---------------------------------------------------------------- lookups

    /// <summary>
    /// The lowest valid index holding (gid, type, netdev), through the hash index (find_gid with mask
    /// GID | GID_TYPE | NETDEV), the netdev being <paramref name="netdevIfindex"/> of the writer's namespace
    /// (<see cref="NetNs"/>). No system call, no allocation.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryFind(in Gid gid, GidType type, int netdevIfindex, out int index)
        => TryFind(gid, type, netdevIfindex, NetNs, out index);

    /// <summary>As <see cref="TryFind(in Gid, GidType, int, out int)"/> for the netdev with ifindex
    /// <paramref name="netdevIfindex"/> inside the namespace whose nsfs inode is <paramref name="netns"/> (a reader in
    /// a container passes its own: <see cref="Netlink.NetnsFollower.OwnInode"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryFind(in Gid gid, GidType type, int netdevIfindex, ulong netns, out int index)
    {
        ulong w0 = ShmLayout.Word0(gid), w1 = ShmLayout.Word1(gid);
        ulong h = ShmLayout.Hash(w0, w1, (uint)type, (uint)netdevIfindex, netns);
        uint* seq = (uint*)(_stripeSeqs + (long)(h & (uint)_stripeMask) * ShmLayout.StripeSeqStride);
        byte* stripe = _buckets + (long)(h & (uint)_stripeMask) * (_bucketMask + 1) * ShmLayout.BucketSize;
        int home = ShmLayout.Home(h, _bucketMask);
        long since = 0;
        while (true)
        {
            uint s0 = Volatile.Read(ref *seq);
            if ((s0 & 1) == 0)
            {
                int found = Probe(stripe, home, w0, w1, (uint)type, (uint)netdevIfindex, netns);
                // Every data load above is a Volatile.Read (acquire), so this re-read cannot move above them: the
                // .NET form of C11's atomic_thread_fence(acquire) before the second counter load.
                if (Volatile.Read(ref *seq) == s0)
                {
                    index = found;
                    return found >= 0;
                }
            }
            WaitOut(ref since);
        }
    }

    private int Probe(byte* stripe, int home, ulong w0, ulong w1, uint type, uint ndev, ulong netns)
    {
        for (int i = 0, at = home; i <= _bucketMask; i++, at = (at + 1) & _bucketMask)
        {
            byte* b = stripe + (long)at * ShmLayout.BucketSize;
            uint ti = Volatile.Read(ref *(uint*)(b + ShmLayout.BktTypeIndex));
            uint ip1 = ti & ShmLayout.BktIndexMask;
            if (ip1 == 0)
                return -1;
            if (Volatile.Read(ref *(ulong*)(b + ShmLayout.BktGid)) == w0 && Volatile.Read(ref *(ulong*)(b + ShmLayout.BktGid + 8)) == w1
                && Volatile.Read(ref *(uint*)(b + ShmLayout.BktNdev)) == ndev && ti >> ShmLayout.BktIndexBits == type
                && Volatile.Read(ref *(ulong*)(b + ShmLayout.BktNetns)) == netns)
                return ip1 - 1 < (uint)Capacity ? (int)(ip1 - 1) : -1;
        }
        return -1;
    }

    /// <summary>
    /// The kernel's <c>find_gid</c>: the lowest valid index whose attributes match on the bits of
    /// <paramref name="mask"/> (with <see cref="GidFindMask.Default"/>, only slots whose default-ness is
    /// <paramref name="defaultSlot"/>), over one consistent view of the table (the table seq). The netdev is one of
    /// the writer's namespace.
    /// </summary>
    public bool TryFind(in Gid gid, GidType type, int netdevIfindex, GidFindMask mask, bool defaultSlot, out int index)
        => TryFind(gid, type, netdevIfindex, NetNs, mask, defaultSlot, out index);

    /// <summary>As above, the netdev being <paramref name="netdevIfindex"/> of the namespace with nsfs inode
    /// <paramref name="netns"/> (compared only with <see cref="GidFindMask.Netdev"/>).</summary>
    public bool TryFind(in Gid gid, GidType type, int netdevIfindex, ulong netns, GidFindMask mask, bool defaultSlot, out int index)
    {
        if (mask == (GidFindMask.Gid | GidFindMask.GidType | GidFindMask.Netdev))
            return TryFind(gid, type, netdevIfindex, netns, out index);
        ulong w0 = ShmLayout.Word0(gid), w1 = ShmLayout.Word1(gid);
        long since = 0;
        while (true)
        {
            uint s0 = Volatile.Read(ref *_tableSeq);
            if ((s0 & 1) == 0)
            {
                int found = Scan(w0, w1, (uint)type, (uint)netdevIfindex, netns, mask, defaultSlot);
                if (Volatile.Read(ref *_tableSeq) == s0)
                {
                    index = found;
                    return found >= 0;
                }
            }
            WaitOut(ref since);
        }
    }

    private int Scan(ulong w0, ulong w1, uint type, uint ndev, ulong netns, GidFindMask mask, bool defaultSlot)
    {
        for (int i = 0; i < Capacity; i++)
        {
            byte* e = _entries + (long)i * ShmLayout.EntrySize;
            if (Volatile.Read(ref *(uint*)(e + ShmLayout.EntState)) != ShmLayout.StateValid)
                continue;
            if ((mask & GidFindMask.Default) != 0 && (i < DefaultSlotCount) != defaultSlot)
                continue;
            if ((mask & GidFindMask.GidType) != 0 && Volatile.Read(ref *(uint*)(e + ShmLayout.EntType)) != type)
                continue;
            if ((mask & GidFindMask.Gid) != 0 && (Volatile.Read(ref *(ulong*)(e + ShmLayout.EntGid)) != w0 || Volatile.Read(ref *(ulong*)(e + ShmLayout.EntGid + 8)) != w1))
                continue;
            if ((mask & GidFindMask.Netdev) != 0 && (Volatile.Read(ref *(uint*)(e + ShmLayout.EntNdev)) != ndev
                                                     || Volatile.Read(ref *(ulong*)(e + ShmLayout.EntNdevNetns)) != netns))
                continue;
            return i;
        }
        return -1;
    }

    /// <summary>The entry at <paramref name="index"/> if it is valid (query by index), read whole.</summary>
    public bool TryGet(int index, out GidEntry entry)
    {
        Span<byte> none = default;
        return TryGet(index, out entry, none, out _);
    }

    /// <summary>As <see cref="TryGet(int, out GidEntry)"/>, also copying the netdev's name (NUL-padded, at most 16
    /// bytes) into <paramref name="netdevName"/> from the same consistent read.</summary>
    public bool TryGet(int index, out GidEntry entry, Span<byte> netdevName, out int nameLength)
        => TryGet(index, out entry, netdevName, out nameLength, out _, out _);

    /// <summary>As above, also the netdev's namespace: its nsfs inode (0: unknown to the writer) and the id the
    /// writer's namespace gives it (-1: the writer's own). The entry's NetdevIfindex is the ifindex inside that
    /// namespace.</summary>
    public bool TryGet(int index, out GidEntry entry, Span<byte> netdevName, out int nameLength, out ulong netns, out int netnsId)
    {
        entry = default;
        nameLength = 0;
        netns = 0;
        netnsId = 0;
        if ((uint)index >= (uint)Capacity)
            return false;
        byte* e = _entries + (long)index * ShmLayout.EntrySize;
        uint* seq = (uint*)(e + ShmLayout.EntSeq);
        long since = 0;
        Span<ulong> name = stackalloc ulong[2];
        while (true)
        {
            uint s0 = Volatile.Read(ref *seq);
            if ((s0 & 1) == 0)
            {
                uint state = Volatile.Read(ref *(uint*)(e + ShmLayout.EntState));
                ulong w0 = Volatile.Read(ref *(ulong*)(e + ShmLayout.EntGid));
                ulong w1 = Volatile.Read(ref *(ulong*)(e + ShmLayout.EntGid + 8));
                uint type = Volatile.Read(ref *(uint*)(e + ShmLayout.EntType));
                uint ndev = Volatile.Read(ref *(uint*)(e + ShmLayout.EntNdev));
                ulong ns = Volatile.Read(ref *(ulong*)(e + ShmLayout.EntNdevNetns));
                int nsid = Volatile.Read(ref *(int*)(e + ShmLayout.EntNdevNetnsId));
                name[0] = Volatile.Read(ref *(ulong*)(e + ShmLayout.EntNdevName));
                name[1] = Volatile.Read(ref *(ulong*)(e + ShmLayout.EntNdevName + 8));
                if (Volatile.Read(ref *seq) == s0)
                {
                    if (state != ShmLayout.StateValid)
                        return false;
                    entry = new GidEntry(ShmLayout.GidOf(w0, w1), (GidType)type, (int)ndev);
                    netns = ns;
                    netnsId = nsid;
                    if (!netdevName.IsEmpty)
                    {
                        ReadOnlySpan<byte> bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(name);
                        int n = bytes.IndexOf((byte)0);
                        nameLength = Math.Min(n < 0 ? bytes.Length : n, netdevName.Length);
                        bytes[..nameLength].CopyTo(netdevName);
                    }
                    return true;
                }
            }
            WaitOut(ref since);
        }
    }

    /// <summary>The netdev name stored with the valid entry at <paramref name="index"/>, or null (allocates: for tools).</summary>
    public string? NetdevNameOf(int index)
    {
        Span<byte> buf = stackalloc byte[ShmLayout.NetdevNameSize];
        return TryGet(index, out _, buf, out int n) ? Encoding.UTF8.GetString(buf[..n]) : null;
    }

    /// <summary>Every valid entry, in index order (each read whole; allocates the list: for tools, not lookups).
    /// Entry.NetdevIfindex is the ifindex inside the netdev's namespace (NetNs inode, NetNsId as <see cref="TryGet(int, out GidEntry, Span{byte}, out int, out ulong, out int)"/>).</summary>
    public List<(int Index, GidEntry Entry, string Netdev, ulong NetNs, int NetNsId)> Snapshot()
    {
        var list = new List<(int, GidEntry, string, ulong, int)>();
        Span<byte> buf = stackalloc byte[ShmLayout.NetdevNameSize];
        for (int i = 0; i < Capacity; i++)
            if (TryGet(i, out GidEntry e, buf, out int n, out ulong ns, out int nsid))
                list.Add((i, e, Encoding.UTF8.GetString(buf[..n]), ns, nsid));
        return list;
    }

    /// <summary>
    /// Blocks until the generation differs from <paramref name="seen"/> or the file is gone, at most
    /// <paramref name="timeoutMs"/> (-1: no limit), without polling (a shared futex on the generation). Returns the
    /// generation now; equal to <paramref name="seen"/> only on timeout.
    /// </summary>
    public uint WaitForChange(uint seen, int timeoutMs)
    {
        long deadline = timeoutMs < 0 ? long.MaxValue : Environment.TickCount64 + timeoutMs;
        while (true)
        {
            uint now = Generation;
            if (now != seen || IsGone)
                return now;
            long left = deadline == long.MaxValue ? -1 : deadline - Environment.TickCount64;
            if (left == 0 || (left < 0 && deadline != long.MaxValue))
                return now;
            Futex.Wait(_generation, seen, (int)Math.Min(left, int.MaxValue));
        }
    }

    /// <summary>A window stays open: spin briefly, then yield; past <see cref="StuckTicks"/> the writer is taken to
    /// have died inside it, and the reader says so instead of spinning for ever.</summary>
    private void WaitOut(ref long since)
    {
        if (since == 0)
            since = Environment.TickCount64;
        else if (Environment.TickCount64 - since > StuckTicks)
            throw new TimeoutException($"{Path}: a writer has been inside a sequence window for over {StuckTicks} ms (writer pid {WriterPid} died?): reopen the file");
        Thread.SpinWait(20);
        Thread.Yield();
    }

    public void Dispose() => _file.Dispose();
}
