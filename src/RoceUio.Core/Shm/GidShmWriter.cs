using System.Security.Cryptography;
using System.Text;
using RoceUio.Gids;
using static Tmds.Linux.LibC;

namespace RoceUio.Shm;

/// <summary>
/// Writes one port's GID table file (docs/shm-layout.md): created under a temporary name and renamed over
/// <c>DIR/&lt;dev&gt;/&lt;port&gt;</c>, after marking any file already there GONE. One thread writes (locking rules at
/// the top of ShmLayout.cs); changes are made in batches: <see cref="BeginBatch"/>, <see cref="Set"/>...,
/// <see cref="EndBatch"/>, which bumps the generation and wakes waiters.
/// </summary>
public sealed unsafe class GidShmWriter : IDisposable
{
    private readonly ShmFile _file;
    private readonly GidEntry?[] _entries;
    private readonly ShmNetdev?[] _netdevs;
    private readonly Dictionary<FileKey, List<int>> _indexesOfKey = new();
    private readonly int _stripes, _buckets;
    private readonly long _entriesOff, _stripesOff, _bucketsOff;
    private bool _inBatch, _changed;

    public string Path { get; }
    public string Device { get; }
    public int Port { get; }
    public int Capacity { get; }
    public ulong Instance { get; }
    /// <summary>The writer's network namespace (its nsfs inode), as the header says.</summary>
    public ulong NetNs { get; }

    // The hash key as the file holds it: the GID, its type, and the netdev by (ifindex in its namespace, namespace).
    private readonly record struct FileKey(Gid Gid, GidType Type, uint Ifindex, ulong NetNs);

    private GidShmWriter(ShmFile file, string path, string device, int port, int capacity, ulong instance, ulong netns)
    {
        NetNs = netns;
        _file = file;
        Path = path;
        Device = device;
        Port = port;
        Capacity = capacity;
        Instance = instance;
        _entries = new GidEntry?[capacity];
        _netdevs = new ShmNetdev?[capacity];
        _stripes = ShmLayout.DefaultStripeCount;
        _buckets = ShmLayout.BucketsPerStripe(capacity);
        _entriesOff = ShmLayout.EntriesOffset;
        _stripesOff = ShmLayout.StripesOffset(capacity);
        _bucketsOff = ShmLayout.BucketsOffset(capacity, _stripes);
    }

    /// <summary>Called inside every seqlock window ("entry" between the GID's two words, "stripe" before a stripe's
    /// window closes), so tests can stop a writer half way (InternalsVisibleTo).</summary>
    internal Action<string>? InsideWindowForTest { get; set; }

    /// <summary>The path of a port's file under <paramref name="dir"/>.</summary>
    public static string PathOf(string dir, string device, int port) => System.IO.Path.Combine(dir, device, port.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>
    /// Creates (or replaces) the file of <paramref name="device"/> port <paramref name="port"/> under
    /// <paramref name="dir"/>, every slot empty. Created with mode 0644 less the process's umask; with
    /// <paramref name="group"/> &gt;= 0 its group is set to that (the control socket's, so the same people can read it).
    /// A file already at the path (an earlier daemon's, maybe of another size) is marked GONE first, and the new
    /// file's generation starts above its last one.
    /// </summary>
    public static GidShmWriter Create(string dir, string device, int port, int capacity, int defaultSlots, GidTypes types, int group = -1)
    {
        if (device.Length == 0 || device.Contains('/') || device is "." or ".." || Encoding.UTF8.GetByteCount(device) >= ShmLayout.DeviceNameSize)
            throw new ArgumentException($"device name '{device}' cannot name a shared-memory file (non-empty, no '/', under {ShmLayout.DeviceNameSize} bytes)", nameof(device));
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, 1 << 20); // the layout's limit (index + 1 fits the bucket's 24 bits)
        string devDir = System.IO.Path.Combine(dir, device);
        Directory.CreateDirectory(devDir);
        string path = PathOf(dir, device, port);
        uint previous = MarkExistingGone(path);

        int stripes = ShmLayout.DefaultStripeCount;
        long size = ShmLayout.FileSize(capacity, stripes);
        string tmp = System.IO.Path.Combine(devDir, $".{port}.tmp{Environment.ProcessId}");
        File.Delete(tmp);
        int fd = ShmFile.Open(tmp, O_RDWR | O_CREAT | O_EXCL, 0x1a4 /* 0644 */);
        ShmFile? file = null;
        try
        {
            if (ftruncate(fd, size) != 0)
                throw new IOException($"{tmp}: cannot size to {size} bytes: {Hardware.Errno.Describe(errno)}");
            if (group >= 0 && fchown(fd, uint.MaxValue, (uint)group) != 0)
                throw new IOException($"{tmp}: cannot give it group {group}: {Hardware.Errno.Describe(errno)}");
            file = ShmFile.Map(tmp, fd, size, writable: true);
            ulong instance = NewInstance();
            ulong netns = Netlink.NetnsFollower.OwnInode();
            WriteHeader(file, device, port, capacity, defaultSlots, types, stripes, size, instance, previous + 2, netns);
            File.Move(tmp, path, overwrite: true); // rename(2): a reader opens the old file or the whole new one
            return new GidShmWriter(file, path, device, port, capacity, instance, netns);
        }
        catch
        {
            file?.Dispose();
            File.Delete(tmp);
            throw;
        }
        finally
        {
            close(fd);
        }
    }

