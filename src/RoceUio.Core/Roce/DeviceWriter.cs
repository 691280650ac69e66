using RoceUio.Diagnostics;
using RoceUio.Gids;

namespace RoceUio.Roce;

/// <summary>What one push of one port came to: every op up to <see cref="Seq"/> reached the driver and the port's
/// commit succeeded (no <see cref="Error"/>), or the push failed with <see cref="Error"/> and is retried.
/// <see cref="DeleteErrors"/> counts deletes the driver could not apply (never undone: reported, the push goes on),
/// <see cref="DeleteError"/> is the first.</summary>
internal readonly record struct PushOutcome(int Port, long Seq, string? Error, int DeleteErrors = 0, string? DeleteError = null);

/// <summary>
/// The device side of a <see cref="DeviceProgrammer"/>: the ops handed over and not yet taken by the driver (all ports,
/// in the core's order), and the one push routine that tells the driver (add_gid/del_gid) and commits a port. Used by
/// one thread at a time: the device's <see cref="DeviceCommandThread"/> while it runs, the manager's worker otherwise.
/// </summary>
internal sealed class DeviceWriter(IRoceDevice device)
{
    private readonly List<GidOp> _work = [];
    private int _compactAt = 64;

    public IRoceDevice Device => device;

    /// <summary>Registers a port; ops beyond 4x the device's table sizes (a device that does not answer) are compacted.</summary>
    public void Track(int capacity) => _compactAt += 4 * capacity;

    /// <summary>Takes <paramref name="ops"/> (appended to what the driver has not taken yet) and empties it.</summary>
    public void Take(List<GidOp> ops)
    {
        _work.AddRange(ops);
        ops.Clear();
        CompactIfLong(_work);
    }

    public void CompactIfLong(List<GidOp> ops)
    {
        if (ops.Count > _compactAt)
            GidOp.Compact(ops);
    }

    /// <summary>
    /// Tells the driver every op taken, in order (any port of the device: the driver keeps them in its shadow), then
    /// commits <paramref name="port"/>. A refused add or commit stops the push: the ops not taken stay for the retry
    /// (the driver is as before a refused add and keeps what a refused commit carried, per the <see cref="IRoceDevice"/>
    /// contract). A refused delete is reported and skipped (a delete is never undone, as the kernel's del_gid ignores
    /// the driver). <paramref name="seq"/> is the number of the last op taken.
    /// </summary>
    public PushOutcome Push(int port, long seq)
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        PushOutcome o = PushTimed(port, seq);
        RoceUio.Diagnostics.RoceUioMetrics.HardwarePushed(_devTag, started); // the RoceUio meter's push latency
        return o;
    }

    private readonly KeyValuePair<string, object?> _devTag = new("dev", device.Name);

    private PushOutcome PushTimed(int port, long seq)
    {
        int done = 0, deleteErrors = 0;
        string? deleteError = null;
        try
        {
            for (; done < _work.Count; done++)
            {
                GidOp op = _work[done];
                if (op.IsAdd)
                {
                    device.AddGid(op.Port, op.Index, op.Entry);
                    continue;
                }
                try
                {
                    device.DeleteGid(op.Port, op.Index, op.Entry);
                }
                catch (RoceDeviceException e)
                {
                    deleteErrors++;
                    deleteError ??= e.Message;
                }
            }
            _work.Clear();
            PushTrace.Mark(PushTrace.Commit, port);
            device.Commit(port);
            return new PushOutcome(port, seq, null, deleteErrors, deleteError);
        }
        catch (RoceDeviceException e)
        {
            _work.RemoveRange(0, Math.Min(done, _work.Count)); // the refused add stays first
            return new PushOutcome(port, seq, e.Message, deleteErrors, deleteError);
        }
    }
}
