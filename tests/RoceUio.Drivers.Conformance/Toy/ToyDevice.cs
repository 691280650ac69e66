using RoceUio.Gids;
using RoceUio.Hardware;
using RoceUio.Roce;
using static RoceUio.Drivers.Conformance.Toy.ToyLayout;

namespace RoceUio.Drivers.Conformance.Toy;

/// <summary>
/// The toy family's driver: a shadow of each port's table (core index = hardware slot), pushed whole by
/// <see cref="Commit"/> through the staging area and the doorbell (<see cref="ToyLayout"/>); a refused push keeps the
/// shadow (what the device must hold) for the next Commit, as the IRoceDevice contract says.
/// Locking: calls come from one thread at a time (the IRoceDevice contract).
/// </summary>
public sealed class ToyDevice(string name, MmioRegion bar0) : IRoceDevice
{
    private readonly GidEntry?[][] _shadow = [new GidEntry?[Slots], new GidEntry?[Slots]];

    public string Name { get; } = name;
    public string DriverName => "toy";
    public int PortCount => Ports;
    public int GidTableSize(int port) => Slots;
    public GidTypes SupportedGidTypes(int port) => GidTypes.Roce;

    /// <summary>True while the shadow holds an entry at the index (the index resolves to slot = index).</summary>
    public bool Holds(int port, int index) => _shadow[Check(port) - 1][index] is not null;

    public void AddGid(int port, int index, in GidEntry entry)
    {
        GidEntry?[] t = _shadow[Check(port) - 1];
        CheckIndex(port, index);
        if (t[index] is { } held)
            throw new RoceDeviceException($"{Name} port {port}: index {index} already holds {held}");
        if (entry.Gid.IsZero || entry.Type is not (GidType.RoceV1 or GidType.RoceV2))
            throw new RoceDeviceException($"{Name} port {port}: index {index}: {entry} is not a RoCE GID");
        t[index] = entry;
    }

    public void DeleteGid(int port, int index, in GidEntry entry)
    {
        GidEntry?[] t = _shadow[Check(port) - 1];
        CheckIndex(port, index);
        if (t[index] is not { } held || held != entry)
            throw new RoceDeviceException($"{Name} port {port}: index {index} holds {(t[index]?.ToString() ?? "nothing")}, not {entry}");
        t[index] = null;
    }

    public void Commit(int port)
    {
        GidEntry?[] t = _shadow[Check(port) - 1];
        for (int s = 0; s < Slots; s++)
        {
            long at = Staging(port, s);
            GidEntry e = t[s] ?? default;
            bar0.Write64(at, e.Gid.SubnetPrefix);
            bar0.Write64(at + 8, e.Gid.InterfaceId);
            bar0.Write32(at + 16, (uint)e.Type);
            bar0.Write32(at + 20, t[s] is null ? 0u : 1u);
        }
        bar0.Write32(Status, StatusBusy);
        MmioRegion.WriteBarrier();
        bar0.Write32(Doorbell, (uint)port);
        long deadline = Environment.TickCount64 + 10_000;
        while (bar0.Read32(Doorbell) != 0)
        {
            if (Environment.TickCount64 > deadline)
                Refused(port, "the device did not answer within 10 s");
            Thread.Yield();
        }
        uint status = bar0.Read32(Status);
        if (status != StatusOk)
            Refused(port, $"the device refused the table with status 0x{status:x}");
    }

    private void Refused(int port, string why)
        => throw new RoceDeviceException($"{Name} port {port}: {why}; the table is pushed again on the next commit");

    private int Check(int port)
        => port is >= 1 and <= Ports ? port : throw new RoceDeviceException($"{Name}: the toy has ports 1 and 2; there is no port {port}");

    private void CheckIndex(int port, int index)
    {
        if ((uint)index >= Slots)
            throw new RoceDeviceException($"{Name} port {port}: index {index} is outside the {Slots}-slot table");
    }

    public void Dispose() { }
}
