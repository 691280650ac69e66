using System.Buffers.Binary;
using RoceUio.Hardware;
using static RoceUio.Drivers.Mlx4.Mlx4FirmwareLayout;

namespace RoceUio.Drivers.Mlx4.Model;

/// <summary>Where the emulated firmware is in its life (the kernel's order is the only one it accepts).</summary>
public enum Mlx4FirmwarePhase
{
    /// <summary>After a reset: QUERY_FW and MAP_FA only.</summary>
    Reset,
    /// <summary>MAP_FA given (some or all of the pages QUERY_FW asked for): more MAP_FA, RUN_FW, UNMAP_FA.</summary>
    AreaMapped,
    /// <summary>RUN_FW done: MOD_STAT_CFG, QUERY_DEV_CAP, QUERY_PORT, SET_ICM_SIZE, MAP_ICM_AUX, MAP_ICM, INIT_HCA, and the unmaps.</summary>
    Running,
    /// <summary>INIT_HCA done: QUERY_ADAPTER, SET_PORT, INIT_PORT, CLOSE_PORT, CLOSE_HCA.</summary>
    HcaUp,
}

/// <summary>A port as the firmware sees it: SET_PORT general given (and with RoCE v1_v2?), INIT_PORT done.</summary>
public sealed class Mlx4ModelPort
{
    public bool GeneralSet;
    public bool RoceV1V2;
    public ushort Mtu;
    public bool Up;
    /// <summary>What a revision-2 INIT_PORT mailbox gave (0 from revision 3 on, where INIT_PORT has none).</summary>
    public ushort InitMtu, InitMaxGids;
}

/// <summary>
/// The firmware state machine of the mlx4 model: the start and stop commands of <see cref="Mlx4BringUp"/>, each valid
/// only in its phase (BAD_SYS_STATE otherwise), with their mailboxes checked: page lists aligned to their size and
/// inside the DMA memory (MAP_FA pages are written through the DMA file, as firmware loads itself there), enough
/// firmware and aux pages, MAP_ICM inside the size SET_ICM_SIZE set, INIT_HCA's tables inside mapped ICM (ICM_ERROR)
/// with counts the device allows, ports opened after their SET_PORT general and closed before CLOSE_HCA, nothing
/// unmapped while in use. Called by <see cref="Mlx4DeviceModel"/> on its polling thread, under its lock.
/// </summary>
public sealed class Mlx4FirmwareModel
{
    /// <summary>What the model writes at the start of every firmware-area page it is given (the "firmware image").</summary>
    public static ReadOnlySpan<byte> AreaSignature => "mlx4-fw!"u8;

    private readonly SharedDmaMemory _dma;
    private readonly HashSet<ulong> _icmPages = new();   // mapped ICM, as 4 KiB page numbers of ICM addresses
    private readonly List<ulong> _areaPageAddresses = new(); // the firmware area's 4 KiB pages (device addresses)
    private long _areaPages, _auxPages;
    private ulong? _icmSize;
    private ulong _auxAnswered;

    public Mlx4FirmwareModel(Mlx4ModelConfig config, SharedDmaMemory dma)
    {
        Config = config;
        _dma = dma;
        Ports = new Mlx4ModelPort[config.Ports + 1];
        Reset();
    }

    public Mlx4ModelConfig Config { get; }
    public Mlx4DevCap DevCap => Config.DevCap;
    public Mlx4FirmwarePhase Phase { get; private set; }
    /// <summary>Ports 1..N (index 0 unused).</summary>
    public Mlx4ModelPort[] Ports { get; }
    public long AreaPages => _areaPages;
    public long AuxPages => _auxPages;
    public long IcmPagesMapped => _icmPages.Count;
    public bool ModStatCfgSeen { get; private set; }
    /// <summary>CONFIG_DEV turned the receive port check off (<c>CONFIG_DISABLE_RX_PORT</c>): the ports are bonded.</summary>
    public bool RxPortCheckDisabled { get; private set; }
    /// <summary>The last VIRT_PORT_MAP ([1][2] after INIT_HCA).</summary>
    public Mlx4PortMap PortMap { get; private set; } = Mlx4PortMap.Identity;
    /// <summary>The RoCE v2 UDP port CONFIG_DEV set (<c>MLX4_ROCE_V2_UDP_DPORT</c>); 0 until one did.</summary>
    public ushort RoceV2UdpPort { get; private set; }

