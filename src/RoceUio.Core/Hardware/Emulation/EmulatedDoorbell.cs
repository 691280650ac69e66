using RoceUio.Shm;

namespace RoceUio.Hardware.Emulation;

/// <summary>
/// The write signal of an emulated device (docs/emulated-devices.md "The doorbell file"): shared memory has no write
/// trap, so without it a model finds a driver's register write only by polling, and a driver finds the model's answer
/// the same way; on a loaded machine a poller that yields or naps between looks waits out other processes' time slices
/// for every command. The file <c>doorbell</c> (one page) holds, at byte offset
/// <list type="bullet">
/// <item>0: <c>u32 count</c>, incremented (atomically, native byte order) after every register write through an
/// <see cref="MmioRegion"/> of the device's BARs, by either side;</item>
/// <item>4: <c>u32 sleepers</c>, the number of sides sleeping (or about to sleep) on <c>count</c>: a sleeper
/// increments it before its last look at <c>count</c> and decrements it when it wakes; a writer that reads it
/// non-zero wakes every sleeper with <c>FUTEX_WAKE</c> on <c>count</c>.</item>
/// </list>
/// The futex is a shared one (no FUTEX_PRIVATE_FLAG): the kernel keys it on the file's page, so the driver's and the
/// model's mappings meet whether they are in one process or two. No lost wakeup: a sleeper reads <c>count</c> before it
/// looks at the registers, increments <c>sleepers</c>, reads <c>count</c> again, and FUTEX_WAIT sleeps only while
/// <c>count</c> still has that value; a writer stores the register, increments <c>count</c>, then reads
/// <c>sleepers</c> (full fences on both sides), so either the sleeper sees the new count or the writer sees the
/// sleeper. (A flag that every ring cleared, the first version, lost one: a ring whose increment the sleeper had
/// already seen cleared the flag the sleeper had just set, and the next write woke nobody.) A side that dies asleep
/// leaves the count high: every later ring then makes one needless FUTEX_WAKE, never a missed one.
/// A wake is a hint to look again, never an answer: the register is the truth, and every wait has a timeout, so a
/// writer that does not ring (a model or driver in another language that ignores the file) only costs latency.
/// Locking: lock-free; any thread of any process.
/// </summary>
public sealed unsafe class EmulatedDoorbell : IDisposable
{
    /// <summary>The file's name in the device directory.</summary>
    public const string FileName = "doorbell";

    /// <summary>The file's size: one page.</summary>
    public const int FileSize = 4096;

    private const int CountOffset = 0, SleepersOffset = 4;

    private readonly MappedFile _file;
    private readonly uint* _count;
    private readonly uint* _sleepers;

    private EmulatedDoorbell(MappedFile file)
    {
        _file = file;
        // The layout above: two naturally aligned u32 at the start of the page.
        _count = (uint*)file.Pointer + CountOffset / 4;
        _sleepers = (uint*)file.Pointer + SleepersOffset / 4;
    }

    /// <summary>Creates (or reuses) <c>doorbell</c> in <paramref name="dir"/> and maps it.</summary>
    public static EmulatedDoorbell Create(string dir) => new(MappedFile.Open(Path.Combine(dir, FileName), FileSize, create: true));

    /// <summary>Maps <c>doorbell</c> in <paramref name="dir"/>; null when the directory has none (a device made by an
    /// older roceuio or by another tool: both sides then poll).</summary>
    public static EmulatedDoorbell? TryOpen(string dir)
    {
        string path = Path.Combine(dir, FileName);
        if (!File.Exists(path) || new FileInfo(path).Length < FileSize)
            return null;
        return new EmulatedDoorbell(MappedFile.Open(path, FileSize));
    }

    /// <summary>The write count now. Read it before looking at the registers, then pass it to <see cref="Wait"/>.</summary>
    public uint Count => Volatile.Read(ref *_count);

    /// <summary>True while a side sleeps, or is about to sleep, on the count.</summary>
    public bool HasSleeper => Volatile.Read(ref *_sleepers) != 0;

    /// <summary>After a register write: counts it and wakes whoever sleeps on the count (a syscall only when someone does).</summary>
    public void Ring()
    {
        Interlocked.Increment(ref *_count);
        if (Volatile.Read(ref *_sleepers) != 0)
            Futex.WakeAll(_count);
    }

    /// <summary>
    /// Sleeps until a write after <paramref name="seen"/> (a <see cref="Count"/> read before the caller last looked at
    /// the registers), at most <paramref name="timeoutMs"/>. Returns false on timeout, true when the count moved (the
    /// caller looks again either way).
    /// </summary>
    public bool Wait(uint seen, int timeoutMs)
    {
        Interlocked.Increment(ref *_sleepers);
        try
        {
            if (Volatile.Read(ref *_count) != seen)
                return true;
            return Futex.Wait(_count, seen, timeoutMs);
        }
        finally
        {
            Interlocked.Decrement(ref *_sleepers);
        }
    }

    /// <summary>
    /// Waits until <paramref name="condition"/> holds or <paramref name="timeout"/> passes, sleeping on the doorbell
    /// between looks (each sleep at most <paramref name="recheckMs"/>, for a writer that does not ring). Returns the
    /// condition's last value.
    /// </summary>
    public bool WaitUntil(Func<bool> condition, TimeSpan timeout, int recheckMs = 1)
    {
        long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        while (true)
        {
            uint seen = Count;
            if (condition())
                return true;
            if (System.Diagnostics.Stopwatch.GetTimestamp() >= deadline)
                return false;
            Wait(seen, recheckMs);
        }
    }

    public void Dispose() => _file.Dispose();
}
