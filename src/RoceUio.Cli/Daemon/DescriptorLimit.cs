using System.Runtime.InteropServices;

namespace RoceUio.Cli.Daemon;

/// <summary>
/// The daemon's open-file limit (RLIMIT_NOFILE, getrlimit(2)): raised from the soft to the hard limit at start, as
/// systemd's own services and most daemons do, and used to size the control server's connection cap so that a
/// flood of clients can never take the descriptors the netlink socket, the BAR/DMA mappings and the exports need.
/// Layout: <c>struct rlimit { rlim_t rlim_cur; rlim_t rlim_max; }</c> with 64-bit rlim_t (x86-64/arm64 Linux);
/// RLIMIT_NOFILE is 7 (include/uapi/asm-generic/resource.h).
/// </summary>
internal static unsafe partial class DescriptorLimit
{
    private const int RLIMIT_NOFILE = 7;

    /// <summary>Descriptors the daemon keeps for itself beyond those open at start (devices, exports, the runtime).</summary>
    public const int Reserve = 32;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Cur;
        public ulong Max;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, RLimit* rlim);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, RLimit* rlim);

    /// <summary>What <see cref="RaiseSoftToHard"/> found and did. <see cref="Problem"/> is null when all went well.</summary>
    public readonly record struct Outcome(ulong Before, ulong Soft, ulong Hard, string? Problem);

    /// <summary>Raises the soft RLIMIT_NOFILE to the hard one. Never throws: a failure is described in the outcome.</summary>
    public static Outcome RaiseSoftToHard()
    {
        RLimit r;
        if (GetRLimit(RLIMIT_NOFILE, &r) != 0)
            return new Outcome(0, 0, 0, $"getrlimit(RLIMIT_NOFILE) failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        ulong before = r.Cur;
        if (r.Cur >= r.Max)
            return new Outcome(before, r.Cur, r.Max, null);
        var raised = new RLimit { Cur = r.Max, Max = r.Max };
        if (SetRLimit(RLIMIT_NOFILE, &raised) != 0)
            return new Outcome(before, r.Cur, r.Max,
                $"cannot raise the open-file limit from {r.Cur} to its hard limit {r.Max}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        return new Outcome(before, r.Max, r.Max, null);
    }

    /// <summary>
    /// The control connections the daemon can serve under a soft limit of <paramref name="soft"/> descriptors with
    /// <paramref name="inUse"/> already open: the configured cap, or fewer when the limit leaves less (never below 1).
    /// </summary>
    public static int ConnectionCap(int configured, ulong soft, int inUse)
    {
        long room = (long)Math.Min(soft, int.MaxValue) - inUse - Reserve;
        return (int)Math.Clamp(room, 1, configured);
    }

    /// <summary>Descriptors open in this process now (/proc/self/fd), or 0 when it cannot be read.</summary>
    public static int OpenNow()
    {
        try
        {
            return Directory.GetFiles("/proc/self/fd").Length;
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