    /// <summary>The chip reset: everything the firmware had is gone.</summary>
    public void Reset()
    {
        Phase = Mlx4FirmwarePhase.Reset;
        _icmPages.Clear();
        _areaPageAddresses.Clear();
        _areaPages = _auxPages = 0;
        _icmSize = null;
        _auxAnswered = 0;
        ModStatCfgSeen = false;
        ResetHcaConfig();
        for (int p = 0; p < Ports.Length; p++)
            Ports[p] = new Mlx4ModelPort();
    }

    /// <summary>True if the command is one of the firmware start/stop commands this class handles.</summary>
    public static bool Handles(ushort opcode) => Name(opcode) is not null || opcode is Mlx4Layout.CmdQueryFw or Mlx4Layout.CmdQueryDevCap;

    /// <summary>What INIT_HCA starts from and CLOSE_HCA forgets: the port check on, the identity map, no RoCE v2 port.</summary>
    private void ResetHcaConfig()
    {
        RxPortCheckDisabled = false;
        PortMap = Mlx4PortMap.Identity;
        RoceV2UdpPort = 0;
    }

    /// <summary>
    /// Runs one command. Returns the status; <paramref name="outImmediate"/> is what goes to dw3:dw4 for an immediate
    /// answer (SET_ICM_SIZE), <paramref name="error"/> says why a command was refused.
    /// </summary>
    public Mlx4Status Execute(ushort opcode, byte opMod, uint inMod, ulong inParam, ulong outParam, string what,
        out ulong? outImmediate, out string error)
    {
        outImmediate = null;
        error = "";
        switch (opcode)
        {
            case Mlx4Layout.CmdQueryFw:
                return Outbox(outParam, what, opMod, inMod, inParam, box => Config.Firmware.WriteTo(box), out error);
            case CmdMapFa:
                if (Phase is not (Mlx4FirmwarePhase.Reset or Mlx4FirmwarePhase.AreaMapped))
                    return State(out error, what, "the firmware area is mapped before RUN_FW only");
                return MapPages(inParam, inMod, what, virt: false, out error, (_, addr, bytes) =>
                {
                    WriteAreaSignature(addr, bytes);
                    _areaPages += bytes / IcmPageSize;
                    Phase = Mlx4FirmwarePhase.AreaMapped;
                });
            case CmdRunFw:
                if (Phase != Mlx4FirmwarePhase.AreaMapped)
                    return State(out error, what, Phase == Mlx4FirmwarePhase.Reset ? "no firmware area was mapped (MAP_FA)" : "the firmware already runs");
                if (_areaPages < Config.FwPages)
                    return State(out error, what, $"MAP_FA gave {_areaPages} of the {Config.FwPages} pages QUERY_FW asked for");
                // The firmware runs from its area: read each page back through the DMA file.
                foreach (ulong page in _areaPageAddresses)
                    if (!_dma.TryResolve(page, AreaSignature.Length, out Span<byte> image) || !image.SequenceEqual(AreaSignature))
                        return Refuse(out error, Mlx4Status.BadNvmem, what, $"firmware area page 0x{page:x} no longer holds what the firmware loaded there: the host wrote over it after MAP_FA");
                Phase = Mlx4FirmwarePhase.Running;
                return Mlx4Status.Ok;
            case CmdModStatCfg:
                if (Phase != Mlx4FirmwarePhase.Running)
                    return State(out error, what, "MOD_STAT_CFG comes after RUN_FW and before INIT_HCA");
                if (!TryBox(inParam, 0x100, what, out Span<byte> cfg, out error))
                    return Mlx4Status.BadParam;
                if (cfg[ModStatCfgPgSzM] != 1 || cfg[ModStatCfgPgSz] != 0)
                    return Refuse(out error, Mlx4Status.BadParam, what, $"log_pg_sz_m {cfg[ModStatCfgPgSzM]} / log_pg_sz {cfg[ModStatCfgPgSz]}: only the 4 KiB override (1 / 0) is emulated");
                ModStatCfgSeen = true;
                return Mlx4Status.Ok;
            case Mlx4Layout.CmdQueryDevCap:
                if (Phase < Mlx4FirmwarePhase.Running)
                    return State(out error, what, "QUERY_DEV_CAP needs a running firmware (RUN_FW)");
                return Outbox(outParam, what, opMod, inMod, inParam, box => DevCap.WriteTo(box), out error);
            case CmdQueryPort:
                if (Phase < Mlx4FirmwarePhase.Running)
                    return State(out error, what, "QUERY_PORT needs a running firmware (RUN_FW)");
                if (Config.CmdIfRev < CmdIfRevNewPortCmds)
                    return Refuse(out error, Mlx4Status.BadOp, what,
                        $"command interface revision {Config.CmdIfRev} has no QUERY_PORT (MLX4_COMMAND_INTERFACE_NEW_PORT_CMDS is 3): the port caps are in QUERY_DEV_CAP");
                if (inMod < 1 || inMod > Config.Ports)
                    return Refuse(out error, Mlx4Status.BadParam, what, $"port {inMod} does not exist (1..{Config.Ports})");
                return Outbox(outParam, what, opMod, 0, inParam, box =>
                {
                    box[QueryPortSupportedType] = 0x80 | PortTypeEth;          // link up, Ethernet
                    BinaryPrimitives.WriteUInt16BigEndian(box[QueryPortEthMtu..], 9600);
                    Config.PortCap.WriteQueryPort(box);
                    BinaryPrimitives.WriteUInt64BigEndian(box[QueryPortMac..], 0x0002c9000000UL + inMod);
                }, out error);
            case CmdSetIcmSize:
                if (Phase != Mlx4FirmwarePhase.Running)
                    return State(out error, what, "SET_ICM_SIZE comes after RUN_FW and before INIT_HCA");
                if (inParam == 0 || inParam > DevCap.MaxIcmSize)
                    return Refuse(out error, Mlx4Status.BadParam, what, $"ICM size 0x{inParam:x} is not in 1..0x{DevCap.MaxIcmSize:x} (QUERY_DEV_CAP max_icm_sz)");
                _icmSize = inParam;
                _auxAnswered = Config.AuxPagesFor(inParam);
                outImmediate = _auxAnswered;
                return Mlx4Status.Ok;
            case CmdMapIcmAux:
                if (Phase != Mlx4FirmwarePhase.Running || _icmSize is null)
                    return State(out error, what, "MAP_ICM_AUX needs SET_ICM_SIZE first");
                return MapPages(inParam, inMod, what, virt: false, out error, (_, _, bytes) => _auxPages += bytes / IcmPageSize);
            case CmdMapIcm:
                if (Phase != Mlx4FirmwarePhase.Running || _icmSize is not { } icm)
                    return State(out error, what, "MAP_ICM needs SET_ICM_SIZE first, and comes before INIT_HCA");
                if ((ulong)_auxPages < _auxAnswered)
                    return State(out error, what, $"MAP_ICM_AUX gave {_auxPages} of the {_auxAnswered} aux pages SET_ICM_SIZE asked for");
                return MapPages(inParam, inMod, what, virt: true, out error, (v, _, bytes) =>
                {
                    for (long off = 0; off < bytes; off += IcmPageSize)
                        _icmPages.Add((v + (ulong)off) >> IcmPageShift);
                }, icmLimit: icm);
            case CmdInitHca:
                if (Phase != Mlx4FirmwarePhase.Running)
                    return State(out error, what, Phase == Mlx4FirmwarePhase.HcaUp ? "the HCA is already initialised" : "INIT_HCA needs a running firmware");
                return InitHca(inParam, what, out error);
            case CmdQueryAdapter:
                if (Phase != Mlx4FirmwarePhase.HcaUp)
                    return State(out error, what, "QUERY_ADAPTER comes after INIT_HCA");
                return Outbox(outParam, what, opMod, inMod, inParam, box => WriteBoardId(box, Config.BoardId), out error);
            case CmdInitPort:
                if (Phase != Mlx4FirmwarePhase.HcaUp)
                    return State(out error, what, "INIT_PORT comes after INIT_HCA");
                if (!TryPort(inMod, what, out Mlx4ModelPort? port, out error))
                    return Mlx4Status.BadParam;
                if (!port.GeneralSet)
                    return State(out error, what, $"port {inMod} has had no SET_PORT general (mlx4_en_start_port sends it before INIT_PORT)");
                if (port.Up)
                    return State(out error, what, $"port {inMod} is already up");
                if (Config.CmdIfRev < CmdIfRevNewPortCmds)
                {
                    if (inParam == 0)
                        return Refuse(out error, Mlx4Status.BadParam, what, "command interface revision 2 takes INIT_PORT with a mailbox");
                    if (!TryBox(inParam, InitPortInSize, what, out Span<byte> init, out error))
                        return Mlx4Status.BadParam;
                    if (!CheckInitPort(init, what, out error))
                        return Mlx4Status.BadParam;
                    port.InitMtu = BinaryPrimitives.ReadUInt16BigEndian(init[InitPortMtu..]);
                    port.InitMaxGids = BinaryPrimitives.ReadUInt16BigEndian(init[InitPortMaxGid..]);
                }
                port.Up = true;
                return Mlx4Status.Ok;
            case CmdClosePort:
                if (Phase != Mlx4FirmwarePhase.HcaUp)
                    return State(out error, what, "CLOSE_PORT needs an initialised HCA");
                if (!TryPort(inMod, what, out Mlx4ModelPort? closing, out error))
                    return Mlx4Status.BadParam;
                // Taken for a port that is down too: mlx4_unload_one closes every port after mlx4_en_stop_port closed
                // the ones it had opened, so the kernel sends it for ports that are not up (and for ports never opened).
                closing.Up = false;
                return Mlx4Status.Ok;
            case CmdCloseHca:
                if (Phase != Mlx4FirmwarePhase.HcaUp)
                    return State(out error, what, "the HCA is not initialised");
                if (Ports.Skip(1).Select((p, i) => (p, i + 1)).FirstOrDefault(x => x.p.Up) is ({ } _, int up))
                    return State(out error, what, $"port {up} is still up: CLOSE_PORT comes first");
                Phase = Mlx4FirmwarePhase.Running;
                ResetHcaConfig();
                for (int p = 1; p < Ports.Length; p++)
                    Ports[p] = new Mlx4ModelPort();
                return Mlx4Status.Ok;
            case CmdConfigDev:
                return ConfigDev(opMod, inMod, inParam, what, out error);
            case CmdVirtPortMap:
                return VirtPortMap(opMod, inMod, inParam, what, out error);
            case CmdUnmapIcm:
                if (Phase != Mlx4FirmwarePhase.Running)
                    return State(out error, what, Phase == Mlx4FirmwarePhase.HcaUp ? "the HCA uses its context memory until CLOSE_HCA" : "nothing is mapped");
                for (ulong i = 0; i < inMod; i++)
                    _icmPages.Remove((inParam >> IcmPageShift) + i);
                return Mlx4Status.Ok;
            case CmdUnmapIcmAux:
                if (Phase != Mlx4FirmwarePhase.Running)
                    return State(out error, what, "the aux memory is in use until CLOSE_HCA");
                if (_icmPages.Count > 0)
                    return State(out error, what, $"{_icmPages.Count} ICM pages are still mapped: UNMAP_ICM comes first");
                _auxPages = 0;
                return Mlx4Status.Ok;
            case CmdUnmapFa:
                if (Phase is Mlx4FirmwarePhase.Reset or Mlx4FirmwarePhase.HcaUp)
                    return State(out error, what, Phase == Mlx4FirmwarePhase.Reset ? "no firmware area is mapped" : "the HCA is still initialised: CLOSE_HCA comes first");
                if (_icmPages.Count > 0 || _auxPages > 0)
                    return State(out error, what, $"ICM ({_icmPages.Count} pages) or aux ({_auxPages} pages) is still mapped");
                Reset();
                return Mlx4Status.Ok;
            default:
                return Refuse(out error, Mlx4Status.BadOp, what, "not a firmware command");
        }
    }

