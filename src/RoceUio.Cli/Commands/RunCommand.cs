using System.Runtime.InteropServices;
using RoceUio.Cli.Config;
using RoceUio.Cli.Daemon;
using RoceUio.Gids;
using RoceUio.Hardware.Pci;

namespace RoceUio.Cli;

/// <summary><c>roceuio run</c>: the daemon. Options on the command line win over the config file.</summary>
internal static class RunCommand
{
    private const string Usage = """
        Usage: roceuio run [--config FILE] [--emulate KIND:NETDEV[,NETDEV...]]... [--attach KIND:DIR=NETDEV[,NETDEV...]]...
                           [--control PATH] [--state-dir DIR] [--index-policy sticky|kernel] [--mmio-trace FILE]
                           [--shm-dir DIR | --no-shm] [--sysfs-export DIR] [--netns all|own] [--metrics-textfile PATH]
                           [--clear-on-exit] [--quiet | -v]
        Follows netlink, keeps every RoCE port's GID table as Linux would, programs the NICs, serves the control socket.
          --config FILE         JSON config (comments allowed; docs/roceuio.example.json)
          --emulate KIND:NDEVS  a device model (mlx4, ocrdma) run in-process in place of a NIC, one port per netdev,
                                or rxe: a software device shaped like Linux's rdma_rxe (one port, RoCE v2, 1024 GIDs)
                                (mlx4: 2 ports per device; KIND:auto = the machine's Ethernet netdevs: ARPHRD_ETHER,
                                not loopback, no link kind or veth, by ifindex)
          --attach KIND:DIR=NDEVS  drive the device files in DIR served by a model elsewhere (roceuio model KIND --dir DIR)
          --control PATH        control socket (default /run/roceuio/control.sock, or ROCEUIO_CONTROL)
          --state-dir DIR       where sticky indexes are kept (default /var/lib/roceuio)
          --index-policy P      sticky (default: a returning GID gets its old index) or kernel (first free slot)
          --mmio-trace FILE     record every register access, bring-up included
          --shm-dir DIR         publish each port's table read-only in shared memory, DIR/DEV/PORT (default
                                /dev/shm/roceuio, or ROCEUIO_SHM_DIR; docs/shm-layout.md): lookups without a syscall
          --no-shm              do not publish the tables in shared memory
          --sysfs-export DIR    keep DIR/class/infiniband/DEV/ports/PORT/gids/I and gid_attrs/{types,ndevs}/I as
                                the kernel prints them, for scripts that read sysfs (show_gids with its path changed)
          --netns all|own       all (default): follow netdevs in every network namespace, as the kernel does (a macvlan
                                moved into a container keeps its GIDs on its lower device's port); own: this one only
          --metrics-textfile PATH  the RoceUio meter's counters in Prometheus text for node_exporter's textfile
                                collector, rewritten atomically every 5 s
          --clear-on-exit       delete every GID from the hardware on exit, as the kernel does when a device goes away
          --quiet               print errors only;  -v  also print every netlink event
        Without devices (no --emulate/--attach, none in the config): every supported PCI function found by discovery.
        Stops cleanly on SIGTERM or Ctrl-C (state saved). Under systemd (packaging/roceuio.service, Type=notify) it says
        READY=1 when the first tables are in the hardware and pings the watchdog while its worker runs; with
        $JOURNAL_STREAM set, lines carry syslog priorities (<3> errors, <4> warnings, <6> changes) for the journal.
        """;

