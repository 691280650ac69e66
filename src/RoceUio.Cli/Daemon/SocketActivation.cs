using System.Runtime.InteropServices;
using System.Text;
using RoceUio.Cli.Control;

namespace RoceUio.Cli.Daemon;

/// <summary>
/// systemd socket activation for the control socket (<c>packaging/roceuio.socket</c>), the protocol of sd_listen_fds(3)
/// spoken without libsystemd: when <c>$LISTEN_PID</c> is this process and <c>$LISTEN_FDS</c> is at least 1, the
/// listening sockets are descriptors 3, 4, ... The daemon takes the one bound to its control path, so the socket exists
/// from boot and across restarts (a client that connects while the daemon starts waits in the backlog and is answered
/// once the first tables are in the hardware).
/// </summary>
internal static unsafe partial class SocketActivation
{
    private const int ListenFdsStart = 3; // SD_LISTEN_FDS_START
    private const int SO_TYPE = 3, SO_ACCEPTCONN = 30;
    private const int F_GETFL = 3, F_SETFL = 4, F_SETFD = 2, FD_CLOEXEC = 1, O_NONBLOCK = 0x800;

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    private static partial int GetSockName(int fd, Posix.SockaddrUn* addr, uint* len);

    /// <summary>The inherited listening descriptor for <paramref name="controlPath"/>, or null when the process was not
    /// started by socket activation. The variables are removed so that no child sees them (sd_listen_fds(unset=1)).</summary>
    /// <exception cref="IOException">Activation was meant for this process but no descriptor fits: says which and why.</exception>
    public static int? TakeControlSocket(string controlPath)
    {
        string? pid = Environment.GetEnvironmentVariable("LISTEN_PID"), fds = Environment.GetEnvironmentVariable("LISTEN_FDS");
        if (pid is null || fds is null)
            return null;
        Environment.SetEnvironmentVariable("LISTEN_PID", null);
        Environment.SetEnvironmentVariable("LISTEN_FDS", null);
        Environment.SetEnvironmentVariable("LISTEN_FDNAMES", null);
        if (!int.TryParse(pid, out int p) || p != Environment.ProcessId)
            return null; // meant for another process (a parent that did not clear them)
        if (!int.TryParse(fds, out int n) || n < 1)
            throw new IOException($"socket activation: LISTEN_FDS='{fds}' is not a count of descriptors");
        var seen = new List<string>();
        int? found = null;
        for (int fd = ListenFdsStart; fd < ListenFdsStart + n; fd++)
        {
            Fcntl(fd, F_SETFD, FD_CLOEXEC); // as sd_listen_fds does: not inherited by what the daemon runs
            string what = Describe(fd, out bool listeningUnixStream, out string? path);
            seen.Add($"fd {fd}: {what}");
            if (found is null && listeningUnixStream && path == controlPath)
                found = fd;
        }
        if (found is not { } f)
            throw new IOException($"socket activation: none of the {n} descriptor(s) systemd passed is a listening Unix stream socket "
                                  + $"bound to the control socket {controlPath} ({string.Join("; ", seen)}): make ListenStream= in "
                                  + "roceuio.socket and --control the same path");
        int flags = Fcntl(f, F_GETFL, 0);
        if (flags < 0 || Fcntl(f, F_SETFL, flags | O_NONBLOCK) < 0)
            throw new IOException($"socket activation: cannot make fd {f} non-blocking: {Posix.Describe(Posix.Errno)}");
        return f;
    }

    private static string Describe(int fd, out bool listeningUnixStream, out string? path)
    {
        listeningUnixStream = false;
        path = null;
        int type = 0, accepting = 0;
        uint len = 4;
        if (Posix.GetSockOpt(fd, Posix.SOL_SOCKET, SO_TYPE, &type, &len) < 0)
            return $"not a socket ({Posix.Describe(Posix.Errno)})";
        len = 4;
        Posix.GetSockOpt(fd, Posix.SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len);
        Posix.SockaddrUn addr;
        uint alen = (uint)sizeof(Posix.SockaddrUn);
        if (GetSockName(fd, &addr, &alen) < 0)
            return $"getsockname failed ({Posix.Describe(Posix.Errno)})";
        if (addr.Family != Posix.AF_UNIX)
            return $"address family {addr.Family}, not AF_UNIX";
        // sun_path: NUL-terminated within the length getsockname gave (unix(7)); an abstract socket starts with NUL.
        int max = (int)Math.Min(alen - sizeof(ushort), (uint)Posix.SunPathLength);
        var bytes = new ReadOnlySpan<byte>(addr.Path, Math.Max(max, 0));
        int nul = bytes.IndexOf((byte)0);
        path = Encoding.UTF8.GetString(nul >= 0 ? bytes[..nul] : bytes);
        listeningUnixStream = type == Posix.SOCK_STREAM && accepting != 0;
        return $"{(type == Posix.SOCK_STREAM ? "stream" : $"type {type}")}{(accepting != 0 ? " listening" : " not listening")} on '{path}'";
    }
}
