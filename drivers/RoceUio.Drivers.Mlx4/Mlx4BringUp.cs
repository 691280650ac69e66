using System.Buffers.Binary;
using System.Diagnostics;
using RoceUio.Hardware;
using RoceUio.Hardware.Pci;
using RoceUio.Roce;
using static RoceUio.Drivers.Mlx4.Mlx4FirmwareLayout;

namespace RoceUio.Drivers.Mlx4;

/// <summary>
/// Starts and stops the firmware of an mlx4 physical function the way mlx4_core does, so that a card nobody started
/// (bound to vfio-pci or uio) takes the GID path's commands:
/// <list type="number">
/// <item>ownership (main.c <c>mlx4_get_ownership</c>: the OWNER register read is a semaphore), so two processes never
/// drive one card; then a reset (reset.c <c>mlx4_reset</c>: HW semaphore, reset register, one second, the device back,
/// config space restored), as mlx4_init_one does for every physical function: a boot ROM or an earlier run may have
/// left the HCA in any state;</item>
/// <item><c>mlx4_init_fw</c>: QUERY_FW, MAP_FA with the firmware pages it asked for, RUN_FW, MOD_STAT_CFG;</item>
/// <item><c>mlx4_init_hca</c>: QUERY_DEV_CAP (with QUERY_PORT per port from command interface revision 3), the ICM
/// profile (<see cref="Mlx4IcmProfile"/>), <c>mlx4_init_icm</c> (SET_ICM_SIZE, MAP_ICM_AUX, MAP_ICM of every table's
/// reserved chunks), INIT_HCA, QUERY_ADAPTER;</item>
/// <item>per port as <c>mlx4_en_start_port</c> does: SET_PORT general (with <c>MLX4_SET_PORT_ROCE_V1_V2</c> when the
/// device has v1_v2, without which RoCE v2 is never enabled on the port), INIT_PORT;</item>
/// <item>with v1_v2, as <c>mlx4_ib_add</c> does: CONFIG_DEV with the RoCE v2 UDP port (4791).</item>
/// </list>
/// <see cref="ShutDown"/> goes back in reverse (<c>mlx4_en_stop_port</c>'s CLOSE_PORT, <c>mlx4_close_hca</c>'s
/// CLOSE_HCA and <c>mlx4_free_icms</c>' UNMAP_ICM/UNMAP_ICM_AUX, <c>mlx4_close_fw</c>'s UNMAP_FA,
/// <c>mlx4_free_ownership</c>) and lets go of DMA memory only once the firmware gave it back: a buffer whose UNMAP
/// failed stays held for the life of the process, since the device may still write to it.
/// Locking: one caller at a time (the driver's single-caller contract); the HCR serialises its own posts.
/// </summary>
public sealed class Mlx4BringUp
{
    private readonly string _name;
    private readonly MappedFile _bar0;
    private readonly IDmaAllocator _dma;
    private readonly Mlx4DeviceOptions _o;
    private readonly bool _sharedMemory;
    private readonly MmioRegion _owner, _reset;
    private readonly List<(ulong Virt, DmaBuffer Memory)> _icm = new();
    private DmaBuffer? _fa, _aux;
    private bool _owned, _faMapped, _hcaUp;
    private readonly bool[] _portUp = new bool[Mlx4Layout.MaxPorts + 1];
    private Mlx4Hcr? _hcr;

    /// <summary>
    /// Over the DCS BAR (<paramref name="bar0"/>) and memory the device can reach. <paramref name="sharedMemory"/>: the
    /// BAR is an emulated device's file, where the ownership semaphore is an atomic exchange and the end of a reset is
    /// the model clearing the reset register (there is no config space to watch).
    /// </summary>
    public Mlx4BringUp(string name, MappedFile bar0, IDmaAllocator dma, Mlx4DeviceOptions options, bool sharedMemory)
    {
        _name = name;
        _bar0 = bar0;
        _dma = dma;
        _o = options;
        _sharedMemory = sharedMemory;
        // readl/writel: little-endian registers (the reset value is written as swab32(1) for that reason).
        _owner = new MmioRegion(bar0, Mlx4Layout.DcsBar, RegisterByteOrder.LittleEndian, OwnerOffset, 4) { Tracer = options.Tracer };
        _reset = new MmioRegion(bar0, Mlx4Layout.DcsBar, RegisterByteOrder.LittleEndian, Mlx4Layout.ResetBase, 0x400) { Tracer = options.Tracer };
    }

