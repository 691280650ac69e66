using System.Runtime.InteropServices;

namespace RoceUio.Shm;

/// <summary>
/// Shared (cross-process) futex wait and wake on a 32-bit word of a MAP_SHARED file mapping (futex(2); no
/// FUTEX_PRIVATE_FLAG, so the kernel keys the futex on the file page, and a read-only mapping may wait).
/// </summary>
internal static unsafe partial class Futex
{
    private const int FUTEX_WAIT = 0, FUTEX_WAKE = 1;
    private const int EAGAIN = 11, EINTR = 4, ETIMEDOUT = 110;

    private static readonly long SysFutex = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 202,
        Architecture.Arm64 or Architecture.LoongArch64 or Architecture.RiscV64 => 98,
        _ => throw new PlatformNotSupportedException($"futex: unknown syscall number on {RuntimeInformation.ProcessArchitecture}"),
    };

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Sec;
        public long Nsec;
    }

    // syscall(2) is variadic; every argument here is an integer or a pointer, which the x86-64 and AArch64 Linux
    // calling conventions pass the same way to variadic and fixed functions.
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, uint* addr, int op, uint val, Timespec* timeout, void* addr2, uint val3);

    /// <summary>Wakes every waiter on <paramref name="word"/>; returns how many woke (or -1).</summary>
    public static long WakeAll(uint* word) => Syscall(SysFutex, word, FUTEX_WAKE, int.MaxValue, null, null, 0);

    /// <summary>Sleeps while <c>*word == expected</c>, at most <paramref name="timeoutMs"/> (-1: no limit). Returns
    /// false on timeout; true when woken, interrupted, or the word already differed.</summary>
    public static bool Wait(uint* word, uint expected, int timeoutMs)
    {
        Timespec ts = new() { Sec = timeoutMs / 1000, Nsec = timeoutMs % 1000 * 1_000_000L };
        long r = Syscall(SysFutex, word, FUTEX_WAIT, expected, timeoutMs < 0 ? null : &ts, null, 0);
        if (r == 0)
            return true;
        int e = Marshal.GetLastPInvokeError();
        return e switch
        {
            EAGAIN or EINTR => true,
            ETIMEDOUT => false,
            _ => throw new IOException($"futex wait failed: {Hardware.Errno.Describe(e)}"),
        };
    }
}
