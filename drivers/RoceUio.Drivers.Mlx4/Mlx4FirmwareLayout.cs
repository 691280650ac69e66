namespace RoceUio.Drivers.Mlx4;

/// <summary>
/// The firmware start and stop commands and their mailboxes, as drivers/net/ethernet/mellanox/mlx4 uses them:
/// opcodes from include/linux/mlx4/cmd.h, mailbox offsets from fw.c (the <c>*_OFFSET</c> defines of each
/// <c>mlx4_*</c> function named), ICM constants from icm.h, the reset block from reset.c, the SET_PORT general context
/// from mlx4.h/port.c. All mailbox fields are big-endian (<c>MLX4_PUT</c>/<c>MLX4_GET</c>).
/// </summary>
public static class Mlx4FirmwareLayout
{
    // ---- opcodes (include/linux/mlx4/cmd.h, "initialization and general commands") ----

    public const ushort CmdMapFa = 0xfff, CmdUnmapFa = 0xffe, CmdRunFw = 0xff6, CmdModStatCfg = 0x034;
    public const ushort CmdQueryAdapter = 0x006, CmdInitHca = 0x007, CmdCloseHca = 0x008;
    public const ushort CmdInitPort = 0x009, CmdClosePort = 0x00a, CmdQueryPort = 0x043;
    public const ushort CmdMapIcm = 0xffa, CmdUnmapIcm = 0xff9, CmdMapIcmAux = 0xffc, CmdUnmapIcmAux = 0xffb, CmdSetIcmSize = 0xffd;

    // ---- RoCE LAG (main.c mlx4_do_bond / mlx4_port_map_set, fw.c mlx4_disable_rx_port_check / mlx4_virt2phy_port_map) ----

    /// <summary><c>MLX4_CMD_CONFIG_DEV</c> (op_mod 0: set, 1: get) and <c>MLX4_CMD_VIRT_PORT_MAP</c> (op_mod
    /// <c>MLX4_SET_PORT_VIRT2PHY</c> = 1, in_mod 0).</summary>
    public const ushort CmdConfigDev = 0x03a, CmdVirtPortMap = 0x05c;
    public const byte ConfigDevSet = 0, SetPortVirt2Phy = 1;
    /// <summary>fw.c <c>struct mlx4_config_dev</c>: be32 <c>update_flags</c> at 0x00, be16 <c>vxlan_udp_dport</c> at 0x10,
    /// be16 <c>roce_v2_entropy</c> at 0x14, be16 <c>roce_v2_udp_dport</c> at 0x16, be32 <c>roce_flags</c> at 0x18,
    /// u8 <c>rx_checksum_val</c> at 0x83; 0x84 bytes in all.</summary>
    public const int ConfigDevUpdateFlags = 0x00, ConfigDevVxlanUdpDport = 0x10, ConfigDevRoceV2UdpDport = 0x16,
        ConfigDevRoceFlags = 0x18, ConfigDevRxChecksumVal = 0x83, ConfigDevSize = 0x84;
    /// <summary>update_flags bits: <c>MLX4_VXLAN_UDP_DPORT</c> (bit 0), <c>MLX4_ROCE_V2_UDP_DPORT</c> (bit 3),
    /// <c>MLX4_DISABLE_RX_PORT</c> (bit 18).</summary>
    public const uint ConfigDevUpdateVxlanPort = 1u << 0, ConfigDevUpdateRoceV2Port = 1u << 3, ConfigDevUpdateDisableRxPort = 1u << 18;
    /// <summary>roce_flags <c>CONFIG_DISABLE_RX_PORT</c> (bit 15): the firmware takes a packet on either port (bonded).</summary>
    public const uint ConfigDevRoceFlagDisableRxPort = 1u << 15;
    /// <summary>The VIRT_PORT_MAP mailbox: be32 <c>v_port1</c> at 0, be32 <c>v_port2</c> at 4.</summary>
    public const int VirtPortMapPort1 = 0, VirtPortMapPort2 = 4;
    /// <summary>QUERY_DEV_CAP bmme flags (be32 at 0x94): <c>MLX4_BMME_FLAG_PORT_REMAP</c> (bit 24; <c>MLX4_DEV_CAP_FLAG2_PORT_REMAP</c>,
    /// without which mlx4_do_bond answers -EOPNOTSUPP) and the CONFIG_DEV capability (byte 0x94 bit 5 =
    /// <c>MLX4_DEV_CAP_FLAG2_CONFIG_DEV</c>, bit 29 of the dword).</summary>
    public const uint BmmeFlagPortRemap = 1u << 24, BmmeFlagConfigDev = 1u << 29;

    // ---- ownership and reset (main.c mlx4_get_ownership, reset.c mlx4_reset) ----