    public Mlx4Hcr Hcr => _hcr ?? throw new InvalidOperationException($"{_name}: the HCR is used after the reset");
    /// <summary>The 4 KiB mailbox every command uses (<c>MLX4_MAILBOX_SIZE</c>, 4 KiB aligned as the kernel's pool).</summary>
    public DmaBuffer Mailbox { get; private set; } = null!;
    public Mlx4FirmwareInfo Firmware { get; private set; }
    public Mlx4DevCap DevCap { get; private set; } = null!;
    public Mlx4IcmProfile Profile { get; private set; } = null!;
    public ulong AuxPages { get; private set; }
    /// <summary>QUERY_ADAPTER's board id (e.g. <c>MT_1090120019</c>).</summary>
    public string BoardId { get; private set; } = "";
    /// <summary>The firmware area given with MAP_FA (null before, and once UNMAP_FA gave it back).</summary>
    public DmaBuffer? FirmwareArea => _fa;
    /// <summary>The BAR is an emulated device's shared memory.</summary>
    public bool SharedMemory => _sharedMemory;
    /// <summary>True from INIT_HCA until CLOSE_HCA.</summary>
    public bool IsUp => _hcaUp;

    private TimeSpan Timeout => _o.CommandTimeout;

    /// <summary>The whole sequence. On a failure what was started is stopped again (<see cref="ShutDown"/>) and the
    /// first error is thrown, naming the step.</summary>
    public void Run() => DeviceBringUp.StartOrTearDown(() =>
    {
        TakeOwnership();
        Reset();
        StartFirmware();
        StartHca();
        for (int port = 1; port <= DevCap.Ports; port++)
            StartPort(port);
        if (DevCap.RoceV1V2)
            ConfigRoceV2Port();
    }, ShutDown);

    // ---- ownership and reset ----

    /// <summary><c>mlx4_get_ownership</c>: a non-zero read means another driver (kernel or another process) owns the function.</summary>
    public void TakeOwnership()
    {
        uint was = _sharedMemory ? _owner.Exchange32(0, 1) : _owner.Read32(0);
        if (was != 0)
            throw new RoceDeviceException(
                $"{_name}: the function is owned by another driver (BAR0+0x{OwnerOffset:x} reads 0x{was:x8}; mlx4_get_ownership): " +
                "is mlx4_core bound, or another roceuio running on it?");
        _owned = true;
    }

    /// <summary><c>mlx4_free_ownership</c>: writes 0 (the kernel then sleeps a second before the function may be probed again).</summary>
    public void FreeOwnership()
    {
        if (!_owned)
            return;
        _owner.Write32(0, 0);
        _owned = false;
    }

    /// <summary>reset.c <c>mlx4_reset</c>.</summary>
    public void Reset()
    {
        PciConfigSpace? config = _o.ConfigSpace;
        uint[]? header = config is null ? null : SaveConfig(config);
        if (!WaitFor(() => _reset.Read32(ResetSemaphoreOffset - Mlx4Layout.ResetBase) == 0, SemaphoreTimeout))
            throw new RoceDeviceException($"{_name}: reset: the HW semaphore (BAR0+0x{ResetSemaphoreOffset:x}) stayed taken for {SemaphoreTimeout.TotalSeconds:0} s (a flash update?)");
        _reset.Write32(ResetOffset - Mlx4Layout.ResetBase, ResetValue);
        Thread.Sleep(_o.ResetSettle ?? (_sharedMemory ? TimeSpan.Zero : ResetSettle));
        Func<bool> back = config is null
            ? () => _reset.Read32(ResetOffset - Mlx4Layout.ResetBase) == 0   // the emulated device: the model has reset
            : () => config.ReadUInt16(PciConfigSpace.VendorIdOffset) != 0xffff;
        if (!WaitFor(back, ResetTimeout))
            throw new RoceDeviceException($"{_name}: the device did not come back within {ResetTimeout.TotalSeconds:0} s after reset (mlx4_reset)");
        if (config is not null)
            RestoreConfig(config, header!);
        // The reset left T = 0: a fresh HCR takes toggle 1 (mlx4_cmd_init).
        var regs = new MmioRegion(_bar0, Mlx4Layout.DcsBar, RegisterByteOrder.BigEndian, Mlx4Layout.HcrBase, Mlx4Layout.HcrSize) { Tracer = _o.Tracer };
        _hcr = new Mlx4Hcr(regs, _name) { BusyTimeout = _o.BusyTimeout };
        Mailbox ??= AllocateMailbox();
    }

