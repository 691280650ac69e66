using RoceUio.Hardware;
using RoceUio.Hardware.Emulation;

namespace RoceUio.Drivers;

/// <summary>
/// How a family's device model is made and run: creating the device files of a fresh device
/// (docs/emulated-devices.md), serving them on a thread of this process (<c>--emulate</c>), and serving them as the
/// whole of a process (<c>roceuio model NAME --dir DIR</c>).
/// </summary>
public sealed class DriverModel
{
    /// <summary>The port counts one model device can have (mlx4: 1 or 2; ocrdma: 1).</summary>
    public IReadOnlyList<int> PortCounts { get; init; } = [1];

    /// <summary>Creates the files of a fresh device with the given number of ports in the directory, mapped (the
    /// caller disposes the mapping; the model maps the same files itself).</summary>
    public required Func<string, int, EmulatedDevice> CreateFiles { get; init; }

    /// <summary>Serves the device in the directory on a background thread of this process until disposed; the thread
    /// reports a model that dies (<see cref="DeviceModelThread.Died"/>).</summary>
    public required Func<string, DeviceModelThread> StartInProcess { get; init; }

    /// <summary>Serves the device in the directory until the token is cancelled; returns the process's exit status.</summary>
    public required Func<string, CancellationToken, int> Serve { get; init; }
}
