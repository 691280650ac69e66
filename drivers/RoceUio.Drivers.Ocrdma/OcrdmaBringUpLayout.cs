namespace RoceUio.Drivers.Ocrdma;

/// <summary>
/// The start and stop commands of an ocrdma function and their layouts, as the kernel has them: be2net's bootstrap
/// mailbox handshake (benet/be_cmds.c <c>be_cmd_fw_init</c>, <c>be_cmd_fw_clean</c>), ocrdma_hw.c
/// <c>ocrdma_init_hw</c> (EQs, the MQ's CQ and the MQ, GET_FW_CONFIG, QUERY_CONFIG) and <c>ocrdma_cleanup_hw</c>, with
/// the structures of ocrdma_sli.h. Offsets are from the start of the MQE / mailbox WRB (the request header at 20).
/// </summary>
public static class OcrdmaBringUpLayout
{
    // ---- the handshake (be_cmd_fw_init / be_cmd_fw_clean: a pattern across the WRB header, sent through the mailbox) ----

    /// <summary>"Tell fw we're about to start firing cmds by writing a special pattern across the wrb hdr".</summary>
    public static ReadOnlySpan<byte> FwInitPattern => [0xFF, 0x12, 0x34, 0xFF, 0xFF, 0x56, 0x78, 0xFF];
    /// <summary>"Tell fw we're done with firing cmds by writing a special pattern across the wrb hdr".</summary>
    public static ReadOnlySpan<byte> FwCleanPattern => [0xFF, 0xAA, 0xBB, 0xFF, 0xFF, 0xCC, 0xDD, 0xFF];

    // ---- the POST stage (be_cmds.c be_fw_wait_ready / be_POST_stage_get; be_hw.h "MPU semaphore") ----

    /// <summary><c>SLIPORT_SEMAPHORE_OFFSET_SH</c>: on Skyhawk the POST semaphore is a dword of PCI config space (BE2/BE3
    /// have it in the CSR BAR at 0xac, Lancer has SLIPORT_STATUS instead; neither carries RoCE for ocrdma).</summary>
    public const int SliportSemaphoreOffsetSh = 0x94;
    /// <summary><c>POST_STAGE_MASK</c>: the stage in bits 15:0; <c>POST_ERROR_BIT</c> (bit 31).</summary>
    public const uint PostStageMask = 0x0000FFFF, PostErrorBit = 0x80000000;
    /// <summary><c>POST_STAGE_ARMFW_RDY</c> "FW is done with POST": the only stage be_fw_wait_ready returns on.</summary>
    public const uint PostStageArmFwRdy = 0xC000;
    /// <summary><c>POST_STAGE_RECOVERABLE_ERR</c>, <c>POST_STAGE_ARMFW_UE</c> (unrecoverable error), <c>POST_STAGE_FAT_LOG_START</c>.</summary>
    public const uint PostStageRecoverableErr = 0xE000, PostStageArmFwUe = 0xF000, PostStageFatLogStart = 0x0D00;
    /// <summary>be_fw_wait_ready gives up after 60 s (it reads the stage every 2 s).</summary>
    public static readonly TimeSpan PostTimeout = TimeSpan.FromSeconds(60);

    /// <summary>A stage for messages: its name where be_hw.h has one.</summary>
    public static string PostStageName(uint semaphore)
    {
        uint stage = semaphore & PostStageMask;
        string name = stage switch
        {
            PostStageArmFwRdy => "ARMFW_RDY",
            PostStageRecoverableErr => "RECOVERABLE_ERR",
            PostStageArmFwUe => "ARMFW_UE, an unrecoverable error",
            PostStageFatLogStart => "FAT_LOG_START",
            _ => "POST still running",
        };
        return $"0x{stage:x4} ({name}){((semaphore & PostErrorBit) != 0 ? ", POST_ERROR_BIT set" : "")}";
    }

    // ---- opcodes (ocrdma_sli.h, OCRDMA_SUBSYS_COMMON; be_cmds.h OPCODE_COMMON_FUNCTION_RESET) ----

