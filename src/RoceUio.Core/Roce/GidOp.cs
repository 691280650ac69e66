using RoceUio.Gids;

namespace RoceUio.Roce;

/// <summary>One add_gid or del_gid a core table of the device made, kept in the core's order (across the device's
/// ports, as the kernel calls the driver) until the device's programmer tells the driver.</summary>
internal readonly record struct GidOp(bool IsAdd, int Port, int Index, GidEntry Entry)
{
    /// <summary>
    /// Replaces a run of ops by one with the same end state and at most two ops per slot (by port and index: the delete
    /// of what the slot held before the run, then the add of what it holds after). Used when a device that does not
    /// answer lets ops pile up: memory stays bounded by the table's size. The run's first op on an index says what the
    /// driver held there before it (a delete names it; an add means the slot was empty), its last op what it holds after.
    /// </summary>
    public static void Compact(List<GidOp> ops)
    {
        var ends = new SortedDictionary<(int Port, int Index), (GidEntry? Before, GidEntry? After)>();
        foreach (GidOp op in ops)
        {
            GidEntry? before = ends.TryGetValue((op.Port, op.Index), out var seen) ? seen.Before : op.IsAdd ? null : op.Entry;
            ends[(op.Port, op.Index)] = (before, op.IsAdd ? op.Entry : null);
        }
        ops.Clear();
        foreach (var ((port, index), (before, after)) in ends)
        {
            if (before == after)
                continue;
            if (before is { } b)
                ops.Add(new GidOp(false, port, index, b));
            if (after is { } a)
                ops.Add(new GidOp(true, port, index, a));
        }
    }
}
