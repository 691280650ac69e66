using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using static RoceUio.Netlink.NetnsWatchNative;

namespace RoceUio.Netlink;

/// <summary>
/// Gives an id in the daemon's namespace to every network namespace that appears later in a namespace directory
/// (<c>/run/netns</c>), so that <see cref="NetlinkMonitor"/> hears it (NETLINK_LISTEN_ALL_NSID only covers namespaces
/// with an id here) and follows it through the RTM_NEWNSID the kernel then sends on RTNLGRP_NSID, the same path as a
/// namespace that got its id any other way. Without it, <c>ip netns add X</c> followed by <c>ip link add m0 link eth0
/// netns X type macvlan</c> (a macvlan made straight into X: nothing moves from here, so the kernel never gives X an
/// id here) left X's addresses unheard.
/// </summary>
/// <remarks>
/// <para><c>ip netns add NAME</c> (iproute2 ip/ipnetns.c, netns_add) first creates the empty file /run/netns/NAME,
/// then unshares a new network namespace and bind mounts /proc/self/ns/net onto the file; the inotify IN_CREATE comes
/// before the namespace is there. So a new name is kept pending until statfs says the file is on nsfs (NSFS_MAGIC),
/// woken by the mount table changing (poll POLLPRI on /proc/self/mountinfo, fs/proc_namespace.c mounts_poll), for at
/// most <see cref="MountWait"/> (a failed <c>ip netns add</c> leaves no file, or a file that never becomes one).
/// Then it is given an id as <c>ip netns set NAME auto</c> does: RTM_NEWNSID with NETNSA_FD and NETNSA_NSID -1, which
/// rtnl_net_newid (net/core/net_namespace.c) answers by allocating the lowest free id and announcing it
/// (rtnl_net_notifyid); EEXIST means it had one already, which is as good.</para>
/// <para>A directory that does not exist yet (no <c>ip netns add</c> has run since boot: /run/netns is made by the
/// first) is waited for by watching its nearest existing parent; once it appears it is watched and what is already in
/// it is looked at. A directory removed is waited for again the same way.</para>
/// <para>Threading: its own thread, which blocks in poll and never touches the monitor's state: it only sends
/// RTM_NEWNSID on a socket of its own (opened by the constructor in the caller's network namespace, the namespace the
/// ids are given in). The monitor's thread is never held up by a mount that is slow to come.</para>
/// </remarks>
public sealed class NetnsDirectoryWatcher : IDisposable
{
    private const uint Mask = IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

    private readonly NetnsIdSocket _ids;
    private readonly int _inotify;
    private readonly int _wake;                 // eventfd: Dispose wakes the thread through it
    private readonly SafeFileHandle _mountinfo; // POLLPRI when the mount table changes
    private readonly HashSet<string> _targets;  // the directories to watch (absolute)
    private readonly Dictionary<int, string> _watches = new();             // inotify wd -> the directory it watches
    private readonly Dictionary<string, HashSet<string>> _awaiting = new(); // an existing parent -> targets not there yet
    private readonly Dictionary<string, long> _pending = new();            // a new name -> until when (Environment.TickCount64)
    private readonly Action<string> _log;
    private readonly Thread _thread;
    private volatile bool _stop;
    private int _assigned;

    /// <summary>Watches <paramref name="directories"/> (each a directory of namespace files; those that do not exist yet
    /// are waited for) from a thread of its own, which it starts. Gives ids in the calling thread's network namespace.</summary>
    public NetnsDirectoryWatcher(IEnumerable<string> directories, Action<string> log)
    {
        _log = log;
        _targets = directories.Select(d => Path.TrimEndingDirectorySeparator(Path.GetFullPath(d))).ToHashSet();
        _ids = NetnsIdSocket.Open();
        _inotify = InotifyInit1(IN_NONBLOCK | IN_CLOEXEC);
        if (_inotify < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            _ids.Dispose();
            throw new IOException($"inotify_init1: errno {errno}");
        }
        _wake = EventFd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        _mountinfo = File.OpenHandle("/proc/self/mountinfo", FileMode.Open, FileAccess.Read);
        foreach (string t in _targets)
            Arm(t, lookInside: true);
        _thread = new Thread(Run) { IsBackground = true, Name = "netns watcher" };
        _thread.Start();
    }

    /// <summary>How long a new name may stay a plain file before it is given up on.</summary>
    public static TimeSpan MountWait { get; } = TimeSpan.FromSeconds(10);

    /// <summary>Namespaces this watcher gave an id to (others had one already, or were given one meanwhile).</summary>
    public int Assigned => Volatile.Read(ref _assigned);

    // Watches `target`, or, when it does not exist, its nearest existing parent until it does. With `lookInside`, the
    // names already in it become pending (made before the watch: one whose mount was still to come would otherwise be
    // missed; one that has an id already costs a question).
    private void Arm(string target, bool lookInside)
    {
        int wd = InotifyAddWatch(_inotify, target, Mask);
        if (wd >= 0)
        {
            _watches[wd] = target;
            if (lookInside)
                LookInside(target);
            return;
        }
        int errno = Marshal.GetLastPInvokeError();
        if (errno == 20) // ENOTDIR: a namespace file given by name, now there
        {
            Pend(target);
            return;
        }
        if (errno != 2) // ENOENT: wait for it below
        {
            _log($"netlink: cannot watch {target} for new namespaces (inotify_add_watch: errno {errno}); namespaces made there later are followed only once they have an id here");
            return;
        }
        for (string? parent = Path.GetDirectoryName(target); parent is not null; parent = Path.GetDirectoryName(parent))
        {
            int pwd = InotifyAddWatch(_inotify, parent, Mask);
            if (pwd < 0)
                continue; // missing too: try further up
            _watches[pwd] = parent;
            if (!_awaiting.TryGetValue(parent, out HashSet<string>? set))
                _awaiting[parent] = set = new();
            set.Add(target);
            // It may have appeared between the failed watch and this one.
            if (Directory.Exists(target) || File.Exists(target))
                Appeared(parent, target);
            return;
        }
    }

