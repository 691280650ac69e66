using RoceUio.Gids;
using RoceUio.Hardware;
using RoceUio.Hardware.Emulation;
using static RoceUio.Drivers.Conformance.Toy.ToyLayout;

namespace RoceUio.Drivers.Conformance.Toy;

/// <summary>
/// The toy family's device model, on the shared <see cref="DeviceModelHost"/>: one doorbell watch, the table check, the
/// fault file convention (an injected <c>error</c> refuses the next table). What a real device would refuse is written
/// to <see cref="ViolationsFileName"/> in the device directory, one line each.
/// </summary>
public sealed class ToyModel : IDisposable
{
    public const string ViolationsFileName = "violations";
    private readonly EmulatedDevice _device;
    private readonly DeviceModelHost _host;
    private readonly MmioRegion _bar;

    public ToyModel(string dir)
    {
        _device = EmulatedDevice.Open(dir);
        _host = new DeviceModelHost(_device, RegisterByteOrder.LittleEndian);
        _bar = _host.Bar(0);
        _host.OnWrite(0, Doorbell, Ring);
    }

    /// <summary>Creates the files of a fresh toy device.</summary>
    public static EmulatedDevice CreateFiles(string dir)
    {
        File.Delete(Path.Combine(dir, ViolationsFileName));
        return EmulatedDevice.Create(dir, VendorId, DeviceId, new Dictionary<int, long> { [0] = BarSize }, dmaSize: 4096);
    }

    public static string[] ReadViolations(string dir)
    {
        string p = Path.Combine(dir, ViolationsFileName);
        return File.Exists(p) ? File.ReadAllLines(p) : [];
    }

    /// <summary>The table the device routes with (the active area), in slot order.</summary>
    public static IReadOnlyList<(int Slot, Gid Gid, GidType Type)> ReadActive(MmioRegion bar, int port)
    {
        var list = new List<(int, Gid, GidType)>();
        for (int s = 0; s < Slots; s++)
        {
            long at = Active(port, s);
            if (bar.Read32(at + 20) == 1)
                list.Add((s, new Gid(bar.Read64(at), bar.Read64(at + 8)), (GidType)bar.Read32(at + 16)));
        }
        return list;
    }

    public int Run(CancellationToken stop)
    {
        _host.Run(stop);
        return 0;
    }

    private void Ring(uint port)
    {
        if (port == 0)
            return;
        _bar.Write32(Status, Check(port));
        _bar.Write32(Doorbell, 0);
    }

    private uint Check(uint port)
    {
        if (port > Ports)
            return Violation($"doorbell rung with port {port}; the toy has {Ports}");
        if (_host.Faults.TryTakeError(out uint injected))
            return injected;
        int p = (int)port;
        for (int s = 0; s < Slots; s++)
        {
            long at = Staging(p, s);
            bool valid = _bar.Read32(at + 20) == 1;
            uint type = _bar.Read32(at + 16);
            if (valid && ((_bar.Read64(at) | _bar.Read64(at + 8)) == 0 || type is not (1 or 2)))
                return Violation($"port {p} slot {s}: a valid entry with a zero GID or type {type}");
        }
        for (int s = 0; s < Slots; s++)
            for (int off = 0; off < SlotSize; off += 4)
                _bar.Write32(Active(p, s) + off, _bar.Read32(Staging(p, s) + off));
        return StatusOk;
    }

    private uint Violation(string text)
    {
        File.AppendAllText(Path.Combine(_device.Directory, ViolationsFileName), text + "\n");
        return StatusBadEntry;
    }

    public void Dispose()
    {
        _host.Dispose();
        _device.Dispose();
    }
}
