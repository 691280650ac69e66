using System.Text;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;
using static Tmds.Linux.LibC;

namespace RoceUio.Shm;

/// <summary>
/// Keeps a shared-memory file per port (<see cref="GidShmWriter"/>) equal to the port's GID table, as readers of the
/// table see it. The daemon's worker calls <see cref="Sync"/> after each burst; only slots that differ are written,
/// in one batch per port (one generation step, one wake-up). Worker thread only.
/// </summary>
public sealed class GidTablePublisher : IDisposable
{
    private readonly Dictionary<RocePort, GidShmWriter> _writers = new();
    private readonly HashSet<RocePort> _failed = new();
    private readonly int _group;

    /// <param name="dir">The directory (created if missing) that gets DIR/&lt;dev&gt;/&lt;port&gt;.</param>
    /// <param name="group">The group the files get (-1: the process's); the daemon passes its control socket's.</param>
    public GidTablePublisher(string dir, int group = -1)
    {
        Directory = dir;
        _group = group;
        System.IO.Directory.CreateDirectory(dir);
    }

    public string Directory { get; }

    /// <summary>Told when a port's file cannot be created (the port is then not published; never null).</summary>
    public Action<string> Error { get; init; } = _ => { };

    /// <summary>The writer of a port, once published (for tests).</summary>
    public GidShmWriter? WriterOf(RocePort port) => _writers.GetValueOrDefault(port);

    /// <summary>
    /// How the daemon names a table entry's netdev in the files: the GID table's NetdevIfindex is the cache's key (a
    /// container's netdev has a key from <see cref="NetdevCache.OtherNamespaceKeyBase"/> up); the file gets the
    /// netdev's ifindex inside its own namespace, that namespace's inode (<paramref name="netnsInodeOf"/>: -1 for the
    /// daemon's own, else a namespace id here; <see cref="NetlinkMonitor.NetNsInodeOf"/>) and id, and its name.
    /// Allocates nothing for a netdev the cache knows.
    /// </summary>
    public static Func<int, ShmNetdev> NetdevsOf(NetdevCache cache, Func<int, ulong> netnsInodeOf)
        => key => cache.TryGetLink(key, out NetdevLink l)
            ? new ShmNetdev(l.NetNsIfindex, netnsInodeOf(l.NetNsId), l.NetNsId, l.Name)
            : new ShmNetdev(key, netnsInodeOf(-1), -1, $"ifindex {key}");

    /// <summary>As <see cref="Sync(IReadOnlyList{RocePort}, Func{int, ShmNetdev})"/> for tables whose netdevs all live
    /// in this process's namespace and are named by <paramref name="nameOf"/> (tests, tools).</summary>
    public void Sync(IReadOnlyList<RocePort> ports, Func<int, string> nameOf)
    {
        ulong own = _ownNetns != 0 ? _ownNetns : _ownNetns = NetnsFollower.OwnInode();
        Sync(ports, key => new ShmNetdev(key, own, -1, nameOf(key)));
    }

    private ulong _ownNetns;

    /// <summary>Brings every port's file up to date; files of ports no longer in <paramref name="ports"/> go GONE.
    /// <paramref name="netdevOf"/> names the netdev of an entry's NetdevIfindex (<see cref="NetdevsOf"/>).</summary>
    public void Sync(IReadOnlyList<RocePort> ports, Func<int, ShmNetdev> netdevOf)
    {
        foreach (RocePort port in ports)
        {
            if (!_writers.TryGetValue(port, out GidShmWriter? w))
            {
                if (_failed.Contains(port) || (w = TryCreate(port)) is null)
                    continue;
                _writers[port] = w;
            }
            SyncPort(port.Table, w, netdevOf);
        }
        if (_writers.Count > ports.Count || _writers.Keys.Any(p => !ports.Contains(p)))
            foreach (RocePort gone in _writers.Keys.Where(p => !ports.Contains(p)).ToList())
            {
                _writers[gone].MarkGoneAndRemove();
                _writers[gone].Dispose();
                _writers.Remove(gone);
            }
    }

    private GidShmWriter? TryCreate(RocePort port)
    {
        try
        {
            return GidShmWriter.Create(Directory, port.Device.Name, port.Port, port.Table.Capacity, port.Table.DefaultSlotCount, port.Types, _group);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            _failed.Add(port);
            Error($"{port}: not published in shared memory: {e.Message}");
            return null;
        }
    }

    private static void SyncPort(GidTable table, GidShmWriter w, Func<int, ShmNetdev> netdevOf)
    {
        bool differs = false;
        for (int i = 0; i < table.Capacity && !differs; i++)
            differs = table.TryGet(i, out GidEntry e) ? w.EntryAt(i) != e || w.NetdevAt(i) != netdevOf(e.NetdevIfindex) : w.EntryAt(i) is not null;
        if (!differs)
            return;
        w.BeginBatch();
        try
        {
            for (int i = 0; i < table.Capacity; i++)
            {
                if (table.TryGet(i, out GidEntry e))
                    w.Set(i, e, netdevOf(e.NetdevIfindex));
                else
                    w.Set(i, null, (ShmNetdev?)null);
            }
        }
        finally
        {
            w.EndBatch();
        }
    }

    /// <summary>The group id of <paramref name="path"/> (stat(2)), or -1 if it cannot be read.</summary>
    public static unsafe int GroupOf(string path)
    {
        byte[] p = Encoding.UTF8.GetBytes(path + "\0");
        Tmds.Linux.stat st;
        fixed (byte* pp = p)
            return stat(pp, &st) == 0 ? (int)(uint)st.st_gid : -1;
    }

    /// <summary>Every file goes GONE (waking its readers) and is removed: the daemon stops.</summary>
    public void Dispose()
    {
        foreach (GidShmWriter w in _writers.Values)
        {
            w.MarkGoneAndRemove();
            w.Dispose();
        }
        _writers.Clear();
    }
}
