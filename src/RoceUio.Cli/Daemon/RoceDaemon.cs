using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using RoceUio.Cli.Config;
using RoceUio.Cli.Control;
using RoceUio.Cli.Output;
using RoceUio.Diagnostics;
using RoceUio.Gids;
using RoceUio.Hardware;
using RoceUio.Netlink;
using RoceUio.Roce;
using RoceUio.Shm;

namespace RoceUio.Cli.Daemon;

/// <summary>How much the daemon prints.</summary>
public enum Verbosity { Quiet, Normal, Verbose }

/// <summary>What <c>roceuio run</c> resolved from its config file and command line.</summary>
public sealed record DaemonOptions
{
    public required DaemonConfig Config { get; init; }
    /// <summary>--metrics-textfile: the RoceUio meter in Prometheus text, rewritten atomically every 5 s.</summary>
    public string? MetricsTextfile { get; init; }
    /// <summary>Where emulated devices get their files (default STATE_DIR/emulated).</summary>
    public string? EmulationRoot { get; init; }
    public string? MmioTrace { get; init; }
    public bool ClearOnExit { get; init; }
    public Verbosity Verbosity { get; init; } = Verbosity.Normal;
    /// <summary>How long after a table change the state file is written (changes in between are written together).</summary>
    public TimeSpan SaveDelay { get; init; } = TimeSpan.FromMilliseconds(200);
    /// <summary>Where each port's table is published in shared memory (docs/shm-layout.md); null: not published.</summary>
    public string? ShmDir { get; init; }
    /// <summary>Where a sysfs-shaped copy of the tables is kept (DIR/class/infiniband/...); null: none.</summary>
    public string? SysfsExport { get; init; }
    public TextWriter Out { get; init; } = Console.Out;
    public TextWriter Err { get; init; } = Console.Error;
}

/// <summary>
/// The <c>roceuio run</c> daemon: one worker thread (the caller of <see cref="Run"/>) owns the netdev cache, the
/// netlink monitor, the netdev graph, the GID manager and the drivers, like the kernel's ordered gid-cache-wq.
/// </summary>
/// <remarks>
/// <para>Threading: everything that touches the manager and the tables' writers runs on the worker. Each device has its
/// own programmer thread once the tables are filled (<see cref="GidManager.ProgramOnOwnThreads"/>): the worker hands a
/// port's changes over and goes on, and the thread's outcome wakes it (<see cref="WorkerWakeup"/>), so a device that
/// holds a command delays only its own ports, never netlink, the other devices or the control plane. The
/// control server has its own thread: read commands answer there from the snapshot the worker publishes
/// (<see cref="ControlHandlers.Publish"/>), so they never wait for the worker; commands that change state are handed
/// to the worker through <see cref="Invoke"/> (a queue, and a <see cref="WorkerWakeup"/> that ends its wait at once),
/// so they see a consistent state and never race an event. The netlink sockets are opened by the worker and so belong
/// to its network namespace.</para>
/// <para>Loop: wait on the netlink socket and the wake-up together (short timeout) → apply every queued message →
/// apply the devices' push outcomes (<see cref="GidManager.CompletePushes"/>) → start the pushes that are due
/// (<see cref="GidManager.PushPaced"/>) → run queued control requests → publish
/// the snapshot if anything changed (and at least once a second) → write the sticky state if the tables changed
/// (debounced, atomic).</para>
/// <para>Stop (SIGTERM, Ctrl-C: the token): the control socket closes, queued requests are refused, the devices'
/// threads finish what they were handed (a held command ends with the driver's timeout), the state is saved, with <see cref="DaemonOptions.ClearOnExit"/> every entry is deleted through the tables (the drivers get the
/// deletes), otherwise the hardware keeps its tables for a quick restart.</para>
/// </remarks>
public sealed class RoceDaemon
{
    private readonly DaemonOptions _o;
    private readonly ConcurrentQueue<(Func<JsonNode?> Work, TaskCompletionSource<JsonNode?> Done)> _queue = new();
    private volatile bool _accepting;
    private bool _started; // the initial fill is shown as a table, not line by line
    private StickyStateSaver? _saver;
    private readonly WorkerWakeup _wakeup = new();
    private bool _publish;
    private long _publishedAt;

    /// <summary>The longest the worker waits for netlink when nothing wakes it (the save debounce and timers run then).</summary>
    private const int PollTimeoutMs = 20;

    public RoceDaemon(DaemonOptions options) => _o = options;

    /// <summary>The manager, once <see cref="Run"/> has started it (for tests in-process).</summary>
    public GidManager? Manager { get; private set; }

