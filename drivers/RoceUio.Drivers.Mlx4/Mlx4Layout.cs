namespace RoceUio.Drivers.Mlx4;

/// <summary>
/// The mlx4 (ConnectX-3 / ConnectX-3 Pro) register and command layout this driver and its device model follow.
/// Every number names the kernel source it comes from (see docs/kernel-sources.md):
/// drivers/net/ethernet/mellanox/mlx4/{mlx4.h,cmd.c,fw.c,port.c}, include/linux/mlx4/{cmd.h,device.h},
/// drivers/infiniband/hw/mlx4/main.c.
/// </summary>
public static class Mlx4Layout
{
    // ---- BAR0 ("DCS", the device configuration space): mlx4/mlx4.h ----

    /// <summary>BAR0 offset of the HCR, <c>MLX4_HCR_BASE</c>; mapped in <c>mlx4_cmd_init</c>.</summary>
    public const long HcrBase = 0x80680;
    /// <summary><c>MLX4_HCR_SIZE</c>: seven 32-bit registers.</summary>
    public const int HcrSize = 0x1c;
    /// <summary><c>MLX4_OWNER_BASE</c>: a non-zero <c>readl</c> means another driver owns the device (<c>mlx4_get_ownership</c>).</summary>
    public const long OwnerBase = 0x8069c;
    /// <summary><c>MLX4_RESET_BASE</c> (mlx4/reset.c). Not used by this driver (see docs/driver-guide.md).</summary>
    public const long ResetBase = 0xf0000;
    /// <summary>Older probes require BAR0 to be exactly 1 MiB (<c>mlx4_init_one</c>: "Missing DCS").</summary>
    public const long Bar0Size = 1 << 20;
    /// <summary>BAR0 is the DCS (HCR, ownership, reset), BAR2 the UAR doorbell pages (<c>mlx4_init_one</c>).</summary>
    public const int DcsBar = 0, UarBar = 2;

    // ---- HCR registers, offsets inside the HCR (cmd.c enum HCR_*, mlx4_cmd_post writes hcr + 0..6) ----

    /// <summary>dw0: in_param[63:32] (the inbox's bus address for mailbox commands).</summary>
    public const int HcrInParamHigh = 0x00;
    /// <summary>dw1: in_param[31:0].</summary>
    public const int HcrInParamLow = 0x04;
    /// <summary>dw2: in_modifier (SET_PORT: <c>sub-op &lt;&lt; 8 | port</c>).</summary>
    public const int HcrInModifier = 0x08;
    /// <summary>dw3: out_param[63:32] (<c>HCR_OUT_PARAM_OFFSET</c>; the outbox's bus address for QUERY_* commands).</summary>
    public const int HcrOutParamHigh = 0x0c;
    /// <summary>dw4: out_param[31:0].</summary>
    public const int HcrOutParamLow = 0x10;
    /// <summary>dw5: <c>token &lt;&lt; 16</c> (<c>HCR_TOKEN_OFFSET</c>).</summary>
    public const int HcrToken = 0x14;
    /// <summary>dw6: written GO|E|T|op_mod|opcode; read: status in bits 31:24 (<c>HCR_STATUS_OFFSET</c>).</summary>
    public const int HcrStatus = 0x18;

    /// <summary><c>HCR_GO_BIT</c> = 23: set by the driver, cleared by the device when the command is done.</summary>
    public const uint HcrGo = 1u << 23;
    /// <summary><c>HCR_E_BIT</c> = 22: event mode (completion as an EQE). Poll mode leaves it 0.</summary>
    public const uint HcrEvent = 1u << 22;
    /// <summary><c>HCR_T_BIT</c> = 21: the toggle.</summary>
    public const uint HcrToggle = 1u << 21;
    /// <summary><c>HCR_OPMOD_SHIFT</c> = 12: op_modifier in bits 15:12.</summary>
    public const int HcrOpModShift = 12;
    /// <summary>Opcode in bits 11:0.</summary>
    public const uint HcrOpcodeMask = 0xfff;
    /// <summary>Status byte: bits 31:24 of dw6 on read (<c>be32_to_cpu(readl(hcr + HCR_STATUS_OFFSET)) &gt;&gt; 24</c>).</summary>
    public const int HcrStatusShift = 24;
    /// <summary><c>HCR_TOKEN_SHIFT</c>.</summary>
    public const int HcrTokenShift = 16;
    /// <summary><c>CMD_POLL_TOKEN</c> (cmd.c): the token of every poll-mode command.</summary>
    public const ushort PollToken = 0xffff;