    /// <summary>
    /// The revision-2 INIT_PORT mailbox (fw.c mlx4_INIT_PORT): flags hold only the VL cap (bits 7:4) and the width cap
    /// (bits 11:8), each non-zero and within what QUERY_DEV_CAP reported (the width a subset of its mask); the MTU is
    /// <c>128 &lt;&lt; n</c> for an IB MTU n of 1 up to the reported one; GID and P_Key table sizes are 1 up to the
    /// reported ones. The G0/NG/SIG flags and anything else are refused: the kernel sends none of them.
    /// </summary>
    private bool CheckInitPort(ReadOnlySpan<byte> box, string what, out string error)
    {
        error = "";
        Mlx4PortCap cap = Config.PortCap;
        uint flags = BinaryPrimitives.ReadUInt32BigEndian(box[InitPortFlags..]);
        int vl = (int)(flags >> InitPortVlShift) & 0xf, width = (int)(flags >> InitPortWidthShift) & 0xf;
        int mtu = BinaryPrimitives.ReadUInt16BigEndian(box[InitPortMtu..]);
        int gids = BinaryPrimitives.ReadUInt16BigEndian(box[InitPortMaxGid..]), pkeys = BinaryPrimitives.ReadUInt16BigEndian(box[InitPortMaxPkey..]);
        string? why = null;
        if ((flags & ~(0xfu << InitPortVlShift | 0xfu << InitPortWidthShift)) != 0)
            why = $"flags 0x{flags:x8}: only the VL cap (bits 7:4) and the width cap (bits 11:8) are set by mlx4_INIT_PORT";
        else if (vl < 1 || vl > cap.MaxVl)
            why = $"VL cap {vl}: QUERY_DEV_CAP reported 1..{cap.MaxVl}";
        else if (width == 0 || (width & ~cap.PortWidth) != 0)
            why = $"width cap 0x{width:x}: QUERY_DEV_CAP reported the mask 0x{cap.PortWidth:x}";
        else if (mtu < 256 || mtu > cap.MtuBytes || (mtu & (mtu - 1)) != 0)
            why = $"mtu {mtu}: 128 << ib_mtu_cap, 256..{cap.MtuBytes} (QUERY_DEV_CAP's IB MTU {cap.IbMtu})";
        else if (gids < 1 || gids > cap.MaxGids)
            why = $"max GIDs {gids}: QUERY_DEV_CAP reported {cap.MaxGids}";
        else if (pkeys < 1 || pkeys > cap.MaxPkeys)
            why = $"max P_Keys {pkeys}: QUERY_DEV_CAP reported {cap.MaxPkeys}";
        if (why is null)
            return true;
        Refuse(out error, Mlx4Status.BadParam, what, why);
        return false;
    }