    private static ulong NewInstance()
    {
        ulong v;
        do
            v = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        while (v == 0);
        return v;
    }

    /// <summary>An earlier daemon's file at <paramref name="path"/>: marks it GONE (waking its waiters) and returns
    /// its last generation; 0 if there is none or it is not a RoceUio table file (any version) this process may
    /// write. GONE and the generation sit at the same offsets in versions 1 to 3, so a reader of any of them that
    /// has the old file open is told to reopen.</summary>
    private static uint MarkExistingGone(string path)
    {
        int fd;
        try
        {
            fd = ShmFile.Open(path, O_RDWR);
        }
        catch (IOException)
        {
            return 0;
        }
        try
        {
            long size = ShmFile.SizeOf(fd, path);
            if (size < ShmLayout.HeaderSize)
                return 0;
            using ShmFile old = ShmFile.Map(path, fd, ShmLayout.HeaderSize, writable: true);
            uint version = *old.At<uint>(ShmLayout.HdrVersion);
            if (!new ReadOnlySpan<byte>(old.Base, 8).SequenceEqual(ShmLayout.MagicBytes) || version is not (1 or 2 or ShmLayout.Version))
                return 0;
            return SetGone(old);
        }
        finally
        {
            close(fd);
        }
    }

    private static uint SetGone(ShmFile f)
    {
        uint* flags = f.At<uint>(ShmLayout.HdrFlags);
        uint* gen = f.At<uint>(ShmLayout.HdrGeneration);
        Volatile.Write(ref *flags, Volatile.Read(ref *flags) | ShmLayout.FlagGone);
        uint g = Volatile.Read(ref *gen) + 1;
        Volatile.Write(ref *gen, g);
        Futex.WakeAll(gen);
        return g;
    }

    private static void WriteHeader(ShmFile f, string device, int port, int capacity, int defaultSlots, GidTypes types,
        int stripes, long size, ulong instance, uint generation, ulong netns)
    {
        ShmLayout.MagicBytes.CopyTo(new Span<byte>(f.Base, 8));
        *f.At<uint>(ShmLayout.HdrVersion) = ShmLayout.Version;
        *f.At<uint>(ShmLayout.HdrHeaderSize) = ShmLayout.HeaderSize;
        *f.At<uint>(ShmLayout.HdrEntrySize) = ShmLayout.EntrySize;
        *f.At<uint>(ShmLayout.HdrCapacity) = (uint)capacity;
        *f.At<uint>(ShmLayout.HdrStripeCount) = (uint)stripes;
        *f.At<uint>(ShmLayout.HdrBucketsPerStripe) = (uint)ShmLayout.BucketsPerStripe(capacity);
        *f.At<uint>(ShmLayout.HdrBucketSize) = ShmLayout.BucketSize;
        *f.At<uint>(ShmLayout.HdrPort) = (uint)port;
        *f.At<ulong>(ShmLayout.HdrEntriesOffset) = (ulong)ShmLayout.EntriesOffset;
        *f.At<ulong>(ShmLayout.HdrStripesOffset) = (ulong)ShmLayout.StripesOffset(capacity);
        *f.At<ulong>(ShmLayout.HdrBucketsOffset) = (ulong)ShmLayout.BucketsOffset(capacity, stripes);
        *f.At<ulong>(ShmLayout.HdrFileSize) = (ulong)size;
        *f.At<ulong>(ShmLayout.HdrInstance) = instance;
        *f.At<uint>(ShmLayout.HdrWriterPid) = (uint)Environment.ProcessId;
        *f.At<uint>(ShmLayout.HdrDefaultSlots) = (uint)defaultSlots;
        *f.At<uint>(ShmLayout.HdrGidTypes) = (uint)types;
        Encoding.UTF8.GetBytes(device, new Span<byte>(f.Base + ShmLayout.HdrDeviceName, ShmLayout.DeviceNameSize - 1));
        *f.At<ulong>(ShmLayout.HdrNetns) = netns;
        *f.At<uint>(ShmLayout.HdrGeneration) = generation;
    }

