using RoceUio.Hardware;
using RoceUio.Hardware.Emulation;
using RoceUio.Hardware.Pci;

namespace RoceUio.Drivers.Conformance.Toy;

/// <summary>
/// The toy family's descriptor: all that a new family gives the program. It is registered only in the registries the
/// tests make (never in the program's BuiltinDrivers), which shows that a family needs nothing outside its folder.
/// </summary>
public static class ToyDriver
{
    public static RoceDriver Descriptor { get; } = new()
    {
        Name = "toy",
        Summary = "a made-up two-port NIC for the tests",
        PciIds = [new PciId(ToyLayout.VendorId, ToyLayout.DeviceId)],
        MaxPortsPerDevice = ToyLayout.Ports,
        Open = (ctx, res) => new DriverHandle(new ToyDevice(ctx.Name,
            new MmioRegion(res.Bar(0), 0, RegisterByteOrder.LittleEndian) { Tracer = ctx.Tracer })),
        Model = new DriverModel
        {
            PortCounts = [ToyLayout.Ports],
            CreateFiles = (dir, _) => ToyModel.CreateFiles(dir),
            StartInProcess = dir =>
            {
                var model = new ToyModel(dir);
                return new DeviceModelThread("toy-model", model.Run, model);
            },
            Serve = (dir, stop) =>
            {
                using var model = new ToyModel(dir);
                return model.Run(stop);
            },
        },
    };
}
