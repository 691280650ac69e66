using RoceUio.Cli.Output;
using RoceUio.Gids;

namespace RoceUio.Cli.Daemon;

/// <summary>One port as the control plane shows it (<c>show ports</c>), copied off the worker.</summary>
public sealed record PortSnapshot(string Dev, int Port, string? Ndev, string Binding, IReadOnlyList<GidType> Types,
    int Capacity, int Used, string IndexPolicy);

/// <summary>A port whose hardware is behind its core table (<see cref="Roce.PortSync.IsBehind"/>), as <c>status</c>
/// shows it. <paramref name="NextRetry"/> is null and <paramref name="PushOutstandingMs"/> set while the device holds
/// a push.</summary>
public sealed record OutOfSyncPort(string Dev, int Port, DateTime Since, string? Why, int FailedPushes, DateTime? NextRetry,
    int WaitingEntries, long? PushOutstandingMs = null);

/// <summary>
/// What the daemon's read-only control commands answer from: an immutable copy of the tables, ports and status the
/// worker publishes after each burst it applied (<see cref="ControlHandlers.Publish"/>). The control thread reads the
/// latest one without waiting for the worker, so a worker blocked on a stuck device delays no read; such a read shows
/// the state as of <see cref="PublishedAt"/> (status says how old it is).
/// </summary>
/// <remarks>To show something new through a read command, add it here and fill it in Publish (on the worker): never
/// read the manager, the graph or a driver from a snapshot command.</remarks>
public sealed record ControlSnapshot
{
    public static readonly ControlSnapshot Empty = new();

    /// <summary>Every valid entry, by port then index.</summary>
    public IReadOnlyList<GidRow> Rows { get; init; } = [];
    public IReadOnlyList<PortSnapshot> Ports { get; init; } = [];
    public IReadOnlyList<string> RecentErrors { get; init; } = [];
    /// <summary>GIDs that wait for a slot (a full table, sticky policy), by port, in the order they will be added
    /// (Index is -1).</summary>
    public IReadOnlyList<GidRow> Pending { get; init; } = [];
    /// <summary>How many GIDs wait for a slot, on every port.</summary>
    public int PendingTotal { get; init; }
    /// <summary>GIDs made pending since the start, and pending GIDs added since (counters).</summary>
    public long PendingKept { get; init; }
    public long PendingRestored { get; init; }
    /// <summary>Ports out of sync with their hardware.</summary>
    public IReadOnlyList<OutOfSyncPort> OutOfSync { get; init; } = [];
    /// <summary>Environment.TickCount64 when the worker took it.</summary>
    public long PublishedAt { get; init; }
    /// <summary>Counts publications (1 = the first).</summary>
    public long Sequence { get; init; }
}
