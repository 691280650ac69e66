using RoceUio.Cli.Control;

namespace RoceUio.Cli.Daemon;

/// <summary>
/// Wakes the daemon's worker out of its wait on the netlink socket: an eventfd (eventfd(2), a 64-bit counter) polled
/// together with the netlink event socket, so work queued by the control thread (or a stop) runs at once instead of
/// at the next poll timeout.
/// </summary>
/// <remarks>Locking: <see cref="Signal"/> from any thread; <see cref="WaitAlongside"/> only from the worker.</remarks>
public sealed unsafe class WorkerWakeup : IDisposable
{
    private int _fd;

    public WorkerWakeup()
    {
        _fd = Posix.EventFd(0, Posix.EFD_NONBLOCK | Posix.EFD_CLOEXEC);
        if (_fd < 0)
            throw new IOException($"eventfd: {Posix.Describe(Posix.Errno)}");
    }

    /// <summary>Makes the current or next <see cref="WaitAlongside"/> return at once.</summary>
    public void Signal()
    {
        ulong one = 1;
        int fd = Volatile.Read(ref _fd);
        if (fd >= 0)
            Posix.Write(fd, (byte*)&one, sizeof(ulong)); // EAGAIN only when the counter is saturated: it is signalled anyway
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> for <paramref name="fd"/> to be readable or for a <see cref="Signal"/>
    /// (which it consumes). Returns whether <paramref name="fd"/> is readable (or in error: its reader reports that).
    /// </summary>
    public bool WaitAlongside(int fd, int timeoutMs)
    {
        Posix.PollFd* p = stackalloc Posix.PollFd[2];
        p[0] = new Posix.PollFd { Fd = fd, Events = Posix.POLLIN };
        p[1] = new Posix.PollFd { Fd = _fd, Events = Posix.POLLIN };
        int n = Posix.Poll(p, 2, timeoutMs);
        if (n < 0)
            return false; // EINTR: the caller loops anyway
        if ((p[1].Revents & Posix.POLLIN) != 0)
        {
            ulong count;
            Posix.Read(_fd, (byte*)&count, sizeof(ulong));
        }
        return p[0].Revents != 0;
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
            Posix.Close(fd);
    }
}
