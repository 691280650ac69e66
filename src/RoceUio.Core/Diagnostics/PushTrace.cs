using System.Diagnostics;

namespace RoceUio.Diagnostics;

/// <summary>
/// Diagnostic trace of one change's way through the daemon (ROCEUIO_PUSH_TRACE=FILE; off by default): 16-byte records
/// [int64 CLOCK_MONOTONIC ns][int32 stage][int32 arg] written into a 16 MiB MAP_SHARED file, allocation-free. It lives
/// in Diagnostics because every layer marks it: netlink (received/drained), the GID manager (changed/pushed/answered),
/// the device writer (commit) and the mlx4 HCR (SET_PORT go bit). `perf/event-latency.py TRACE=FILE` reads it. A path
/// that cannot be mapped turns the trace off with one line on stderr naming it; the daemon runs on.
/// </summary>
public static unsafe class PushTrace
{
    public const int Received = 1, Changed = 2, Pushed = 3, Commit = 4, GoBit = 5, Answered = 6, Woke = 7, Wait = 8,
                     SaveStart = 9, SaveEnd = 10, GidLine = 11, Drained = 12;
    private const int Records = 1 << 20;
    private static readonly RoceUio.Hardware.MappedFile? File = Open();
    private static readonly long* Base = File is null ? null : (long*)File.Address;
    private static int _next = -1;

    public static bool Enabled => Base != null;

    private static RoceUio.Hardware.MappedFile? Open()
    {
        string? path = Environment.GetEnvironmentVariable("ROCEUIO_PUSH_TRACE");
        if (string.IsNullOrEmpty(path))
            return null;
        if (Stopwatch.Frequency != 1_000_000_000)
        {
            Console.Error.WriteLine($"ROCEUIO_PUSH_TRACE={path}: the clock ticks at {Stopwatch.Frequency}/s, not ns; trace off");
            return null;
        }
        try
        {
            return RoceUio.Hardware.MappedFile.Open(path, Records * 16L, create: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or RoceUio.Hardware.HardwareAccessException)
        {
            Console.Error.WriteLine($"ROCEUIO_PUSH_TRACE={path}: cannot map a {Records * 16L >> 20} MiB trace file ({e.Message}); trace off");
            return null;
        }
    }

    public static void Mark(int stage, int arg = 0)
    {
        if (Base == null)
            return;
        int i = Interlocked.Increment(ref _next);
        if ((uint)i >= Records)
            return;
        long* r = Base + 2 * i;
        ((int*)r)[2] = stage;
        ((int*)r)[3] = arg;
        Volatile.Write(ref r[0], Stopwatch.GetTimestamp()); // ns on Linux (Frequency 1e9)
    }
}