    /// <summary>A GID table SET_PORT's precondition: the port is up (INIT_PORT).</summary>
    public bool PortReady(int port, out string why)
    {
        why = "";
        if (Phase != Mlx4FirmwarePhase.HcaUp)
            why = "the HCA is not initialised (INIT_HCA)";
        else if (!Ports[port].Up)
            why = $"port {port} is not up (INIT_PORT)";
        return why.Length == 0;
    }

    /// <summary>SET_PORT general (sub-op 0): port.c mlx4_SET_PORT_general's context.</summary>
    public Mlx4Status SetPortGeneral(int port, ReadOnlySpan<byte> box, string what, out string error)
    {
        error = "";
        if (Phase != Mlx4FirmwarePhase.HcaUp)
            return State(out error, what, "SET_PORT needs an initialised HCA (INIT_HCA)");
        byte flags = box[GeneralFlags];
        bool v1v2 = (flags & GeneralRoce2Flags) != 0;
        if ((flags & GeneralAllValid) != GeneralAllValid)
            return Refuse(out error, Mlx4Status.BadParam, what, $"flags 0x{flags:x2}: mlx4_SET_PORT_general sets MTU, PPRX and PPTX valid (0x07)");
        if (v1v2 && !Config.RoceV1V2)
            return Refuse(out error, Mlx4Status.BadParam, what, "SET_PORT_ROCE_2_FLAGS on a device without RoCE v1_v2 (bmme bit 19 clear)");
        if (v1v2 && box[GeneralRoceMode] >> 4 != GeneralRoceModeV1V2 >> 4)
            return Refuse(out error, Mlx4Status.BadParam, what, $"roce_mode 0x{box[GeneralRoceMode]:x2}: with SET_PORT_ROCE_2_FLAGS it is MLX4_SET_PORT_ROCE_V1_V2 << 4 (0x20)");
        Ports[port].GeneralSet = true;
        Ports[port].RoceV1V2 = v1v2;
        Ports[port].Mtu = BinaryPrimitives.ReadUInt16BigEndian(box[GeneralMtu..]);
        return Mlx4Status.Ok;
    }