    /// <summary>Set when the control socket is up and the tables are filled.</summary>
    public ManualResetEventSlim Ready { get; } = new();

    /// <summary>Environment.TickCount64 of the worker loop's latest turn (the systemd watchdog pings only while it moves).</summary>
    public long LastLoopTick => Volatile.Read(ref _loopTick);
    private long _loopTick = Environment.TickCount64;

    /// <summary>What the control plane last published (any thread); empty before the first fill.</summary>
    public ControlSnapshot Snapshot => Volatile.Read(ref _handlers)?.Current ?? ControlSnapshot.Empty;
    private ControlHandlers? _handlers;

    /// <summary>Runs <paramref name="work"/> on the worker and completes with its result (or its exception).</summary>
    public Task<JsonNode?> Invoke(Func<JsonNode?> work)
    {
        var done = new TaskCompletionSource<JsonNode?>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_accepting)
            done.SetException(new ControlException("the daemon is stopping"));
        else
        {
            _queue.Enqueue((work, done));
            _wakeup.Signal();
        }
        return done.Task;
    }

    /// <summary>Runs the daemon on the calling thread until <paramref name="stop"/>; returns the exit status.</summary>
    public int Run(CancellationToken stop)
    {
        DaemonConfig cfg = _o.Config;
        var store = new StickyStateStore(cfg.StateDir);
        IReadOnlyList<StickyStateStore.Assignment> remembered;
        try
        {
            remembered = cfg.IndexPolicy == IndexPolicy.Sticky ? store.Load() : [];
        }
        catch (InvalidDataException e)
        {
            _o.Err.WriteLine($"roceuio run: {e.Message}");
            return 1;
        }

        var builder = new RocePipelineBuilder()
            .IndexPolicy(cfg.IndexPolicy)
            .NetlinkLog(m => _o.Err.WriteLine($"netlink: {m}"))
            .DevIds(n => SysfsDevId.Read(n))
            .GidLog(line =>
            {
                _publish = true;
                if (_started && _o.Verbosity != Verbosity.Quiet)
                {
                    PushTrace.Mark(PushTrace.GidLine);
                    _o.Out.WriteLine(line);
                }
            })
            .Errors(line =>
            {
                _publish = true;
                _o.Err.WriteLine($"error: {line}");
            });
        if (_o.Verbosity == Verbosity.Verbose)
            builder.Observe(new EventPrinter(_o.Out));
        using RocePipeline pipeline = builder.Build();
        NetdevCache cache = pipeline.Cache;
        NetlinkNetdevGraph graph = pipeline.Graph;
        GidManager manager = pipeline.Manager;
        Manager = manager;
        using var saver = new StickyStateSaver(manager.Changes);
        _saver = saver;

        using var metrics = new MetricsCollector();
        using Timer? textfile = _o.MetricsTextfile is { } promPath ? new Timer(_ => WriteTextfile(metrics, promPath), null, Timeout.Infinite, 5000) : null;
        MmioTraceWriter? trace = null;
        var devices = new List<OpenedDevice>();
        ControlServer? server = null;
        GidTablePublisher? shm = null;
        SysfsGidExport? sysfs = null;
        try
        {
            NetlinkMonitor monitor = pipeline.StartMonitor(new NetlinkMonitorOptions { FollowNamespaces = cfg.FollowNamespaces },
                                                            log: m => _o.Err.WriteLine(m),
                                                            info: m => { if (_o.Verbosity != Verbosity.Quiet) _o.Out.WriteLine(m); });
            pipeline.PacePushes();
            RoceUioMetrics.Observe(cache, monitor, manager);
            trace = _o.MmioTrace is { } tracePath ? MmioTraceWriter.Open(tracePath) : null;
            var factory = new DeviceFactory
            {
                EmulationRoot = _o.EmulationRoot ?? Path.Combine(cfg.StateDir, "emulated"),
                Tracer = trace,
                VlanOfNetdev = i => GidL2Fields.VlanIdOf(graph, i),
                ModelDied = (dev, why) => _o.Err.WriteLine($"error: {dev}: {why}"),
                MacOfNetdev = DeviceFactory.NetdevMacs(cache),
            };
            foreach (DeviceConfig d in ResolveAuto(cfg.Devices, cache))
                devices.AddRange(factory.Open(d));
            foreach (OpenedDevice d in devices)
            {
                var ports = pipeline.AddDevice(d.Device, d.Netdevs, port => Import(port, remembered, cache));
                d.AttachTables?.Invoke(ports.Select(p => p.Table));
            }
            if (_o.Verbosity != Verbosity.Quiet)
                PrintStart(devices, manager);

            var handlers = new ControlHandlers(manager, devices.Select(d => d.ToDaemonDevice()).ToList(), () => Save(store, manager, graph));
            handlers.Publish();
            Volatile.Write(ref _handlers, handlers);
            _accepting = true;
            IEnumerable<ControlCommand> commands = handlers.Commands.Append(new ControlCommand("metrics", false, _ => metrics.ToJson()) { ReadsSnapshot = true });
            server = new ControlServer(cfg.Control, commands, new ControlServerOptions
            {
                MaxConnections = ControlConnectionCap(cfg.ControlMaxConnections), IdleTimeout = cfg.ControlIdleTimeout,
                Log = m => _o.Err.WriteLine($"error: {m}"),
                InheritedListenFd = SocketActivation.TakeControlSocket(cfg.Control), // packaging/roceuio.socket
            }) { Dispatch = Invoke };
            using var wakeOnStop = stop.Register(_wakeup.Signal);
            Func<int, ShmNetdev> shmNetdevs = GidTablePublisher.NetdevsOf(cache, monitor.NetNsInodeOf);
            shm = OpenShm(cfg, manager, shmNetdevs);
            sysfs = OpenSysfsExport(manager);
            if (_o.Verbosity != Verbosity.Quiet)
            {
                _o.Out.Write(ShowGidsFormat.Text(handlers.Rows()));
                _o.Out.WriteLine($"roceuio: serving {cfg.Control}, state in {store.FilePath}; Ctrl-C stops");
                _o.Out.Flush();
            }
            _started = true;
            manager.ProgramOnOwnThreads(_wakeup.Signal);
            Ready.Set();
            textfile?.Change(0, 5000);
            saver.MarkDirty(); // the first fill: write the state once it settled

            while (!stop.IsCancellationRequested)
            {
                Volatile.Write(ref _loopTick, Environment.TickCount64);
                try
                {
                    int waitMs = Math.Min(PollTimeoutMs, manager.MsUntilNextPush());
                    PushTrace.Mark(PushTrace.Wait, waitMs);
                    bool readable = _wakeup.WaitAlongside(monitor.EventSocket!.Handle, waitMs);
                    PushTrace.Mark(PushTrace.Woke, readable ? 1 : 0);
                    if (readable && monitor.Poll(0) > 0)
                        _publish = true;
                }
                catch (NetlinkException) when (stop.IsCancellationRequested)
                {
                    // Stopping: whatever interrupted the poll does not matter any more.
                    continue;
                }
                catch (NetlinkException e)
                {
                    _o.Err.WriteLine($"error: netlink: {e.Message}; resyncing");
                    Thread.Sleep(100);
                    TryResync(monitor);
                }
                if (manager.CompletePushes() > 0)
                    _publish = true;   // entries the hardware took are visible now, or a failure is to be shown
                if (manager.PushPaced(drained: true) > 0)
                    _publish = true;   // a push made entries visible, or failed: status shows it
                RunQueued();
                PublishIfChanged(handlers);
                shm?.Sync(manager.Ports, shmNetdevs);
                sysfs?.Sync(manager.Ports, manager.NameOf);
                if (saver.IsDue(_o.SaveDelay))
                    Save(store, manager, graph);
            }
            _accepting = false;
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            server = null;
            _opened = devices;
            return Stop(store, manager, graph);
        }
        catch (Exception e) when (e is RoceDeviceException or HardwareAccessException or IOException or ArgumentException
                                      or FormatException or NetlinkException or UnauthorizedAccessException)
        {
            _o.Err.WriteLine($"roceuio run: {e.Message}");
            return 1;
        }
        finally
        {
            RoceUioMetrics.Forget();
            _accepting = false;
            if (server is not null)
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            FailQueued();
            shm?.Dispose();
            sysfs?.Dispose();
            Manager?.ProgramInline(); // no device thread may run on into a disposed driver
            foreach (OpenedDevice d in devices.AsEnumerable().Reverse())
                d.Dispose();
            trace?.Dispose();
            _wakeup.Dispose();
            Manager?.Changes.Complete();
            Manager?.PortChanges.Complete();
        }
    }

    /// <summary>The shared-memory tables (--shm-dir), filled before the daemon says it is ready; files get the control
    /// socket's group.</summary>
    private GidTablePublisher? OpenShm(DaemonConfig cfg, GidManager manager, Func<int, ShmNetdev> netdevs)
    {
        if (_o.ShmDir is not { } dir)
            return null;
        var shm = new GidTablePublisher(dir, GidTablePublisher.GroupOf(cfg.Control)) { Error = line => _o.Err.WriteLine($"error: {line}") };
        shm.Sync(manager.Ports, netdevs);
        return shm;
    }

    /// <summary>--sysfs-export DIR: written in full before the daemon says it is ready.</summary>
    private SysfsGidExport? OpenSysfsExport(GidManager manager)
    {
        if (_o.SysfsExport is not { } dir)
            return null;
        var export = new SysfsGidExport(dir) { Error = line => _o.Err.WriteLine($"error: {line}") };
        export.Sync(manager.Ports, manager.NameOf);
        return export;
    }

    private bool _textfileFailed;

    /// <summary>One write of --metrics-textfile (timer thread); a failure is said once, then again after a success.</summary>
    private void WriteTextfile(MetricsCollector metrics, string path)
    {
        try
        {
            metrics.WritePrometheus(path);
            _textfileFailed = false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (!_textfileFailed)
                _o.Err.WriteLine($"error: cannot write the metrics to {path}: {e.Message}");
            _textfileFailed = true;
        }
    }

    private int Stop(StickyStateStore store, GidManager manager, NetlinkNetdevGraph graph)
    {
        FailQueued();
        manager.ProgramInline();
        manager.EndOfBurst();
        Save(store, manager, graph);
        if (_o.ClearOnExit)
        {
            manager.ClearAll("--clear-on-exit: device going away");
            Save(store, manager, graph); // the sticky history still holds every index
            ShutDownDevices(_opened);
        }
        if (_o.Verbosity != Verbosity.Quiet)
            _o.Out.WriteLine($"roceuio: stopped; state saved to {store.FilePath}{(_o.ClearOnExit ? ", hardware tables cleared" : ", hardware tables left as they are")}");
        return 0;
    }

    /// <summary>--clear-on-exit: each device taken down in reverse order of opening (IRoceDevice.ShutDown); a failure is
    /// reported and the others still go down.</summary>
    private IReadOnlyList<OpenedDevice> _opened = [];

    private void ShutDownDevices(IReadOnlyList<OpenedDevice> devices)
    {
        foreach (OpenedDevice d in devices.AsEnumerable().Reverse())
        {
            try
            {
                d.Device.ShutDown();
            }
            catch (RoceDeviceException e)
            {
                _o.Err.WriteLine($"error: {e.Message}");
            }
        }
    }

    private void TryResync(NetlinkMonitor monitor)
    {
        try
        {
            monitor.Resync();
        }
        catch (NetlinkException e)
        {
            _o.Err.WriteLine($"error: netlink resync failed: {e.Message}");
        }
    }

    /// <summary>The snapshot the control thread serves: after any change, and at least once a second (so what other
    /// parts change without a log line shows up too).</summary>
    private void PublishIfChanged(ControlHandlers handlers)
    {
        if (!_publish && Environment.TickCount64 - _publishedAt < 1000)
            return;
        _publish = false;
        _publishedAt = Environment.TickCount64;
        handlers.Publish();
    }

    private void RunQueued()
    {
        while (_queue.TryDequeue(out var item))
        {
            _publish = true;
            try
            {
                item.Done.SetResult(item.Work());
            }
            catch (Exception e)
            {
                item.Done.SetException(e);
            }
        }
    }

    private void FailQueued()
    {
        while (_queue.TryDequeue(out var item))
            item.Done.TrySetException(new ControlException("the daemon is stopping"));
    }

    /// <summary><c>KIND:auto</c> → the machine's Ethernet netdevs (<see cref="DeviceFactory.AutoNetdevs"/>).</summary>
    private IEnumerable<DeviceConfig> ResolveAuto(IReadOnlyList<DeviceConfig> devices, NetdevCache cache)
    {
        foreach (DeviceConfig d in devices)
        {
            if (d.Netdevs is not ["auto"])
            {
                yield return d;
                continue;
            }
            IReadOnlyList<string> found = DeviceFactory.AutoNetdevs(cache);
            if (found.Count == 0)
                throw new ArgumentException($"{d.Driver}:auto found no Ethernet netdev (ARPHRD_ETHER, not loopback, no link kind or veth); name the netdevs: --emulate {d.Driver}:eth0");
            if (_o.Verbosity != Verbosity.Quiet)
                _o.Out.WriteLine($"roceuio: {d.Driver}:auto binds to {string.Join(", ", found)}");
            yield return d with { Netdevs = found };
        }
    }

    private void PrintStart(List<OpenedDevice> devices, GidManager manager)
    {
        foreach (OpenedDevice d in devices)
        {
            string ports = string.Join(", ", Enumerable.Range(1, d.Device.PortCount).Select(p =>
            {
                RocePort rp = manager.FindPort(d.Device.Name, p)!;
                return $"port {p} {d.Netdevs[p - 1]}{(rp.NetdevIfindex == 0 ? " (absent)" : "")}";
            }));
            // "emulated:DIR" and "software" already say how the device is mapped: do not say it twice.
            string where = d.PciAddress == d.Mapping || d.PciAddress.StartsWith(d.Mapping + ":", StringComparison.Ordinal) ? d.PciAddress : $"{d.Mapping} {d.PciAddress}";
            _o.Out.WriteLine($"roceuio: {d.Device.Name} ({d.Device.DriverName}, {where}): {ports}; index policy {manager.Policy.ToString().ToLowerInvariant()}");
        }
    }

    // ---- sticky state ----

    /// <summary>Loads the remembered assignment of one port before its first fill. Netdevs are stored by name and
    /// resolved to today's ifindex; an assignment whose netdev does not exist now is dropped (its index is free).</summary>
    private void Import(RocePort port, IReadOnlyList<StickyStateStore.Assignment> remembered, NetdevCache cache)
    {
        if (port.Table.Policy != IndexPolicy.Sticky)
            return;
        var list = new List<(GidEntry, int)>();
        foreach (StickyStateStore.Assignment a in remembered)
        {
            if (a.Dev != port.Device.Name || a.Port != port.Port || a.Index < port.Table.DefaultSlotCount
                || a.Index >= port.Table.Capacity || !port.Types.Contains(a.Type))
                continue;
            if (cache.FindByName(a.Ndev) is { } link)
                list.Add((new GidEntry(a.Gid, a.Type, link.Ifindex), a.Index));
        }
        try
        {
            port.Table.ImportAssignments(list);
        }
        catch (ArgumentException e)
        {
            _o.Err.WriteLine($"error: {port}: the remembered indexes were not loaded: {e.Message}");
        }
    }

    private void Save(StickyStateStore store, GidManager manager, NetlinkNetdevGraph graph)
    {
        PushTrace.Mark(PushTrace.SaveStart);
        _saver?.TakeForSave();
        // Netdevs are saved by name, read from the cache (the one owner of netdev state). An index remembered for a
        // netdev that no longer exists is not saved: a netdev made again gets a new ifindex, and the running daemon
        // does not give it the old indexes either. Only netdevs of the daemon's namespace are saved: a pod's netdev can
        // share a name with one here, and it comes back (if it does) as another netdev.
        var list = new List<StickyStateStore.Assignment>();
        foreach (RocePort port in manager.Ports)
            foreach (var (e, index) in port.Table.ExportAssignments())
                if (graph.Find(e.NetdevIfindex) is { NetNsId: < 0 } ndev)
                    list.Add(new StickyStateStore.Assignment(port.Device.Name, port.Port, e.Gid, e.Type, ndev.Name, index));
        try
        {
            store.Save(list);
            PushTrace.Mark(PushTrace.SaveEnd);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _o.Err.WriteLine($"error: cannot save the sticky indexes to {store.FilePath}: {e.Message}");
        }
    }

    /// <summary><c>-v</c>: one line per netdev event as the cache applies it.</summary>
    private sealed class EventPrinter(TextWriter w) : INetdevObserver
    {
        public void OnNetdevEvent(in NetdevEvent e) => w.WriteLine($"netlink: {e}");
    }

    /// <summary>
    /// Raises RLIMIT_NOFILE to its hard limit and returns the control connection cap the limit leaves room for
    /// (DescriptorLimit): the configured control_max_connections, or fewer with a warning that says why.
    /// </summary>
    private int ControlConnectionCap(int configured)
    {
        DescriptorLimit.Outcome limit = DescriptorLimit.RaiseSoftToHard();
        if (limit.Problem is { } problem)
            _o.Err.WriteLine($"warning: {problem}");
        int cap = DescriptorLimit.ConnectionCap(configured, limit.Soft, DescriptorLimit.OpenNow());
        if (cap < configured)
            _o.Err.WriteLine($"warning: serving at most {cap} control connections, not the configured {configured}: the open-file limit "
                             + $"is {limit.Soft} (hard {limit.Hard}); raise it (LimitNOFILE= in the unit, ulimit -n) to serve {configured}");
        return cap;
    }
}
