using RoceUio.Cli.Config;
using RoceUio.Drivers;
using RoceUio.Hardware;
using RoceUio.Hardware.Emulation;
using RoceUio.Hardware.Pci;
using RoceUio.Netlink;

namespace RoceUio.Cli.Daemon;

/// <summary>
/// Makes opened drivers from <see cref="DeviceConfig"/>s, asking the <see cref="RoceDriverRegistry"/> for the family
/// (it names none itself). Every source goes through the same driver code, the descriptor's
/// <see cref="RoceDriver.Open"/> over <see cref="DeviceResources"/>:
/// <list type="bullet">
/// <item><c>emulate</c>: creates the device files under <see cref="EmulationRoot"/>/NAME, runs the family's device model
/// on a thread of this process and opens the driver over the files. A port list longer than the family's
/// <see cref="RoceDriver.MaxPortsPerDevice"/> makes several devices: <c>mlx4:a,b,c</c> makes mlx4_0 (a, b) and
/// mlx4_1 (c); ocrdma has one port per device (ocrdma0, ocrdma1, ...). A software device (rxe) is just opened.</item>
/// <item><c>attach</c>: maps the files of a model someone else serves (<c>roceuio model KIND --dir DIR</c>, or a third
/// party's, docs/emulated-devices.md); the netdevs are split into devices the same way.</item>
/// <item><c>pci</c>: PCI discovery through <see cref="PciBus"/> (sysfs, or the tree in ROCEUIO_SYSFS), each BAR the
/// driver asks for mapped by the method the bound kernel driver allows (<see cref="BarAccessPolicy"/>), DMA memory
/// from that access's allocator. Nothing is written next to a real device (no model directory).</item>
/// </list>
/// Names are given in order of creation per driver (<see cref="RoceDriver.NameOf"/>): mlx4_0, mlx4_1, ... and
/// ocrdma0, ocrdma1, ....
/// Not thread-safe: the daemon's worker opens its devices (the drivers' single-caller contract starts there).
/// </summary>
public sealed class DeviceFactory
{
    private readonly Dictionary<string, int> _next = new();

    /// <summary>The drivers to open devices with (default: the ones this program is built with).</summary>
    public RoceDriverRegistry Drivers { get; init; } = BuiltinDrivers.Registry;
    /// <summary>Where <c>emulate</c> devices get their files (STATE_DIR/emulated, or a temporary directory).</summary>
    public required string EmulationRoot { get; init; }
    /// <summary>Traces every register access of every device, bring-up included.</summary>
    public IMmioTracer? Tracer { get; init; }
    /// <summary>PCI discovery for <c>pci</c> devices.</summary>
    public PciBus? Bus { get; init; }
    /// <summary>The VLAN id of a netdev (rdma_read_gid_l2_fields): ocrdma puts it in its address vectors, mlx4 shares a hardware slot only between entries with the same one.</summary>
    public Func<int, ushort>? VlanOfNetdev { get; init; }
    /// <summary>Told (device name, why) when the model of an emulated device dies: the daemon logs it as an error.</summary>
    public Action<string, string>? ModelDied { get; init; }
    /// <summary>The MAC address of a netdev by name (ocrdma's address vectors take it as the source MAC).</summary>
    public Func<string, ulong?>? MacOfNetdev { get; init; }

    /// <summary>Opens the devices one config entry describes. On failure, what was opened for it is closed again.</summary>
    public IReadOnlyList<OpenedDevice> Open(DeviceConfig config)
    {
        RoceDriver driver = Drivers.Get(config.Driver);
        if (driver.IsSoftware && (config.Pci is not null || config.AttachDir is not null))
            throw new ArgumentException($"{driver.Name} is a software device with nothing to attach to or bind: use it as --emulate {driver.Name}:NETDEV");
        var opened = new List<OpenedDevice>();
        try
        {
            if (config.Pci is { } bdf)
                opened.Add(OpenPci(driver, config, bdf));
            else
                foreach (string[] ports in config.Netdevs.Chunk(driver.MaxPortsPerDevice))
                    opened.Add(config.AttachDir is { } dir ? Attach(driver, config, dir, ports) : Emulate(driver, config, ports));
            return opened;
        }
        catch
        {
            foreach (OpenedDevice d in opened)
                d.Dispose();
            throw;
        }
    }

    private DriverOpenContext Context(RoceDriver driver, DeviceConfig config, IReadOnlyList<string> ports)
    {
        int n = _next.GetValueOrDefault(driver.Name);
        _next[driver.Name] = n + 1;
        return new DriverOpenContext
        {
            Name = driver.NameOf(n),
            Netdevs = ports,
            Tracer = Tracer,
            VlanOfNetdev = VlanOfNetdev,
            MacOfNetdev = MacOfNetdev,
            Settings = config.Settings,
        };
    }