    /// <summary>The generation readers see now.</summary>
    public uint Generation => Volatile.Read(ref *_file.At<uint>(ShmLayout.HdrGeneration));

    /// <summary>What slot <paramref name="index"/> holds in the file (null: empty).</summary>
    public GidEntry? EntryAt(int index) => _entries[index];

    /// <summary>The netdev name slot <paramref name="index"/> holds in the file (null: empty).</summary>
    public string? NameAt(int index) => _netdevs[index]?.Name;

    /// <summary>The netdev slot <paramref name="index"/> names in the file (null: empty).</summary>
    public ShmNetdev? NetdevAt(int index) => _netdevs[index];

    /// <summary>Opens a batch: the table seq goes odd, so scans wait for the whole batch.</summary>
    public void BeginBatch()
    {
        if (_inBatch)
            throw new InvalidOperationException($"{Path}: BeginBatch inside a batch");
        _inBatch = true;
        _changed = false;
        OpenWindow(_file.At<uint>(ShmLayout.HdrTableSeq));
    }

    /// <summary>Closes the batch; if anything changed, the generation grows by one and waiters wake.</summary>
    public void EndBatch()
    {
        if (!_inBatch)
            throw new InvalidOperationException($"{Path}: EndBatch without BeginBatch");
        CloseWindow(_file.At<uint>(ShmLayout.HdrTableSeq));
        _inBatch = false;
        if (_changed)
        {
            uint* gen = _file.At<uint>(ShmLayout.HdrGeneration);
            Volatile.Write(ref *gen, *gen + 1);
            Futex.WakeAll(gen);
        }
    }

    /// <summary>
    /// As <see cref="Set(int, GidEntry?, ShmNetdev?)"/> for a netdev of the writer's own namespace whose ifindex is
    /// <paramref name="entry"/>'s, named <paramref name="netdevName"/>.
    /// </summary>
    public void Set(int index, GidEntry? entry, string? netdevName)
        => Set(index, entry, entry is { } e ? new ShmNetdev(e.NetdevIfindex, NetNs, -1, netdevName ?? "") : null);