    /// <summary>Dwords 0..63 but 22 and 23 ("those have a special meaning").</summary>
    private static uint[] SaveConfig(PciConfigSpace c)
    {
        var h = new uint[64];
        for (int i = 0; i < 64; i++)
            if (i is not (22 or 23))
                h[i] = c.ReadUInt32(i * 4);
        return h;
    }

    /// <summary>PCIe device and link control, dwords 0..15 but COMMAND, then COMMAND.</summary>
    private static void RestoreConfig(PciConfigSpace c, uint[] h)
    {
        int cap = PcieCapability(h);
        if (cap != 0)
        {
            c.WriteUInt16(cap + 0x08, (ushort)(h[(cap + 0x08) / 4] >> ((cap + 0x08) % 4 * 8)));   // PCI_EXP_DEVCTL
            c.WriteUInt16(cap + 0x10, (ushort)(h[(cap + 0x10) / 4] >> ((cap + 0x10) % 4 * 8)));   // PCI_EXP_LNKCTL
        }
        for (int i = 0; i < 16; i++)
            if (i * 4 != PciConfigSpace.CommandOffset)
                c.WriteUInt32(i * 4, h[i]);
        c.WriteUInt32(PciConfigSpace.CommandOffset, h[PciConfigSpace.CommandOffset / 4]);
    }

    /// <summary><c>pci_pcie_cap</c> on the saved header: the capability list from 0x34, id 0x10.</summary>
    private static int PcieCapability(uint[] h)
    {
        byte Byte(int off) => (byte)(h[off / 4] >> (off % 4 * 8));
        int pos = Byte(0x34) & ~3;
        for (int hops = 0; pos >= 0x40 && pos < 256 && hops < 48; hops++)
        {
            if (Byte(pos) == 0x10)
                return pos;
            pos = Byte(pos + 1) & ~3;
        }
        return 0;
    }

    private DmaBuffer AllocateMailbox()
    {
        DmaBuffer box = _dma.Allocate(Mlx4Layout.MailboxSize, Mlx4Layout.MailboxAlignment);
        if (box.Length < Mlx4Layout.MailboxSize || box.DeviceAddress % Mlx4Layout.MailboxAlignment != 0)
            throw new RoceDeviceException($"{_name}: the DMA allocator gave a mailbox of {box.Length} bytes at 0x{box.DeviceAddress:x}; mlx4 needs 4096 bytes aligned to 4096");
        return box;
    }

    // ---- mlx4_init_fw ----

    public void StartFirmware()
    {
        QueryFirmware();
        MapFirmwareArea();
        RunFirmware();
        ModStatCfg();
    }

    public void QueryFirmware()
    {
        Span<byte> box = ClearMailbox();
        Hcr.Execute(0, Mailbox.DeviceAddress, 0, 0, Mlx4Layout.CmdQueryFw, Timeout);
        Firmware = Mlx4FirmwareInfo.Parse(box);
        if (Firmware.CmdIfRev < Mlx4Layout.CmdIfRevMin || Firmware.CmdIfRev > Mlx4Layout.CmdIfRevMax)
            throw new RoceDeviceException(
                $"{_name}: firmware {Firmware.Version} has command interface revision {Firmware.CmdIfRev}; the driver speaks {Mlx4Layout.CmdIfRevMin}..{Mlx4Layout.CmdIfRevMax} (fw.c mlx4_QUERY_FW)");
    }

    /// <summary><c>mlx4_load_fw</c>: the firmware area (<c>fw_pages</c> 4 KiB pages) and MAP_FA.</summary>
    public void MapFirmwareArea()
    {
        if (Firmware.FwPages == 0)
            throw new RoceDeviceException($"{_name}: QUERY_FW asks for no firmware area (fw_pages 0)");
        _fa = _dma.Allocate(Firmware.FwPages * IcmPageSize, IcmPageSize);
        MapCommand(CmdMapFa, _fa, virt: null);
        _faMapped = true;
    }

