using RoceUio.Drivers;

namespace RoceUio.Cli;

/// <summary>
/// The NIC families this program is built with: one registration line per family (its folder's descriptor). Adding a
/// family is its folder under drivers/, a project reference in RoceUio.Cli.csproj and one line here
/// (docs/driver-guide.md).
/// </summary>
public static class BuiltinDrivers
{
    /// <summary>The registry every command asks (config, run, model, bind, PCI discovery).</summary>
    public static RoceDriverRegistry Registry { get; } = new RoceDriverRegistry()
        .Register(RoceUio.Drivers.Mlx4.Mlx4Driver.Descriptor)
        .Register(RoceUio.Drivers.Ocrdma.OcrdmaDriver.Descriptor)
        .Register(RoceUio.Drivers.Rxe.RxeDriver.Descriptor);
}
