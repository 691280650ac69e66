namespace RoceUio.Drivers.Ocrdma;

/// <summary>
/// The register and command layout of an Emulex Skyhawk-R (ocrdma) RoCE function, as the Linux drivers define it.
/// Every number names the kernel source it comes from:
/// drivers/infiniband/hw/ocrdma/ocrdma_sli.h (SLI structures), ocrdma_hw.c (what the driver puts in them),
/// ocrdma_ah.c (address vectors), drivers/net/ethernet/emulex/benet/be_hw.h and be_cmds.h (bootstrap mailbox).
/// All registers and command dwords are 32-bit little-endian (<c>iowrite32</c>, <c>ocrdma_copy_cpu_to_le32</c>);
/// GID bytes are raw network order (ocrdma_sli.h; see docs/kernel-sources.md).
/// </summary>
public static class OcrdmaLayout
{
    // ---- PCI identity (benet/be.h) ----
    /// <summary><c>BE_VENDOR_ID</c> (ServerEngines).</summary>
    public const ushort VendorServerEngines = 0x19a2;
    /// <summary><c>EMULEX_VENDOR_ID</c>.</summary>
    public const ushort VendorEmulex = 0x10df;
    /// <summary><c>OC_DEVICE_ID5</c>: Skyhawk physical function.</summary>
    public const ushort DeviceSkyhawk = 0x0720;
    /// <summary><c>OC_DEVICE_ID6</c>: Skyhawk virtual function.</summary>
    public const ushort DeviceSkyhawkVf = 0x0728;
    /// <summary>be_main.c <c>db_bar()</c>: the doorbell BAR is BAR4 on a Skyhawk PF ...</summary>
    public const int DoorbellBarPf = 4;
    /// <summary>... and BAR0 on a VF (and on Lancer).</summary>
    public const int DoorbellBarVf = 0;

    // ---- Doorbells (ocrdma_sli.h enum OCRDMA_DB_*, benet be_hw.h) ----
    /// <summary><c>OCRDMA_DB_CQ_OFFSET</c> (= <c>OCRDMA_DB_EQ_OFFSET</c>).</summary>
    public const int DbCqOffset = 0x120;
    /// <summary><c>OCRDMA_DB_MQ_OFFSET</c> (be2net's <c>DB_MCCQ_OFFSET</c>, the same register).</summary>
    public const int DbMqOffset = 0x140;
    /// <summary>be_hw.h <c>MPU_MAILBOX_DB_OFFSET</c>: the bootstrap mailbox doorbell.</summary>
    public const int MpuMailboxDbOffset = 0x160;
    /// <summary><c>MPU_MAILBOX_DB_RDY_MASK</c>: set by the device when it has taken a write.</summary>
    public const uint MpuMailboxDbReady = 0x1;
    /// <summary><c>MPU_MAILBOX_DB_HI_MASK</c>: this write carries address bits 34..63.</summary>
    public const uint MpuMailboxDbHi = 0x2;
    /// <summary><c>OCRDMA_MQ_ID_MASK</c>: bits 0..10.</summary>
    public const uint MqIdMask = 0x7FF;
    /// <summary><c>OCRDMA_MQ_NUM_MQE_SHIFT</c>: number of MQEs posted, bits 16..29.</summary>
    public const int MqNumMqeShift = 16;
    /// <summary><c>OCRDMA_DB_CQ_RING_ID_MASK</c> (bits 0..9); bits 10..11 of the id go to 11..12.</summary>
    public const uint DbCqRingIdMask = 0x3FF;
    public const uint DbCqRingIdExtMask = 0xC00;
    public const int DbCqNumPoppedShift = 16;
    public const int DbCqRearmShift = 29;

    /// <summary>ocrdma_hw.c <c>ocrdma_ring_mq_db</c>: one MQE posted on MQ <paramref name="mqId"/>.</summary>
    public static uint MqDoorbell(int mqId) => ((uint)mqId & MqIdMask) | 1u << MqNumMqeShift;

    /// <summary>ocrdma_hw.c <c>ocrdma_ring_cq_db</c>.</summary>
    public static uint CqDoorbell(int cqId, bool rearm, int popped)
        => ((uint)cqId & DbCqRingIdMask) | (((uint)cqId & DbCqRingIdExtMask) << 1)
           | (rearm ? 1u << DbCqRearmShift : 0) | ((uint)popped << DbCqNumPoppedShift);