    public void RunFirmware() => Hcr.Execute(0, 0, 0, 0, CmdRunFw, Timeout);

    /// <summary>MOD_STAT_CFG with <c>log_pg_sz_m = 1</c>, <c>log_pg_sz = 0</c> (main.c mlx4_init_fw).</summary>
    public void ModStatCfg()
    {
        Span<byte> box = ClearMailbox();
        WriteModStatCfg(box);
        Hcr.Execute(Mailbox.DeviceAddress, 0, 0, 0, CmdModStatCfg, Timeout);
    }

    public static void WriteModStatCfg(Span<byte> inbox)
    {
        inbox[ModStatCfgPgSz] = 0;
        inbox[ModStatCfgPgSzM] = 1;
    }

    /// <summary>
    /// fw.c <c>mlx4_map_cmd</c>: the buffer as entries of <c>2^lg</c> bytes, <c>lg = ffs(addr | size) - 1</c> (pages
    /// aligned to their size), each entry a be64 virt (MAP_ICM only) and a be64 <c>addr | (lg - 12)</c>; 256 entries
    /// per command, in_modifier = the number of entries.
    /// </summary>
    private void MapCommand(ushort opcode, DmaBuffer memory, ulong? virt)
    {
        ulong addr = memory.DeviceAddress;
        ulong size = (ulong)memory.Length;
        int lg = System.Numerics.BitOperations.TrailingZeroCount(addr | size);
        if (lg < IcmPageShift)
            throw new RoceDeviceException($"{_name}: {Mlx4Layout.OpcodeName(opcode)}: memory at 0x{addr:x} (+0x{size:x}) is not aligned to {IcmPageSize} (mlx4_map_cmd)");
        Span<byte> box = ClearMailbox();
        int nent = 0;
        ulong v = virt ?? 0;
        for (ulong i = 0; i < size >> lg; i++)
        {
            WriteMapEntry(box, nent, virt is null ? null : v, addr + (i << lg), lg);
            v += 1UL << lg;
            if (++nent == MapEntriesPerMailbox)
            {
                Hcr.Execute(Mailbox.DeviceAddress, 0, (uint)nent, 0, opcode, Timeout);
                nent = 0;
                box = ClearMailbox();
            }
        }
        if (nent > 0)
            Hcr.Execute(Mailbox.DeviceAddress, 0, (uint)nent, 0, opcode, Timeout);
    }

    /// <summary>One 16-byte map entry: <c>pages[n*2] = cpu_to_be64(virt)</c> (left 0 when there is none),
    /// <c>pages[n*2+1] = cpu_to_be64(addr | (lg - MLX4_ICM_PAGE_SHIFT))</c>.</summary>
    public static void WriteMapEntry(Span<byte> mailbox, int n, ulong? virt, ulong address, int lg)
    {
        if (virt is { } vv)
            BinaryPrimitives.WriteUInt64BigEndian(mailbox[(n * MapEntrySize)..], vv);
        BinaryPrimitives.WriteUInt64BigEndian(mailbox[(n * MapEntrySize + 8)..], address | (uint)(lg - IcmPageShift));
    }

    // ---- mlx4_init_hca ----

    public void StartHca()
    {
        QueryDevCap();
        MakeProfile();
        SetIcmSize();
        MapIcmAux();
        MapIcmTables();
        InitHca();
        QueryAdapter();
    }

