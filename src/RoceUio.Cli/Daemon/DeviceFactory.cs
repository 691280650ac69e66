using RoceUio.Cli.Config;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Drivers.Ocrdma;
using RoceUio.Drivers.Rxe;
using RoceUio.Drivers.Ocrdma.Model;
using RoceUio.Hardware;
using RoceUio.Hardware.Pci;
using RoceUio.Netlink;
using RoceUio.Roce;

namespace RoceUio.Cli.Daemon;

/// <summary>
/// An opened device and everything it needs kept alive (device model thread, mapped files, PCI access), with the
/// netdev each of its ports follows and where it came from (for <c>show devices</c>).
/// </summary>
public sealed class OpenedDevice(IRoceDevice device, IReadOnlyList<string> netdevs, string pciAddress, string mapping, IReadOnlyList<IDisposable> owned)
    : IDisposable
{
    public IRoceDevice Device { get; } = device;
    /// <summary>Port p (1-based) follows <c>Netdevs[p - 1]</c>.</summary>
    public IReadOnlyList<string> Netdevs { get; } = netdevs;
    public string PciAddress { get; } = pciAddress;
    /// <summary>sysfs, uio, vfio, emulated or attached.</summary>
    public string Mapping { get; } = mapping;

    public DaemonDevice ToDaemonDevice() => new(Device, PciAddress, Mapping);

    /// <summary>Connects the driver to the core tables once the manager made them (ocrdma: queue pairs and address
    /// handles then hold the core entry, so a deleted GID in use stays pending there too). Null if not needed.</summary>
    public Action<IEnumerable<RoceUio.Gids.GidTable>>? AttachTables { get; init; }

    /// <summary>Closes the driver, then the model and the mappings, newest first.</summary>
    public void Dispose()
    {
        Device.Dispose();
        for (int i = owned.Count - 1; i >= 0; i--)
            owned[i].Dispose();
    }
}

/// <summary>
/// Makes opened drivers from <see cref="DeviceConfig"/>s. Every source goes through the same driver code:
/// <list type="bullet">
/// <item><c>emulate</c>: creates the device files under <see cref="EmulationRoot"/>/NAME, runs the device model on a
/// thread of this process and opens the driver over the files. mlx4 has at most 2 ports per device, so
/// <c>mlx4:a,b,c</c> makes mlx4_0 (a, b) and mlx4_1 (c); ocrdma has one port per device (ocrdma0, ocrdma1, ...).</item>
/// <item><c>attach</c>: maps the files of a model someone else serves (<c>roceuio model KIND --dir DIR</c>, or a third
/// party's, docs/emulated-devices.md); the netdevs are split into devices the same way.</item>
/// <item><c>pci</c>: PCI discovery through <see cref="PciBus"/> (sysfs, or the tree in ROCEUIO_SYSFS), the register BAR
/// (mlx4: BAR0; ocrdma: the doorbell BAR, 4 on a PF and 0 on a VF) mapped by the method the bound kernel driver allows
/// (<see cref="BarAccessPolicy"/>), DMA memory from that access's allocator. An ocrdma function has one port and no
/// synthetic oracle (nothing is written next to a real device).</item>
/// </list>
/// Names are given in order of creation per driver: mlx4_0, mlx4_1, ... and ocrdma0, ocrdma1, ....
/// Not thread-safe: the daemon's worker opens its devices (the drivers' single-caller contract starts there).
/// </summary>
public sealed class DeviceFactory
{
    private readonly Dictionary<string, int> _next = new();

    static DeviceFactory()
    {
        // The driver modules claim their PCI ids once, so that discovery names them.
        Mlx4PciIds.Register();
        OcrdmaPci.Register();
    }

    /// <summary>Makes sure the driver modules have claimed their PCI ids (runs the static constructor; nothing else).</summary>
    public static void RegisterDrivers() { }

    /// <summary>Where <c>emulate</c> devices get their files (STATE_DIR/emulated, or a temporary directory).</summary>
    public required string EmulationRoot { get; init; }
    /// <summary>Traces every register access of every device, bring-up included.</summary>
    public IMmioTracer? Tracer { get; init; }
    /// <summary>PCI discovery for <c>pci</c> devices.</summary>
    public PciBus? Bus { get; init; }
    /// <summary>The VLAN id of a netdev (rdma_read_gid_l2_fields): ocrdma puts it in its address vectors, mlx4 shares a hardware slot only between entries with the same one.</summary>
    public Func<int, ushort>? VlanOfNetdev { get; init; }

    public static readonly string[] Kinds = ["mlx4", "ocrdma", "rxe"];