    private void LookInside(string dir)
    {
        try
        {
            foreach (string f in Directory.GetFiles(dir))
                Pend(f);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private void Pend(string path) => _pending[path] = Environment.TickCount64 + (long)MountWait.TotalMilliseconds;

    // Something was made in `parent` on the way to `path`: re-arm the targets waiting there that it leads to.
    private void Appeared(string parent, string path)
    {
        if (!_awaiting.TryGetValue(parent, out HashSet<string>? set))
            return;
        foreach (string t in set.Where(t => t == path || t.StartsWith(path + "/", StringComparison.Ordinal)).ToList())
        {
            set.Remove(t);
            Arm(t, lookInside: true);
        }
        if (set.Count == 0)
            _awaiting.Remove(parent);
    }

    private unsafe void Run()
    {
        byte* buf = stackalloc byte[4096];
        PollFd* fds = stackalloc PollFd[3];
        try
        {
            while (!_stop)
            {
                fds[0] = new PollFd { Fd = _inotify, Events = POLLIN };
                fds[1] = new PollFd { Fd = (int)_mountinfo.DangerousGetHandle(), Events = POLLPRI };
                fds[2] = new PollFd { Fd = _wake, Events = POLLIN };
                // With names pending, look again at least every 100 ms besides the mount table's wake-ups (a bind
                // mount in another mount namespace is not seen by this one's poll).
                int n = Poll(fds, 3, _pending.Count > 0 ? 100 : -1);
                if (_stop)
                    break;
                if (n < 0 && Marshal.GetLastPInvokeError() != 4) // EINTR: go round
                    throw new IOException($"poll: errno {Marshal.GetLastPInvokeError()}");
                if ((fds[0].REvents & POLLIN) != 0)
                    DrainEvents(buf, 4096);
                CheckPending();
            }
        }
        catch (Exception e)
        {
            _log($"netlink: the namespace directory watcher stopped ({e.Message}); namespaces made from now on are followed only once they have an id here");
        }
    }

    private unsafe void DrainEvents(byte* buf, int size)
    {
        while (true)
        {
            nint got = Read(_inotify, buf, (nuint)size);
            if (got <= 0)
                return; // EAGAIN: drained
            for (int at = 0; at + InotifyEventHeader <= got;)
            {
                int wd = *(int*)(buf + at);
                uint mask = *(uint*)(buf + at + 4);
                int len = (int)*(uint*)(buf + at + 12);
                if (at + InotifyEventHeader + len > got)
                    break; // the kernel writes whole events only; never read past what came
                string name = len == 0 ? "" : Marshal.PtrToStringUTF8((nint)(buf + at + InotifyEventHeader))!;
                at += InotifyEventHeader + len;
                OnEvent(wd, mask, name);
            }
        }
    }

    private void OnEvent(int wd, uint mask, string name)
    {
        if ((mask & IN_Q_OVERFLOW) != 0)
        {
            foreach (string t in _targets)
                if (_watches.ContainsValue(t))
                    LookInside(t);
            return;
        }
        if (!_watches.TryGetValue(wd, out string? dir))
            return;
        if ((mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) != 0)
        {
            // The directory went (or was renamed: its watch would follow it under the new name). Wait for it again.
            _watches.Remove(wd);
            if ((mask & IN_MOVE_SELF) != 0)
                InotifyRmWatch(_inotify, wd);
            List<string> again = _targets.Contains(dir) ? [dir] : [];
            if (_awaiting.Remove(dir, out HashSet<string>? waiting))
                again.AddRange(waiting);
            foreach (string t in again)
                Arm(t, lookInside: true);
            return;
        }
        if (name.Length == 0)
            return;
        string path = dir + "/" + name;
        Appeared(dir, path);
        if (_targets.Contains(dir) && (mask & IN_ISDIR) == 0)
            Pend(path);
    }

    private void CheckPending()
    {
        if (_pending.Count == 0)
            return;
        long now = Environment.TickCount64;
        foreach ((string path, long until) in _pending.ToList())
        {
            long? type = FsType(path, out int errno);
            if (type == NSFS_MAGIC)
            {
                _pending.Remove(path);
                GiveId(path);
            }
            else if ((type is null && errno == 2) || now > until) // gone, or never became a namespace
                _pending.Remove(path);
        }
    }

    private void GiveId(string path)
    {
        SafeFileHandle fd;
        try { fd = File.OpenHandle(path, FileMode.Open, FileAccess.Read); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
        using (fd)
        {
            if (_ids.IdOf(fd) is not Netnsa.NETNSA_NSID_NOT_ASSIGNED)
                return; // has an id here already, or is no network namespace (the kernel refused the question)
            int err = _ids.Assign(fd);
            if (err == 0)
                Interlocked.Increment(ref _assigned);
            else if (err != -17) // EEXIST: given one meanwhile (by the monitor's start-up scan, or `ip netns set`)
                _log($"netlink: cannot give namespace {path} an id (RTM_NEWNSID: errno {-err}); its netdevs are not followed");
        }
    }

    public unsafe void Dispose()
    {
        if (_stop)
            return;
        _stop = true;
        ulong one = 1;
        Write(_wake, (byte*)&one, 8);
        _thread.Join();
        Close(_inotify);
        Close(_wake);
        _mountinfo.Dispose();
        _ids.Dispose();
    }
}
