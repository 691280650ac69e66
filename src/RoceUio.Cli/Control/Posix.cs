using System.Runtime.InteropServices;
using System.Text;

namespace RoceUio.Cli.Control;

/// <summary>
/// The few libc calls the control server and the worker wake-up make, with errno captured (SetLastError).
/// Layouts: <c>struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }</c> (unix(7)),
/// <c>struct pollfd { int fd; short events; short revents; }</c> (poll(2)),
/// <c>struct ucred { pid_t pid; uid_t uid; gid_t gid; }</c> (socket(7), SO_PEERCRED). Values are x86-64/arm64 Linux's.
/// </summary>
internal static unsafe partial class Posix
{
    public const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800, EFD_CLOEXEC = 0x80000;
    public const short POLLIN = 0x1, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;
    public const int EINTR = 4, EAGAIN = 11, ENFILE = 23, EMFILE = 24, ECONNABORTED = 103, ENOBUFS = 105, ENOMEM = 12;
    public const int MSG_NOSIGNAL = 0x4000, MSG_DONTWAIT = 0x40;
    public const int SOL_SOCKET = 1, SO_PEERCRED = 17;
    public const int SunPathLength = 108;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct SockaddrUn
    {
        public ushort Family;
        public fixed byte Path[SunPathLength];
    }

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";

    /// <summary>_exit(2): ends the process at once, without the runtime's shutdown (no other thread runs on).</summary>
    [LibraryImport("libc", EntryPoint = "_exit")]
    public static partial void ExitNow(int status);

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    public static partial int Bind(int fd, SockaddrUn* addr, uint len);

    [LibraryImport("libc", EntryPoint = "listen", SetLastError = true)]
    public static partial int Listen(int fd, int backlog);

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    public static partial int Accept4(int fd, void* addr, void* len, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buf, nuint len);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buf, nuint len);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint nfds, int timeout);

    public const int O_RDONLY = 0, O_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initval, int flags);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    public static partial int GetSockOpt(int fd, int level, int name, void* value, uint* len);

    /// <summary>A sockaddr_un for <paramref name="path"/>; throws when the path does not fit sun_path (with its NUL).</summary>
    public static SockaddrUn UnixAddress(string path, out uint length)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length >= SunPathLength)
            throw new IOException($"the control socket path {path} is {bytes.Length} bytes long; a Unix socket path holds at most {SunPathLength - 1}: choose a shorter --control");
        var a = new SockaddrUn { Family = AF_UNIX };
        for (int i = 0; i < bytes.Length; i++)
            a.Path[i] = bytes[i];
        length = (uint)(sizeof(ushort) + bytes.Length + 1);
        return a;
    }

    /// <summary>SO_PEERCRED of a connected Unix socket.</summary>
    public static PeerCredentials PeerOf(int fd)
    {
        int* ucred = stackalloc int[3];
        uint len = 12;
        if (GetSockOpt(fd, SOL_SOCKET, SO_PEERCRED, ucred, &len) < 0 || len < 12)
            throw new IOException($"SO_PEERCRED failed: {Describe(Errno)}");
        return new PeerCredentials(ucred[0], (uint)ucred[1], (uint)ucred[2]);
    }
}