    public const byte CmdCommonGetFwVer = 35;
    public const byte CmdCommonDeleteEq = 55;
    public const byte CmdCommonGetFwConfig = 58;
    /// <summary><c>OPCODE_COMMON_FUNCTION_RESET</c>: be_cmd_reset_function, through the bootstrap mailbox.</summary>
    public const byte CmdCommonFunctionReset = 61;
    /// <summary>be_cmd_reset_function's request is a bare <c>struct be_cmd_req_hdr</c> (16 bytes): be_wrb_cmd_hdr_prepare
    /// makes <c>payload_length</c> 16 and <c>request_length</c> 0, version 0, timeout left 0.</summary>
    public const int FunctionResetCmdSize = 16;

    // ---- GET_FW_VER response (struct ocrdma_fw_ver_rsp: the MQE header, the response header, u8 running_ver[32]) ----

    public const int FwVerRunning = 36, FwVerLength = 32;

    // ---- CREATE_EQ (struct ocrdma_create_eq_req; ocrdma_mbx_create_eq) ----

    /// <summary><c>OCRDMA_EQ_LEN</c> entries of <c>struct ocrdma_eqe</c> (one u32): 16 KiB, four 4 KiB pages.</summary>
    public const int EqLength = 4096, EqeSize = 4, EqPages = EqLength * EqeSize / OcrdmaLayout.PageSize4K;
    public const int CreateEqNumPages = 36, CreateEqValid = 40, CreateEqCnt = 44, CreateEqDelay = 48, CreateEqPa = 56;
    /// <summary>sizeof(struct ocrdma_create_eq_req): 16 + 5*4 + 8*8 (MAX_OCRDMA_EQ_PAGES).</summary>
    public const int CreateEqCmdSize = 100;
    /// <summary><c>OCRDMA_CREATE_EQ_VALID</c> = BIT(29); <c>cnt = 4 &lt;&lt; OCRDMA_CREATE_EQ_CNT_SHIFT</c> (26).</summary>
    public const uint CreateEqValidBit = 1u << 29;
    public const int CreateEqCntShift = 26;
    public const uint CreateEqCntValue = 4u << CreateEqCntShift;
    /// <summary><c>cmd->req.rsvd_version = 2</c>.</summary>
    public const uint CreateEqVersion = 2;
    /// <summary>struct ocrdma_create_eq_rsp: <c>vector_eqid</c>, EQ id in 15:0, vector in 31:16.</summary>
    public const int CreateEqRspVectorEqid = 36;

    // ---- EQ doorbell (ocrdma_ring_eq_db; OCRDMA_DB_EQ_OFFSET = OCRDMA_DB_CQ_OFFSET) ----

    public const int DbEqOffset = OcrdmaLayout.DbCqOffset;
    public const uint EqIdMask = 0x1FF, EqIdExtMask = 0x3E00;
    public const int EqIdExtShift = 2, EqClearShift = 9, EqTypeShift = 10, EqNumEqeShift = 16, EqRearmShift = 29;

    /// <summary><c>ocrdma_ring_eq_db</c>: id bits 8:0, bits 13:9 of the id at 15:11, clear at 9, type (must be 1) at 10, popped at 16, rearm at 29.</summary>
    public static uint EqDoorbell(int eqId, bool arm, bool clearInterrupt, int numEqe)
        => ((uint)eqId & EqIdMask) | ((uint)eqId & EqIdExtMask) << EqIdExtShift | (arm ? 1u << EqRearmShift : 0)
           | (clearInterrupt ? 1u << EqClearShift : 0) | 1u << EqTypeShift | (uint)numEqe << EqNumEqeShift;

    /// <summary>True when a CQ-offset doorbell value is an EQ's (the type bit 10 is set: CQ doorbells never set it).</summary>
    public static bool IsEqDoorbell(uint value) => (value & 1u << EqTypeShift) != 0;

