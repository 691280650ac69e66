using Microsoft.Win32.SafeHandles;

namespace RoceUio.Netlink;

/// <summary>
/// What <see cref="NetlinkMonitor"/> needs to follow netdevs into other network namespaces, as the kernel's RoCE code
/// does (its notifiers see every namespace; rdma_roce_rescan_device walks for_each_net): which namespaces have an id
/// here, which id means "this namespace" in a message, and, at start, giving an id to every namespace found in the
/// namespace directories (<c>/run/netns</c>) and the processes' <c>/proc/PID/ns/net</c>, since only a namespace with an
/// id here is heard through NETLINK_LISTEN_ALL_NSID.
/// </summary>
/// <remarks>
/// Locking: none; the monitor's thread. Ids are stable while both namespaces live; an id freed by RTM_DELNSID is
/// forgotten here at once (the kernel may give it to a new namespace later).
/// </remarks>
public sealed partial class NetnsFollower : IDisposable
{
    private readonly NetnsIdSocket _ids;
    private readonly SafeFileHandle _own;
    private readonly string _ownIdentity;
    private readonly Dictionary<int, int> _ownIdIn = new();   // namespace id here -> the id this namespace has there
    private int _ownId = Netnsa.NETNSA_NSID_NOT_ASSIGNED;     // this namespace's id in itself (a dump from here may make one)
    private readonly Dictionary<int, ulong> _inodes = new();   // namespace id here -> its nsfs inode
    private readonly HashSet<int> _noInode = new();            // ids whose namespace no file in the paths showed
    // (namespace id here, an id inside that namespace) -> the id here of the namespace the inner id names: how an
    // IFLA_LINK_NETNSID in another namespace's event is read (LinkNetNsHere). Learnt per namespace from its id list.
    private readonly Dictionary<(int In, int Id), int> _idHereOf = new();
    private IEnumerable<string> _paths = [];
    private bool _processes;

    /// <summary>Opens in the calling thread's namespace (which must be the monitor's sockets' namespace).</summary>
    public NetnsFollower()
    {
        _own = File.OpenHandle("/proc/thread-self/ns/net", FileMode.Open, FileAccess.Read);
        _ownIdentity = IdentityOf(_own) ?? "";
        OwnNetNs = InodeOf(_own);
        _ids = NetnsIdSocket.Open();
    }

    /// <summary>The nsfs inode of this namespace.</summary>
    public ulong OwnNetNs { get; }

    /// <summary>The nsfs inode of the namespace with id <paramref name="id"/> here (-1: this one), as learnt when it was
    /// given an id or began to be followed (<see cref="LearnInode"/>); 0 when unknown.</summary>
    public ulong InodeOfId(int id) => id < 0 ? OwnNetNs : _inodes.GetValueOrDefault(id);

    /// <summary>
    /// Makes sure the inode of the followed namespace <paramref name="id"/> is known: if not, looks through the
    /// namespace files (the paths given to <see cref="AssignIds"/>, and /proc/PID/ns/net) for the one with that id here
    /// (RTM_GETNSID by fd), learning every id it meets on the way. Only the first try for an id scans; a namespace no
    /// file shows (held only by an open descriptor, or mounted elsewhere) stays at 0.
    /// </summary>
    public ulong LearnInode(int id)
    {
        if (id < 0)
            return OwnNetNs;
        if (_inodes.TryGetValue(id, out ulong known) || !_noInode.Add(id))
            return known;
        var seen = new HashSet<string> { _ownIdentity };
        foreach (ulong ino in _inodes.Values)
            seen.Add($"net:[{ino}]");
        foreach (var (path, fd) in OpenNew(Candidates(_paths, _processes), seen))
            using (fd)
            {
                if (_ids.IdOf(fd) is int other and >= 0)
                {
                    _inodes[other] = InodeOf(fd);
                    _noInode.Remove(other);
                    if (other == id)
                        return _inodes[id];
                }
            }
        return 0;
    }