    /// <summary><c>MLX4_OWNER_BASE</c>: a read that returns non-zero means another driver owns the function; the read
    /// itself takes it (a hardware semaphore); <c>mlx4_free_ownership</c> writes 0.</summary>
    public const long OwnerOffset = Mlx4Layout.OwnerBase;
    /// <summary><c>MLX4_RESET_BASE</c> + <c>MLX4_SEM_OFFSET</c>: the HW semaphore that locks out flash updates; polled until 0.</summary>
    public const long ResetSemaphoreOffset = Mlx4Layout.ResetBase + 0x3fc;
    /// <summary><c>MLX4_RESET_BASE</c> + <c>MLX4_RESET_OFFSET</c>: writing <c>MLX4_RESET_VALUE</c> resets the chip.</summary>
    public const long ResetOffset = Mlx4Layout.ResetBase + 0x10;
    /// <summary><c>MLX4_RESET_VALUE</c> = <c>swab32(1)</c>, written with <c>writel</c> (little-endian): the bytes 00 00 00 01.</summary>
    public const uint ResetValue = 0x01000000;
    /// <summary><c>MLX4_SEM_TIMEOUT_JIFFIES</c> (10 s) and <c>MLX4_RESET_TIMEOUT_JIFFIES</c> (2 s).</summary>
    public static readonly TimeSpan SemaphoreTimeout = TimeSpan.FromSeconds(10), ResetTimeout = TimeSpan.FromSeconds(2);
    /// <summary>reset.c: "Docs say to wait one second before accessing device".</summary>
    public static readonly TimeSpan ResetSettle = TimeSpan.FromSeconds(1);

    // ---- ICM (icm.h) ----

    /// <summary><c>MLX4_ICM_PAGE_SHIFT</c>/<c>MLX4_ICM_PAGE_SIZE</c>: firmware pages, FA, aux and context memory are counted in 4 KiB.</summary>
    public const int IcmPageShift = 12, IcmPageSize = 1 << IcmPageShift;
    /// <summary><c>MLX4_TABLE_CHUNK_SIZE</c>: context tables are mapped in chunks of 256 KiB (icm.c mlx4_init_icm_table).</summary>
    public const int TableChunkSize = 1 << 18;
    /// <summary>A MAP_FA/MAP_ICM/MAP_ICM_AUX mailbox holds <c>MLX4_MAILBOX_SIZE / 16</c> entries (fw.c mlx4_map_cmd).</summary>
    public const int MapEntrySize = 16, MapEntriesPerMailbox = Mlx4Layout.MailboxSize / MapEntrySize;

    // ---- QUERY_FW outbox (fw.c mlx4_QUERY_FW) ----

    /// <summary><c>QUERY_FW_SIZE_OFFSET</c>: be16 <c>fw_pages</c>, the firmware area MAP_FA must give (4 KiB pages). It
    /// shares the first qword with the version, whose mask (<c>0xffff00000000</c>) leaves these 16 bits out.</summary>
    public const int QueryFwPages = 0x00;
    /// <summary><c>QUERY_FW_PPF_ID</c>: u8 <c>caps.function</c>.</summary>
    public const int QueryFwPpfId = 0x09;

    // ---- MOD_STAT_CFG inbox (fw.c mlx4_MOD_STAT_CFG; main.c mlx4_init_fw sends log_pg_sz_m 1, log_pg_sz 0) ----

    public const int ModStatCfgPgSzM = 0x002, ModStatCfgPgSz = 0x003;

    // ---- QUERY_DEV_CAP outbox (fw.c mlx4_QUERY_DEV_CAP) ----

    public const int DevCapRsvdQp = 0x12, DevCapMaxQp = 0x13, DevCapRsvdSrq = 0x14, DevCapMaxSrq = 0x15;
    public const int DevCapRsvdCq = 0x1a, DevCapMaxCq = 0x1b, DevCapMaxMpt = 0x1d, DevCapRsvdEq = 0x1e, DevCapMaxEq = 0x1f;
    public const int DevCapRsvdMtt = 0x20, DevCapRsvdMrw = 0x22;
    public const int DevCapRsvdUar = 0x48, DevCapUarSz = 0x49;
    public const int DevCapRsvdMcg = 0x62, DevCapMaxMcg = 0x63;
    /// <summary><c>QUERY_DEV_CAP_*_ENTRY_SZ_OFFSET</c>: be16 each.</summary>
    public const int DevCapRdmarcEntrySz = 0x80, DevCapQpcEntrySz = 0x82, DevCapAuxEntrySz = 0x84, DevCapAltcEntrySz = 0x86,
        DevCapEqcEntrySz = 0x88, DevCapCqcEntrySz = 0x8a, DevCapSrqEntrySz = 0x8c, DevCapCmptEntrySz = 0x8e,
        DevCapMttEntrySz = 0x90, DevCapDmptEntrySz = 0x92;
    /// <summary><c>QUERY_DEV_CAP_MAX_ICM_SZ_OFFSET</c>: be64.</summary>
    public const int DevCapMaxIcmSz = 0xa0;