    /// <summary>The EQ id an EQ doorbell names.</summary>
    public static int EqDoorbellId(uint value) => (int)((value & EqIdMask) | (value >> EqIdExtShift & EqIdExtMask));

    // ---- CREATE_CQ for the MQ (struct ocrdma_create_cq_cmd, OCRDMA_CREATE_CQ_VER2) ----

    public const uint CreateCqVersion2 = 2;
    public const int CreateCqPageSizeShift = 16;
    /// <summary><c>pdid_cqecnt = cq->size / sizeof(struct ocrdma_mcqe)</c>.</summary>
    public const int CreateCqPdidCqecnt = 48;

    // ---- CREATE_MQ_EXT: the async events ocrdma asks for (GRP5, RDMA, LINK) ----

    public const uint MqAsyncEvents = 1u << 0x05 | 1u << 0x14 | 1u << 0x01;

    // ---- DELETE_MQ / DELETE_CQ / DELETE_EQ (struct ocrdma_delete_q_req: the header, then the queue's id) ----

    public const int DeleteQId = 36, DeleteQCmdSize = 20;

    /// <summary>struct ocrdma_delete_ah_tbl: the MQE header, the request header, <c>ahid</c> (ocrdma_mbx_delete_ah_tbl).</summary>
    public const int DeleteAhTblSize = 40;

    // ---- GET_FW_CONFIG response (struct ocrdma_fw_conf_rsp) ----

    public const int FwConfigNum = 36, FwConfigAsicRevision = 40, FwConfigPhyPort = 44, FwConfigFnMode = 48;
    public const int FwConfigBaseEqid = 168, FwConfigMaxEq = 172;
    /// <summary><c>OCRDMA_FN_MODE_RDMA</c>: the function runs RoCE (ocrdma_check_fw_config refuses a function without it).</summary>
    public const uint FnModeRdma = 0x4;

    // ---- QUERY_CONFIG response (struct ocrdma_mbx_query_config; ocrdma_get_attr) ----

    public const int QueryConfigQpSrqCqIrdOrd = 36, QueryConfigMaxPdCaAckDelay = 40;
    /// <summary><c>OCRDMA_MBX_QUERY_CFG_L3_TYPE_MASK</c> (0x18) / <c>_SHIFT</c> (3) in <c>max_pd_ca_ack_delay</c>:
    /// the L3 types the function encapsulates in UDP (<c>attr.udp_encap</c>).</summary>
    public const uint QueryConfigL3TypeMask = 0x18;
    public const int QueryConfigL3TypeShift = 3;
    /// <summary><c>max_pd</c> in bits 31:16 of <c>max_pd_ca_ack_delay</c>.</summary>
    public const int QueryConfigMaxPdShift = 16;
    /// <summary><c>OCRDMA_L3_TYPE_IPV4</c>, <c>OCRDMA_L3_TYPE_IPV6</c>.</summary>
    public const uint L3TypeIPv4 = 0x01, L3TypeIPv6 = 0x02;

    /// <summary>ocrdma.h <c>ocrdma_is_udp_encap_supported</c>: RoCE v2 only when QUERY_CONFIG says IPv4 or IPv6 UDP encapsulation.</summary>
    public static bool IsUdpEncapSupported(uint udpEncap) => (udpEncap & L3TypeIPv4) != 0 || (udpEncap & L3TypeIPv6) != 0;

    /// <summary>The names of these commands, for messages.</summary>
    public static string? Name(byte subsys, byte opcode) => (subsys, opcode) switch
    {
        (OcrdmaLayout.SubsysCommon, CmdCommonDeleteEq) => "DELETE_EQ",
        (OcrdmaLayout.SubsysCommon, CmdCommonGetFwVer) => "GET_FW_VER",
        (OcrdmaLayout.SubsysCommon, CmdCommonFunctionReset) => "FUNCTION_RESET",
        (OcrdmaLayout.SubsysCommon, CmdCommonGetFwConfig) => "GET_FW_CONFIG",
        _ => null,
    };
}