    /// <summary>Opens the devices one config entry describes. On failure, what was opened for it is closed again.</summary>
    public IReadOnlyList<OpenedDevice> Open(DeviceConfig config)
    {
        if (!Kinds.Contains(config.Driver))
            throw new ArgumentException($"unknown device kind '{config.Driver}' (known: {string.Join(", ", Kinds)})");
        if (config.Driver == "rxe" && (config.Pci is not null || config.AttachDir is not null))
            throw new ArgumentException("rxe is a software device with nothing to attach to or bind: use it as --emulate rxe:NETDEV");
        var opened = new List<OpenedDevice>();
        try
        {
            if (config.Pci is { } bdf)
                opened.Add(OpenPci(config.Driver, bdf, config.Netdevs));
            else
                foreach (string[] ports in PortGroups(config.Driver, config.Netdevs))
                    opened.Add(config.AttachDir is { } dir ? Attach(config.Driver, dir, ports) : Emulate(config.Driver, ports));
            return opened;
        }
        catch
        {
            foreach (OpenedDevice d in opened)
                d.Dispose();
            throw;
        }
    }

    /// <summary>The netdevs split into devices: two ports per mlx4, one per ocrdma.</summary>
    public static IEnumerable<string[]> PortGroups(string driver, IReadOnlyList<string> netdevs)
        => netdevs.Chunk(driver == "mlx4" ? Mlx4Layout.MaxPorts : 1);

    private string NextName(string driver)
    {
        int n = _next.GetValueOrDefault(driver);
        _next[driver] = n + 1;
        return driver == "mlx4" ? $"mlx4_{n}" : $"{driver}{n}";
    }

    private OpenedDevice Emulate(string driver, string[] ports)
    {
        string name = NextName(driver);
        if (driver == "rxe")
            return new OpenedDevice(new RxeDevice(name), ports, "software", "software", []);
        string dir = Path.Combine(EmulationRoot, name);
        Directory.CreateDirectory(dir);
        var owned = new List<IDisposable>();
        try
        {
            if (driver == "mlx4")
            {
                EmulatedDevice dev = new Mlx4ModelConfig { Ports = ports.Length }.CreateDevice(dir);
                owned.Add(dev);
                owned.Add(Mlx4DeviceModel.StartThread(dir));
                return new OpenedDevice(Mlx4Device.Open(dev, new Mlx4DeviceOptions { Name = name, Tracer = Tracer, VlanOfNetdev = VlanOfNetdev }), ports, $"emulated:{dir}", "emulated", owned);
            }
            else
            {
                EmulatedDevice dev = OcrdmaDeviceModel.CreateDevice(dir);
                owned.Add(dev);
                owned.Add(OcrdmaDeviceModel.StartThread(dir));
                var refs = new CoreGidReferences();
                return new OpenedDevice(OcrdmaDevice.Open(dev, OcrdmaOptions(name, refs)), ports, $"emulated:{dir}", "emulated", owned)
                    { AttachTables = refs.Attach };
            }
        }
        catch
        {
            for (int i = owned.Count - 1; i >= 0; i--)
                owned[i].Dispose();
            throw;
        }
    }

    private OpenedDevice Attach(string driver, string dir, string[] ports)
    {
        string name = NextName(driver);
        EmulatedDevice dev = EmulatedDevice.Open(dir);
        try
        {
            CoreGidReferences? refs = driver == "mlx4" ? null : new CoreGidReferences();
            IRoceDevice d = refs is null
                ? Mlx4Device.Open(dev, new Mlx4DeviceOptions { Name = name, Tracer = Tracer, VlanOfNetdev = VlanOfNetdev })
                : OcrdmaDevice.Open(dev, OcrdmaOptions(name, refs));
            if (d.PortCount != ports.Length)
            {
                d.Dispose();
                throw new ArgumentException($"{dir}: the device has {d.PortCount} port(s) but {ports.Length} netdev(s) were given ({string.Join(",", ports)})");
            }
            return new OpenedDevice(d, ports, $"emulated:{dir}", "attached", [dev]) { AttachTables = refs is null ? null : refs.Attach };
        }
        catch
        {
            dev.Dispose();
            throw;
        }
    }

    private OcrdmaDeviceOptions OcrdmaOptions(string name, ISgidReferences refs)
        => new() { Name = name, Tracer = Tracer, VlanOfNetdev = VlanOfNetdev, References = refs };

