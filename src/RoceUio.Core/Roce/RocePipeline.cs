using RoceUio.Gids;
using RoceUio.Netlink;

namespace RoceUio.Roce;

/// <summary>
/// The wired pipeline (<see cref="RocePipelineBuilder"/>): the netdev cache (the one owner of netdev state), the
/// manager's read-only view of it, the GID manager, and, once <see cref="StartMonitor"/> ran, the netlink monitor that
/// feeds the cache. Every method runs on the one worker thread that owns the cache (see <see cref="GidManager"/>).
/// Each way in (<see cref="Poll"/>, <see cref="Feed"/>, <see cref="Replay"/>) ends its burst with one commit per
/// changed port.
/// </summary>
public sealed class RocePipeline : IDisposable
{
    internal RocePipeline(NetdevCache cache, NetlinkNetdevGraph graph, GidManager manager)
    {
        Cache = cache;
        Graph = graph;
        Manager = manager;
    }

    public NetdevCache Cache { get; }
    public NetlinkNetdevGraph Graph { get; }
    public GidManager Manager { get; }
    public NetlinkMonitor? Monitor { get; private set; }

    /// <summary>Opens the netlink sockets in the calling thread's namespace and loads the cache (initial dump), then
    /// commits what the dump changed.</summary>
    public NetlinkMonitor StartMonitor(NetlinkMonitorOptions? options = null, Action<string>? log = null, Action<string>? info = null)
    {
        if (Monitor is not null)
            throw new InvalidOperationException("the monitor is already started");
        var monitor = new NetlinkMonitor(Cache, options);
        if (log is not null)
            monitor.Log = log;
        if (info is not null)
            monitor.Info = info;
        monitor.Start();
        Monitor = monitor;
        Manager.EndOfBurst();
        return monitor;
    }

    /// <summary>Registers a device's ports, bound to netdevs by name, and fills their tables
    /// (<see cref="GidManager.AddDevice"/>).</summary>
    public IReadOnlyList<RocePort> AddDevice(IRoceDevice device, IReadOnlyList<string> netdevs, Action<RocePort>? prepare = null)
        => Manager.AddDevice(device, netdevs.Select(n => new PortBinding(n)).ToList(), prepare);

    /// <summary>One turn of the worker: wait up to <paramref name="timeoutMs"/> for netlink events, apply every queued
    /// datagram, commit. Returns the messages applied.</summary>
    public int Poll(int timeoutMs)
    {
        NetlinkMonitor monitor = Monitor ?? throw new InvalidOperationException("StartMonitor first");
        monitor.AfterDatagram = null;
        int applied = monitor.Poll(timeoutMs);
        Manager.EndOfBurst();
        return applied;
    }

    /// <summary>From now on the monitor pushes a port between datagrams once its oldest unpushed change is 1 ms old
    /// (<see cref="GidManager.PushPaced"/>); the caller pushes with drained = true after each poll.</summary>
    public void PacePushes()
    {
        NetlinkMonitor monitor = Monitor ?? throw new InvalidOperationException("StartMonitor first");
        monitor.AfterDatagram ??= () => Manager.PushPaced(drained: false);
    }

    /// <summary>
    /// As the daemon's worker turns: wait up to <paramref name="timeoutMs"/> (less if a paced push comes due), apply
    /// every queued datagram, pushing a port mid-way once its oldest unpushed change is 1 ms old, and once drained
    /// (paced: <see cref="PortSync.IsPacedDue"/>). Returns the messages applied.
    /// </summary>
    public int PollPaced(int timeoutMs)
    {
        NetlinkMonitor monitor = Monitor ?? throw new InvalidOperationException("StartMonitor first");
        PacePushes();
        int applied = monitor.Poll(Math.Min(timeoutMs, Manager.MsUntilNextPush()));
        Manager.PushPaced(drained: true);
        return applied;
    }

    /// <summary>Applies built messages (one datagram) and commits.</summary>
    public int Feed(ReadOnlySpan<byte> datagram)
    {
        int applied = Cache.ApplyAll(datagram);
        Manager.EndOfBurst();
        return applied;
    }

    /// <summary>Applies an rtmon capture message by message, committing after each (one burst per message, as a
    /// daemon would have seen them arrive one by one), or, with <paramref name="burstWindow"/>, once per group of
    /// messages whose timestamps lie within that window of the group's first (as the daemon commits a burst it read
    /// together). A framing error is counted and logged with its offset.</summary>
    public int Replay(ReadOnlySpan<byte> capture, TimeSpan? burstWindow = null)
    {
        var reader = new RtmonCaptureReader(capture);
        int applied = 0;
        long burstStart = long.MinValue;
        while (reader.TryRead(out NetlinkMessage m))
        {
            if (burstWindow is { } w)
            {
                if (burstStart != long.MinValue && reader.TimestampUs - burstStart > (long)w.TotalMicroseconds)
                {
                    Manager.EndOfBurst();
                    burstStart = reader.TimestampUs;
                }
                else if (burstStart == long.MinValue)
                    burstStart = reader.TimestampUs;
            }
            if (Cache.Apply(m))
                applied++;
            if (burstWindow is null)
                Manager.EndOfBurst();
        }
        Manager.EndOfBurst();
        if (reader.Failure.IsError)
            Cache.ApplyAll(capture[reader.Failure.Offset..]);
        return applied;
    }

    public void Dispose() => Monitor?.Dispose();
}
