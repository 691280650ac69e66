using System.Buffers.Binary;
using RoceUio.Gids;
using RoceUio.Drivers;
using RoceUio.Hardware;
using RoceUio.Roce;

namespace RoceUio.Drivers.Mlx4;

/// <summary>Settings of an <see cref="Mlx4Device"/> (name, tracer and VLAN lookup: <see cref="RoceDeviceOptions"/>).</summary>
public sealed record Mlx4DeviceOptions : RoceDeviceOptions
{
    public Mlx4DeviceOptions() => Name = "mlx4_0";

    /// <summary>How long a command may run before GO must have cleared (<c>MLX4_CMD_TIME_CLASS_B</c>: 60 s).</summary>
    public TimeSpan CommandTimeout { get; init; } = Mlx4Layout.CommandTimeClass;
    /// <summary>How long a post waits for a busy HCR (<c>GO_BIT_TIMEOUT_MSECS</c>: 10 s).</summary>
    public TimeSpan BusyTimeout { get; init; } = Mlx4Layout.GoBitTimeout;
    /// <summary>The function's config space (sysfs or VFIO), saved and restored around the reset as reset.c does;
    /// null for an emulated device, which has none.</summary>
    public RoceUio.Hardware.Pci.PciConfigSpace? ConfigSpace { get; init; }
    /// <summary>How long after writing the reset register the device is left alone: null gives the kernel's second
    /// (reset.c "Docs say to wait one second") on hardware and none on an emulated device, whose model says when it is done.</summary>
    public TimeSpan? ResetSettle { get; init; }
}

/// <summary>
/// An mlx4 (ConnectX-3 / -3 Pro) physical function driven from user space through its BAR0 HCR, implementing
/// <see cref="IRoceDevice"/>. <see cref="Open(DeviceResources, Mlx4DeviceOptions?)"/> brings the firmware up as
/// mlx4_core does (<see cref="Mlx4BringUp"/>: ownership, reset, QUERY_FW ... INIT_HCA, SET_PORT general and INIT_PORT
/// per port); <see cref="ShutDown"/> takes it down again in reverse. <see cref="AddGid"/>/<see cref="DeleteGid"/> edit
/// a port's shadow (<see cref="Mlx4GidTable"/>); <see cref="Commit"/> pushes the whole table with one SET_PORT.
/// <see cref="Dispose"/> without <see cref="ShutDown"/> leaves an emulated device's firmware running with its tables (a
/// restart resets it) and frees the ownership semaphore so that the next run can take it; a real function is shut
/// down, since its DMA memory goes away with the process.
/// Locking: calls come from one thread at a time (the IRoceDevice contract); the HCR serialises its own posts;
/// <see cref="TryGetRealIndex"/> may be called from any thread.
/// </summary>
public sealed class Mlx4Device : IRoceDevice, IRocePortBonding
{
    private readonly Mlx4DeviceOptions _options;
    private readonly DmaBuffer _mailbox;
    private readonly Mlx4GidTable[] _tables;
    private readonly Mlx4BringUp _bringUp;
    private bool _shutDown;

    private Mlx4Device(Mlx4PciId pciId, Mlx4BringUp bringUp, Mlx4DeviceOptions options)
    {
        PciId = pciId;
        _bringUp = bringUp;
        Hcr = bringUp.Hcr;
        _mailbox = bringUp.Mailbox;
        _options = options;
        Firmware = bringUp.Firmware;
        BmmeFlags = bringUp.DevCap.BmmeFlags;
        GidFormat = bringUp.DevCap.RoceV1V2 ? Mlx4GidFormat.RoceAddr : Mlx4GidFormat.GidTable;
        _tables = new Mlx4GidTable[bringUp.DevCap.Ports];
        for (int p = 1; p <= _tables.Length; p++)
            _tables[p - 1] = new Mlx4GidTable(options.Name, p, GidFormat);
        Lag = new Mlx4Lag(options.Name, () => Hcr, _mailbox, (BmmeFlags & Mlx4FirmwareLayout.BmmeFlagPortRemap) != 0, options.CommandTimeout)
        {
            // A bond mirrors port 1's table onto port 2; an unbond gives port 2 its own table again.
            BondingChanged = bonded => _tables[bonded ? 0 : _tables.Length - 1].MarkChanged(),
        };
    }

