using RoceUio.Cli.Config;
using RoceUio.Cli.Daemon;
using RoceUio.Cli.Output;
using RoceUio.Gids;
using RoceUio.Hardware;
using RoceUio.Netlink;
using RoceUio.Roce;

namespace RoceUio.Cli;

/// <summary>
/// <c>roceuio replay FILE --emulate KIND:NETDEV[,...]</c>: feeds an rtmon capture through the daemon's own pipeline
/// (netdev cache → netdev graph → GID manager → driver → in-process device model) and prints the resulting tables in
/// the two <c>show gids</c> forms. A user reproduces a field problem from a capture this way; tests feed VLAN and bond
/// events this kernel cannot make.
/// </summary>
/// <remarks>
/// Ports bind to their netdevs by name, so the capture must contain the RTM_NEWLINK of each port netdev (rtmon's
/// initial dump has them); a port binds when its netdev's message is replayed. Every message is its own burst (one
/// hardware commit after each), as the daemon would have seen them arrive one by one.
/// </remarks>
internal static class ReplayCommand
{
    private const string Usage = """
        Usage: roceuio replay FILE --emulate KIND:NETDEV[,NETDEV...] [--emulate ...] [--index-policy sticky|kernel]
                              [--mmio-trace FILE] [--burst-window MS] [--json] [-v]
        Replays an rtmon capture (rtmon file FILE; ip monitor file FILE reads it) through the GID manager and a device model,
        then prints the tables as 'roceuio show gids' does (--json: ibv_gid_entry objects). -v prints each GID change
        and netdev event on stderr. Each message is its own burst (one hardware commit after each); --burst-window MS
        commits once per group of messages whose capture timestamps lie within MS of the group's first, as the daemon
        commits what it read together.
        """;

    public static int Run(string[] args)
    {
        bool verbose = args.Contains("-v") || args.Contains("--verbose");
        var a = new ArgReader(args.Where(x => x is not ("-v" or "--verbose")).ToArray(),
            ["--emulate", "--index-policy", "--mmio-trace", "--burst-window"], ["--json"]);
        if (a.Help)
        {
            Console.WriteLine(Usage);
            return 0;
        }
        if (a.Positional.Count != 1)
            throw new UsageException(a.Positional.Count == 0 ? "the capture FILE is missing" : $"unexpected '{a.Positional[1]}'");
        if (a.Values("--emulate").Count == 0)
            throw new UsageException("--emulate KIND:NETDEV[,NETDEV...] is required (the devices the capture's netdevs feed)");
        IndexPolicy policy = a.Value("--index-policy") switch
        {
            null or "sticky" => IndexPolicy.Sticky,
            "kernel" => IndexPolicy.Kernel,
            var p => throw new UsageException($"--index-policy '{p}': use sticky or kernel"),
        };
        TimeSpan? burstWindow = a.Int("--burst-window") is { } ms ? TimeSpan.FromMilliseconds(ms) : null;
        List<DeviceConfig> configs;
        try
        {
            configs = a.Values("--emulate").Select(DeviceConfig.ParseEmulate).ToList();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        byte[] capture;
        try
        {
            capture = File.ReadAllBytes(a.Positional[0]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"roceuio replay: cannot read {a.Positional[0]}: {e.Message}");
            return 1;
        }
        if (configs.Any(c => c.Netdevs is ["auto"]))
        {
            IReadOnlyList<string> found = AutoNetdevsOf(capture);
            if (found.Count == 0)
            {
                Console.Error.WriteLine($"roceuio replay: {a.Positional[0]} has no Ethernet netdev for KIND:auto (ARPHRD_ETHER, not loopback, no link kind or veth); name them: --emulate mlx4:eth0");
                return 1;
            }
            Console.Error.WriteLine($"roceuio replay: auto binds to the capture's {string.Join(", ", found)}");
            configs = configs.Select(c => c.Netdevs is ["auto"] ? c with { Netdevs = found } : c).ToList();
        }

        string emulation = Path.Combine(Path.GetTempPath(), $"roceuio-replay-{Environment.ProcessId}-{Guid.NewGuid():N}");
        using var cleanup = new RemoveOnSignal(emulation); // SIGTERM/SIGINT skip the finally below
        var devices = new List<OpenedDevice>();
        MmioTraceWriter? trace = null;
        try
        {
            trace = a.Value("--mmio-trace") is { } tp ? MmioTraceWriter.Open(tp) : null;
            var builder = new RocePipelineBuilder()
                .IndexPolicy(policy)
                .NetlinkLog(m => Console.Error.WriteLine($"roceuio replay: {a.Positional[0]}: {m}"))
                .GidLog(verbose ? Console.Error.WriteLine : null)
                .Errors(m => Console.Error.WriteLine($"error: {m}"));
            if (verbose)
                builder.Observe(new StderrEvents());
            RocePipeline pipeline = builder.Build();
            NetlinkNetdevGraph graph = pipeline.Graph;
            GidManager manager = pipeline.Manager;
            var factory = new DeviceFactory
            {
                EmulationRoot = emulation, Tracer = trace, VlanOfNetdev = i => GidL2Fields.VlanIdOf(graph, i),
                ModelDied = (dev, why) => Console.Error.WriteLine($"error: {dev}: {why}"),
            };
            foreach (DeviceConfig c in configs)
                devices.AddRange(factory.Open(c));
            foreach (OpenedDevice d in devices)
            {
                var ports = pipeline.AddDevice(d.Device, d.Netdevs);
                d.AttachTables?.Invoke(ports.Select(p => p.Table));
            }

            int applied = pipeline.Replay(capture, burstWindow);
            var rows = new ControlHandlers(manager, devices.Select(d => d.ToDaemonDevice()).ToList(), () => { }).Rows().ToList();
            Console.Write(a.Flag("--json") ? ShowGidsFormat.Json(rows) : ShowGidsFormat.Text(rows));
            foreach (RocePort p in manager.Ports.Where(p => p.NetdevIfindex == 0))
                Console.Error.WriteLine($"roceuio replay: warning: {p} never bound: the capture has no netdev named {p.Binding}");
            if (verbose)
                Console.Error.WriteLine($"roceuio replay: {applied} message(s) applied, {pipeline.Cache.MalformedMessages} malformed");
            return pipeline.Cache.MalformedMessages > 0 ? 1 : 0;
        }
        catch (Exception e) when (e is RoceDeviceException or IOException or ArgumentException or FormatException)
        {
            Console.Error.WriteLine($"roceuio replay: {e.Message}");
            return 1;
        }
        finally
        {
            foreach (OpenedDevice d in devices.AsEnumerable().Reverse())
                d.Dispose();
            trace?.Dispose();
            try { Directory.Delete(emulation, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary><c>KIND:auto</c> in a replay: the capture's Ethernet netdevs (not this machine's), by the daemon's rule.</summary>
    private static IReadOnlyList<string> AutoNetdevsOf(ReadOnlySpan<byte> capture)
    {
        var scratch = new NetdevCache { Log = _ => { } };
        var reader = new RtmonCaptureReader(capture);
        while (reader.TryRead(out NetlinkMessage m))
            scratch.Apply(m);
        return DeviceFactory.AutoNetdevs(scratch);
    }

    private sealed class StderrEvents : INetdevObserver
    {
        public void OnNetdevEvent(in NetdevEvent e) => Console.Error.WriteLine($"netlink: {e}");
    }
}
