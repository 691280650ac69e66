using System.Diagnostics.Metrics;
using RoceUio.Netlink;
using RoceUio.Roce;

namespace RoceUio.Diagnostics;

/// <summary>
/// The <c>RoceUio</c> <see cref="Meter"/>: what the daemon does, readable by any MeterListener (the daemon's own
/// <c>--metrics-textfile</c> and <c>roceuio stat</c>), OpenTelemetry, or an EventPipe session on
/// System.Diagnostics.Metrics. The counters and gauges are observable: they read counters the pipeline keeps anyway
/// (plain field increments on the worker) when a listener collects. The three histograms (hardware push latency,
/// pushes per netlink burst, control request latency) are recorded where it happens, with tags made once: with no
/// listener a record costs a check, with one it allocates nothing (MetricsAllocationTests).
/// </summary>
/// <remarks>Threading: collection runs on the listener's thread and reads the worker's counters without a lock: a
/// value may be one event old, never torn (64-bit reads on x64). One pipeline is observed at a time (the daemon's).</remarks>
public static class RoceUioMetrics
{
    public const string MeterName = "RoceUio";

    public static readonly Meter Meter = new(MeterName, "1.0");

    private static volatile Source? s_source;

    private sealed record Source(NetdevCache Cache, NetlinkMonitor Monitor, GidManager Manager);

    static RoceUioMetrics()
    {
        Meter.CreateObservableCounter("roceuio.netlink.messages", () => s_source?.Cache.AppliedMessages ?? 0, "{message}",
            "rtnetlink messages applied to the netdev cache");
        Meter.CreateObservableCounter("roceuio.netlink.malformed", () => s_source?.Cache.MalformedMessages ?? 0, "{message}",
            "rtnetlink messages refused as malformed");
        Meter.CreateObservableCounter("roceuio.netlink.enobufs", () => s_source?.Monitor.Overruns ?? 0, "{event}",
            "socket overruns (ENOBUFS): events lost, a resync follows");
        Meter.CreateObservableCounter("roceuio.netlink.resyncs", () => s_source?.Monitor.Resyncs ?? 0, "{resync}",
            "full re-dumps of links and addresses");
        Meter.CreateObservableGauge("roceuio.gid.table.used", () => PerPort(p => p.Table.Count), "{gid}", "valid GID entries per port");
        Meter.CreateObservableGauge("roceuio.gid.table.capacity", () => PerPort(p => p.Table.Capacity), "{gid}", "GID table size per port");
        Meter.CreateObservableGauge("roceuio.gid.pending", () => PerPort(p => p.PendingCount), "{gid}",
            "GIDs kept waiting for a free slot per port");
        Meter.CreateObservableCounter("roceuio.gid.adds", () => PerPort(p => p.GidAdds), "{gid}", "GID entries added per port");
        Meter.CreateObservableCounter("roceuio.gid.deletes", () => PerPort(p => p.GidDeletes), "{gid}", "GID entries deleted per port");
        Meter.CreateObservableCounter("roceuio.gid.refused", () => PerPort(p => p.GidRefused), "{gid}",
            "GIDs refused a slot (table full) per port: kept pending, or lost under the kernel policy");
        Meter.CreateObservableCounter("roceuio.hw.pushes", () => PerPort(p => p.Sync.Pushes), "{push}",
            "table pushes to the hardware per port");
        Meter.CreateObservableCounter("roceuio.control.requests", () => Interlocked.Read(ref s_controlRequests), "{request}",
            "control socket requests answered (refusals included)");
        Meter.CreateObservableCounter("roceuio.control.time", () => Interlocked.Read(ref s_controlMicroseconds), "us",
            "microseconds from a request's arrival to its answer, summed (divide by requests for the mean)");
        Meter.CreateObservableGauge("roceuio.hw.push.failing", () => PerPort(p => p.Sync.FailedAttempts), "{attempt}",
            "failed pushes in a row per port (0: in step with the hardware)");
        Meter.CreateObservableCounter("roceuio.hw.push.failures", () => PerPort(p => p.Sync.Failures), "{push}",
            "pushes the hardware refused or did not answer per port (each failed retry counts)");
    }

    private static readonly Histogram<double> s_pushDuration = Meter.CreateHistogram<double>("roceuio.hw.push.duration", "ms",
        "time a device took for one push (its GID commands and the commit) per device");
    private static readonly Histogram<int> s_burstPushes = Meter.CreateHistogram<int>("roceuio.hw.pushes_per_burst", "{push}",
        "pushes made for one netlink burst (datagrams read until the socket drained), bursts that pushed");
    private static readonly Histogram<double> s_controlDuration = Meter.CreateHistogram<double>("roceuio.control.duration", "ms",
        "time from a control request's arrival to its answer");

    /// <summary>One push done by a device (any thread): <paramref name="dev"/> is the device's tag, made once.</summary>
    public static void HardwarePushed(KeyValuePair<string, object?> dev, long startedTimestamp)
    {
        if (s_pushDuration.Enabled)
            s_pushDuration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(startedTimestamp).TotalMilliseconds, dev);
    }

    /// <summary>A netlink burst ended with <paramref name="pushes"/> pushes (worker thread).</summary>
    public static void BurstPushed(int pushes)
    {
        if (s_burstPushes.Enabled)
            s_burstPushes.Record(pushes);
    }

    private static long s_controlRequests, s_controlMicroseconds;

    /// <summary>One control request answered, <paramref name="startedTimestamp"/> being its Stopwatch timestamp on
    /// arrival (any thread; two interlocked adds).</summary>
    public static void ControlRequestAnswered(long startedTimestamp)
    {
        TimeSpan took = System.Diagnostics.Stopwatch.GetElapsedTime(startedTimestamp);
        Interlocked.Increment(ref s_controlRequests);
        Interlocked.Add(ref s_controlMicroseconds, (long)took.TotalMicroseconds);
        if (s_controlDuration.Enabled)
            s_controlDuration.Record(took.TotalMilliseconds);
    }

    /// <summary>Observes <paramref name="manager"/>'s pipeline from now on (the daemon calls it once it started).</summary>
    public static void Observe(NetdevCache cache, NetlinkMonitor monitor, GidManager manager)
        => s_source = new Source(cache, monitor, manager);

    /// <summary>Stops observing (the daemon is stopping).</summary>
    public static void Forget() => s_source = null;

    private static IEnumerable<Measurement<long>> PerPort(Func<RocePort, long> value)
    {
        if (s_source is not { } s)
            yield break;
        foreach (RocePort p in s.Manager.Ports.ToArray())
            yield return new Measurement<long>(value(p), new KeyValuePair<string, object?>("dev", p.Device.Name), new KeyValuePair<string, object?>("port", p.Port));
    }
}