    /// <summary>RoCE LAG (<see cref="Mlx4Lag"/>): whether the ports run as one and the port map.</summary>
    public Mlx4Lag Lag { get; }

    /// <summary><see cref="IRocePortBonding"/>: the kernel's bonding rules and firmware commands (<see cref="Mlx4Lag"/>).</summary>
    public int UpdateBonding(INetdevGraph graph, ReadOnlySpan<int> portNetdevs, out string? error)
    {
        if (_shutDown || _tables.Length != 2)
        {
            error = null;
            return 0;
        }
        return Lag.Update(graph, portNetdevs, out error);
    }

    /// <summary>
    /// Brings up the function the registry opened (<see cref="DeviceResources"/>): an emulated device when it has a model
    /// directory (shared-memory semaphore, no config space), else a PCI function (its config space saved around the reset).
    /// </summary>
    public static Mlx4Device Open(DeviceResources res, Mlx4DeviceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(res);
        options ??= new Mlx4DeviceOptions();
        if (res.Config is { } config && options.ConfigSpace is null)
            options = options with { ConfigSpace = config };
        return Open(res.VendorId, res.DeviceId, res.Bar(Mlx4Layout.DcsBar), res.Dma, options, sharedMemory: res.ModelDirectory is not null);
    }

    /// <summary>
    /// Brings up an mlx4 physical function: <paramref name="bar0"/> is its DCS BAR mapped (sysfs resource0, UIO, VFIO
    /// or an emulated file), <paramref name="dma"/> gives memory the device can reach.
    /// </summary>
    public static Mlx4Device Open(ushort vendorId, ushort deviceId, MappedFile bar0, IDmaAllocator dma, Mlx4DeviceOptions? options = null)
        => Open(vendorId, deviceId, bar0, dma, options, sharedMemory: false);

    private static Mlx4Device Open(ushort vendorId, ushort deviceId, MappedFile bar0, IDmaAllocator dma, Mlx4DeviceOptions? options, bool sharedMemory)
    {
        ArgumentNullException.ThrowIfNull(bar0);
        ArgumentNullException.ThrowIfNull(dma);
        options ??= new Mlx4DeviceOptions();
        string name = options.Name;
        if (!Mlx4PciIds.TryFind(vendorId, deviceId, out Mlx4PciId id))
            throw new RoceDeviceException($"{name}: PCI id {vendorId:x4}:{deviceId:x4} is not in mlx4's table (vendor 15b3, ConnectX-3 1003, ConnectX-3 Pro 1007, ...)");
        if (id.Kind == Mlx4PciKind.VirtualFunction)
            throw new RoceDeviceException($"{name}: {vendorId:x4}:{deviceId:x4} is a virtual function ({id.Name}); VFs post commands through the comm channel, which this driver does not speak");
        if (bar0.Length < Mlx4Layout.ResetBase + 0x400)
            throw new RoceDeviceException($"{name}: BAR0 ({bar0.Path}) is 0x{bar0.Length:x} bytes; the HCR at 0x{Mlx4Layout.HcrBase:x} and the reset block at 0x{Mlx4Layout.ResetBase:x} do not fit (a ConnectX-3 BAR0 is 1 MiB)");
        var bringUp = new Mlx4BringUp(name, bar0, dma, options, sharedMemory);
        bringUp.Run();
        return new Mlx4Device(id, bringUp, options);
    }

    /// <summary>The firmware start and stop sequence and what it found (QUERY_DEV_CAP, the ICM profile, the board id).</summary>
    public Mlx4BringUp BringUp => _bringUp;