    // ---- Bootstrap mailbox (be_cmds.h struct be_mcc_mailbox = be_mcc_wrb (256 B) + be_mcc_compl (16 B)) ----
    public const int MailboxWrbSize = 256;
    public const int MailboxComplOffset = 256;
    public const int MailboxSize = 272;
    /// <summary>be_cmds.c <c>be_mbox_notify_wait</c>: the mailbox is 16-byte aligned (address bits 0..3 are not sent).</summary>
    public const int MailboxAlignment = 16;

    /// <summary>First write: HI | address bits 34..63 at bits 2..31.</summary>
    public static uint MailboxHiWord(ulong address) => MpuMailboxDbHi | (uint)(address >> 34) << 2;
    /// <summary>Second write: address bits 4..33 at bits 2..31.</summary>
    public static uint MailboxLoWord(ulong address) => (uint)(address >> 4) << 2;
    /// <summary>The device side of the two writes.</summary>
    public static ulong MailboxAddress(uint hiWord, uint loWord) => ((ulong)(hiWord >> 2) << 34) | ((ulong)(loWord >> 2) << 4);

    // ---- MQE: struct ocrdma_mqe (256 B) = ocrdma_mqe_hdr (20 B) + union (236 B) ----
    public const int MqeSize = 256;
    /// <summary><c>OCRDMA_MQ_LEN</c>.</summary>
    public const int MqLength = 128;
    /// <summary><c>OCRDMA_MQ_CQ_LEN</c>.</summary>
    public const int MqCqLength = 256;
    /// <summary>sizeof(struct ocrdma_mcqe).</summary>
    public const int McqeSize = 16;
    /// <summary>ocrdma_mqe_hdr.spcl_sge_cnt_emb: bit 0 embedded (<c>OCRDMA_MQE_HDR_EMB_MASK</c>), 7:3 SGE count.</summary>
    public const int MqeHdrFlags = 0;
    public const uint MqeEmbedded = 1;
    public const int MqeHdrPayloadLength = 4;
    public const int MqeHdrTagLo = 8;
    public const int MqeHdrTagHi = 12;
    public const int MqeHdrSize = 20;
    /// <summary>struct ocrdma_mbx_hdr at MQE+20: subsys_op (opcode 7:0, subsystem 15:8), timeout, cmd_len, rsvd_version.</summary>
    public const int MbxSubsysOp = 20;
    public const int MbxTimeout = 24;
    public const int MbxCmdLength = 28;
    public const int MbxVersion = 32;
    public const int MbxHdrSize = 16;
    /// <summary>struct ocrdma_mbx_rsp overlay: status at MQE+24 (7:0 status, 15:8 additional status).</summary>
    public const int RspStatus = 24;
    public const int RspLength = 28;
    public const int RspAddLength = 32;
    /// <summary>First payload dword after the mbx header (request and response alike).</summary>
    public const int Payload = 36;
    /// <summary>ocrdma_hw.c <c>ocrdma_init_mch</c>: timeout in seconds.</summary>
    public const uint MbxDefaultTimeoutSeconds = 20;

    // ---- MCQE (struct ocrdma_mcqe) ----
    public const int McqeStatus = 0;
    public const int McqeTagLo = 4;
    public const int McqeTagHi = 8;
    public const int McqeFlags = 12;
    /// <summary><c>OCRDMA_MCQE_STATUS_MASK</c> / <c>OCRDMA_MCQE_ESTATUS_SHIFT</c>.</summary>
    public const uint McqeStatusMask = 0xFFFF;
    public const int McqeExtStatusShift = 16;
    public const uint McqeConsumed = 1u << 27;
    public const uint McqeCompleted = 1u << 28;
    public const uint McqeAsync = 1u << 30;
    public const uint McqeValid = 1u << 31;

    // ---- Subsystems and opcodes (ocrdma_sli.h) ----
    public const byte SubsysCommon = 1;
    public const byte SubsysRoce = 10;
    public const byte CmdCommonCreateCq = 12;
    public const byte CmdCommonCreateEq = 13;
    public const byte CmdCommonCreateMq = 21;
    public const byte CmdCommonDeleteMq = 53;
    public const byte CmdCommonDeleteCq = 54;
    public const byte CmdCommonCreateMqExt = 90;
    public const byte CmdRoceQueryConfig = 1;
    public const byte CmdRoceAllocPd = 2;
    public const byte CmdRoceDeallocPd = 3;
    public const byte CmdRoceCreateAhTbl = 4;
    public const byte CmdRoceDeleteAhTbl = 5;
    public const byte CmdRoceCreateQp = 6;
    public const byte CmdRoceQueryQp = 7;
    public const byte CmdRoceModifyQp = 8;
    public const byte CmdRoceDeleteQp = 9;

