using System.Buffers.Binary;
using RoceUio.Gids;
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
}

/// <summary>
/// An mlx4 (ConnectX-3 / -3 Pro) physical function driven from user space through its BAR0 HCR, implementing
/// <see cref="IRoceDevice"/>. Bring-up (<see cref="Open(EmulatedDevice, Mlx4DeviceOptions?)"/>) maps the HCR, allocates one
/// 4 KiB mailbox, runs QUERY_FW (command interface revision 2..3) and QUERY_DEV_CAP (number of ports, bmme flags bit 19:
/// the RoCE v1_v2 GID format). <see cref="AddGid"/>/<see cref="DeleteGid"/> edit a port's shadow
/// (<see cref="Mlx4GidTable"/>); <see cref="Commit"/> pushes the whole table with one SET_PORT, rolling the shadow
/// back if the device refuses or does not answer.
/// Locking: calls come from one thread at a time (the IRoceDevice contract); the HCR serialises its own posts;
/// <see cref="TryGetRealIndex"/> may be called from any thread.
/// </summary>
public sealed class Mlx4Device : IRoceDevice
{
    private readonly Mlx4DeviceOptions _options;
    private readonly DmaBuffer _mailbox;
    private readonly Mlx4GidTable[] _tables;

    private Mlx4Device(Mlx4PciId pciId, Mlx4Hcr hcr, DmaBuffer mailbox, Mlx4DeviceOptions options, Mlx4FirmwareInfo fw, int ports, uint bmmeFlags)
    {
        PciId = pciId;
        Hcr = hcr;
        _mailbox = mailbox;
        _options = options;
        Firmware = fw;
        BmmeFlags = bmmeFlags;
        GidFormat = (bmmeFlags & Mlx4Layout.BmmeFlagRoceV1V2) != 0 ? Mlx4GidFormat.RoceAddr : Mlx4GidFormat.GidTable;
        _tables = new Mlx4GidTable[ports];
        for (int p = 1; p <= ports; p++)
            _tables[p - 1] = new Mlx4GidTable(options.Name, p, GidFormat);
    }

    /// <summary>Brings up the mlx4 function of an emulated device (its BAR0 and DMA memory).</summary>
    public static Mlx4Device Open(EmulatedDevice device, Mlx4DeviceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        return Open(device.VendorId, device.DeviceId, device.Bar(Mlx4Layout.DcsBar), device.Dma, options);
    }

    /// <summary>
    /// Brings up an mlx4 physical function: <paramref name="bar0"/> is its DCS BAR mapped (sysfs resource0, UIO, VFIO
    /// or an emulated file), <paramref name="dma"/> gives memory the device can reach.
    /// </summary>
    public static Mlx4Device Open(ushort vendorId, ushort deviceId, MappedFile bar0, IDmaAllocator dma, Mlx4DeviceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bar0);
        ArgumentNullException.ThrowIfNull(dma);
        options ??= new Mlx4DeviceOptions();
        string name = options.Name;
        if (!Mlx4PciIds.TryFind(vendorId, deviceId, out Mlx4PciId id))
            throw new RoceDeviceException($"{name}: PCI id {vendorId:x4}:{deviceId:x4} is not in mlx4's table (vendor 15b3, ConnectX-3 1003, ConnectX-3 Pro 1007, ...)");
        if (id.Kind == Mlx4PciKind.VirtualFunction)
            throw new RoceDeviceException($"{name}: {vendorId:x4}:{deviceId:x4} is a virtual function ({id.Name}); VFs post commands through the comm channel, which this driver does not speak");
        if (bar0.Length < Mlx4Layout.HcrBase + Mlx4Layout.HcrSize)
            throw new RoceDeviceException($"{name}: BAR0 ({bar0.Path}) is 0x{bar0.Length:x} bytes; the HCR at 0x{Mlx4Layout.HcrBase:x} does not fit (a ConnectX-3 BAR0 is 1 MiB)");

        // The tracer goes on the region before Mlx4Hcr's constructor reads the toggle, so bring-up is traced whole.
        var regs = new MmioRegion(bar0, Mlx4Layout.DcsBar, RegisterByteOrder.BigEndian, Mlx4Layout.HcrBase, Mlx4Layout.HcrSize) { Tracer = options.Tracer };
        var hcr = new Mlx4Hcr(regs, name) { BusyTimeout = options.BusyTimeout };
        DmaBuffer mailbox = dma.Allocate(Mlx4Layout.MailboxSize, Mlx4Layout.MailboxAlignment);
        if (mailbox.Length < Mlx4Layout.MailboxSize || mailbox.DeviceAddress % Mlx4Layout.MailboxAlignment != 0)
            throw new RoceDeviceException($"{name}: the DMA allocator gave a mailbox of {mailbox.Length} bytes at 0x{mailbox.DeviceAddress:x}; mlx4 needs 4096 bytes aligned to 4096");