    /// <summary>The ids of the namespaces followed (every namespace with an id here but this one).</summary>
    public SortedSet<int> Followed { get; } = new();

    public Action<string> Log { get; set; } = static _ => { };

    /// <summary>
    /// Gives an id here to every namespace in <paramref name="paths"/> (files, or directories of files, such as
    /// /run/netns) and, with <paramref name="processes"/>, of every process (/proc/PID/ns/net) that has none yet.
    /// Namespaces that cannot be opened (another user's, gone meanwhile) are skipped. Returns how many got an id.
    /// </summary>
    public int AssignIds(IEnumerable<string> paths, bool processes)
    {
        _paths = paths.ToList();
        _processes = processes;
        var seen = new HashSet<string> { _ownIdentity };
        int assigned = 0;
        foreach (var (path, fd) in OpenNew(Candidates(_paths, processes), seen))
            using (fd)
            {
                int? id = _ids.IdOf(fd);
                if (id is Netnsa.NETNSA_NSID_NOT_ASSIGNED)
                {
                    int err = _ids.Assign(fd);
                    if (err == 0)
                        assigned++;
                    else if (err != -17) // EEXIST: another process gave it one meanwhile
                        Log($"netlink: cannot give namespace {path} an id (RTM_NEWNSID: errno {-err}); its netdevs are not followed");
                    id = _ids.IdOf(fd);
                }
                if (id is int given and >= 0)
                    _inodes[given] = InodeOf(fd);
            }
        return assigned;
    }