    private OpenedDevice Emulate(RoceDriver driver, DeviceConfig config, string[] ports)
    {
        DriverOpenContext ctx = Context(driver, config, ports);
        if (driver.OpenSoftware is { } openSoftware)
            return new OpenedDevice(openSoftware(ctx), ports, "software", "software", []);
        DriverModel model = driver.Model
            ?? throw new ArgumentException($"the {driver.Name} driver has no device model to emulate; use it with \"pci\" or --attach");
        string dir = Path.Combine(EmulationRoot, ctx.Name);
        Directory.CreateDirectory(dir);
        var owned = new List<IDisposable>();
        try
        {
            EmulatedDevice dev = model.CreateFiles(dir, ports.Length);
            owned.Add(dev);
            DeviceModelThread thread = model.StartInProcess(dir);
            owned.Add(thread);
            DriverHandle h = driver.Open!(ctx, DeviceResources.Of(dev));
            CheckPorts(h, ports, dir);
            if (ModelDied is { } died)
                thread.Died = why => died(ctx.Name, why);
            return new OpenedDevice(h, ports, $"emulated:{dir}", "emulated", owned) { Model = thread };
        }
        catch
        {
            for (int i = owned.Count - 1; i >= 0; i--)
                owned[i].Dispose();
            throw;
        }
    }

    /// <summary>One netdev per port: a device with another port count is closed again and the error names both.</summary>
    private static void CheckPorts(DriverHandle h, IReadOnlyList<string> ports, string where)
    {
        if (h.Device.PortCount == ports.Count)
            return;
        h.Device.Dispose();
        throw new ArgumentException($"{where}: the device has {h.Device.PortCount} port(s) but {ports.Count} netdev(s) were given ({string.Join(",", ports)})");
    }

    private OpenedDevice Attach(RoceDriver driver, DeviceConfig config, string dir, string[] ports)
    {
        DriverOpenContext ctx = Context(driver, config, ports);
        EmulatedDevice dev = EmulatedDevice.Open(dir);
        try
        {
            DriverHandle h = driver.Open!(ctx, DeviceResources.Of(dev));
            CheckPorts(h, ports, dir);
            return new OpenedDevice(h, ports, $"emulated:{dir}", "attached", [dev]);
        }
        catch
        {
            dev.Dispose();
            throw;
        }
    }

    private OpenedDevice OpenPci(RoceDriver driver, DeviceConfig config, string bdf)
    {
        PciBus bus = Bus ?? new PciBus(SysfsRoot.Default, Drivers);
        PciFunction f = bus.Get(PciAddress.Parse(bdf));
        if (f.DriverModule != driver.Name)
            throw new ArgumentException($"{bdf} is {f.VendorId:x4}:{f.DeviceId:x4}, which {(f.DriverModule is null ? "no RoceUio driver handles" : $"the {f.DriverModule} driver handles")}, not {driver.Name}");
        IReadOnlyList<string> ports = config.Netdevs;
        DriverOpenContext ctx = Context(driver, config, ports);
        IPciDeviceAccess access = PciDeviceAccess.Open(f, BarAccessMethod.Auto, bus.Sysfs);
        var owned = new List<IDisposable> { access };
        try
        {
            var bars = new Dictionary<int, MappedFile>();
            MappedFile MapBar(int index)
            {
                if (bars.TryGetValue(index, out MappedFile? file))
                    return file;
                MappedBar bar = access.MapBar(index);
                owned.Add(bar);
                if (bar.Offset != 0)
                    throw new HardwareAccessException($"{bdf}: BAR{index} starts at offset 0x{bar.Offset:x} of its mapping; the {driver.Name} driver needs it page-aligned at 0");
                return bars[index] = bar.File;
            }
            access.EnableBusMaster();
            IDmaAllocator dma = access.CreateDmaAllocator();
            if (dma is IDisposable disposableDma)
                owned.Add(disposableDma);
            DriverHandle h = driver.Open!(ctx, new DeviceResources(f.VendorId, f.DeviceId, MapBar, dma, modelDirectory: null));
            CheckPorts(h, ports, bdf);
            return new OpenedDevice(h, [.. ports], f.Address.ToString(), access.Method.ToString().ToLowerInvariant(), owned);
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

    /// <summary>A netdev's MAC address by name from the cache (an Ethernet address as a 48-bit number), or null when the
    /// netdev is not there or has no 6-byte address: what <see cref="MacOfNetdev"/> gives the drivers.</summary>
    public static Func<string, ulong?> NetdevMacs(NetdevCache cache)
        => name => cache.FindByName(name)?.Mac is { Length: 6 } mac
            ? System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian([0, 0, .. mac.Bytes])
            : null;

    /// <summary>
    /// The netdevs <c>--emulate KIND:auto</c> binds to: the machine's physical-like Ethernet netdevs, sorted by ifindex.
    /// Rule: ARPHRD_ETHER, not IFF_LOOPBACK, and no link kind (a real NIC's driver has no rtnl_link_ops) or kind veth
    /// (a container's NIC). Virtual kinds (ifb, bridge, bond, vlan, macvlan, dummy, tun...) are left out: they are
    /// uppers or helpers, never a RoCE port's own netdev.
    /// </summary>
    public static IReadOnlyList<string> AutoNetdevs(NetdevCache cache)
        => cache.Links
            .Where(l => l.IsInOwnNamespace && l.IsEthernet && (l.Flags & Iff.IFF_LOOPBACK) == 0 && l.Kind is NetdevKind.None or NetdevKind.Veth)
            .OrderBy(l => l.Ifindex)
            .Select(l => l.Name)
            .ToList();
}
