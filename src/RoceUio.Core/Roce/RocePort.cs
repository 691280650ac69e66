using RoceUio.Gids;

namespace RoceUio.Roce;

/// <summary>How a RoCE port finds its Ethernet netdev: by name, or by MAC (the PCI function's netdev has the port's MAC).
/// Only a netdev of the daemon's own namespace counts (a container's eth0 is not the host's).</summary>
public sealed record PortBinding(string? NetdevName = null, ReadOnlyMemory<byte> Mac = default)
{
    public bool Matches(NetdevInfo n)
        => n.NetNsId < 0 && (NetdevName is not null ? n.Name == NetdevName
           : !Mac.IsEmpty && n.Mac.Span.SequenceEqual(Mac.Span));

    public override string ToString() => NetdevName ?? Convert.ToHexString(Mac.Span);
}

/// <summary>
/// One port of one RoCE device: the driver, the core GID table, and the netdev the port is bound to
/// (<c>ib_device_get_netdev(port)</c>). 0 while the bound netdev does not exist.
/// </summary>
public sealed class RocePort
{
    internal RocePort(IRoceDevice device, int port, PortBinding binding, GidTable table)
    {
        Device = device;
        Port = port;
        Binding = binding;
        Table = table;
    }

    public IRoceDevice Device { get; }
    public int Port { get; }
    public PortBinding Binding { get; }
    public GidTable Table { get; }
    public int NetdevIfindex { get; internal set; }

    /// <summary>The netdev the port's own binding found (0 while none). The same as <see cref="NetdevIfindex"/> except
    /// on a bonded device (<see cref="IRocePortBonding"/>), where port 1 follows the bond's netdev and the others none.</summary>
    public int OwnNetdevIfindex { get; internal set; }

    /// <summary>The port runs as part of port 1 (RoCE LAG, <see cref="IRocePortBonding"/>): it has no GIDs of its own.</summary>
    public bool BondedIntoPort1 { get; internal set; }
    public GidTypes Types => Table.SupportedTypes;

    /// <summary>What the port's hardware must still be told (the one owner of dirty/needs-push and retries).</summary>
    public PortSync Sync { get; } = new();

    /// <summary>GIDs that did not fit (table full) and wait for a slot, by netdev ifindex (the sticky policy; the
    /// kernel policy loses them as Linux does). Worker-thread state of the GID manager.</summary>
    internal SortedDictionary<int, HashSet<GidEntry>> PendingByNetdev { get; } = new();

    /// <summary>How many GIDs wait for a slot.</summary>
    public int PendingCount { get; internal set; }

    /// <summary>Entries added to the table since the start (a replaced entry counts as a delete and an add; the RoceUio meter).</summary>
    public long GidAdds { get; internal set; }

    /// <summary>Entries deleted from the table since the start.</summary>
    public long GidDeletes { get; internal set; }

    /// <summary>GIDs refused a slot because the table was full since the start (kept pending, or lost under the kernel
    /// policy; the RoceUio meter).</summary>
    public long GidRefused { get; internal set; }

    /// <summary>A slot was freed since the last refill from the pending GIDs.</summary>
    internal bool SlotFreed { get; set; }

    public override string ToString() => $"{Device.Name} port {Port}";
}