    public static uint SubsysOp(byte subsys, byte opcode) => opcode | (uint)subsys << 8;

    /// <summary>A readable command name for errors: "MODIFY_QP", "COMMON 0x5a", ...</summary>
    public static string CommandName(byte subsys, byte opcode) => (subsys, opcode) switch
    {
        (SubsysCommon, CmdCommonCreateCq) => "CREATE_CQ",
        (SubsysCommon, CmdCommonCreateEq) => "CREATE_EQ",
        (SubsysCommon, CmdCommonCreateMq) => "CREATE_MQ",
        (SubsysCommon, CmdCommonCreateMqExt) => "CREATE_MQ_EXT",
        (SubsysCommon, CmdCommonDeleteMq) => "DELETE_MQ",
        (SubsysCommon, CmdCommonDeleteCq) => "DELETE_CQ",
        (SubsysRoce, CmdRoceQueryConfig) => "QUERY_CONFIG",
        (SubsysRoce, CmdRoceAllocPd) => "ALLOC_PD",
        (SubsysRoce, CmdRoceDeallocPd) => "DEALLOC_PD",
        (SubsysRoce, CmdRoceCreateAhTbl) => "CREATE_AH_TBL",
        (SubsysRoce, CmdRoceDeleteAhTbl) => "DELETE_AH_TBL",
        (SubsysRoce, CmdRoceCreateQp) => "CREATE_QP",
        (SubsysRoce, CmdRoceQueryQp) => "QUERY_QP",
        (SubsysRoce, CmdRoceModifyQp) => "MODIFY_QP",
        (SubsysRoce, CmdRoceDeleteQp) => "DELETE_QP",
        _ => $"subsystem {subsys} opcode {opcode}",
    };

    // ---- COMMON CREATE_CQ for the MQ's CQ (struct ocrdma_create_cq_cmd; ocrdma_hw.c ocrdma_mbx_mq_cq_create) ----
    public const int CreateCqPgszPgcnt = 36;
    public const int CreateCqEvCntFlags = 40;
    public const int CreateCqEqn = 44;
    public const int CreateCqPa = 56;
    /// <summary>sizeof(struct ocrdma_create_cq_cmd): 16 + 5*4 + 4*8.</summary>
    public const int CreateCqCmdSize = 68;
    /// <summary><c>OCRDMA_CREATE_CQ_DEF_FLAGS</c> = VALID (bit 29) | EVENTABLE (bit 31) | NODELAY (bit 14).</summary>
    public const uint CreateCqDefFlags = 1u << 29 | 1u << 31 | 1u << 14;
    public const uint CreateCqFlagsValid = 1u << 29;
    /// <summary>struct ocrdma_create_cq_cmd_rsp: cq_id (15:0) after the response header.</summary>
    public const int CreateCqRspId = 36;

    // ---- COMMON CREATE_MQ_EXT, version 1 (struct ocrdma_create_mq_req v1; ocrdma_mbx_create_mq) ----
    public const int CreateMqCqidPages = 36;
    public const int CreateMqAsyncEventBitmap = 40;
    public const int CreateMqAsyncCqidRingsize = 44;
    public const int CreateMqValid = 48;
    public const int CreateMqAsyncCqidValid = 52;
    public const int CreateMqPa = 60;
    /// <summary>sizeof(struct ocrdma_create_mq_req): 16 + 6*4 + 8*8.</summary>
    public const int CreateMqCmdSize = 104;
    public const int CreateMqCqIdShift = 16;
    public const int CreateMqRingSizeShift = 16;
    public const uint CreateMqValidBit = 1u << 31;
    public const uint CreateMqAsyncCqValid = 1;
    /// <summary>The response's MQ id (struct ocrdma_create_mq_rsp.id).</summary>
    public const int CreateMqRspId = 36;

