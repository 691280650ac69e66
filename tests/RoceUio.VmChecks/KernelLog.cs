using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace RoceUio.VmChecks;

/// <summary>
/// New kernel log records from <c>/dev/kmsg</c> (Documentation/ABI/testing/dev-kmsg): opened non-blocking and moved
/// to the end, so only what the kernel logs afterwards is read; one read returns one record
/// ("prio,seq,usec,flags;message"). The IOMMU's fault reports arrive here (drivers/iommu/intel/dmar.c dmar_fault_do_one).
/// </summary>
internal sealed unsafe class KernelLog : IDisposable
{
    private int _fd;

    public KernelLog()
    {
        fixed (byte* p = "/dev/kmsg\0"u8)
            _fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
        if (_fd < 0)
            throw new IOException($"/dev/kmsg: cannot open: errno {errno}");
        lseek(_fd, 0, SEEK_END);
    }

    /// <summary>Messages logged since the last call (or since opening).</summary>
    public List<string> ReadNew()
    {
        var list = new List<string>();
        byte* buf = stackalloc byte[8192];
        while (true)
        {
            ssize_t n = read(_fd, buf, 8192);
            if (n < 0)
            {
                if (errno == EPIPE)   // records were overwritten: carry on from the next one
                    continue;
                break;   // EAGAIN: nothing more
            }
            if (n == 0)
                break;
            string rec = Encoding.UTF8.GetString(buf, (int)n);
            int semi = rec.IndexOf(';');
            list.Add((semi >= 0 ? rec[(semi + 1)..] : rec).TrimEnd('\n'));
        }
        return list;
    }

    /// <summary>Waits until a new message satisfies <paramref name="match"/>; returns it, or null at the deadline.</summary>
    public string? WaitFor(Func<string, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        do
        {
            foreach (string m in ReadNew())
                if (match(m))
                    return m;
            Thread.Sleep(10);
        } while (DateTime.UtcNow < deadline);
        return null;
    }

    public void Dispose()
    {
        if (_fd >= 0)
            close(_fd);
        _fd = -1;
    }
}
