using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Drivers.Rxe;

/// <summary>
/// A software RoCE device with the table shape of Linux's <c>rdma_rxe</c> (drivers/infiniband/sw/rxe): one port per
/// netdev, RoCE v2 only (<c>rxe_port_immutable</c> sets only <c>RDMA_CORE_PORT_IBA_ROCE_UDP_ENCAP</c>), 1,024 GID
/// entries (<c>RXE_PORT_GID_TBL_LEN</c>, rxe_param.h), so one default slot (index 0) and 1,023 for addresses.
/// </summary>
/// <remarks>
/// rxe has no <c>add_gid</c>/<c>del_gid</c> of its own: its GIDs live only in the core table. So this device keeps
/// nothing and pushes nothing; it is there so that the project can be compared with a real kernel running rxe index
/// for index (<c>roceuio run --emulate rxe:eth0 --index-policy kernel</c> beside <c>rdma link add rxe0 type rxe
/// netdev eth0</c>), and so that GID work can be measured without a device model in the way.
/// Locking: none needed; nothing here changes after construction.
/// </remarks>
public sealed class RxeDevice : IRoceDevice
{
    /// <summary><c>RXE_PORT_GID_TBL_LEN</c>.</summary>
    public const int GidTableLength = 1024;

    public RxeDevice(string name) => Name = name;

    public string Name { get; }
    public string DriverName => "rxe";
    public int PortCount => 1;
    public int GidTableSize(int port) => GidTableLength;
    public GidTypes SupportedGidTypes(int port) => GidTypes.RoceV2;

    /// <summary>Counts what the core asked for (diagnostics and tests); rxe itself stores nothing.</summary>
    public long AddCalls { get; private set; }
    public long DeleteCalls { get; private set; }

    public void AddGid(int port, int index, in GidEntry entry)
    {
        CheckPort(port);
        if (entry.Type != GidType.RoceV2)
            throw new RoceDeviceException($"{Name} port {port}: rxe carries RoCE v2 only, not {entry.Type} (index {index}, {entry})");
        AddCalls++;
    }

    public void DeleteGid(int port, int index, in GidEntry entry)
    {
        CheckPort(port);
        DeleteCalls++;
    }

    public void Commit(int port) => CheckPort(port);

    public void Dispose() { }

    private void CheckPort(int port)
    {
        if (port != 1)
            throw new RoceDeviceException($"{Name}: rxe has one port; there is no port {port}");
    }
}
