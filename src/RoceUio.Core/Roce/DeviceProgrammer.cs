using RoceUio.Gids;

namespace RoceUio.Roce;

/// <summary>
/// Connects the core tables of one device to its driver (<see cref="IGidProgrammer"/> → <see cref="IRoceDevice"/>):
/// turns a driver's <see cref="RoceDeviceException"/> into a refusal the table reports as
/// <see cref="GidWriteResult.DeviceRefused"/>, and marks the port's <see cref="PortSync"/> for every change the driver
/// was told, so that the end of the burst pushes it. A delete the driver cannot apply is not undone (the kernel's
/// del_gid ignores the driver's result): the port is marked behind and the next push gives the hardware the core
/// table. Used only on the manager's worker thread.
/// </summary>
internal sealed class DeviceProgrammer(IRoceDevice device, Func<long> clock) : IGidProgrammer
{
    private readonly Dictionary<int, PortSync> _sync = new();

    public IRoceDevice Device { get; } = device;

    public void Track(int port, PortSync sync) => _sync[port] = sync;

    public bool TryAddGid(int port, int index, in GidEntry e, out string? refusal)
    {
        try
        {
            Device.AddGid(port, index, e);
        }
        catch (RoceDeviceException x)
        {
            refusal = x.Message;
            return false;
        }
        refusal = null;
        _sync[port].MarkChanged(clock());
        return true;
    }

    public void DeleteGid(int port, int index, in GidEntry e)
    {
        try
        {
            Device.DeleteGid(port, index, e);
            _sync[port].MarkChanged(clock());
        }
        catch (RoceDeviceException x)
        {
            _sync[port].MarkBehind(clock(), x.Message);
        }
    }
}
