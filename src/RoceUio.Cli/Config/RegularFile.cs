using Microsoft.Win32.SafeHandles;
using RoceUio.Cli.Control;

namespace RoceUio.Cli.Config;

/// <summary>
/// Reads a file the user named (a config file) only if it is a regular file: opened with O_NONBLOCK so a FIFO cannot
/// hang the open, then checked with statx(fd, "", AT_EMPTY_PATH, STATX_TYPE) before a byte is read. Every failure is
/// one line naming the file, what it is and what to do (a <see cref="ConfigException"/> without a position).
/// </summary>
internal static unsafe partial class RegularFile
{
    private const int O_RDONLY = 0, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000, AT_EMPTY_PATH = 0x1000, STATX_TYPE = 1;
    private const int ENOENT = 2, EACCES = 13, ENOTDIR = 20, ELOOP = 40;
    private const int S_IFMT = 0xF000, S_IFREG = 0x8000, S_IFDIR = 0x4000, S_IFIFO = 0x1000, S_IFSOCK = 0xC000, S_IFCHR = 0x2000, S_IFBLK = 0x6000;
    /// <summary>Config files are small; a bigger one is a mistake (a log, a device), not read into memory.</summary>
    public const int MaxBytes = 1 << 20;

    public static byte[] Read(string path, string what)
    {
        var nowhere = new JValue.Position(path, 0, 0);
        int fd = Posix.Open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
        {
            int e = Posix.Errno;
            throw new ConfigException(nowhere, e switch
            {
                ENOENT => $"no such {what}; name an existing file (an example: docs/roceuio.example.json)",
                EACCES => $"permission denied reading the {what}; make it readable by {Environment.UserName} or run as root",
                ENOTDIR => $"a part of the path is not a directory; name the {what} itself",
                ELOOP => $"too many symbolic links; name the {what} itself",
                _ => $"cannot open the {what}: {Posix.Describe(e)}",
            });
        }
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        int type = TypeOf(fd);
        if (type != S_IFREG)
            throw new ConfigException(nowhere, type switch
            {
                S_IFDIR => $"is a directory, not a {what}; name the JSON file inside it",
                S_IFIFO => $"is a FIFO (named pipe), not a {what}; the {what} must be a regular file (write it out first)",
                S_IFSOCK => $"is a socket, not a {what}; name a regular JSON file",
                S_IFCHR or S_IFBLK => $"is a device, not a {what}; name a regular JSON file",
                _ => $"is not a regular file; name a regular JSON file",
            });
        long length = RandomAccess.GetLength(handle);
        if (length > MaxBytes)
            throw new ConfigException(nowhere, $"is {length} bytes long; a {what} is at most {MaxBytes} bytes: is this the right file?");
        byte[] bytes = new byte[length];
        int got = 0;
        while (got < bytes.Length)
        {
            int n = RandomAccess.Read(handle, bytes.AsSpan(got), got);
            if (n == 0)
                break; // shrank while read: what was there
            got += n;
        }
        return got == bytes.Length ? bytes : bytes[..got];
    }

    /// <summary>S_IFMT bits of an open file: <c>struct statx</c> (linux/stat.h) has <c>__u16 stx_mode</c> at offset 28.</summary>
    private static int TypeOf(int fd)
    {
        byte* statx = stackalloc byte[256];
        byte empty = 0;
        if (Statx(fd, &empty, AT_EMPTY_PATH, STATX_TYPE, statx) < 0)
            return S_IFREG; // no statx (kernel < 4.11): read it as before
        return *(ushort*)(statx + 28) & S_IFMT;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static partial int Statx(int dirfd, byte* path, int flags, uint mask, byte* buf);
}