    /// <summary>
    /// Makes slot <paramref name="index"/> hold <paramref name="entry"/> (null: empty) of the netdev
    /// <paramref name="netdev"/> (which the file names by its own ifindex and namespace, not by
    /// <paramref name="entry"/>'s NetdevIfindex); nothing happens if it already does. Inside a batch.
    /// </summary>
    public void Set(int index, GidEntry? entry, ShmNetdev? netdev)
    {
        if (!_inBatch)
            throw new InvalidOperationException($"{Path}: Set outside a batch");
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Capacity, nameof(index));
        if (entry is null)
            netdev = null;
        else if (netdev is null)
            throw new ArgumentNullException(nameof(netdev), $"{Path}: index {index}: an entry needs its netdev");
        GidEntry? old = _entries[index];
        ShmNetdev? oldNetdev = _netdevs[index];
        if (old == entry && oldNetdev == netdev)
            return;
        _changed = true;
        WriteEntry(index, entry, netdev);
        _entries[index] = entry;
        _netdevs[index] = netdev;
        FileKey? oldKey = old is { } o ? KeyOf(o, oldNetdev!.Value) : null;
        FileKey? newKey = entry is { } n ? KeyOf(n, netdev!.Value) : null;
        if (oldKey == newKey)
            return; // only the name changed; the index is keyed on (gid, type, ifindex, netns)
        if (oldKey is { } ok)
            Unindex(ok, index);
        if (newKey is { } nk)
            IndexKey(nk, index);
    }

    private static FileKey KeyOf(in GidEntry e, in ShmNetdev n) => new(e.Gid, e.Type, (uint)n.Ifindex, n.NetNs);

    private void WriteEntry(int index, GidEntry? entry, ShmNetdev? netdev)
    {
        string? name = netdev?.Name;
        byte* e = _file.Base + _entriesOff + (long)index * ShmLayout.EntrySize;
        uint* seq = (uint*)(e + ShmLayout.EntSeq);
        OpenWindow(seq);
        GidEntry v = entry ?? default;
        *(uint*)(e + ShmLayout.EntState) = entry is null ? ShmLayout.StateEmpty : ShmLayout.StateValid;
        *(ulong*)(e + ShmLayout.EntGid) = ShmLayout.Word0(v.Gid);
        InsideWindowForTest?.Invoke("entry");
        *(ulong*)(e + ShmLayout.EntGid + 8) = ShmLayout.Word1(v.Gid);
        *(uint*)(e + ShmLayout.EntType) = (uint)v.Type;
        *(uint*)(e + ShmLayout.EntNdev) = (uint)(netdev?.Ifindex ?? 0);
        *(ulong*)(e + ShmLayout.EntNdevNetns) = netdev?.NetNs ?? 0;
        *(int*)(e + ShmLayout.EntNdevNetnsId) = netdev?.NetNsId ?? 0;
        var nameBytes = new Span<byte>(e + ShmLayout.EntNdevName, ShmLayout.NetdevNameSize);
        nameBytes.Clear();
        if (name is not null)
            Encoding.UTF8.GetBytes(name.AsSpan(0, Math.Min(name.Length, ShmLayout.NetdevNameSize - 1)), nameBytes[..^1]);
        CloseWindow(seq);
    }

    // ---- hash index: the lowest valid index of each key, in the key's stripe (linear probing, backward-shift delete) ----

    private void IndexKey(FileKey key, int index)
    {
        if (!_indexesOfKey.TryGetValue(key, out List<int>? list))
            _indexesOfKey[key] = list = [];
        list.Add(index);
        list.Sort();
        WriteBucket(key, list[0]);
    }

    private void Unindex(FileKey key, int index)
    {
        List<int> list = _indexesOfKey[key];
        list.Remove(index);
        if (list.Count > 0)
        {
            WriteBucket(key, list[0]);
            return;
        }
        _indexesOfKey.Remove(key);
        RemoveBucket(key);
    }

    private int StripeOf(in FileKey key, out uint* seq, out byte* buckets)
    {
        ulong h = ShmLayout.Hash(ShmLayout.Word0(key.Gid), ShmLayout.Word1(key.Gid), (uint)key.Type, key.Ifindex, key.NetNs);
        int stripe = (int)(h & (uint)(_stripes - 1));
        seq = (uint*)(_file.Base + _stripesOff + (long)stripe * ShmLayout.StripeSeqStride);
        buckets = _file.Base + _bucketsOff + (long)stripe * _buckets * ShmLayout.BucketSize;
        return ShmLayout.Home(h, _buckets - 1);
    }

    private static bool IsEmpty(byte* b) => (*(uint*)(b + ShmLayout.BktTypeIndex) & ShmLayout.BktIndexMask) == 0;

    private static bool BucketHolds(byte* b, in FileKey key)
        => !IsEmpty(b)
           && *(ulong*)(b + ShmLayout.BktGid) == ShmLayout.Word0(key.Gid) && *(ulong*)(b + ShmLayout.BktGid + 8) == ShmLayout.Word1(key.Gid)
           && *(uint*)(b + ShmLayout.BktTypeIndex) >> ShmLayout.BktIndexBits == (uint)key.Type && *(uint*)(b + ShmLayout.BktNdev) == key.Ifindex
           && *(ulong*)(b + ShmLayout.BktNetns) == key.NetNs;

    private void WriteBucket(FileKey key, int index)
    {
        int home = StripeOf(key, out uint* seq, out byte* buckets);
        OpenWindow(seq);
        for (int i = 0, at = home; i < _buckets; i++, at = (at + 1) & (_buckets - 1))
        {
            byte* b = buckets + (long)at * ShmLayout.BucketSize;
            if (IsEmpty(b) || BucketHolds(b, key))
            {
                *(ulong*)(b + ShmLayout.BktGid) = ShmLayout.Word0(key.Gid);
                *(ulong*)(b + ShmLayout.BktGid + 8) = ShmLayout.Word1(key.Gid);
                *(uint*)(b + ShmLayout.BktNdev) = key.Ifindex;
                *(ulong*)(b + ShmLayout.BktNetns) = key.NetNs;
                *(uint*)(b + ShmLayout.BktTypeIndex) = ShmLayout.TypeIndex((uint)key.Type, index);
                InsideWindowForTest?.Invoke("stripe");
                CloseWindow(seq);
                return;
            }
        }
        CloseWindow(seq);
        throw new InvalidOperationException($"{Path}: hash stripe full (cannot happen: {_buckets} buckets for {Capacity} entries)");
    }

    private void RemoveBucket(FileKey key)
    {
        int home = StripeOf(key, out uint* seq, out byte* buckets);
        int mask = _buckets - 1;
        int hole = -1;
        for (int i = 0, at = home; i < _buckets; i++, at = (at + 1) & mask)
        {
            byte* b = buckets + (long)at * ShmLayout.BucketSize;
            if (IsEmpty(b))
                break;
            if (BucketHolds(b, key))
            {
                hole = at;
                break;
            }
        }
        if (hole < 0)
            return;
        OpenWindow(seq);
        // Backward-shift deletion: move later members of the run into the hole when their home allows it, so that
        // no probe ever needs a tombstone.
        for (int j = (hole + 1) & mask; ; j = (j + 1) & mask)
        {
            byte* bj = buckets + (long)j * ShmLayout.BucketSize;
            if (IsEmpty(bj))
                break;
            int h = HomeOf(bj);
            bool movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j);
            if (!movable)
                continue;
            Buffer.MemoryCopy(bj, buckets + (long)hole * ShmLayout.BucketSize, ShmLayout.BucketSize, ShmLayout.BucketSize);
            hole = j;
        }
        new Span<byte>(buckets + (long)hole * ShmLayout.BucketSize, ShmLayout.BucketSize).Clear();
        InsideWindowForTest?.Invoke("stripe");
        CloseWindow(seq);
    }

    private int HomeOf(byte* b)
    {
        ulong h = ShmLayout.Hash(*(ulong*)(b + ShmLayout.BktGid), *(ulong*)(b + ShmLayout.BktGid + 8),
                                 *(uint*)(b + ShmLayout.BktTypeIndex) >> ShmLayout.BktIndexBits,
                                 *(uint*)(b + ShmLayout.BktNdev), *(ulong*)(b + ShmLayout.BktNetns));
        return ShmLayout.Home(h, _buckets - 1);
    }

    // ---- seqlock windows (rule 2 at the top of ShmLayout.cs) ----

    private static void OpenWindow(uint* seq)
    {
        Volatile.Write(ref *seq, *seq + 1);
        Interlocked.MemoryBarrier(); // no data store may become visible before the odd value
    }

    private static void CloseWindow(uint* seq) => Volatile.Write(ref *seq, *seq + 1); // release: every data store before it

    /// <summary>Marks the file GONE (the port went away or the daemon stops), wakes waiters, and removes the path if
    /// it is still this file.</summary>
    public void MarkGoneAndRemove()
    {
        SetGone(_file);
        try
        {
            using var s = new FileStream(Path, FileMode.Open, FileAccess.Read);
            Span<byte> hdr = stackalloc byte[ShmLayout.HdrInstance + 8];
            s.ReadExactly(hdr);
            if (BitConverter.ToUInt64(hdr[ShmLayout.HdrInstance..]) == Instance)
                File.Delete(Path);
        }
        catch (IOException)
        {
            // Already gone or replaced: nothing of ours to remove.
        }
    }

    public void Dispose() => _file.Dispose();
}