    public void QueryDevCap()
    {
        Span<byte> box = ClearMailbox();
        Hcr.Execute(0, Mailbox.DeviceAddress, 0, 0, Mlx4Layout.CmdQueryDevCap, Timeout);
        DevCap = Mlx4DevCap.Parse(box);
        if (DevCap.Ports < 1 || DevCap.Ports > Mlx4Layout.MaxPorts)
            throw new RoceDeviceException($"{_name}: QUERY_DEV_CAP reports {DevCap.Ports} ports; mlx4 has 1 or {Mlx4Layout.MaxPorts} (MLX4_MAX_PORTS)");
        // mlx4_QUERY_DEV_CAP ends with mlx4_QUERY_PORT for each port: QUERY_PORT from revision 3 on; with
        // MLX4_FLAG_OLD_PORT_CMDS (revision 2) QUERY_DEV_CAP once more per port, read for the port caps only.
        PortCaps = new Mlx4PortCap[DevCap.Ports + 1];
        for (int port = 1; port <= DevCap.Ports; port++)
        {
            ClearMailbox();
            if (Firmware.CmdIfRev >= CmdIfRevNewPortCmds)
            {
                Hcr.Execute(0, Mailbox.DeviceAddress, (uint)port, 0, CmdQueryPort, Timeout);
                PortCaps[port] = Mlx4PortCap.ParseQueryPort(box);
            }
            else
            {
                Hcr.Execute(0, Mailbox.DeviceAddress, 0, 0, Mlx4Layout.CmdQueryDevCap, Timeout);
                PortCaps[port] = Mlx4PortCap.ParseDevCap(box);
            }
        }
    }

    /// <summary>Each port's caps (index 0 unused), from QUERY_PORT or, on revision 2, QUERY_DEV_CAP.</summary>
    public Mlx4PortCap[] PortCaps { get; private set; } = [];

    /// <summary>profile.c <c>mlx4_make_profile</c> from what QUERY_DEV_CAP said.</summary>
    public void MakeProfile() => Profile = Mlx4IcmProfile.Make(DevCap);

    /// <summary><c>mlx4_SET_ICM_SIZE</c>: in_param = the profile's ICM bytes; the immediate answer is the aux pages.</summary>
    public void SetIcmSize()
        => AuxPages = Hcr.ExecuteImmediate(Profile.IcmSize, 0, 0, CmdSetIcmSize, Timeout);

    public void MapIcmAux()
    {
        if (AuxPages == 0 || AuxPages > int.MaxValue / IcmPageSize)
            throw new RoceDeviceException($"{_name}: SET_ICM_SIZE answered {AuxPages} aux pages");
        _aux = _dma.Allocate((int)AuxPages * IcmPageSize, IcmPageSize);
        MapCommand(CmdMapIcmAux, _aux, virt: null);
    }

    /// <summary><c>mlx4_init_icm</c>'s tables: each reserved chunk gets memory and a MAP_ICM at its ICM address.</summary>
    public void MapIcmTables()
    {
        foreach (Mlx4IcmTable t in Profile.Tables)
            foreach ((ulong virt, int bytes) in t.MappedChunks())
            {
                DmaBuffer chunk = _dma.Allocate(bytes, IcmPageSize);
                _icm.Add((virt, chunk));
                MapCommand(CmdMapIcm, chunk, virt);
            }
    }

    public void InitHca()
    {
        Span<byte> box = ClearMailbox();
        Profile.InitHca.WriteTo(box);
        Hcr.Execute(Mailbox.DeviceAddress, 0, 0, 0, CmdInitHca, Timeout);
        _hcaUp = true;
    }

    public void QueryAdapter()
    {
        Span<byte> box = ClearMailbox();
        Hcr.Execute(0, Mailbox.DeviceAddress, 0, 0, CmdQueryAdapter, Timeout);
        BoardId = ReadBoardId(box);
    }

    /// <summary>fw.c <c>get_board_id</c>: the firmware byte-swaps each 32-bit word of the id.</summary>
    public static string ReadBoardId(ReadOnlySpan<byte> outbox)
    {
        Span<byte> id = stackalloc byte[BoardIdLength];
        ReadOnlySpan<byte> raw = outbox.Slice(QueryAdapterVsd + VsdBoardId, BoardIdLength);
        for (int i = 0; i < BoardIdLength; i += 4)
            BinaryPrimitives.WriteUInt32BigEndian(id[i..], BinaryPrimitives.ReadUInt32LittleEndian(raw[i..]));
        int end = id.IndexOf((byte)0);
        return System.Text.Encoding.ASCII.GetString(end < 0 ? id : id[..end]);
    }

    // ---- ports (mlx4_en_start_port) ----

    public void StartPort(int port)
    {
        SetPortGeneral(port);
        InitPort(port);
    }