    // ---- opcodes and op_modifiers: include/linux/mlx4/cmd.h ----

    /// <summary><c>MLX4_CMD_QUERY_DEV_CAP</c>: outbox command.</summary>
    public const ushort CmdQueryDevCap = 0x003;
    /// <summary><c>MLX4_CMD_QUERY_FW</c>: outbox command.</summary>
    public const ushort CmdQueryFw = 0x004;
    /// <summary><c>MLX4_CMD_SET_PORT</c>: inbox command.</summary>
    public const ushort CmdSetPort = 0x00c;

    /// <summary><c>MLX4_SET_PORT_IB_OPCODE</c> (op_mod 0).</summary>
    public const byte SetPortIbOpcode = 0;
    /// <summary><c>MLX4_SET_PORT_ETH_OPCODE</c> (op_mod 1): the GID table sub-ops live here.</summary>
    public const byte SetPortEthOpcode = 1;

    /// <summary>SET_PORT ETH sub-ops, in_modifier bits 15:8 (enum in cmd.h).</summary>
    public const byte SetPortGeneral = 0x0, SetPortGidTable = 0x5, SetPortRoceAddr = 0xD;

    /// <summary>SET_PORT in_modifier: <c>sub &lt;&lt; 8 | port</c>, port 1-based (ib/mlx4/main.c mlx4_ib_update_gids_v1/_v1_v2).</summary>
    public static uint SetPortInModifier(byte subOp, int port) => (uint)subOp << 8 | (uint)port;

    /// <summary><c>MLX4_CMD_TIME_CLASS_A/B/C</c>: 60000 ms each.</summary>
    public static readonly TimeSpan CommandTimeClass = TimeSpan.FromMilliseconds(60000);
    /// <summary><c>GO_BIT_TIMEOUT_MSECS</c>: how long a post waits for a busy HCR (event mode in the kernel).</summary>
    public static readonly TimeSpan GoBitTimeout = TimeSpan.FromMilliseconds(10000);

    // ---- mailboxes: include/linux/mlx4/cmd.h, cmd.c mlx4_cmd_init ----

    /// <summary><c>MLX4_MAILBOX_SIZE</c>; the pool also aligns to it.</summary>
    public const int MailboxSize = 4096;
    public const int MailboxAlignment = 4096;

    // ---- QUERY_FW outbox: fw.c mlx4_QUERY_FW ----

    /// <summary><c>QUERY_FW_VER_OFFSET</c>: be64, raw <c>major &lt;&lt; 32 | subminor &lt;&lt; 16 | minor</c> (fw.c swaps the low halves).</summary>
    public const int QueryFwVersion = 0x00;
    /// <summary><c>QUERY_FW_CMD_IF_REV_OFFSET</c>: be16.</summary>
    public const int QueryFwCmdIfRev = 0x0a;
    /// <summary><c>QUERY_FW_MAX_CMD_OFFSET</c>: u8, log2 of max_cmds.</summary>
    public const int QueryFwMaxCmd = 0x0f;
    /// <summary><c>MLX4_COMMAND_INTERFACE_MIN_REV</c>/<c>_MAX_REV</c> (fw.c): the command interface revisions the driver speaks.</summary>
    public const ushort CmdIfRevMin = 2, CmdIfRevMax = 3;
    /// <summary><c>QUERY_FW_OUT_SIZE</c>.</summary>
    public const int QueryFwOutSize = 0x100;

    // ---- QUERY_DEV_CAP outbox: fw.c mlx4_QUERY_DEV_CAP ----