    /// <summary>ocrdma_hw.c <c>ocrdma_encoded_q_len</c>: fls(len), 16 encoded as 0.</summary>
    public static uint EncodedQueueLength(int len)
    {
        uint e = (uint)(32 - System.Numerics.BitOperations.LeadingZeroCount((uint)len));
        return e == 16 ? 0 : e;
    }

    public const int PageSize4K = 4096;

    // ---- ROCE CREATE_AH_TBL (struct ocrdma_create_ah_tbl; ocrdma_mbx_create_ah_tbl) ----
    public const int CreateAhTblConf = 36;
    public const int CreateAhTblAddr = 40;
    /// <summary>20 + 16 + 4 + 8*8.</summary>
    public const int CreateAhTblSize = 104;
    public const int CreateAhNumPagesShift = 19;
    public const uint CreateAhNumPagesMask = 0xFu << 19;
    public const int CreateAhPageSizeShift = 16;
    public const uint CreateAhPageSizeMask = 0x7u << 16;
    public const int CreateAhEntrySizeShift = 23;
    public const uint CreateAhEntrySizeMask = 0x1FFu << 23;
    /// <summary><c>OCRDMA_AH_TBL_PAGES</c>.</summary>
    public const int AhTablePages = 8;
    /// <summary>ocrdma.h <c>OCRDMA_MAX_AH</c>: 512 AVs of 64 bytes fill the 8 pages.</summary>
    public const int MaxAh = 512;
    /// <summary>struct ocrdma_create_ah_tbl_rsp.ahid.</summary>
    public const int CreateAhTblRspAhid = 36;
    /// <summary>struct ocrdma_pbe is { pa_hi; pa_lo } (hi first).</summary>
    public const int PbeSize = 8;

    // ---- ROCE MODIFY_QP (struct ocrdma_modify_qp: hdr, mbx hdr, ocrdma_qp_params, flags, rdma_flags, num_outstanding_atomic_rd) ----
    public const int ModifyQpSize = 136;
    public const int QpId = 36;
    public const int QpMaxWqeRqe = 40;
    public const int QpMaxSgeSendWrite = 44;
    /// <summary>max_sge_recv_flags: QP state 7:5 (<c>OCRDMA_QP_PARAMS_STATE_SHIFT</c>), L3 type 13:11.</summary>
    public const int QpMaxSgeRecvFlags = 48;
    public const int QpMaxOrdIrd = 52;
    public const int QpWqRqCqid = 56;
    /// <summary>hop_lmt_rq_psn: hop limit 31:24.</summary>
    public const int QpHopLmtRqPsn = 60;
    /// <summary>tclass_sq_psn: traffic class 31:24.</summary>
    public const int QpTclassSqPsn = 64;
    public const int QpAckToRnrRtcDestQpn = 68;
    public const int QpPathMtuPkeyIndx = 72;
    /// <summary>rnt_rc_sl_fl: flow label 19:0, SL 23:20.</summary>
    public const int QpRntRcSlFl = 76;
    public const int QpSgid = 80;
    public const int QpDgid = 96;
    public const int QpDmacB0ToB3 = 112;
    /// <summary>vlan_dmac_b4_to_b5: DMAC bytes 4..5 at 15:0, VLAN at 31:16.</summary>
    public const int QpVlanDmacB4ToB5 = 116;
    public const int QpQkey = 120;
    public const int QpFlags = 124;
    public const int QpRdmaFlags = 128;
    public const int QpStateShift = 5;
    public const uint QpStateMask = 0x7u << 5;
    /// <summary><c>OCRDMA_QP_PARAMS_FLAGS_L3_TYPE_SHIFT</c>/<c>_MASK</c>.</summary>
    public const int QpL3TypeShift = 11;
    public const uint QpL3TypeMask = 0x7u << 11;
    public const int QpHopLimitShift = 24;
    public const int QpTclassShift = 24;
    public const uint QpFlowLabelMask = 0xFFFFF;
    public const int QpSlShift = 20;
    public const int QpVlanShift = 16;
    /// <summary><c>OCRDMA_QP_PARA_QPS_VALID</c>.</summary>
    public const uint QpParaQpsValid = 1u << 0;
    /// <summary><c>OCRDMA_QP_PARA_FLOW_LBL_VALID</c>: set whenever the path (IB_QP_AV) is given.</summary>
    public const uint QpParaFlowLblValid = 1u << 21;
    /// <summary><c>OCRDMA_QP_PARA_VLAN_EN_VALID</c>.</summary>
    public const uint QpParaVlanEnValid = 1u << 26;
    /// <summary>struct ocrdma_modify_qp_rsp: max_wqe_rqe, max_ord_ird after the response header.</summary>
    public const int ModifyQpRspMaxWqeRqe = 36;