    public void SetPortGeneral(int port)
    {
        Span<byte> box = ClearMailbox();
        WriteSetPortGeneral(box, DefaultPortMtu, DevCap.RoceV1V2);
        Hcr.Execute(Mailbox.DeviceAddress, 0, Mlx4Layout.SetPortInModifier(Mlx4Layout.SetPortGeneral, port), Mlx4Layout.SetPortEthOpcode,
            Mlx4Layout.CmdSetPort, Timeout);
    }

    /// <summary>
    /// port.c <c>mlx4_SET_PORT_general</c> with mlx4_en's defaults (global pause on both ways, no PFC): flags
    /// <c>SET_PORT_GEN_ALL_VALID</c>, mtu, pptx = pprx = 1 &lt;&lt; 7, and with v1_v2 <c>SET_PORT_ROCE_2_FLAGS</c> and
    /// <c>roce_mode = MLX4_SET_PORT_ROCE_V1_V2 &lt;&lt; 4</c>.
    /// </summary>
    public static void WriteSetPortGeneral(Span<byte> inbox, ushort mtu, bool roceV1V2)
    {
        inbox[GeneralFlags] = GeneralAllValid;
        BinaryPrimitives.WriteUInt16BigEndian(inbox[GeneralMtu..], mtu);
        inbox[GeneralPptx] = 1 << 7;
        inbox[GeneralPfctx] = 0;
        inbox[GeneralPprx] = 1 << 7;
        inbox[GeneralPfcrx] = 0;
        if (roceV1V2)
        {
            inbox[GeneralFlags] |= GeneralRoce2Flags;
            inbox[GeneralRoceMode] |= GeneralRoceModeV1V2;
        }
    }

    /// <summary>fw.c <c>mlx4_INIT_PORT</c>: no mailbox from revision 3 on; before (<c>MLX4_FLAG_OLD_PORT_CMDS</c>), one
    /// with the port's limits as QUERY_DEV_CAP reported them (<see cref="WriteInitPort"/>).</summary>
    public void InitPort(int port)
    {
        ulong inbox = 0;
        if (Firmware.CmdIfRev < CmdIfRevNewPortCmds)
        {
            Span<byte> box = ClearMailbox();
            WriteInitPort(box, PortCaps[port]);
            inbox = Mailbox.DeviceAddress;
        }
        Hcr.Execute(inbox, 0, (uint)port, 0, CmdInitPort, Timeout);
        _portUp[port] = true;
    }

    /// <summary>
    /// The revision-2 INIT_PORT mailbox as fw.c mlx4_INIT_PORT fills it (the rest of its 256 bytes zero): be32 flags
    /// <c>(vl_cap &amp; 0xf) &lt;&lt; 4 | (port_width_cap &amp; 0xf) &lt;&lt; 8</c> at 0x00, be16 <c>128 &lt;&lt;
    /// ib_mtu_cap</c> at 0x04, be16 <c>gid_table_len</c> at 0x06, be16 <c>pkey_table_len</c> at 0x0a.
    /// </summary>
    public static void WriteInitPort(Span<byte> inbox, Mlx4PortCap cap)
    {
        uint flags = (uint)(cap.MaxVl & 0xf) << InitPortVlShift | (uint)(cap.PortWidth & 0xf) << InitPortWidthShift;
        BinaryPrimitives.WriteUInt32BigEndian(inbox[InitPortFlags..], flags);
        BinaryPrimitives.WriteUInt16BigEndian(inbox[InitPortMtu..], (ushort)cap.MtuBytes);
        BinaryPrimitives.WriteUInt16BigEndian(inbox[InitPortMaxGid..], (ushort)cap.MaxGids);
        BinaryPrimitives.WriteUInt16BigEndian(inbox[InitPortMaxPkey..], (ushort)cap.MaxPkeys);
    }

    /// <summary>The RoCE v2 UDP destination port (<c>ROCE_V2_UDP_DPORT</c>, IANA's 4791).</summary>
    public const ushort RoceV2UdpPort = 4791;

    /// <summary>
    /// mlx4_ib_add: <c>if (dev->caps.flags2 &amp; MLX4_DEV_CAP_FLAG2_ROCE_V1_V2) mlx4_config_roce_v2_port(dev,
    /// ROCE_V2_UDP_DPORT)</c>, after the ports are started (mlx4_en registers first): CONFIG_DEV set (op_mod 0, in_mod 0).
    /// The kernel fails the IB device when this is refused, and so does the bring-up here.
    /// </summary>
    public void ConfigRoceV2Port()
    {
        Span<byte> box = ClearMailbox();
        WriteRoceV2Port(box, RoceV2UdpPort);
        Hcr.Execute(Mailbox.DeviceAddress, 0, 0, ConfigDevSet, CmdConfigDev, Timeout);
    }