    // ---- RoCE LAG and device configuration (fw.c mlx4_CONFIG_DEV_set, mlx4_virt2phy_port_map) ----

    private Mlx4Status ConfigDev(byte opMod, uint inMod, ulong inParam, string what, out string error)
    {
        error = "";
        if (Phase != Mlx4FirmwarePhase.HcaUp)
            return State(out error, what, "CONFIG_DEV configures an initialised HCA (after INIT_HCA)");
        if (!Config.ConfigDev)
            return Refuse(out error, Mlx4Status.BadOp, what, "the device has no CONFIG_DEV (QUERY_DEV_CAP 0x94 bit 5 clear)");
        if (opMod != ConfigDevSet || inMod != 0)
            return Refuse(out error, Mlx4Status.BadParam, what, $"op_mod {opMod} in_mod {inMod}: only the set (op_mod 0, in_mod 0) is emulated");
        if (!TryBox(inParam, ConfigDevSize, what, out Span<byte> box, out error))
            return Mlx4Status.BadParam;
        uint update = BinaryPrimitives.ReadUInt32BigEndian(box[ConfigDevUpdateFlags..]);
        const uint Known = ConfigDevUpdateVxlanPort | ConfigDevUpdateRoceV2Port | ConfigDevUpdateDisableRxPort;
        if (update == 0 || (update & ~Known) != 0)
            return Refuse(out error, Mlx4Status.BadParam, what, $"update_flags 0x{update:x8}: the kernel sets one of VXLAN_UDP_DPORT (bit 0), ROCE_V2_UDP_DPORT (bit 3), DISABLE_RX_PORT (bit 18)");
        uint roceFlags = BinaryPrimitives.ReadUInt32BigEndian(box[ConfigDevRoceFlags..]);
        if ((update & ConfigDevUpdateDisableRxPort) != 0)
        {
            if (!Config.PortRemap)
                return Refuse(out error, Mlx4Status.BadParam, what, "DISABLE_RX_PORT on a device without PORT_REMAP (bmme bit 24): it cannot bond");
            if ((roceFlags & ~ConfigDevRoceFlagDisableRxPort) != 0)
                return Refuse(out error, Mlx4Status.BadParam, what, $"roce_flags 0x{roceFlags:x8}: only CONFIG_DISABLE_RX_PORT (bit 15) is defined");
        }
        if ((update & ConfigDevUpdateRoceV2Port) != 0 && BinaryPrimitives.ReadUInt16BigEndian(box[ConfigDevRoceV2UdpDport..]) == 0)
            return Refuse(out error, Mlx4Status.BadParam, what, "ROCE_V2_UDP_DPORT with port 0");
        if ((update & ConfigDevUpdateDisableRxPort) != 0)
        {
            RxPortCheckDisabled = (roceFlags & ConfigDevRoceFlagDisableRxPort) != 0;
        }
        if ((update & ConfigDevUpdateRoceV2Port) != 0)
            RoceV2UdpPort = BinaryPrimitives.ReadUInt16BigEndian(box[ConfigDevRoceV2UdpDport..]);
        return Mlx4Status.Ok;
    }

