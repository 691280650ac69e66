namespace RoceUio.Drivers.Rxe;

/// <summary>
/// The rxe-shaped software device as the program sees it (<see cref="RoceDriver"/>): no PCI ids, no registers, no
/// model, one port per device named <c>rxeN</c>; only <c>--emulate rxe:NETDEV</c> makes one.
/// </summary>
public static class RxeDriver
{
    public static RoceDriver Descriptor { get; } = new()
    {
        Name = "rxe",
        Summary = "software RoCE v2 device shaped like rdma_rxe (1,024 GIDs, nothing pushed)",
        MaxPortsPerDevice = 1,
        OpenSoftware = ctx => new DriverHandle(new RxeDevice(ctx.Name)),
    };
}