    // ---- QUERY_PORT outbox (fw.c mlx4_QUERY_PORT, command interface revision 3 and later) ----

    public const int QueryPortSupportedType = 0x00, QueryPortEthMtu = 0x02, QueryPortMaxGidPkey = 0x07, QueryPortMac = 0x10;
    /// <summary><c>QUERY_PORT_MTU_OFFSET</c> (ib_mtu in bits 3:0), <c>QUERY_PORT_WIDTH_OFFSET</c> (bits 3:0),
    /// <c>QUERY_PORT_MAX_VL_OFFSET</c> (max_vl in bits 3:0, max_tc_eth in 7:4). <see cref="QueryPortMaxGidPkey"/> holds
    /// log2 max_gids in bits 7:4 and log2 max_pkeys in 3:0.</summary>
    public const int QueryPortIbMtu = 0x01, QueryPortWidth = 0x06, QueryPortMaxVl = 0x0b;

    // ---- the per-port caps in QUERY_DEV_CAP, command interface revision 2 (fw.c mlx4_QUERY_PORT, MLX4_FLAG_OLD_PORT_CMDS) ----

    /// <summary>With the old port commands mlx4_QUERY_PORT sends QUERY_DEV_CAP again and reads one set of port caps
    /// from it: <c>QUERY_DEV_CAP_MTU_WIDTH_OFFSET</c> (ib_mtu in bits 7:4, max_port_width in 3:0),
    /// <c>QUERY_DEV_CAP_VL_PORT_OFFSET</c> (max_vl in bits 7:4, num_ports in 3:0), <c>QUERY_DEV_CAP_MAX_GID_OFFSET</c>
    /// and <c>QUERY_DEV_CAP_MAX_PKEY_OFFSET</c> (log2 in bits 3:0).</summary>
    public const int DevCapMtuWidth = 0x36, DevCapVlPort = 0x37, DevCapMaxGid = 0x3b, DevCapMaxPkey = 0x3f;
    /// <summary>Bits 1:0 of the supported-type byte: 1 IB, 2 Ethernet (<c>MLX4_PORT_TYPE_ETH</c>).</summary>
    public const byte PortTypeEth = 2;

    // ---- INIT_PORT inbox, old command interface (rev 2, MLX4_FLAG_OLD_PORT_CMDS; fw.c mlx4_INIT_PORT) ----

    /// <summary><c>INIT_PORT_IN_SIZE</c> (256); be32 flags at <c>INIT_PORT_FLAGS_OFFSET</c> 0x00, be16 mtu at
    /// <c>INIT_PORT_MTU_OFFSET</c> 0x04, be16 max GIDs at <c>INIT_PORT_MAX_GID_OFFSET</c> 0x06, be16 max P_Keys at
    /// <c>INIT_PORT_MAX_PKEY_OFFSET</c> 0x0a.</summary>
    public const int InitPortInSize = 256, InitPortFlags = 0x00, InitPortMtu = 0x04, InitPortMaxGid = 0x06, InitPortMaxPkey = 0x0a;
    /// <summary>The flags: <c>vl_cap &amp; 0xf</c> &lt;&lt; <c>INIT_PORT_VL_SHIFT</c> (4), <c>port_width_cap &amp; 0xf</c>
    /// &lt;&lt; <c>INIT_PORT_PORT_WIDTH_SHIFT</c> (8); <c>INIT_PORT_FLAG_G0</c>/<c>_NG</c>/<c>_SIG</c> (bits 16..18) are
    /// defined but the kernel sets none of them.</summary>
    public const int InitPortVlShift = 4, InitPortWidthShift = 8;
    public const uint InitPortFlagG0 = 1u << 16, InitPortFlagNg = 1u << 17, InitPortFlagSig = 1u << 18;
    /// <summary><c>MLX4_COMMAND_INTERFACE_NEW_PORT_CMDS</c>: from revision 3 on QUERY_PORT exists and INIT_PORT has no mailbox.</summary>
    public const ushort CmdIfRevNewPortCmds = 3;

    // ---- QUERY_ADAPTER outbox (fw.c mlx4_QUERY_ADAPTER, get_board_id) ----

    public const int QueryAdapterIntaPin = 0x10, QueryAdapterVsd = 0x20;
    /// <summary><c>VSD_OFFSET_MLX_BOARD_ID</c> inside the VSD: 16 bytes, each 32-bit word byte-swapped by the firmware.</summary>
    public const int VsdBoardId = 0xd0, BoardIdLength = 16;

