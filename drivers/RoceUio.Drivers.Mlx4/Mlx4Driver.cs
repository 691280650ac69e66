using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Hardware.Pci;

namespace RoceUio.Drivers.Mlx4;

/// <summary>
/// The mlx4 family as the program sees it (<see cref="RoceDriver"/>): ConnectX-3 / -3 Pro physical functions (the PF
/// rows of <see cref="Mlx4PciIds"/>; VFs need the comm channel, which this driver does not speak), two ports per device
/// named <c>mlx4_N</c>, registers in BAR0 (DCS), and the in-tree device model.
/// </summary>
public static class Mlx4Driver
{
    /// <summary>Config key: <see cref="Mlx4DeviceOptions.CommandTimeout"/> in milliseconds.</summary>
    public const string CommandTimeoutKey = "command_timeout_ms";
    /// <summary>Config key: <see cref="Mlx4DeviceOptions.BusyTimeout"/> in milliseconds.</summary>
    public const string BusyTimeoutKey = "busy_timeout_ms";

    public static RoceDriver Descriptor { get; } = new()
    {
        Name = "mlx4",
        Summary = "Mellanox ConnectX-3 / ConnectX-3 Pro (mlx4), GID table pushed with SET_PORT through the BAR0 HCR",
        PciIds = Mlx4PciIds.All.Where(r => r.Kind != Mlx4PciKind.VirtualFunction)
            .Select(r => new PciId(Mlx4PciIds.VendorMellanox, r.DeviceId)).ToList(),
        MaxPortsPerDevice = Mlx4Layout.MaxPorts,
        DeviceName = n => $"mlx4_{n}",
        Open = (ctx, res) => new DriverHandle(Mlx4Device.Open(res.VendorId, res.DeviceId, res.Bar(Mlx4Layout.DcsBar), res.Dma, Options(ctx))),
        Model = new DriverModel
        {
            PortCounts = [1, 2],
            CreateFiles = (dir, ports) => new Mlx4ModelConfig { Ports = ports }.CreateDevice(dir),
            StartInProcess = Mlx4DeviceModel.StartThread,
            Serve = Mlx4DeviceModel.Serve,
        },
        Settings =
        [
            DriverSetting.Milliseconds(CommandTimeoutKey, "how long a command may run before the HCR's GO bit must clear (default 60000)"),
            DriverSetting.Milliseconds(BusyTimeoutKey, "how long a post waits for a busy HCR (default 10000)"),
        ],
    };

    /// <summary>The driver's options for a device opened with <paramref name="ctx"/>.</summary>
    public static Mlx4DeviceOptions Options(DriverOpenContext ctx) => new()
    {
        Name = ctx.Name,
        Tracer = ctx.Tracer,
        VlanOfNetdev = ctx.VlanOfNetdev,
        CommandTimeout = ctx.Milliseconds(CommandTimeoutKey, Mlx4Layout.CommandTimeClass),
        BusyTimeout = ctx.Milliseconds(BusyTimeoutKey, Mlx4Layout.GoBitTimeout),
    };
}