    private Mlx4Status VirtPortMap(byte opMod, uint inMod, ulong inParam, string what, out string error)
    {
        error = "";
        if (!Config.PortRemap)
            return Refuse(out error, Mlx4Status.BadOp, what, "the device has no PORT_REMAP capability (bmme bit 24)");
        if (Phase != Mlx4FirmwarePhase.HcaUp)
            return State(out error, what, "the port map is set on an initialised HCA (after INIT_HCA)");
        if (opMod != SetPortVirt2Phy || inMod != 0)
            return Refuse(out error, Mlx4Status.BadParam, what, $"op_mod {opMod} in_mod {inMod}: MLX4_SET_PORT_VIRT2PHY is op_mod 1, in_mod 0");
        if (Config.Ports != 2)
            return Refuse(out error, Mlx4Status.BadParam, what, "a one-port device has no port map");
        if (!TryBox(inParam, 8, what, out Span<byte> box, out error))
            return Mlx4Status.BadParam;
        uint p1 = BinaryPrimitives.ReadUInt32BigEndian(box[VirtPortMapPort1..]), p2 = BinaryPrimitives.ReadUInt32BigEndian(box[VirtPortMapPort2..]);
        if (p1 is < 1 or > 2 || p2 is < 1 or > 2)
            return Refuse(out error, Mlx4Status.BadParam, what, $"v_port1 {p1} v_port2 {p2}: each maps to physical port 1 or 2");
        if (p1 == 2 && p2 == 1)
            return Refuse(out error, Mlx4Status.BadParam, what, "the cross map [2][1] (mlx4_port_map_set refuses it: \"cross mapping makes no sense\")");
        var map = new Mlx4PortMap((byte)p1, (byte)p2);
        if (map != Mlx4PortMap.Identity && !RxPortCheckDisabled)
            return State(out error, what, $"port map {map} while the receive port check is on: mlx4_do_bond disables it (CONFIG_DEV DISABLE_RX_PORT) before the first map");
        PortMap = map;
        return Mlx4Status.Ok;
    }

