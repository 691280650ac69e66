using System.Text.Json;
using RoceUio.Drivers;
using RoceUio.Gids;

namespace RoceUio.Cli.Config;

/// <summary>One device the daemon drives: a PCI function, a device model it starts itself, or one it attaches to.</summary>
public sealed record DeviceConfig(string Driver, IReadOnlyList<string> Netdevs, string? Pci = null, bool Emulate = false, string? AttachDir = null)
{
    /// <summary>The driver's own keys of the device entry (<see cref="RoceDriver.Settings"/>), checked against its range.</summary>
    public IReadOnlyDictionary<string, long> Settings { get; init; } = new Dictionary<string, long>();

    /// <summary>The <c>KIND:NETDEV[,NETDEV...]</c> text of <c>--emulate</c>.</summary>
    public static DeviceConfig ParseEmulate(string spec)
    {
        var (kind, netdevs) = SplitSpec(spec, "--emulate KIND:NETDEV[,NETDEV...]");
        return new DeviceConfig(kind, netdevs, Emulate: true);
    }

    /// <summary>The <c>KIND:DIR=NETDEV[,NETDEV...]</c> text of <c>--attach</c>.</summary>
    public static DeviceConfig ParseAttach(string spec)
    {
        int colon = spec.IndexOf(':'), eq = spec.LastIndexOf('=');
        if (colon <= 0 || eq <= colon + 1 || eq == spec.Length - 1)
            throw new ArgumentException($"'{spec}': expected --attach KIND:DIR=NETDEV[,NETDEV...]");
        var (kind, netdevs) = SplitSpec(spec[..colon] + ":" + spec[(eq + 1)..], "--attach KIND:DIR=NETDEV[,NETDEV...]");
        return new DeviceConfig(kind, netdevs, AttachDir: spec[(colon + 1)..eq]);
    }

    private static (string, string[]) SplitSpec(string spec, string form)
    {
        int colon = spec.IndexOf(':');
        if (colon <= 0 || colon == spec.Length - 1)
            throw new ArgumentException($"'{spec}': expected {form}");
        string[] netdevs = spec[(colon + 1)..].Split(',', StringSplitOptions.TrimEntries);
        if (netdevs.Any(string.IsNullOrEmpty))
            throw new ArgumentException($"'{spec}': an empty netdev name; expected {form}");
        return (spec[..colon], netdevs);
    }
}

/// <summary>
/// The daemon's configuration: a JSON file (comments allowed; example in docs/roceuio.example.json) merged with
/// command-line options, which win.
/// </summary>
public sealed record DaemonConfig
{
    public const string DefaultControl = "/run/roceuio/control.sock";
    public const string DefaultStateDir = "/var/lib/roceuio";

    public IndexPolicy IndexPolicy { get; init; } = IndexPolicy.Sticky;
    public string StateDir { get; init; } = DefaultStateDir;
    public string Control { get; init; } = Environment.GetEnvironmentVariable("ROCEUIO_CONTROL") is { Length: > 0 } c ? c : DefaultControl;
    public IReadOnlyList<DeviceConfig> Devices { get; init; } = [];
    /// <summary>The top-level keys the config file set (empty without a file).</summary>
    public IReadOnlySet<string> KeysGiven { get; init; } = new HashSet<string>();
    /// <summary>Follow netdevs in every network namespace (<c>--netns all</c>, the default), or only the daemon's own.</summary>
    public bool FollowNamespaces { get; init; } = true;
    /// <summary>Control connections served at once (control_max_connections).</summary>
    public int ControlMaxConnections { get; init; } = RoceUio.Cli.Control.ControlServerOptions.DefaultMaxConnections;
    /// <summary>An idle control connection is closed after this (control_idle_timeout_s).</summary>
    public TimeSpan ControlIdleTimeout { get; init; } = RoceUio.Cli.Control.ControlServerOptions.DefaultIdleTimeout;

    public static readonly string[] KnownKeys = ["devices", "index_policy", "state_dir", "control", "control_max_connections", "control_idle_timeout_s"];

    /// <summary>Reads the config file; drivers and their keys are checked against <paramref name="drivers"/>
    /// (default: <see cref="BuiltinDrivers.Registry"/>).</summary>
    public static DaemonConfig Load(string path, RoceDriverRegistry? drivers = null)
    {
        byte[] bytes = RegularFile.Read(path, "config file");
        return FromJson(JValue.Parse(path, bytes), drivers);
    }

