using RoceUio.Gids;

namespace RoceUio.Roce;

/// <summary>
/// Connects the core tables of one device to its driver (<see cref="IGidProgrammer"/> → <see cref="IRoceDevice"/>).
/// The tables' add_gid/del_gid calls are kept as ops in the core's order (one list for the device's ports, so the
/// driver hears them in the kernel's order), and each port's <see cref="PortSync"/> is marked, so that the manager's
/// next push of a port tells the driver all of them and commits the port (<see cref="DeviceWriter.Push"/>).
/// The push runs on the worker (<see cref="StartPush"/> answers at once), or, once <see cref="StartThread"/> ran, on
/// the device's own <see cref="DeviceCommandThread"/>, whose outcome the manager takes later (<see cref="TryTakeOutcome"/>):
/// the worker then never waits for the hardware.
/// </summary>
/// <remarks>
/// <para>Kernel order: an added entry is published by the table only after a push that carried it succeeded
/// (<see cref="TakePublishable"/> counts the oldest adds waiting whose op number the push covered); a delete is visible
/// at once and never undone (a delete the driver refuses is reported, and the push goes on).</para>
/// <para>An add is refused here, as its table's DeviceRefused, only for a GID type the port does not support (what the
/// drivers refuse); anything else the driver refuses at push time fails the push, which is retried with backoff.</para>
/// <para>Threading: every method runs on the manager's worker; the outcome queue (<c>_outcomes</c>, under its own lock)
/// is filled by the device thread.</para>
/// </remarks>
internal sealed class DeviceProgrammer(IRoceDevice device, Func<long> clock) : IGidProgrammer
{
    /// <summary>A port's sync state, types, and its adds that wait to be published.</summary>
    private sealed class PortProgram(PortSync sync, GidTypes types)
    {
        public readonly PortSync Sync = sync;
        public readonly GidTypes Types = types;
        /// <summary>The adds the table keeps unpublished, oldest first (the table's own order), with their op number.</summary>
        public readonly List<(long Seq, int Index)> Unpublished = [];
    }

    private readonly Dictionary<int, PortProgram> _ports = new();
    private readonly List<GidOp> _ops = [];   // recorded, not yet handed to the device
    private long _seq;                        // the number of the latest op recorded
    private readonly DeviceWriter _writer = new(device);
    private readonly Queue<PushOutcome> _outcomes = new();
    private DeviceCommandThread? _thread;

    public IRoceDevice Device { get; } = device;

    /// <summary>Whether pushes run on the device's own thread.</summary>
    public bool OnOwnThread => _thread is not null;

    public void Track(int port, PortSync sync)
    {
        _ports[port] = new PortProgram(sync, Device.SupportedGidTypes(port));
        _writer.Track(Device.GidTableSize(port));
    }

    public bool TryAddGid(int port, int index, in GidEntry e, out string? refusal)
    {
        PortProgram p = _ports[port];
        if (!p.Types.Contains(e.Type))
        {
            refusal = $"{Device.Name} port {port}: GID type {e.Type} is not supported (index {index}, {e})";
            return false;
        }
        refusal = null;
        Record(p, new GidOp(true, port, index, e));
        p.Unpublished.Add((_seq, index));
        return true;
    }

    public void DeleteGid(int port, int index, in GidEntry e)
    {
        PortProgram p = _ports[port];
        Record(p, new GidOp(false, port, index, e));
        // An add never published (deleted before its push came back): the table drops it too.
        for (int i = p.Unpublished.Count - 1; i >= 0; i--)
            if (p.Unpublished[i].Index == index)
            {
                p.Unpublished.RemoveAt(i);
                break;
            }
    }

    private void Record(PortProgram p, GidOp op)
    {
        _ops.Add(op);
        _seq++;
        p.Sync.MarkChanged(clock());
        _writer.CompactIfLong(_ops);
    }

    /// <summary>
    /// Starts a push of <paramref name="port"/>: everything recorded so far (any port of the device), then the port's
    /// commit. On the worker the outcome is known at once (true, <paramref name="outcome"/>); on the device's thread it
    /// comes later through <see cref="TryTakeOutcome"/> (false).
    /// </summary>
    public bool StartPush(int port, out PushOutcome outcome)
    {
        if (_thread is { } t)
        {
            t.Submit(port, _ops, _seq);
            outcome = default;
            return false;
        }
        _writer.Take(_ops);
        outcome = _writer.Push(port, _seq);
        return true;
    }

    /// <summary>An outcome the device's thread reported, if any.</summary>
    public bool TryTakeOutcome(out PushOutcome outcome)
    {
        lock (_outcomes)
            return _outcomes.TryDequeue(out outcome);
    }

    /// <summary>After a push that carried ops up to <paramref name="seq"/> succeeded: how many of the oldest
    /// unpublished adds it covered (the table publishes that many), forgotten here.</summary>
    public int TakePublishable(int port, long seq)
    {
        List<(long Seq, int Index)> waiting = _ports[port].Unpublished;
        int n = 0;
        while (n < waiting.Count && waiting[n].Seq <= seq)
            n++;
        waiting.RemoveRange(0, n);
        return n;
    }

    /// <summary>From now on pushes run on the device's own thread; <paramref name="wake"/> is called (on that thread)
    /// after each outcome, to wake the worker.</summary>
    public void StartThread(Action wake)
    {
        if (_thread is not null)
            return;
        _thread = new DeviceCommandThread(_writer, o => { lock (_outcomes) _outcomes.Enqueue(o); }, wake);
    }

    /// <summary>Waits for the device's thread to finish what it was handed (a held command ends with the driver's
    /// timeout) and programs on the worker again. The outcomes stay for <see cref="TryTakeOutcome"/>.</summary>
    public void StopThread()
    {
        DeviceCommandThread? t = _thread;
        _thread = null;
        t?.Stop();
    }
}