        Mlx4FirmwareInfo fw = QueryFirmware(hcr, mailbox, options);
        (int ports, uint bmme) = QueryDevCap(hcr, mailbox, options);
        return new Mlx4Device(id, hcr, mailbox, options, fw, ports, bmme);
    }

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
        Span<byte> box = _mailbox.Span;
        box.Clear();
        t.WriteMailbox(box);
        uint inMod = Mlx4Layout.SetPortInModifier(Mlx4Layout.SubOp(t.Format), port);
        try
        {
            Hcr.Execute(_mailbox.DeviceAddress, 0, inMod, Mlx4Layout.SetPortEthOpcode, Mlx4Layout.CmdSetPort, _options.CommandTimeout);
        }
        catch (Mlx4CommandException e)
        {
            throw new Mlx4CommandException(
                $"{e.Message}; {t.PendingChanges} GID change(s) on port {port} are not in the hardware yet (the table is pushed again)",
                e.Opcode, e.OpModifier, e.InModifier, e.Status, e.TimedOut);
        }
        t.PushSucceeded();
    }

    public void Dispose()
    {
        // The BAR and DMA memory belong to whoever mapped them (EmulatedDevice, the PCI layer); the mailbox is
        // bump-allocated from that memory and goes with it.
    }

    // ---- bring-up queries (fw.c mlx4_QUERY_FW, mlx4_QUERY_DEV_CAP) ----

    private static Mlx4FirmwareInfo QueryFirmware(Mlx4Hcr hcr, DmaBuffer mailbox, Mlx4DeviceOptions o)
    {
        Span<byte> box = mailbox.Span;
        box.Clear();
        hcr.Execute(0, mailbox.DeviceAddress, 0, 0, Mlx4Layout.CmdQueryFw, o.CommandTimeout);
        var fw = Mlx4FirmwareInfo.Parse(box);
        if (fw.CmdIfRev < Mlx4Layout.CmdIfRevMin || fw.CmdIfRev > Mlx4Layout.CmdIfRevMax)
            throw new RoceDeviceException(
                $"{o.Name}: firmware {fw.Version} has command interface revision {fw.CmdIfRev}; the driver speaks {Mlx4Layout.CmdIfRevMin}..{Mlx4Layout.CmdIfRevMax} (fw.c mlx4_QUERY_FW)");
        return fw;
    }

    private static (int Ports, uint Bmme) QueryDevCap(Mlx4Hcr hcr, DmaBuffer mailbox, Mlx4DeviceOptions o)
    {
        Span<byte> box = mailbox.Span;
        box.Clear();
        hcr.Execute(0, mailbox.DeviceAddress, 0, 0, Mlx4Layout.CmdQueryDevCap, o.CommandTimeout);
        int ports = box[Mlx4Layout.QueryDevCapVlPort] & 0xf;
        uint bmme = BinaryPrimitives.ReadUInt32BigEndian(box[Mlx4Layout.QueryDevCapBmmeFlags..]);
        if (ports < 1 || ports > Mlx4Layout.MaxPorts)
            throw new RoceDeviceException($"{o.Name}: QUERY_DEV_CAP reports {ports} ports; mlx4 has 1 or {Mlx4Layout.MaxPorts} (MLX4_MAX_PORTS)");
        return (ports, bmme);
    }
}

/// <summary>What QUERY_FW says (fw.c mlx4_QUERY_FW).</summary>
public readonly record struct Mlx4FirmwareInfo(ushort Major, ushort Minor, ushort SubMinor, ushort CmdIfRev, int LogMaxCommands)
{
    public string Version => $"{Major}.{Minor}.{SubMinor}";

    /// <summary>Reads the outbox. The raw be64 at 0x00 is <c>major &lt;&lt; 32 | subminor &lt;&lt; 16 | minor</c>.</summary>
    public static Mlx4FirmwareInfo Parse(ReadOnlySpan<byte> outbox)
    {
        ulong raw = BinaryPrimitives.ReadUInt64BigEndian(outbox[Mlx4Layout.QueryFwVersion..]);
        return new Mlx4FirmwareInfo((ushort)(raw >> 32), (ushort)raw, (ushort)(raw >> 16),
            BinaryPrimitives.ReadUInt16BigEndian(outbox[Mlx4Layout.QueryFwCmdIfRev..]), outbox[Mlx4Layout.QueryFwMaxCmd]);
    }

    /// <summary>Writes the fields into an outbox (the device model's side).</summary>
    public void WriteTo(Span<byte> outbox)
    {
        BinaryPrimitives.WriteUInt64BigEndian(outbox[Mlx4Layout.QueryFwVersion..], (ulong)Major << 32 | (ulong)SubMinor << 16 | Minor);
        BinaryPrimitives.WriteUInt16BigEndian(outbox[Mlx4Layout.QueryFwCmdIfRev..], CmdIfRev);
        outbox[Mlx4Layout.QueryFwMaxCmd] = (byte)LogMaxCommands;
    }
}