    /// <summary><c>QUERY_DEV_CAP_VL_PORT_OFFSET</c>: u8, <c>num_ports = field &amp; 0xf</c>.</summary>
    public const int QueryDevCapVlPort = 0x37;
    /// <summary><c>QUERY_DEV_CAP_BMME_FLAGS_OFFSET</c>: be32 bmme_flags.</summary>
    public const int QueryDevCapBmmeFlags = 0x94;
    /// <summary><c>MLX4_FLAG_ROCE_V1_V2</c> = 1 &lt;&lt; 19 (fw.c): sets <c>MLX4_DEV_CAP_FLAG2_ROCE_V1_V2</c>.</summary>
    public const uint BmmeFlagRoceV1V2 = 1u << 19;
    /// <summary><c>QUERY_DEV_CAP_OUT_SIZE</c>.</summary>
    public const int QueryDevCapOutSize = 0x100;

    // ---- GID tables: include/linux/mlx4/device.h, ib/mlx4/main.c ----

    /// <summary><c>MLX4_MAX_PORTS</c>.</summary>
    public const int MaxPorts = 2;
    /// <summary><c>MLX4_MAX_PORT_GIDS</c> = <c>MLX4_ROCE_MAX_GIDS</c>: hardware slots per port.</summary>
    public const int MaxPortGids = 128;

    /// <summary>v1 (GID_TABLE) entry: <c>union ib_gid</c>, 16 raw bytes; 128 entries fill 0x000-0x7ff.</summary>
    public const int GidEntrySizeV1 = 16;
    /// <summary>v1_v2 (ROCE_ADDR) entry: <c>struct mlx4_roce_addr_table</c>-style 32 bytes; 128 entries fill the mailbox.</summary>
    public const int GidEntrySizeV1V2 = 32;
    /// <summary>v1_v2 entry: <c>gid</c> at 0..15, <c>__be32 rsrvd1[2]</c> 16..23, <c>__be16 rsrvd2</c> 24..25.</summary>
    public const int V1V2Reserved1 = 16, V1V2Reserved1Length = 10;
    /// <summary>v1_v2 entry <c>u8 type</c>: 1 iff RoCE v2 and the GID is not v4-mapped (IPv6), else 0 (main.c mlx4_ib_update_gids_v1_v2).</summary>
    public const int V1V2Type = 26;
    /// <summary>v1_v2 entry <c>u8 version</c>: 2 for RoCE v2 (<c>IB_GID_TYPE_ROCE_UDP_ENCAP</c>), 0 for v1 (not 1).</summary>
    public const int V1V2Version = 27;
    /// <summary>v1_v2 entry <c>__be32 rsrvd3</c> at 28..31.</summary>
    public const int V1V2Reserved3 = 28, V1V2Reserved3Length = 4;

    public const byte V1V2TypeIPv4 = 0, V1V2TypeIPv6 = 1;
    public const byte V1V2VersionRoceV1 = 0, V1V2VersionRoceV2 = 2;

    /// <summary>Bytes of the mailbox the device reads for each format: 128 × 16 or 128 × 32.</summary>
    public static int TableBytes(Mlx4GidFormat format)
        => format == Mlx4GidFormat.RoceAddr ? MaxPortGids * GidEntrySizeV1V2 : MaxPortGids * GidEntrySizeV1;

    /// <summary>The SET_PORT sub-op that carries a format.</summary>
    public static byte SubOp(Mlx4GidFormat format) => format == Mlx4GidFormat.RoceAddr ? SetPortRoceAddr : SetPortGidTable;

    /// <summary>A readable name of an opcode, for messages.</summary>
    public static string OpcodeName(ushort opcode) => opcode switch
    {
        CmdQueryDevCap => "QUERY_DEV_CAP",
        CmdQueryFw => "QUERY_FW",
        CmdSetPort => "SET_PORT",
        _ => $"opcode 0x{opcode:x3}",
    };
}

/// <summary>Which wire format a port's GID table is pushed in.</summary>
public enum Mlx4GidFormat
{
    /// <summary>SET_PORT GID_TABLE (0x05): 16-byte raw GIDs, RoCE v1 only (<c>mlx4_ib_update_gids_v1</c>).</summary>
    GidTable,
    /// <summary>SET_PORT ROCE_ADDR (0x0D): 32-byte entries with type and version (<c>mlx4_ib_update_gids_v1_v2</c>),
    /// when QUERY_DEV_CAP's bmme flags have bit 19.</summary>
    RoceAddr,
}