    // ---- INIT_HCA inbox (fw.c mlx4_INIT_HCA) ----

    public const int InitHcaInSize = 0x200;
    public const int InitHcaVersionOffset = 0x000;
    /// <summary><c>INIT_HCA_VERSION</c>.</summary>
    public const byte InitHcaVersion = 2;
    public const int InitHcaCachelineSz = 0x0e, InitHcaFlags = 0x014;
    public const int InitHcaQpcBase = 0x030, InitHcaLogQp = 0x037, InitHcaSrqcBase = 0x048, InitHcaLogSrq = 0x04f;
    public const int InitHcaCqcBase = 0x050, InitHcaLogCq = 0x057, InitHcaAltcBase = 0x060, InitHcaAuxcBase = 0x070;
    public const int InitHcaEqcBase = 0x080, InitHcaLogEq = 0x087, InitHcaRdmarcBase = 0x090, InitHcaLogRd = 0x097;
    public const int InitHcaMcBase = 0x0c0, InitHcaLogMcEntrySz = 0x0d3, InitHcaLogMcHashSz = 0x0d7, InitHcaLogMcTableSz = 0x0db;
    public const int InitHcaDmptBase = 0x0f0, InitHcaTptMw = 0x0f8, InitHcaLogMptSz = 0x0fb, InitHcaMttBase = 0x100, InitHcaCmptBase = 0x108;
    public const int InitHcaLogUarSz = 0x12a, InitHcaUarPageSz = 0x12b;
    /// <summary>INIT_HCA flags: bit 0 "check port for UD address vector", bit 1 big-endian host (cleared on little-endian).</summary>
    public const uint InitHcaFlagUdAvPortCheck = 1;

    // ---- SET_PORT general (mlx4.h struct mlx4_set_port_general_context, port.c mlx4_SET_PORT_general) ----

    /// <summary>u8 <c>flags</c> at byte 3: <c>SET_PORT_GEN_ALL_VALID</c> (MTU 0x1 | PPRX 0x2 | PPTX 0x4), plus
    /// <c>SET_PORT_ROCE_2_FLAGS</c> (0x10) when the device has <c>MLX4_DEV_CAP_FLAG2_ROCE_V1_V2</c>.</summary>
    public const int GeneralFlags = 3;
    public const byte GeneralAllValid = 0x07, GeneralRoce2Flags = 0x10;
    /// <summary>u8 <c>roce_mode</c> (a union with <c>ignore_fcs</c>) at byte 4: <c>MLX4_SET_PORT_ROCE_V1_V2 &lt;&lt; 4</c> = 0x20.</summary>
    public const int GeneralRoceMode = 4;
    public const byte GeneralRoceModeV1V2 = 0x2 << 4;
    /// <summary>be16 <c>mtu</c> at 6, u8 <c>pptx</c> at 8, <c>pfctx</c> 9, <c>pprx</c> 12, <c>pfcrx</c> 13.</summary>
    public const int GeneralMtu = 6, GeneralPptx = 8, GeneralPfctx = 9, GeneralPprx = 12, GeneralPfcrx = 13;
    /// <summary>The MTU mlx4_en_start_port gives a 1500-byte netdev: <c>MLX4_EN_EFF_MTU(1500)</c> (1500 + ETH_HLEN + 2 VLAN
    /// headers = 1522) + <c>ETH_FCS_LEN</c>.</summary>
    public const ushort DefaultPortMtu = 1526;

    /// <summary>A readable name of the start/stop opcodes (the GID path's are in <see cref="Mlx4Layout.OpcodeName"/>).</summary>
    public static string? Name(ushort opcode) => opcode switch
    {
        CmdMapFa => "MAP_FA",
        CmdUnmapFa => "UNMAP_FA",
        CmdRunFw => "RUN_FW",
        CmdModStatCfg => "MOD_STAT_CFG",
        CmdQueryAdapter => "QUERY_ADAPTER",
        CmdInitHca => "INIT_HCA",
        CmdCloseHca => "CLOSE_HCA",
        CmdInitPort => "INIT_PORT",
        CmdClosePort => "CLOSE_PORT",
        CmdQueryPort => "QUERY_PORT",
        CmdMapIcm => "MAP_ICM",
        CmdUnmapIcm => "UNMAP_ICM",
        CmdMapIcmAux => "MAP_ICM_AUX",
        CmdUnmapIcmAux => "UNMAP_ICM_AUX",
        CmdSetIcmSize => "SET_ICM_SIZE",
        CmdConfigDev => "CONFIG_DEV",
        CmdVirtPortMap => "VIRT_PORT_MAP",
        _ => null,
    };
}
