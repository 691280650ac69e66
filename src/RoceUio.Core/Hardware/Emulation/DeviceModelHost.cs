namespace RoceUio.Hardware.Emulation;

/// <summary>
/// The one host every device model stands on (echo, the toy, ocrdma; docs/driver-guide.md section 2). Over an
/// <see cref="EmulatedDevice"/> it gives:
/// <list type="bullet">
/// <item>register views of the BARs in the device's byte order (<see cref="Bar"/>);</item>
/// <item>register-write watches (<see cref="OnWrite"/>): plain shared memory has no write trap, so a "write" is a change
/// seen by the poll; a model clears or marks a command register once handled, as a device clears its go bit, so that
/// the next write is a change again;</item>
/// <item>periodic steps (<see cref="OnPoll"/>) for what is not one register (a scan, a timer);</item>
/// <item>the fault file (<see cref="FaultInjection"/>, one parser and one syntax for every model): taken before each
/// register change is handled, on every pass while stalled, and every 20 ms otherwise; <c>stall</c> and <c>delay_ms</c> are applied here, the rest
/// (<c>error</c>, a family's keys) is the model's to use;</item>
/// <item>DMA by device address (<see cref="TryDma"/>), an address outside the DMA memory being the model's error;</item>
/// <item>the poll loop (<see cref="Run"/>): on a device with a doorbell (<see cref="EmulatedDoorbell"/>, which
/// <see cref="EmulatedDevice.Create"/> makes) it sleeps on it between passes, woken by the driver's next register write,
/// each sleep ending after 1 ms, and after about a second with nothing to do 5 ms (an idle model costs almost no CPU; a
/// command is taken as soon as the scheduler runs the woken thread). Without a doorbell it spins (yielding) for 2000
/// idle passes after the last change, then naps 1 ms per pass, then 5 ms (the first command after a quiet second
/// waits up to 5 ms longer).</item>
/// </list>
/// A watch or step that throws, or a bad fault file, ends <see cref="Run"/> with that exception: on a
/// <see cref="DeviceModelThread"/> it is reported (<see cref="DeviceModelThread.Failure"/>), in <c>roceuio model</c> it is
/// the process's error. Works the same with the driver in this process or another.
/// Locking: watches, steps and fault keys are registered before <see cref="Run"/>; callbacks run on the polling thread,
/// one at a time.
/// </summary>
public sealed class DeviceModelHost : IDisposable
{
    /// <summary>Idle passes spent spinning (only without a doorbell), then napping 1 ms, before the loop naps 5 ms.</summary>
    public const int IdleSpins = 2000, IdleNaps = 1000;

    private readonly Dictionary<int, MmioRegion> _bars = new();
    private readonly List<Watch> _watches = new();
    private readonly List<Func<bool>> _steps = new();
    private readonly string _faultPath;
    private long _nextFaultCheck;

    private sealed class Watch(MmioRegion region, long offset, Action<uint> onChange)
    {
        public readonly MmioRegion Region = region;
        public readonly long Offset = offset;
        public readonly Action<uint> OnChange = onChange;
        public uint Last;
        public bool Acknowledged;
    }

    public DeviceModelHost(EmulatedDevice device, RegisterByteOrder order)
    {
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
        ByteOrder = order;
        _faultPath = Path.Combine(device.Directory, FaultInjection.FileName);
    }

    public EmulatedDevice Device { get; }

    /// <summary>How long an idle pass sleeps (on the doorbell, or plainly without one), in ms: <see cref="ShortNapMs"/>
    /// for the first <see cref="IdleNaps"/> idle passes, then <see cref="LongNapMs"/>. Set before <see cref="Run"/>
    /// (tests make them long to show that a write, not the nap's end, wakes the loop).</summary>
    public int ShortNapMs { get; init; } = 1;

    /// <inheritdoc cref="ShortNapMs"/>
    public int LongNapMs { get; init; } = 5;
    public RegisterByteOrder ByteOrder { get; }
    public FaultInjection Faults { get; } = new();

    /// <summary>The model's register view of a BAR, in the device's byte order.</summary>
    public MmioRegion Bar(int bar)
    {
        if (!_bars.TryGetValue(bar, out MmioRegion? r))
            _bars[bar] = r = new MmioRegion(Device.Bar(bar), bar, ByteOrder);
        return r;
    }

    /// <summary>Calls <paramref name="onChange"/> with the new value whenever the 32-bit register at bar+offset changes
    /// (its value when the watch is made is the start; what the handler writes there is not a change).</summary>
    public void OnWrite(int bar, long offset, Action<uint> onChange)
    {
        ArgumentNullException.ThrowIfNull(onChange);
        MmioRegion r = Bar(bar);
        _watches.Add(new Watch(r, offset, onChange) { Last = r.Read32(offset) });
    }

