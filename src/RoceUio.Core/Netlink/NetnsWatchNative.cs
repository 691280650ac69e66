using System.Runtime.InteropServices;

namespace RoceUio.Netlink;

/// <summary>
/// The few libc calls <see cref="NetnsDirectoryWatcher"/> needs that Tmds.LibC 0.5.0 does not bind: inotify
/// (inotify(7)), statfs (to tell an nsfs bind mount from the empty file under it), poll and an eventfd to wake the
/// watcher's thread when it is disposed. Each returns -1 and sets errno (SetLastError) on failure, as libc does.
/// </summary>
internal static partial class NetnsWatchNative
{
    // <sys/inotify.h>
    public const int IN_NONBLOCK = 0x800;          // = O_NONBLOCK
    public const int IN_CLOEXEC = 0x80000;         // = O_CLOEXEC
    public const uint IN_MOVED_TO = 0x80;
    public const uint IN_CREATE = 0x100;
    public const uint IN_DELETE_SELF = 0x400;
    public const uint IN_MOVE_SELF = 0x800;
    public const uint IN_Q_OVERFLOW = 0x4000;
    public const uint IN_IGNORED = 0x8000;
    public const uint IN_ISDIR = 0x40000000;
    public const uint IN_ONLYDIR = 0x01000000;

    /// <summary>struct inotify_event: s32 wd at 0, u32 mask at 4, u32 cookie at 8, u32 len at 12, then len bytes of
    /// name (NUL-padded; len 0 for an event on the watched directory itself).</summary>
    public const int InotifyEventHeader = 16;

    // <linux/magic.h>: what statfs(2) f_type says of a file on nsfs (a /run/netns/NAME once `ip netns add` has bind
    // mounted /proc/self/ns/net onto it; until then it is the empty file on /run's tmpfs).
    public const long NSFS_MAGIC = 0x6e736673;

    // <poll.h>
    public const short POLLIN = 0x1;
    public const short POLLPRI = 0x2;
    public const short POLLERR = 0x8;

    // <sys/eventfd.h>
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "inotify_init1", SetLastError = true)]
    public static partial int InotifyInit1(int flags);

    [LibraryImport("libc", EntryPoint = "inotify_add_watch", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int InotifyAddWatch(int fd, string path, uint mask);

    [LibraryImport("libc", EntryPoint = "inotify_rm_watch", SetLastError = true)]
    public static partial int InotifyRmWatch(int fd, int wd);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initval, int flags);

    /// <summary>struct statfs (x86-64 and arm64 alike, bits/statfs.h): the first field is f_type, a long; the whole
    /// struct is 120 bytes on both.</summary>
    [LibraryImport("libc", EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int StatFs(string path, byte* buf);

    /// <summary>struct pollfd: s32 fd at 0, s16 events at 4, s16 revents at 6 (8 bytes).</summary>
    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static unsafe partial int Poll(PollFd* fds, ulong nfds, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static unsafe partial nint Read(int fd, byte* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static unsafe partial nint Write(int fd, byte* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    /// <summary>f_type of the filesystem <paramref name="path"/> is on; null when statfs fails (errno in
    /// <paramref name="errno"/>: ENOENT once the file is gone).</summary>
    public static unsafe long? FsType(string path, out int errno)
    {
        byte* st = stackalloc byte[256]; // struct statfs is 120 bytes; room to spare
        errno = 0;
        if (StatFs(path, st) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return null;
        }
        return *(long*)st;
    }
}