    private OpenedDevice OpenPci(string driver, string bdf, IReadOnlyList<string> ports)
    {
        PciBus bus = Bus ?? new PciBus(SysfsRoot.Default, PciDriverRegistry.Global);
        PciFunction f = bus.Get(PciAddress.Parse(bdf));
        if (f.DriverModule != driver)
            throw new ArgumentException($"{bdf} is {f.VendorId:x4}:{f.DeviceId:x4}, which {(f.DriverModule is null ? "no RoceUio driver handles" : $"the {f.DriverModule} driver handles")}, not {driver}");
        string name = NextName(driver);
        IPciDeviceAccess access = PciDeviceAccess.Open(f, BarAccessMethod.Auto, bus.Sysfs);
        var owned = new List<IDisposable> { access };
        try
        {
            // mlx4: the HCR is in BAR0 (DCS). ocrdma: the doorbells are in BAR4 on a Skyhawk PF, BAR0 on a VF (db_bar()).
            int barIndex = driver == "mlx4" ? Mlx4Layout.DcsBar : OcrdmaPci.DoorbellBar(f.DeviceId);
            MappedBar bar = access.MapBar(barIndex);
            owned.Add(bar);
            if (bar.Offset != 0)
                throw new HardwareAccessException($"{bdf}: BAR{barIndex} starts at offset 0x{bar.Offset:x} of its mapping; the {driver} driver needs it page-aligned at 0");
            access.EnableBusMaster();
            IDmaAllocator dma = access.CreateDmaAllocator();
            if (dma is IDisposable disposableDma)
                owned.Add(disposableDma);
            IRoceDevice dev;
            CoreGidReferences? refs = null;
            if (driver == "mlx4")
                dev = Mlx4Device.Open(f.VendorId, f.DeviceId, bar.File, dma, new Mlx4DeviceOptions { Name = name, Tracer = Tracer, VlanOfNetdev = VlanOfNetdev });
            else
            {
                refs = new CoreGidReferences();
                dev = OcrdmaDevice.Open(f.VendorId, f.DeviceId, bar.File, dma, OcrdmaOptions(name, refs));
            }
            if (dev.PortCount != ports.Count)
            {
                dev.Dispose();
                throw new ArgumentException($"{bdf}: the device has {dev.PortCount} port(s) but {ports.Count} netdev(s) were given ({string.Join(",", ports)})");
            }
            return new OpenedDevice(dev, [.. ports], f.Address.ToString(), access.Method.ToString().ToLowerInvariant(), owned)
                { AttachTables = refs is null ? null : refs.Attach };
        }
        catch
        {
            for (int i = owned.Count - 1; i >= 0; i--)
                owned[i].Dispose();
            throw;
        }
    }

    /// <summary>
    /// The config entries for every supported function PCI discovery finds (no devices configured). A port follows the
    /// netdev the function still has in sysfs (<c>BDF/net/*</c>, sorted); a function without one (already bound to
    /// vfio-pci or uio) cannot be bound to a netdev automatically: that is an error naming it, pointing to the config.
    /// </summary>
    public static IReadOnlyList<DeviceConfig> Discover(PciBus bus)
    {
        var list = new List<DeviceConfig>();
        foreach (PciFunction f in bus.ScanSupported())
        {
            string netDir = Path.Combine(f.SysfsPath, "net");
            string[] netdevs = Directory.Exists(netDir) ? Directory.GetDirectories(netDir).Select(d => Path.GetFileName(d)).Order(StringComparer.Ordinal).ToArray() : [];
            if (netdevs.Length == 0)
                throw new ArgumentException($"found {f.Address} ({f.DriverModule}, bound to {f.KernelDriver ?? "no driver"}) but it has no netdev to follow; "
                    + $"name its ports' netdevs in a config file: {{\"driver\": \"{f.DriverModule}\", \"pci\": \"{f.Address}\", \"ports\": [\"eth1\", ...]}}");
            list.Add(new DeviceConfig(f.DriverModule!, netdevs, Pci: f.Address.ToString()));
        }
        return list;
    }

    /// <summary>
    /// The netdevs <c>--emulate KIND:auto</c> binds to: the machine's physical-like Ethernet netdevs, sorted by ifindex.
    /// Rule: ARPHRD_ETHER, not IFF_LOOPBACK, and no link kind (a real NIC's driver has no rtnl_link_ops) or kind veth
    /// (a container's NIC). Virtual kinds (ifb, bridge, bond, vlan, macvlan, dummy, tun...) are left out: they are
    /// uppers or helpers, never a RoCE port's own netdev.
    /// </summary>
    public static IReadOnlyList<string> AutoNetdevs(NetdevCache cache)
        => cache.Links
            .Where(l => l.IsEthernet && (l.Flags & Iff.IFF_LOOPBACK) == 0 && l.Kind is NetdevKind.None or NetdevKind.Veth)
            .OrderBy(l => l.Ifindex)
            .Select(l => l.Name)
            .ToList();
}