    /// <summary>
    /// The model's answer in a watched register (a cleared go bit, a zeroed command): remembered as the register's
    /// value, then written. Use it where writing the register IS the answer the driver waits for: read back after the
    /// handler, a driver's next command written in between would be taken for this answer and never handed over (a
    /// lost wakeup that left mlx4's MAP_ICM unanswered on a loaded machine).
    /// </summary>
    public void Acknowledge(int bar, long offset, uint value)
    {
        MmioRegion r = Bar(bar);
        foreach (Watch w in _watches)
            if (ReferenceEquals(w.Region, r) && w.Offset == offset)
            {
                w.Last = value;
                w.Acknowledged = true;
            }
        r.Write32(offset, value);
    }

    /// <summary>Calls <paramref name="step"/> on every pass after the watches (not while stalled); it returns true when
    /// it did something (which keeps the loop from backing off).</summary>
    public void OnPoll(Func<bool> step)
    {
        ArgumentNullException.ThrowIfNull(step);
        _steps.Add(step);
    }

    /// <summary>The device's view of DMA memory at <paramref name="deviceAddress"/>; false when it is outside (a device would raise an error).</summary>
    public bool TryDma(ulong deviceAddress, int length, out Span<byte> memory) => Device.Dma.TryResolve(deviceAddress, length, out memory);

    public bool TryReadDma(ulong deviceAddress, Span<byte> into)
    {
        if (!TryDma(deviceAddress, into.Length, out Span<byte> m))
            return false;
        m.CopyTo(into);
        return true;
    }

    public bool TryWriteDma(ulong deviceAddress, ReadOnlySpan<byte> data)
    {
        if (!TryDma(deviceAddress, data.Length, out Span<byte> m))
            return false;
        data.CopyTo(m);
        return true;
    }

    /// <summary>One pass: the fault file when due, each watched register, then each step. Returns how many register
    /// changes and busy steps were handled (0 while stalled).</summary>
    public int PollOnce()
    {
        TakeFaultFile(force: Faults.Stalled);   // a stalled model waits for the file that releases it
        if (Faults.Stalled)
            return 0;
        int handled = 0;
        foreach (Watch w in _watches)
        {
            uint v = w.Region.Read32(w.Offset);
            if (v == w.Last)
                continue;
            TakeFaultFile(force: true);   // a fault armed before this write applies to it
            if (Faults.Stalled)
                return handled;
            TimeSpan delay = Faults.Delay;
            if (delay > TimeSpan.Zero)
                Thread.Sleep(delay);
            v = w.Region.Read32(w.Offset);
            w.Last = v;
            w.Acknowledged = false;
            w.OnChange(v);
            // A handler that answered through Acknowledge has set Last itself. Otherwise the model may have cleared the
            // register before its answer (a doorbell cleared first): read it again.
            if (!w.Acknowledged)
                w.Last = w.Region.Read32(w.Offset);
            handled++;
        }
        foreach (Func<bool> step in _steps)
            if (step())
                handled++;
        return handled;
    }

    /// <summary>Polls until <paramref name="stop"/> is cancelled, backing off while idle (see the class remarks).</summary>
    public void Run(CancellationToken stop)
    {
        EmulatedDoorbell? bell = Device.Doorbell;
        if (bell is null)
        {
            RunPolling(stop);
            return;
        }
        // Every register write rings the doorbell, so the loop sleeps on it at once instead of spinning: a spinning
        // (yielding) thread on a loaded machine waits out the other processes' time slices before each command, while a
        // woken sleeper runs at once. The naps still end after 1 ms (5 ms after a quiet second) for the fault file, the
        // steps and a writer that does not ring. Cancellation rings it too, so Dispose does not wait out a nap.
        using CancellationTokenRegistration wake = stop.Register(bell.Ring);
        int idle = 0;
        while (!stop.IsCancellationRequested)
        {
            uint seen = bell.Count;   // before the registers are read: a write after this ends the sleep below
            if (PollOnce() > 0)
            {
                idle = 0;
                continue;
            }
            if (idle < IdleNaps)
                idle++;
            bell.Wait(seen, idle < IdleNaps ? ShortNapMs : LongNapMs);
        }
    }

    /// <summary>The loop for a device without a doorbell: spins (yielding) for <see cref="IdleSpins"/> idle passes after
    /// the last change, then naps as <see cref="Run"/> does.</summary>
    private void RunPolling(CancellationToken stop)
    {
        int idle = 0;
        while (!stop.IsCancellationRequested)
        {
            if (PollOnce() > 0)
            {
                idle = 0;
                continue;
            }
            if (idle < IdleSpins + IdleNaps)
                idle++;
            if (idle < IdleSpins)
                Thread.Yield();
            else
                stop.WaitHandle.WaitOne(idle < IdleSpins + IdleNaps ? ShortNapMs : LongNapMs);
        }
    }

    private void TakeFaultFile(bool force)
    {
        long now = Environment.TickCount64;
        if (!force && now < _nextFaultCheck)
            return;
        _nextFaultCheck = now + 20;
        if (FaultInjection.Take(Device.Directory) is { } lines)
            Faults.Apply(_faultPath, lines);
    }

    public void Dispose() { }
}
