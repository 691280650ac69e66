namespace RoceUio.Hardware.Emulation;

/// <summary>
/// A small host for device models over an <see cref="EmulatedDevice"/>: it polls watched registers of the BARs and
/// calls the model when a register's value changes (plain shared memory has no write trap, so a "write" is a change
/// seen by the poll: models clear command registers once handled, as a device clears its go bit), gives DMA reads and
/// writes by device address, and applies <see cref="FaultInjection"/> (stall, delay; error statuses are the model's to
/// report), taking the directory's fault file (checked every 20 ms). Works the same with the driver in this process or another.
/// Locking: watches are registered before <see cref="Run"/>; callbacks run on the polling thread, one at a time.
/// </summary>
public sealed class DeviceModelHost : IDisposable
{
    private readonly Dictionary<int, MmioRegion> _bars = new();
    private readonly List<Watch> _watches = new();
    private long _nextFaultCheck;

    private sealed class Watch(MmioRegion region, long offset, Action<uint> onChange)
    {
        public MmioRegion Region = region;
        public long Offset = offset;
        public Action<uint> OnChange = onChange;
        public uint Last;
    }

    public DeviceModelHost(EmulatedDevice device, RegisterByteOrder order)
    {
        Device = device;
        ByteOrder = order;
    }

    public EmulatedDevice Device { get; }
    public RegisterByteOrder ByteOrder { get; }
    public FaultInjection Faults { get; } = new();

    /// <summary>How often <see cref="Run"/> polls; 0 spins with a yield (lowest latency).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.Zero;

    /// <summary>The model's register view of a BAR, in the device's byte order.</summary>
    public MmioRegion Bar(int bar)
    {
        if (!_bars.TryGetValue(bar, out MmioRegion? r))
            _bars[bar] = r = new MmioRegion(Device.Bar(bar), bar, ByteOrder);
        return r;
    }

    /// <summary>Calls <paramref name="onChange"/> with the new value whenever the 32-bit register at bar+offset changes.</summary>
    public void OnWrite(int bar, long offset, Action<uint> onChange)
    {
        MmioRegion r = Bar(bar);
        var w = new Watch(r, offset, onChange);
        w.Last = r.Read32(offset);
        _watches.Add(w);
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

    /// <summary>One pass over the watched registers; returns how many changes were handled (0 while stalled).</summary>
    public int PollOnce()
    {
        ReloadFaultsFile();
        if (Faults.Stalled)
            return 0;
        int handled = 0;
        foreach (Watch w in _watches)
        {
            uint v = w.Region.Read32(w.Offset);
            if (v == w.Last)
                continue;
            TimeSpan delay = Faults.Delay;
            if (delay > TimeSpan.Zero)
                Thread.Sleep(delay);
            w.Last = v;
            w.OnChange(v);
            w.Last = w.Region.Read32(w.Offset);   // the model may have cleared it
            handled++;
        }
        return handled;
    }

    /// <summary>Polls until <paramref name="stop"/> is cancelled.</summary>
    public void Run(CancellationToken stop)
    {
        var spin = new SpinWait();
        while (!stop.IsCancellationRequested)
        {
            if (PollOnce() > 0)
                continue;
            if (PollInterval > TimeSpan.Zero)
                stop.WaitHandle.WaitOne(PollInterval);
            else
                spin.SpinOnce(sleep1Threshold: 20);
        }
    }

    private void ReloadFaultsFile()
    {
        long now = Environment.TickCount64;
        if (now < _nextFaultCheck)
            return;
        _nextFaultCheck = now + 20;
        if (FaultInjection.Take(Device.Directory) is { } lines)
            Faults.Apply(Path.Combine(Device.Directory, FaultInjection.FileName), lines);
    }

    public void Dispose() { }
}