    // ---- Address vector (struct ocrdma_av, 64 B packed; ocrdma_ah.c set_av_attr) ----
    public const int AvSize = 64;
    /// <summary>sizeof(struct ocrdma_eth_basic): dmac, smac, eth_type.</summary>
    public const int EthBasicSize = 14;
    /// <summary>sizeof(struct ocrdma_eth_vlan): dmac, smac, 0x8100, vlan_tag, roce_eth_type.</summary>
    public const int EthVlanSize = 18;
    public const int EthDmac = 0;
    public const int EthSmac = 6;
    public const int EthType = 12;
    public const int EthVlanTag = 14;
    public const int EthRoceType = 16;
    /// <summary>struct ocrdma_grh at AV+eth_sz: be32 tclass_flow, be32 pdid_hoplimit, sgid[16], dgid[16], rsvd.</summary>
    public const int GrhTclassFlow = 0;
    public const int GrhPdidHoplimit = 4;
    public const int GrhSgid = 8;
    public const int GrhDgid = 24;
    public const int GrhSize = 42;
    /// <summary>struct iphdr at AV+eth_sz for RoCE v2 over IPv4: saddr at +12, daddr at +16.</summary>
    public const int Ipv4Saddr = 12;
    public const int Ipv4Daddr = 16;
    public const int Ipv4HeaderSize = 20;
    /// <summary>The <c>valid</c> dword, little-endian, at AV+60.</summary>
    public const int AvValid = 60;
    /// <summary><c>OCRDMA_AV_VALID</c>.</summary>
    public const uint AvValidBit = 1u << 7;
    /// <summary><c>OCRDMA_AV_VLAN_VALID</c>.</summary>
    public const uint AvVlanValidBit = 1u << 1;
    /// <summary>ocrdma_ah.c <c>OCRDMA_VID_PCP_SHIFT</c>: the SL goes to the VLAN tag's PCP bits.</summary>
    public const int VidPcpShift = 13;
    /// <summary>ETH_P_IBOE: RoCE v1.</summary>
    public const ushort EtherTypeIboe = 0x8915;
    public const ushort EtherTypeIPv4 = 0x0800;
    public const ushort EtherTypeIPv6 = 0x86dd;
    public const ushort EtherTypeVlan = 0x8100;
    /// <summary>GRH next header for RoCE v1 (IB BTH).</summary>
    public const byte NextHeaderIboe = 0x1b;
    /// <summary>UDP, for RoCE v2.</summary>
    public const byte NextHeaderUdp = 0x11;
    /// <summary>IP_DF.</summary>
    public const ushort IpDontFragment = 0x4000;

    /// <summary>The sgid's offset inside an AV for a GRH (RoCE v1, RoCE v2 over IPv6): AV+22, or AV+26 with a VLAN.</summary>
    public static int AvSgidOffset(bool vlan) => (vlan ? EthVlanSize : EthBasicSize) + GrhSgid;
}

/// <summary>The L3 (network header) type of a QP path or an AV: <c>OCRDMA_L3_TYPE_*</c> = <c>enum rdma_network_type</c>.</summary>
public enum OcrdmaL3Type : byte
{
    /// <summary>RoCE v1: a GRH behind ethertype 0x8915 (<c>OCRDMA_L3_TYPE_IB_GRH</c>).</summary>
    IbGrh = 0,
    /// <summary>RoCE v2 over IPv4 (<c>OCRDMA_L3_TYPE_IPV4</c>).</summary>
    IPv4 = 1,
    /// <summary>RoCE v2 over IPv6 (<c>OCRDMA_L3_TYPE_IPV6</c>).</summary>
    IPv6 = 2,
}

/// <summary>QP states as MODIFY_QP encodes them (ocrdma_sli.h <c>enum ocrdma_qp_state</c>).</summary>
public enum OcrdmaQpState : byte
{
    Reset = 0,
    Init = 1,
    Rtr = 2,
    Rts = 3,
    Sqe = 4,
    SqDraining = 5,
    Error = 6,
    Sqd = 7,
}