    public static DaemonConfig FromJson(JValue root, RoceDriverRegistry? drivers = null)
    {
        drivers ??= BuiltinDrivers.Registry;
        Expect(root, JsonValueKind.Object, "an object with \"devices\", \"index_policy\", \"state_dir\", \"control\"");
        var cfg = new DaemonConfig();
        foreach (var (key, v, keyAt) in root.Members)
        {
            cfg = key switch
            {
                "index_policy" => cfg with { IndexPolicy = ParsePolicy(v) },
                "state_dir" => cfg with { StateDir = Str(v, "a directory path") },
                "control" => cfg with { Control = Str(v, "a socket path") },
                "devices" => cfg with { Devices = ParseDevices(v, drivers) },
                "control_max_connections" => cfg with { ControlMaxConnections = (int)Number(v, 1, 4096, "a whole number of connections") },
                "control_idle_timeout_s" => cfg with { ControlIdleTimeout = TimeSpan.FromSeconds(Number(v, 0.01, 86_400, "a number of seconds")) },
                _ => throw new ConfigException(keyAt, $"unknown key \"{key}\"; expected one of {string.Join(", ", KnownKeys.Select(k => $"\"{k}\""))}"),
            };
        }
        return cfg with { KeysGiven = root.Members.Select(m => m.Key).ToHashSet() };
    }

    public static IndexPolicy ParsePolicy(JValue v)
        => Str(v, "\"sticky\" or \"kernel\"") switch
        {
            "sticky" => IndexPolicy.Sticky,
            "kernel" => IndexPolicy.Kernel,
            _ => throw new ConfigException(v.At, $"expected \"sticky\" or \"kernel\", got {v.Describe()}"),
        };

    private static List<DeviceConfig> ParseDevices(JValue v, RoceDriverRegistry drivers)
    {
        Expect(v, JsonValueKind.Array, "an array of devices");
        var list = new List<DeviceConfig>();
        foreach (JValue d in v.Items)
        {
            Expect(d, JsonValueKind.Object, "a device object with \"driver\" and \"ports\"");
            string? driver = null, pci = null, attach = null;
            bool emulate = false;
            List<string>? ports = null;
            var driverKeys = new List<(string Key, JValue Value, JValue.Position KeyAt)>();
            foreach (var (key, val, keyAt) in d.Members)
            {
                switch (key)
                {
                    case "driver":
                        driver = Str(val, "a driver name");
                        if (!drivers.TryGet(driver, out _))
                            throw new ConfigException(val.At, $"unknown driver \"{driver}\"; expected one of {string.Join(", ", drivers.Names.Select(k => $"\"{k}\""))}");
                        break;
                    case "pci": pci = Str(val, "a PCI address such as \"0000:03:00.0\""); break;
                    case "emulate":
                        if (val.Kind is not (JsonValueKind.True or JsonValueKind.False))
                            throw new ConfigException(val.At, $"expected true or false, got {val.Describe()}");
                        emulate = val.Bool;
                        break;
                    case "attach": attach = Str(val, "the directory of a device model's files"); break;
                    case "ports":
                        Expect(val, JsonValueKind.Array, "an array of netdev names, one per port");
                        ports = val.Items.Select(p => Str(p, "a netdev name")).ToList();
                        if (ports.Count == 0)
                            throw new ConfigException(val.At, "a device needs at least one port netdev");
                        break;
                    default:
                        driverKeys.Add((key, val, keyAt));  // the driver's own, checked once the driver is known
                        break;
                }
            }
            if (driver is null)
                throw new ConfigException(d.At, "the device has no \"driver\"");
            IReadOnlyDictionary<string, long> settings = DriverSettings(drivers.Get(driver), driverKeys);
            if (ports is null)
                throw new ConfigException(d.At, "the device has no \"ports\"");
            int sources = (pci is null ? 0 : 1) + (emulate ? 1 : 0) + (attach is null ? 0 : 1);
            if (sources != 1)
                throw new ConfigException(d.At, "a device needs exactly one of \"pci\", \"emulate\": true, or \"attach\"");
            list.Add(new DeviceConfig(driver, ports, pci, emulate, attach) { Settings = settings });
        }
        return list;
    }

    private static double Number(JValue v, double min, double max, string what)
    {
        if (v.Kind != JsonValueKind.Number || v.Number < min || v.Number > max || (min >= 1 && v.Number != Math.Floor(v.Number)))
            throw new ConfigException(v.At, $"expected {what} from {min} to {max}, got {v.Describe()}");
        return v.Number;
    }

    /// <summary>The keys of a device entry that are not common ones: each must be one of the driver's
    /// <see cref="RoceDriver.Settings"/>, with an integer value in its range.</summary>
    private static Dictionary<string, long> DriverSettings(RoceDriver driver, List<(string Key, JValue Value, JValue.Position KeyAt)> keys)
    {
        var settings = new Dictionary<string, long>();
        foreach (var (key, val, keyAt) in keys)
        {
            DriverSetting setting = driver.Setting(key) ?? throw new ConfigException(keyAt,
                $"unknown device key \"{key}\"; expected \"driver\", \"ports\", \"pci\", \"emulate\" or \"attach\""
                + (driver.Settings.Count == 0 ? "" : $", or one of the {driver.Name} driver's: {string.Join(", ", driver.Settings.Select(x => $"\"{x.Key}\""))}"));
            if (val.Kind != JsonValueKind.Number || val.Number != Math.Floor(val.Number) || Math.Abs(val.Number) > long.MaxValue / 2)
                throw new ConfigException(val.At, $"\"{key}\": expected an integer ({setting.Description}), got {val.Describe()}");
            if (setting.Check((long)val.Number) is { } problem)
                throw new ConfigException(val.At, problem);
            settings[key] = (long)val.Number;
        }
        return settings;
    }

    private static string Str(JValue v, string what)
    {
        if (v.Kind != JsonValueKind.String || string.IsNullOrEmpty(v.Text))
            throw new ConfigException(v.At, $"expected {what}, got {v.Describe()}");
        return v.Text;
    }

    private static void Expect(JValue v, JsonValueKind kind, string what)
    {
        if (v.Kind != kind)
            throw new ConfigException(v.At, $"expected {what}, got {v.Describe()}");
    }
}