    public string Name => _options.Name;
    public string DriverName => "mlx4";
    public int PortCount => _tables.Length;
    public Mlx4PciId PciId { get; }
    public Mlx4Hcr Hcr { get; }
    public Mlx4FirmwareInfo Firmware { get; }
    /// <summary>QUERY_DEV_CAP's bmme flags (outbox 0x94).</summary>
    public uint BmmeFlags { get; }
    /// <summary>ROCE_ADDR when the device advertised RoCE v1_v2 (bmme bit 19), else GID_TABLE.</summary>
    public Mlx4GidFormat GidFormat { get; }
    /// <summary>The device address of the mailbox every command uses.</summary>
    public ulong MailboxAddress => _mailbox.DeviceAddress;

    /// <summary><c>MLX4_ROCE_MAX_GIDS</c>: 128 on every port (no SR-IOV split).</summary>
    public int GidTableSize(int port) => Table(port).CoreTableSize;

    /// <summary>RoCE v1 and v2 with the v1_v2 format (<c>RDMA_CORE_PORT_IBA_ROCE_UDP_ENCAP</c>), else RoCE v1 only.</summary>
    public GidTypes SupportedGidTypes(int port)
    {
        _ = Table(port);
        return GidFormat == Mlx4GidFormat.RoceAddr ? GidTypes.Roce : GidTypes.RoceV1;
    }

    /// <summary>The shadow of a port (what the hardware holds after the last successful <see cref="Commit"/>, plus pending changes).</summary>
    public Mlx4GidTable Table(int port)
    {
        if (port < 1 || port > _tables.Length)
            throw new RoceDeviceException($"{Name}: port {port} does not exist (ports 1..{_tables.Length})");
        return _tables[port - 1];
    }

    /// <summary><c>mlx4_ib_gid_index_to_real_index</c>: the hardware slot of a core index. Allocation-free, any thread.</summary>
    public bool TryGetRealIndex(int port, int coreIndex, out int realIndex)
    {
        realIndex = -1;
        return (uint)(port - 1) < (uint)_tables.Length && _tables[port - 1].TryGetRealIndex(coreIndex, out realIndex);
    }

    public void AddGid(int port, int index, in GidEntry entry)
    {
        Mlx4GidTable t = Table(port);
        if (!SupportedGidTypes(port).Contains(entry.Type))
            throw new RoceDeviceException(
                $"{Name} port {port}: GID type {entry.Type} is not supported (the device {(GidFormat == Mlx4GidFormat.RoceAddr ? "speaks RoCE v1 and v2" : "has no RoCE v1_v2 capability: RoCE v1 only")})");
        t.Add(index, entry.Gid, entry.Type, _options.VlanOfNetdev?.Invoke(entry.NetdevIfindex) ?? 0);
    }

    public void DeleteGid(int port, int index, in GidEntry entry) => Table(port).Delete(index, entry.Gid, entry.Type);

    /// <summary>
    /// Pushes the port's whole table with one SET_PORT (GID_TABLE or ROCE_ADDR, op_mod 1, in_mod <c>sub &lt;&lt; 8 | port</c>)
    /// if anything changed. A refused or timed-out push changes nothing in the shadow (it stays what the hardware must
    /// hold, and <see cref="Mlx4GidTable.NeedsPush"/> stays true); the error says so, and the caller pushes again.
    /// </summary>
    public void Commit(int port)
    {
        Mlx4GidTable t = Table(port);
        if (!t.NeedsPush)
            return;
        if (Lag.IsBonded && port != 1)
        {
            // Bonded: this port has no table of its own; its hardware holds port 1's (pushed with port 1's).
            t.PushSucceeded();
            return;
        }
        Span<byte> box = _mailbox.Span;
        box.Clear();
        t.WriteMailbox(box);
        try
        {
            Hcr.Execute(_mailbox.DeviceAddress, 0, Mlx4Layout.SetPortInModifier(Mlx4Layout.SubOp(t.Format), port),
                Mlx4Layout.SetPortEthOpcode, Mlx4Layout.CmdSetPort, _options.CommandTimeout);
            // mlx4_ib_update_gids_v1/_v1_v2: "if (mlx4_is_bonded(dev))" the same mailbox goes to port 2 as well.
            if (Lag.IsBonded)
                Hcr.Execute(_mailbox.DeviceAddress, 0, Mlx4Layout.SetPortInModifier(Mlx4Layout.SubOp(t.Format), 2),
                    Mlx4Layout.SetPortEthOpcode, Mlx4Layout.CmdSetPort, _options.CommandTimeout);
        }
        catch (Mlx4CommandException e)
        {
            throw new Mlx4CommandException(
                $"{e.Message}; {t.PendingChanges} GID change(s) on port {port} are not in the hardware yet (the table is pushed again)",
                e.Opcode, e.OpModifier, e.InModifier, e.Status, e.TimedOut);
        }
        t.PushSucceeded();
    }

