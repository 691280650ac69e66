using RoceUio.Hardware.Pci;

namespace RoceUio.Drivers;

/// <summary>
/// The drivers this program knows, by name and by PCI id: each NIC family's folder exports one
/// <see cref="RoceDriver"/> and the program registers it once (RoceUio.Cli's <c>BuiltinDrivers</c>, one line per
/// family). Everything that needs a family asks here: opening devices, config validation, <c>model</c>, <c>bind</c>
/// and PCI discovery (<see cref="IPciDriverMatch"/>).
/// Locking: all members take the instance lock; registration is rare and nothing here is on a hot path.
/// </summary>
public sealed class RoceDriverRegistry : IPciDriverMatch
{
    private readonly object _lock = new();
    private readonly List<RoceDriver> _drivers = new();
    private readonly Dictionary<PciId, RoceDriver> _byId = new();

    /// <summary>Adds <paramref name="driver"/>. A second driver of the same name, or one claiming a PCI id another
    /// driver claims, is an error naming both; the registry is left as it was.</summary>
    public RoceDriverRegistry Register(RoceDriver driver)
    {
        ArgumentNullException.ThrowIfNull(driver);
        ArgumentException.ThrowIfNullOrWhiteSpace(driver.Name);
        if (driver.Open is null == driver.OpenSoftware is null)
            throw new ArgumentException($"driver '{driver.Name}': set exactly one of Open (a device with registers) and OpenSoftware (a software device)");
        if (driver.MaxPortsPerDevice < 1)
            throw new ArgumentException($"driver '{driver.Name}': MaxPortsPerDevice is {driver.MaxPortsPerDevice}; a device has at least one port");
        lock (_lock)
        {
            if (_drivers.Any(d => d.Name == driver.Name))
                throw new InvalidOperationException($"a driver named '{driver.Name}' is already registered");
            foreach (PciId id in driver.PciIds)
                if (_byId.TryGetValue(id, out RoceDriver? other))
                    throw new InvalidOperationException($"PCI ID {id} is already claimed by driver '{other.Name}'; '{driver.Name}' cannot claim it too");
            _drivers.Add(driver);
            foreach (PciId id in driver.PciIds)
                _byId[id] = driver;
        }
        return this;
    }

    /// <summary>The registered drivers, in registration order.</summary>
    public IReadOnlyList<RoceDriver> Drivers
    {
        get
        {
            lock (_lock)
                return _drivers.ToList();
        }
    }

    /// <summary>The registered drivers' names, in registration order.</summary>
    public IReadOnlyList<string> Names => Drivers.Select(d => d.Name).ToList();

    /// <summary>The driver called <paramref name="name"/>, or false.</summary>
    public bool TryGet(string name, out RoceDriver driver)
    {
        lock (_lock)
            driver = _drivers.FirstOrDefault(d => d.Name == name)!;
        return driver is not null;
    }

    /// <summary>The driver called <paramref name="name"/>; an unknown name is an error listing the known ones.</summary>
    public RoceDriver Get(string name)
        => TryGet(name, out RoceDriver d) ? d : throw new ArgumentException($"unknown driver '{name}' (known: {string.Join(", ", Names)})");

    /// <summary>The driver that claims (vendor, device), or false.</summary>
    public bool TryMatch(ushort vendor, ushort device, out RoceDriver driver)
    {
        lock (_lock)
            return _byId.TryGetValue(new PciId(vendor, device), out driver!);
    }

    bool IPciDriverMatch.TryMatch(ushort vendor, ushort device, out string driver)
    {
        bool found = TryMatch(vendor, device, out RoceDriver d);
        driver = found ? d.Name : "";
        return found;
    }
}