    /// <summary>fw.c <c>mlx4_config_roce_v2_port</c>: <c>struct mlx4_config_dev</c> with <c>update_flags =
    /// MLX4_ROCE_V2_UDP_DPORT</c> (BIT(3)) and be16 <c>roce_v2_udp_dport</c> (0x16); everything else 0.</summary>
    public static void WriteRoceV2Port(Span<byte> box, ushort udpPort)
    {
        BinaryPrimitives.WriteUInt32BigEndian(box[ConfigDevUpdateFlags..], ConfigDevUpdateRoceV2Port);
        BinaryPrimitives.WriteUInt16BigEndian(box[ConfigDevRoceV2UdpDport..], udpPort);
    }

    // ---- teardown (mlx4_unload_one) ----

    /// <summary>
    /// Everything started, stopped in reverse: CLOSE_PORT per open port, CLOSE_HCA, UNMAP_ICM of every mapped chunk
    /// (<c>mlx4_free_icms</c> order), UNMAP_ICM_AUX, UNMAP_FA, ownership freed. Goes on after a failed step (as the
    /// kernel's teardown does) and throws the failures together at the end; memory whose unmap failed is kept.
    /// Safe to call again.
    /// </summary>
    public void ShutDown()
    {
        var steps = new TearDownSteps(_name);
        if (_hcr is not null)
        {
            // mlx4_en_remove destroys the netdevs port by port (mlx4_en_stop_port: CLOSE_PORT).
            for (int port = 1; port < _portUp.Length; port++)
                if (_portUp[port])
                {
                    int p = port;
                    steps.Run(() => { Hcr.Execute(0, 0, (uint)p, 0, CmdClosePort, Timeout); _portUp[p] = false; });
                }
            if (_hcaUp)
                steps.Run(() => { Hcr.Execute(0, 0, 0, 0, CmdCloseHca, Timeout); _hcaUp = false; });
            for (int i = _icm.Count - 1; i >= 0; i--)
            {
                (ulong virt, DmaBuffer _) = _icm[i];
                int at = i;
                // icm.c: each chunk is unmapped as MLX4_TABLE_CHUNK_SIZE / MLX4_ICM_PAGE_SIZE pages at its address.
                steps.Run(() => { Hcr.Execute(virt, 0, TableChunkSize / IcmPageSize, 0, CmdUnmapIcm, Timeout); _icm.RemoveAt(at); });
            }
            if (_aux is not null && _icm.Count == 0)
                steps.Run(() => { Hcr.Execute(0, 0, 0, 0, CmdUnmapIcmAux, Timeout); _aux = null; });
            if (_faMapped && _icm.Count == 0 && _aux is null && !_hcaUp)
                steps.Run(() => { Hcr.Execute(0, 0, 0, 0, CmdUnmapFa, Timeout); _faMapped = false; _fa = null; });
        }
        if (!_faMapped)
            FreeOwnership();
        steps.ThrowIfFailed(_owned ? "the firmware still holds memory, so the function stays owned (a later start resets it)" : null);
    }

    /// <summary>DMA memory still given to the firmware (firmware area, aux, context chunks), in bytes.</summary>
    public long MemoryHeldByFirmware
        => (_fa?.Length ?? 0) + (_aux?.Length ?? 0) + _icm.Sum(c => (long)c.Memory.Length);

    // ---- helpers ----

    private Span<byte> ClearMailbox()
    {
        Span<byte> box = Mailbox.Span;
        box.Clear();
        return box;
    }

    private bool WaitFor(Func<bool> condition, TimeSpan timeout)
    {
        // An emulated device: sleep on its doorbell (the model's register write ends the sleep) instead of spinning.
        if (_reset.Doorbell is { } bell)
            return bell.WaitUntil(condition, timeout);
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        var spin = new SpinWait();
        while (!condition())
        {
            if (Stopwatch.GetTimestamp() >= deadline)
                return false;
            spin.SpinOnce();
        }
        return true;
    }
}