    /// <summary>
    /// Takes the firmware down as mlx4_unload_one does (CLOSE_PORT, CLOSE_HCA, UNMAP_ICM, UNMAP_ICM_AUX, UNMAP_FA, ownership
    /// freed); the GID tables go with it. Idempotent; afterwards only <see cref="Dispose"/> may be called.
    /// </summary>
    public void ShutDown()
    {
        if (_shutDown)
            return;
        _shutDown = true;
        _bringUp.ShutDown();
    }

    public void Dispose()
    {
        // An emulated device keeps running with its tables (a later run resets it); its DMA file outlives us. A real
        // function's DMA memory goes away with this process, so its firmware must give it back first.
        if (!_bringUp.SharedMemory && !_shutDown)
        {
            try
            {
                ShutDown();
            }
            catch (RoceDeviceException)
            {
                // Dispose does not throw; what could not be unmapped stays held (Mlx4BringUp.MemoryHeldByFirmware).
            }
        }
        _bringUp.FreeOwnership();
    }
}

/// <summary>What QUERY_FW says (fw.c mlx4_QUERY_FW).</summary>
public readonly record struct Mlx4FirmwareInfo(ushort Major, ushort Minor, ushort SubMinor, ushort CmdIfRev, int LogMaxCommands)
{
    public string Version => $"{Major}.{Minor}.{SubMinor}";

    /// <summary>The firmware area MAP_FA must give, in 4 KiB pages (<c>QUERY_FW_SIZE_OFFSET</c>, be16 at 0x00).</summary>
    public ushort FwPages { get; init; }

    /// <summary>Reads the outbox. The raw be64 at 0x00 is <c>major &lt;&lt; 32 | subminor &lt;&lt; 16 | minor</c>.</summary>
    public static Mlx4FirmwareInfo Parse(ReadOnlySpan<byte> outbox)
    {
        ulong raw = BinaryPrimitives.ReadUInt64BigEndian(outbox[Mlx4Layout.QueryFwVersion..]);
        return new Mlx4FirmwareInfo((ushort)(raw >> 32), (ushort)raw, (ushort)(raw >> 16),
            BinaryPrimitives.ReadUInt16BigEndian(outbox[Mlx4Layout.QueryFwCmdIfRev..]), outbox[Mlx4Layout.QueryFwMaxCmd])
        { FwPages = BinaryPrimitives.ReadUInt16BigEndian(outbox[Mlx4FirmwareLayout.QueryFwPages..]) };
    }

    /// <summary>Writes the fields into an outbox (the device model's side).</summary>
    public void WriteTo(Span<byte> outbox)
    {
        BinaryPrimitives.WriteUInt64BigEndian(outbox[Mlx4Layout.QueryFwVersion..], (ulong)Major << 32 | (ulong)SubMinor << 16 | Minor);
        BinaryPrimitives.WriteUInt16BigEndian(outbox[Mlx4FirmwareLayout.QueryFwPages..], FwPages);
        BinaryPrimitives.WriteUInt16BigEndian(outbox[Mlx4Layout.QueryFwCmdIfRev..], CmdIfRev);
        outbox[Mlx4Layout.QueryFwMaxCmd] = (byte)LogMaxCommands;
    }
}