    // ---- INIT_HCA ----

    private Mlx4Status InitHca(ulong inParam, string what, out string error)
    {
        if (!TryBox(inParam, InitHcaInSize, what, out Span<byte> box, out error))
            return Mlx4Status.BadParam;
        if (box[InitHcaVersionOffset] != InitHcaVersion)
            return Refuse(out error, Mlx4Status.BadParam, what, $"version {box[InitHcaVersionOffset]} (INIT_HCA_VERSION is {InitHcaVersion})");
        Mlx4InitHcaParams p = Mlx4InitHcaParams.Parse(box);
        var cap = DevCap;
        (string Name, int Log, int Max)[] logs =
        [
            ("log_num_qps", p.LogNumQps, cap.MaxQps), ("log_num_srqs", p.LogNumSrqs, cap.MaxSrqs),
            ("log_num_cqs", p.LogNumCqs, cap.MaxCqs), ("log_num_eqs", p.LogNumEqs, cap.MaxEqs), ("log_mpt_sz", p.LogMptSize, cap.MaxMpts),
        ];
        foreach (var (name, log, max) in logs)
            if (1L << log > max)
                return Refuse(out error, Mlx4Status.BadParam, what, $"{name} {log}: QUERY_DEV_CAP allows {max}");
        foreach (Mlx4IcmTable t in Mlx4IcmProfile.TablesOf(cap, p))
        {
            if (t.Virt % IcmPageSize != 0)
                return Refuse(out error, Mlx4Status.BadParam, what, $"{t.Name} base 0x{t.Virt:x} is not aligned to an ICM page (4 KiB)");
            if (t.Virt + (ulong)t.Size > _icmSize)
                return Refuse(out error, Mlx4Status.BadParam, what, $"{t.Name} [0x{t.Virt:x}, +0x{t.Size:x}) passes the ICM size 0x{_icmSize:x} (SET_ICM_SIZE)");
            for (ulong a = t.Virt & ~(ulong)(IcmPageSize - 1); a < t.Virt + (ulong)t.ReservedBytes; a += IcmPageSize)
                if (!_icmPages.Contains(a >> IcmPageShift))
                    return Refuse(out error, Mlx4Status.IcmError, what,
                        $"{t.Name}: its {t.Reserved} reserved entries [0x{t.Virt:x}, +0x{t.ReservedBytes:x}) need ICM page 0x{a:x}, which no MAP_ICM mapped");
        }
        Phase = Mlx4FirmwarePhase.HcaUp;
        return Mlx4Status.Ok;
    }

    // ---- page lists (fw.c mlx4_map_cmd) ----

    private Mlx4Status MapPages(ulong inParam, uint nent, string what, bool virt, out string error, Action<ulong, ulong, long> apply, ulong icmLimit = 0)
    {
        if (nent < 1 || nent > MapEntriesPerMailbox)
            return Refuse(out error, Mlx4Status.BadParam, what, $"in_modifier {nent}: a page list has 1..{MapEntriesPerMailbox} entries");
        if (!TryBox(inParam, (int)nent * MapEntrySize, what, out Span<byte> box, out error))
            return Mlx4Status.BadParam;
        var pages = new List<(ulong Virt, ulong Addr, long Bytes)>();
        for (int i = 0; i < nent; i++)
        {
            ulong v = BinaryPrimitives.ReadUInt64BigEndian(box[(i * MapEntrySize)..]);
            ulong raw = BinaryPrimitives.ReadUInt64BigEndian(box[(i * MapEntrySize + 8)..]);
            int lg = (int)(raw & 0x3f) + IcmPageShift;
            ulong addr = raw & ~(ulong)(IcmPageSize - 1);
            if ((raw & 0xfc0) != 0 || lg > 30)
                return Refuse(out error, Mlx4Status.BadParam, what, $"entry {i}: size field 0x{raw & 0xfff:x3} (log2 size - 12 in bits 5:0, up to 1 GiB)");
            long bytes = 1L << lg;
            if ((addr & (ulong)(bytes - 1)) != 0)
                return Refuse(out error, Mlx4Status.BadParam, what, $"entry {i}: page 0x{addr:x} of 2^{lg} bytes is not aligned to its size");
            if (!_dma.TryResolve(addr, (int)bytes, out _))
                return Refuse(out error, Mlx4Status.BadParam, what, $"entry {i}: page [0x{addr:x}, +0x{bytes:x}) is outside the device's DMA memory");
            if (virt && ((v & (ulong)(bytes - 1)) != 0 || v + (ulong)bytes > icmLimit))
                return Refuse(out error, Mlx4Status.BadParam, what, $"entry {i}: ICM address 0x{v:x} (+0x{bytes:x}) is unaligned or past the ICM size 0x{icmLimit:x}");
            pages.Add((v, addr, bytes));
        }
        foreach (var (v, addr, bytes) in pages)
            apply(v, addr, bytes);
        return Mlx4Status.Ok;
    }

