namespace RoceUio.Roce;

/// <summary>
/// The thread that programs one device while the daemon runs: it takes the device's ops as the worker hands them over
/// with a port to commit (<see cref="Submit"/>), tells the driver through the device's <see cref="DeviceWriter"/>, and reports every push's
/// outcome (<c>done</c>) and wakes the worker. A device whose command hangs holds only this thread, so the worker goes
/// on with netlink, the other devices and the control plane.
/// </summary>
/// <remarks>Locking: <c>_lock</c> guards the inbox (<c>_ops</c>, <c>_seq</c>, <c>_queued</c>: ports to commit) and <c>_stopping</c>;
/// the writer and the driver are used by this thread only, outside the lock. The worker submits a port only while it
/// has no push in flight there (<see cref="PortSync.InFlight"/>), so each port has at most one push pending here.</remarks>
internal sealed class DeviceCommandThread
{
    private readonly object _lock = new(); // a monitor: the thread waits on it (Monitor.Wait)
    private readonly DeviceWriter _writer;
    private readonly Action<PushOutcome> _done;
    private readonly Action _wake;
    private readonly List<GidOp> _ops = [];
    private long _seq;
    private readonly Queue<int> _queued = new();
    private readonly Thread _thread;
    private bool _stopping;

    public DeviceCommandThread(DeviceWriter writer, Action<PushOutcome> done, Action wake)
    {
        _writer = writer;
        _done = done;
        _wake = wake;
        // A small stack: the loop and a driver's command path are shallow.
        _thread = new Thread(Loop, 256 * 1024) { IsBackground = true, Name = $"roceuio {writer.Device.Name}" };
        _thread.Start();
    }

    /// <summary>Hands the device's ops (numbered up to <paramref name="seq"/>) to the thread with a port to commit, and
    /// empties <paramref name="ops"/>. Worker thread.</summary>
    public void Submit(int port, List<GidOp> ops, long seq)
    {
        lock (_lock)
        {
            _ops.AddRange(ops);
            _seq = seq;
            if (!_queued.Contains(port))
                _queued.Enqueue(port);
            Monitor.PulseAll(_lock);
        }
        ops.Clear();
    }

    /// <summary>Lets the thread finish what was submitted (a command the device holds ends with the driver's timeout),
    /// then waits for it to end. Worker thread; afterwards the worker programs the device itself.</summary>
    public void Stop()
    {
        lock (_lock)
        {
            _stopping = true;
            Monitor.PulseAll(_lock);
        }
        _thread.Join();
    }

    private void Loop()
    {
        while (true)
        {
            int port;
            long seq;
            lock (_lock)
            {
                while (_queued.Count == 0 && !_stopping)
                    Monitor.Wait(_lock);
                if (_queued.Count == 0)
                    return;
                port = _queued.Dequeue();
                seq = _seq;
                _writer.Take(_ops);
            }
            PushOutcome outcome;
            try
            {
                outcome = _writer.Push(port, seq);
            }
            catch (Exception e)
            {
                // A driver that fails in a way it should not (not a RoceDeviceException) fails this push only: the
                // port stays out of sync with the reason, and the other devices go on.
                outcome = new PushOutcome(port, seq, $"{_writer.Device.Name} port {port}: {e.GetType().Name}: {e.Message}");
            }
            _done(outcome);
            _wake();
        }
    }
}
