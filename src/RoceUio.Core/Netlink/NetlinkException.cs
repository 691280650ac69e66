namespace RoceUio.Netlink;

/// <summary>A netlink system call or request failed; <see cref="Errno"/> is the positive errno.</summary>
public sealed class NetlinkException : Exception
{
    public int Errno { get; }

    public NetlinkException(string what, int errno)
        : base($"{what}: {Describe(errno)}") => Errno = errno;

    private static string Describe(int errno) => errno == 0 ? "failed" : $"{new System.ComponentModel.Win32Exception(errno).Message} (errno {errno})";
}