    /// <summary>The firmware "loads itself" into its area: each page starts with the signature, written through the DMA file.</summary>
    private void WriteAreaSignature(ulong addr, long bytes)
    {
        for (long off = 0; off < bytes; off += IcmPageSize)
            if (_dma.TryResolve(addr + (ulong)off, AreaSignature.Length, out Span<byte> page))
            {
                AreaSignature.CopyTo(page);
                _areaPageAddresses.Add(addr + (ulong)off);
            }
    }

    /// <summary>QUERY_ADAPTER's board id at VSD + 0xd0, each 32-bit word byte-swapped as the firmware gives it.</summary>
    public static void WriteBoardId(Span<byte> outbox, string id)
    {
        Span<byte> text = stackalloc byte[BoardIdLength];
        text.Clear();
        System.Text.Encoding.ASCII.GetBytes(id.AsSpan(0, Math.Min(id.Length, BoardIdLength - 1)), text);
        Span<byte> dst = outbox.Slice(QueryAdapterVsd + VsdBoardId, BoardIdLength);
        for (int i = 0; i < BoardIdLength; i += 4)
            BinaryPrimitives.WriteUInt32LittleEndian(dst[i..], BinaryPrimitives.ReadUInt32BigEndian(text[i..]));
    }

    // ---- helpers ----

    private Mlx4Status Outbox(ulong outParam, string what, byte opMod, uint inMod, ulong inParam, SpanAction fill, out string error)
    {
        if (opMod != 0 || inMod != 0 || inParam != 0)
            return Refuse(out error, Mlx4Status.BadParam, what, $"op_mod, in_modifier and in_param must be 0 (in_param 0x{inParam:x})");
        if (!TryBox(outParam, Mlx4Layout.QueryFwOutSize, what, out Span<byte> box, out error, which: "out_param (outbox)"))
            return Mlx4Status.BadParam;
        box.Clear();
        fill(box);
        return Mlx4Status.Ok;
    }

    private delegate void SpanAction(Span<byte> box);

    private bool TryPort(uint inMod, string what, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Mlx4ModelPort? port, out string error)
    {
        port = null;
        error = "";
        if (inMod < 1 || inMod > Config.Ports)
        {
            Refuse(out error, Mlx4Status.BadParam, what, $"port {inMod} does not exist (1..{Config.Ports})");
            return false;
        }
        port = Ports[inMod];
        return true;
    }

    private bool TryBox(ulong address, int length, string what, out Span<byte> memory, out string error, string which = "in_param (inbox)")
    {
        memory = default;
        error = "";
        if (address == 0)
        {
            Refuse(out error, Mlx4Status.BadParam, what, $"{which} is 0: no mailbox");
            return false;
        }
        if (address % Mlx4Layout.MailboxAlignment != 0)
        {
            Refuse(out error, Mlx4Status.BadParam, what, $"{which} 0x{address:x} is not 4096-aligned (the mailbox pool's alignment)");
            return false;
        }
        if (!_dma.TryResolve(address, length, out memory))
        {
            Refuse(out error, Mlx4Status.BadParam, what, $"{which} [0x{address:x}, +{length}) is outside the device's DMA memory");
            return false;
        }
        return true;
    }

    private Mlx4Status State(out string error, string what, string why)
        => Refuse(out error, Mlx4Status.BadSysState, what, $"{why} (firmware phase {Phase})");

    private static Mlx4Status Refuse(out string error, Mlx4Status status, string what, string why)
    {
        error = $"{Mlx4StatusText.Name((byte)status)}: {what}: {why}";
        return status;
    }
}
