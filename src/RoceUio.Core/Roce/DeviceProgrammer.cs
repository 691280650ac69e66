using RoceUio.Gids;

namespace RoceUio.Roce;

/// <summary>
/// Connects the core tables of one device to its driver (<see cref="IGidProgrammer"/> → <see cref="IRoceDevice"/>),
/// and keeps the burst bookkeeping: which ports have uncommitted changes, and what those changes were so that a failed
/// <see cref="IRoceDevice.Commit"/> can be undone in the core table.
/// Used only on the manager's worker thread.
/// </summary>
internal sealed class DeviceProgrammer(IRoceDevice device) : IGidProgrammer
{
    private readonly Dictionary<int, List<GidChange>> _pending = new();

    public IRoceDevice Device { get; } = device;

    /// <summary>While true, table changes are not passed to the driver (used to undo a batch the driver already dropped).</summary>
    public bool Suppressed { get; set; }

    public void AddGid(int port, int index, in GidEntry e)
    {
        if (!Suppressed)
            Device.AddGid(port, index, e);
    }

    public void DeleteGid(int port, int index, in GidEntry e)
    {
        if (!Suppressed)
            Device.DeleteGid(port, index, e);
    }

    /// <summary>Records a published change of the current burst.</summary>
    public void Record(in GidChange change)
    {
        if (Suppressed)
            return;
        if (!_pending.TryGetValue(change.Port, out List<GidChange>? list))
            _pending[change.Port] = list = [];
        list.Add(change);
    }

    public IEnumerable<int> DirtyPorts => _pending.Keys;

    public IReadOnlyList<GidChange> TakeChanges(int port)
    {
        if (!_pending.Remove(port, out List<GidChange>? list))
            return [];
        return list;
    }
}
