namespace RoceUio.Hardware.Pci;

/// <summary>A (vendor, device) pair a driver module claims, like an entry of a kernel driver's <c>pci_device_id</c> table.</summary>
public readonly record struct PciId(ushort Vendor, ushort Device) : IComparable<PciId>
{
    public int CompareTo(PciId other) => ((Vendor << 16) | Device).CompareTo((other.Vendor << 16) | other.Device);

    public override string ToString() => $"{Vendor:x4}:{Device:x4}";
}

/// <summary>
/// Which RoceUio driver module handles which PCI IDs. Driver modules register their ID tables (mlx4: 15b3:1003,
/// 15b3:1007...; ocrdma: 10df:0720...) once at start-up, usually on <see cref="Global"/>; discovery then names the module
/// for each function it finds.
/// Locking: all members take the instance lock; registration is rare and lookups are not on a hot path.
/// </summary>
public sealed class PciDriverRegistry
{
    private readonly object _lock = new();
    private readonly Dictionary<PciId, string> _byId = new();

    /// <summary>The process-wide registry the driver modules register into.</summary>
    public static PciDriverRegistry Global { get; } = new();

    /// <summary>
    /// Claims <paramref name="ids"/> for the module <paramref name="module"/> (e.g. "mlx4"). Registering the same IDs
    /// again for the same module is harmless; claiming an ID another module holds is an error.
    /// </summary>
    public void Register(string module, IEnumerable<PciId> ids)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(module);
        ArgumentNullException.ThrowIfNull(ids);
        lock (_lock)
        {
            var list = ids.ToList();
            foreach (PciId id in list)
                if (_byId.TryGetValue(id, out string? other) && other != module)
                    throw new InvalidOperationException($"PCI ID {id} is already claimed by driver module '{other}'; '{module}' cannot claim it too");
            foreach (PciId id in list)
                _byId[id] = module;
        }
    }

    /// <summary>The module that handles (vendor, device), or false.</summary>
    public bool TryMatch(ushort vendor, ushort device, out string module)
    {
        lock (_lock)
        {
            if (_byId.TryGetValue(new PciId(vendor, device), out string? m))
            {
                module = m;
                return true;
            }
        }
        module = "";
        return false;
    }

    /// <summary>The IDs each module claims, for <c>roceuio show devices</c> and error messages.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<PciId>> Modules
    {
        get
        {
            lock (_lock)
                return _byId.GroupBy(kv => kv.Value)
                    .ToDictionary(g => g.Key, g => (IReadOnlyList<PciId>)g.Select(kv => kv.Key).Order().ToList());
        }
    }
}