    /// <summary>
    /// Opens each network namespace among <paramref name="paths"/> not yet in <paramref name="seen"/> (adding it), once;
    /// the caller disposes each handle. Paths that cannot be opened (another user's, gone meanwhile) are skipped.
    /// </summary>
    private static IEnumerable<(string Path, SafeFileHandle Fd)> OpenNew(IEnumerable<string> paths, HashSet<string> seen)
    {
        foreach (string path in paths)
        {
            // A /proc link names its namespace itself ("net:[4026532281]"): skip known ones without opening them.
            string? early = path.StartsWith("/proc/", StringComparison.Ordinal) ? LinkTarget(path) : null;
            if (early is not null && seen.Contains(early))
                continue;
            SafeFileHandle fd;
            try { fd = File.OpenHandle(path, FileMode.Open, FileAccess.Read); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            string? identity = early ?? IdentityOf(fd);
            if (identity is null || !identity.StartsWith("net:", StringComparison.Ordinal) || !seen.Add(identity))
            {
                fd.Dispose();
                continue;
            }
            yield return (path, fd);
        }
    }

    /// <summary>Lists the namespaces with an id here (RTM_GETNSID dump) into <see cref="Followed"/>, this namespace's
    /// own id left out; returns the ids that were followed before and are no longer there.</summary>
    public List<int> Refresh()
    {
        int own = OwnId(requery: true);
        var now = _ids.ListIds().Where(id => id != own).ToHashSet();
        var gone = Followed.Where(id => !now.Contains(id)).ToList();
        Followed.Clear();
        Followed.UnionWith(now);
        foreach (int id in gone)
            Forget(id);
        return gone;
    }

    /// <summary>
    /// The origin of a datagram tagged <paramref name="tag"/> by NETLINK_LISTEN_ALL_NSID: this namespace when untagged
    /// or tagged with this namespace's own id; else the namespace with that id (followed from now on if it was not).
    /// <paramref name="isNew"/>: it was not followed before (the caller dumps it).
    /// </summary>
    public NetlinkOrigin OriginOf(int tag, out bool isNew)
    {
        isNew = false;
        if (tag < 0)
            return NetlinkOrigin.Own;
        if (Followed.Contains(tag))
            return NetlinkOrigin.EventOf(tag);
        if (tag == _ownId || tag == OwnId(requery: true))
            return NetlinkOrigin.Own;
        isNew = Followed.Add(tag);
        return NetlinkOrigin.EventOf(tag);
    }

    /// <summary>An RTM_NEWNSID of this namespace: the id <paramref name="id"/> was given to a namespace. True when that
    /// is a namespace to follow now (not this one, not followed yet).</summary>
    public bool OnNewId(int id)
    {
        if (id < 0 || Followed.Contains(id) || id == OwnId(requery: true))
            return false;
        return Followed.Add(id);
    }

    /// <summary>An RTM_DELNSID of this namespace: the namespace with id <paramref name="id"/> is gone (or lost its id).
    /// True when it was followed (the caller drops its links).</summary>
    public bool OnDeletedId(int id)
    {
        if (id == _ownId)
            _ownId = Netnsa.NETNSA_NSID_NOT_ASSIGNED;
        Forget(id);
        return Followed.Remove(id);
    }

    // An id freed: the kernel may give it to another namespace later.
    private void Forget(int id)
    {
        _ownIdIn.Remove(id);
        _inodes.Remove(id);
        _noInode.Remove(id);
        if (_idHereOf.Count == 0)
            return;
        foreach (var k in _idHereOf.Where(e => e.Key.In == id || e.Value == id).Select(e => e.Key).ToList())
            _idHereOf.Remove(k);
    }

    /// <summary>
    /// For <see cref="NetdevCache.LinkNetNsHere"/>: which namespace IFLA_LINK_NETNSID <paramref name="linkNetNsId"/> of a
    /// message from <paramref name="origin"/> about its link <paramref name="ifindex"/> names, as an id here: -1 for this
    /// namespace, the namespace's id here, or null when it cannot be told (it has no id here and the link is gone).
    /// </summary>
    /// <remarks>
    /// A dump asked for from here is written with this namespace's ids (<see cref="NetlinkOrigin.IdsAsSeenHere"/>), so
    /// its id is one of ours as it is. An event of namespace B is written with B's ids (rtnl_fill_link_netnsid with B's
    /// net): B's id for this namespace is asked once (RTM_GETNSID by fd, NETNSA_TARGET_NSID B); any other id in B names a
    /// third namespace C, found in B's id list asked from here (<c>ip netns list-id target-nsid B</c>:
    /// NETNSA_CURRENT_NSID is C's id here). Where C has no id here, the link is asked for from here (RTM_GETLINK with
    /// IFLA_TARGET_NETNSID B): writing its IFLA_LINK_NETNSID for us gives C an id here (peernet2id_alloc), after which
    /// B's list names it, and the RTM_NEWNSID that follows makes C followed. An answer stays until RTM_DELNSID takes B's
    /// or C's id back (ids are stable while both namespaces live, net/core/net_namespace.c).
    /// </remarks>
    public int? LinkNetNsHere(NetlinkOrigin origin, int ifindex, int linkNetNsId)
    {
        if (linkNetNsId < 0)
            return null;
        if (origin.IdsAsSeenHere)
            return linkNetNsId == OwnId(requery: linkNetNsId != _ownId) ? -1 : linkNetNsId;
        int b = origin.NetNsId;
        if (linkNetNsId == OwnIdIn(b))
            return -1;
        if (_idHereOf.TryGetValue((b, linkNetNsId), out int here))
            return here;
        if (LearnIdsIn(b, linkNetNsId) is int known)
            return known;
        if (_ids.LinkNetNsIdOf(b, ifindex) is not >= 0)
            return null;
        return LearnIdsIn(b, linkNetNsId);
    }

    // Reads the id list of the namespace with id `b` here (each entry with its id here) into _idHereOf; returns what
    // B's id `wanted` is here, null when B's list does not name a namespace with an id here under it.
    private int? LearnIdsIn(int b, int wanted)
    {
        List<(int Id, int IdHere)> ids;
        try { ids = _ids.ListIds(target: b); }
        catch (NetlinkException) { return null; }   // B is gone: its RTM_DELNSID follows
        int? found = null;
        foreach ((int id, int idHere) in ids)
        {
            if (idHere < 0)
                continue;
            int value = idHere == OwnId(requery: false) ? -1 : idHere;
            _idHereOf[(b, id)] = value;
            if (id == wanted)
                found = value;
        }
        return found;
    }

    /// <summary>Does IFLA_LINK_NETNSID <paramref name="linkNetNsId"/> of a message from <paramref name="origin"/> mean
    /// this namespace?</summary>
    public bool IsOwn(NetlinkOrigin origin, int linkNetNsId)
    {
        if (linkNetNsId < 0)
            return false;
        if (origin.IdsAsSeenHere)
            return linkNetNsId == OwnId(requery: linkNetNsId != _ownId);
        return linkNetNsId == OwnIdIn(origin.NetNsId);
    }

    // This namespace's id in the namespace with id `nsid` here (what its messages call us).
    private int OwnIdIn(int nsid)
    {
        if (_ownIdIn.TryGetValue(nsid, out int id))
            return id;
        id = _ids.IdOf(_own, asSeenFrom: nsid) ?? Netnsa.NETNSA_NSID_NOT_ASSIGNED;
        if (id >= 0)
            _ownIdIn[nsid] = id;
        return id;
    }

    private int OwnId(bool requery)
    {
        if (requery || _ownId < 0)
            _ownId = _ids.IdOf(_own) ?? Netnsa.NETNSA_NSID_NOT_ASSIGNED;
        return _ownId;
    }

    private static IEnumerable<string> Candidates(IEnumerable<string> paths, bool processes)
    {
        foreach (string p in paths)
        {
            if (Directory.Exists(p))
            {
                string[] files;
                try { files = Directory.GetFiles(p); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
                Array.Sort(files, StringComparer.Ordinal);
                foreach (string f in files)
                    yield return f;
            }
            else if (File.Exists(p))
                yield return p;
        }
        if (!processes)
            yield break;
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
            if (int.TryParse(Path.GetFileName(dir), out _))
                yield return dir + "/ns/net";
    }

    // "net:[INODE]" of an open namespace file, as a /proc/PID/ns/net link names it: the nsfs inode, from fstat (the
    // /proc/self/fd link of a bind-mounted namespace file names the mount's path instead).
    private static unsafe string? IdentityOf(SafeFileHandle fd)
    {
        // struct stat (x86-64 and the generic arm64 layout, bits/struct_stat.h): dev_t st_dev at 0, ino_t st_ino at 8;
        // the whole struct is 144 (x86-64) or 128 (arm64) bytes.
        byte* st = stackalloc byte[256];
        if (FStat((int)fd.DangerousGetHandle(), st) != 0)
            return null;
        return $"net:[{*(ulong*)(st + 8)}]";
    }

    /// <summary>The nsfs inode of the namespace file <paramref name="path"/> (<c>/proc/PID/ns/net</c>,
    /// <c>/run/netns/NAME</c>): what <c>ls -iL</c> shows and <c>ip netns identify</c> compares; 0 if it cannot be read.</summary>
    public static ulong InodeOf(string path)
    {
        try
        {
            using SafeFileHandle fd = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            return InodeOf(fd);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>The nsfs inode of the calling thread's network namespace.</summary>
    public static ulong OwnInode() => InodeOf("/proc/thread-self/ns/net");

    private static unsafe ulong InodeOf(SafeFileHandle fd)
    {
        // struct stat: ino_t st_ino at offset 8 (see IdentityOf).
        byte* st = stackalloc byte[256];
        return FStat((int)fd.DangerousGetHandle(), st) == 0 ? *(ulong*)(st + 8) : 0;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static unsafe partial int FStat(int fd, byte* buf);

    private static string? LinkTarget(string path)
    {
        try { return new FileInfo(path).LinkTarget; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    public void Dispose()
    {
        _ids.Dispose();
        _own.Dispose();
    }
}