    public static int Run(string[] args)
    {
        if (JournalLineWriter.ToJournal)
        {
            // Under systemd: priority prefixes on every line (journald adds the timestamps).
            Console.SetOut(JournalLineWriter.ForOut(Console.Out));
            Console.SetError(JournalLineWriter.ForErr(Console.Error));
        }
        bool verbose = args.Contains("-v") || args.Contains("--verbose");
        var a = new ArgReader(args.Where(x => x is not ("-v" or "--verbose")).ToArray(),
            ["--config", "--emulate", "--attach", "--control", "--state-dir", "--index-policy", "--mmio-trace", "--shm-dir", "--sysfs-export", "--netns", "--metrics-textfile"],
            ["--clear-on-exit", "--quiet", "--no-shm"]);
        if (a.Help)
        {
            Console.WriteLine(Usage);
            return 0;
        }
        if (a.Positional.Count > 0)
            throw new UsageException($"unexpected '{a.Positional[0]}'");
        if (verbose && a.Flag("--quiet"))
            throw new UsageException("--quiet and -v exclude each other");
        if (a.Flag("--no-shm") && a.Value("--shm-dir") is not null)
            throw new UsageException("--shm-dir and --no-shm exclude each other");

        DaemonConfig cfg;
        try
        {
            cfg = Resolve(a);
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"roceuio run: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is ArgumentException or RoceUio.Hardware.HardwareAccessException or IOException)
        {
            Console.Error.WriteLine($"roceuio run: {e.Message}");
            return 1;
        }
        if (cfg.Devices.Count == 0)
        {
            Console.Error.WriteLine("roceuio run: no RoCE device found: no supported PCI function (mlx4 ConnectX-3, ocrdma Skyhawk) in "
                + $"{SysfsRoot.Default.PciDevices} and none configured. To run on a device model instead: roceuio run --emulate mlx4:auto "
                + "(or --emulate mlx4:eth0, --config FILE)");
            return 1;
        }

        using var stop = new CancellationTokenSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        var daemon = new RoceDaemon(new DaemonOptions
        {
            Config = cfg,
            MmioTrace = a.Value("--mmio-trace"),
            ClearOnExit = a.Flag("--clear-on-exit"),
            MetricsTextfile = a.Value("--metrics-textfile"),
            SysfsExport = a.Value("--sysfs-export"),
            ShmDir = a.Flag("--no-shm") ? null : a.Value("--shm-dir") ?? DefaultPaths.DaemonShmDir(),
            Verbosity = a.Flag("--quiet") ? Verbosity.Quiet : verbose ? Verbosity.Verbose : Verbosity.Normal,
        });
        // Type=notify: READY=1 once the tables are in the hardware, the watchdog while the worker turns, STOPPING=1.
        using SystemdNotifier? notifier = SystemdNotifier.FromEnvironment();
        notifier?.Follow(daemon, stop.Token);
        return daemon.Run(stop.Token);
    }

    /// <summary>Config file, then command-line options over it, then defaults a non-root user can use.</summary>
    private static DaemonConfig Resolve(ArgReader a)
    {
        bool controlGiven = a.Value("--control") is not null || Environment.GetEnvironmentVariable("ROCEUIO_CONTROL") is { Length: > 0 };
        bool stateGiven = a.Value("--state-dir") is not null;
        DaemonConfig cfg = new();
        if (a.Value("--config") is { } path)
        {
            cfg = DaemonConfig.Load(path);
            controlGiven |= cfg.KeysGiven.Contains("control");
            stateGiven |= cfg.KeysGiven.Contains("state_dir");
        }
        var devices = a.Values("--emulate").Select(DeviceConfig.ParseEmulate)
            .Concat(a.Values("--attach").Select(DeviceConfig.ParseAttach)).ToList();
        foreach (DeviceConfig d in devices)
            if (!BuiltinDrivers.Registry.TryGet(d.Driver, out _))
                throw new ArgumentException($"unknown device kind '{d.Driver}' (known: {string.Join(", ", BuiltinDrivers.Registry.Names)})");
        if (devices.Count > 0)
            cfg = cfg with { Devices = devices };
        if (a.Value("--control") is { } control)
            cfg = cfg with { Control = control };
        if (a.Value("--state-dir") is { } state)
            cfg = cfg with { StateDir = state };
        if (a.Value("--index-policy") is { } policy)
            cfg = cfg with
            {
                IndexPolicy = policy switch
                {
                    "sticky" => IndexPolicy.Sticky,
                    "kernel" => IndexPolicy.Kernel,
                    _ => throw new UsageException($"--index-policy '{policy}': use sticky or kernel"),
                },
            };
        if (a.Value("--netns") is { } netns)
            cfg = cfg with
            {
                FollowNamespaces = netns switch
                {
                    "all" => true,
                    "own" => false,
                    _ => throw new UsageException($"--netns '{netns}': use all or own"),
                },
            };
        if (!Environment.IsPrivilegedProcess)
        {
            if (!controlGiven && !DefaultPaths.CanWrite(Path.GetDirectoryName(cfg.Control)!))
            {
                Console.Error.WriteLine($"roceuio run: note: not root; the control socket is {DefaultPaths.UserControl} instead of {cfg.Control}");
                cfg = cfg with { Control = DefaultPaths.UserControl };
            }
            if (!stateGiven && !DefaultPaths.CanWrite(cfg.StateDir))
            {
                Console.Error.WriteLine($"roceuio run: note: not root; the state directory is {DefaultPaths.UserStateDir} instead of {cfg.StateDir}");
                cfg = cfg with { StateDir = DefaultPaths.UserStateDir };
            }
        }
        StateDirectory.Prepare(cfg.StateDir);
        if (cfg.Devices.Count == 0)
            cfg = cfg with { Devices = DeviceFactory.Discover(new PciBus(SysfsRoot.Default, BuiltinDrivers.Registry)) };
        return cfg;
    }
}
