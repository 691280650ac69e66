using System.Buffers.Binary;
using RoceUio.Gids;
using static RoceUio.Drivers.Ocrdma.OcrdmaLayout;

namespace RoceUio.Drivers.Ocrdma;

/// <summary>The path of a queue pair (the IB_QP_AV part of <c>ib_qp_attr</c> that ocrdma_set_av_params reads), minus the sgid.</summary>
public readonly record struct OcrdmaPath(Gid Dgid, ulong DestinationMac, byte HopLimit = 64, byte TrafficClass = 0,
    uint FlowLabel = 0, byte ServiceLevel = 0, OcrdmaQpState State = OcrdmaQpState.Rtr);

/// <summary>The attributes of an address handle (<c>rdma_ah_attr</c> with a GRH), minus the sgid.</summary>
public readonly record struct OcrdmaAhAttr(Gid Dgid, ulong DestinationMac, byte HopLimit = 64, byte TrafficClass = 0,
    uint FlowLabel = 0, ushort PdId = 0);

/// <summary>
/// Encoders for the commands and structures ocrdma builds, byte for byte as the kernel does. All allocation-free:
/// they write into caller-provided spans (stack or DMA memory). MAC addresses are 48-bit numbers whose most significant
/// byte is the first on the wire (00:11:22:33:44:55 is 0x001122334455).
/// </summary>
public static class OcrdmaCommands
{
    /// <summary>
    /// ocrdma_hw.c <c>ocrdma_init_emb_mqe</c> + <c>ocrdma_init_mch</c>: clears the MQE, marks it embedded,
    /// <c>pyld_len</c> = size - 20, <c>cmd_len</c> = pyld_len - 16, timeout 20 s.
    /// </summary>
    public static void InitEmbedded(Span<byte> mqe, byte subsys, byte opcode, int commandSize)
    {
        mqe[..MqeSize].Clear();
        DmaAccess.Write32(mqe, MqeHdrFlags, MqeEmbedded);
        uint pyld = (uint)(commandSize - MqeHdrSize);
        DmaAccess.Write32(mqe, MqeHdrPayloadLength, pyld);
        DmaAccess.Write32(mqe, MbxSubsysOp, SubsysOp(subsys, opcode));
        DmaAccess.Write32(mqe, MbxTimeout, MbxDefaultTimeoutSeconds);
        DmaAccess.Write32(mqe, MbxCmdLength, pyld - MbxHdrSize);
    }

    /// <summary>
    /// A COMMON command tunnelled through be2net (<c>be_roce_mcc_cmd</c>) as the payload of a bootstrap-mailbox WRB:
    /// the WRB header is be2net's (embedded, <c>payload_length</c> = the command's size), the command is
    /// <c>ocrdma_init_mch</c>'s (cmd_len = size - 16).
    /// </summary>
    public static void InitMailboxCommand(Span<byte> wrb, byte subsys, byte opcode, int commandSize, uint version = 0)
    {
        wrb[..MailboxWrbSize].Clear();
        DmaAccess.Write32(wrb, MqeHdrFlags, MqeEmbedded);
        DmaAccess.Write32(wrb, MqeHdrPayloadLength, (uint)commandSize);
        DmaAccess.Write32(wrb, MbxSubsysOp, SubsysOp(subsys, opcode));
        DmaAccess.Write32(wrb, MbxTimeout, MbxDefaultTimeoutSeconds);
        DmaAccess.Write32(wrb, MbxCmdLength, (uint)(commandSize - MbxHdrSize));
        DmaAccess.Write32(wrb, MbxVersion, version);
    }

    /// <summary>
    /// ocrdma_hw.c <c>ocrdma_mbx_mq_cq_create</c>: CREATE_CQ version 2 for the MQ's CQ on EQ <paramref name="eqId"/>:
    /// <c>pgsz_pgcnt = (size / 4 KiB) &lt;&lt; 16 | pages</c>, the default flags, <c>eqn = eq->id</c>,
    /// <c>pdid_cqecnt = size / sizeof(struct ocrdma_mcqe)</c>, the page list.
    /// </summary>
    public static void EncodeCreateMqCq(Span<byte> wrb, ulong cqAddress, int pages, int eqId)
    {
        InitMailboxCommand(wrb, SubsysCommon, CmdCommonCreateCq, CreateCqCmdSize, OcrdmaBringUpLayout.CreateCqVersion2);
        DmaAccess.Write32(wrb, CreateCqPgszPgcnt, (uint)pages << OcrdmaBringUpLayout.CreateCqPageSizeShift | (uint)pages);
        DmaAccess.Write32(wrb, CreateCqEvCntFlags, CreateCqDefFlags);
        DmaAccess.Write32(wrb, CreateCqEqn, (uint)eqId);
        DmaAccess.Write32(wrb, OcrdmaBringUpLayout.CreateCqPdidCqecnt, (uint)(pages * PageSize4K / McqeSize));
        for (int i = 0; i < pages; i++)
            DmaAccess.WritePa(wrb, CreateCqPa + 8 * i, cqAddress + (ulong)(i * PageSize4K));
    }

    /// <summary>ocrdma_hw.c <c>ocrdma_mbx_create_mq</c>, the Skyhawk branch: CREATE_MQ_EXT version 1.</summary>
    public static void EncodeCreateMqExt(Span<byte> wrb, ulong mqAddress, int pages, int cqId, int mqLength)
    {
        InitMailboxCommand(wrb, SubsysCommon, CmdCommonCreateMqExt, CreateMqCmdSize, version: 1);
        DmaAccess.Write32(wrb, CreateMqCqidPages, (uint)pages | (uint)cqId << CreateMqCqIdShift);
        DmaAccess.Write32(wrb, CreateMqAsyncCqidValid, CreateMqAsyncCqValid);
        DmaAccess.Write32(wrb, CreateMqAsyncEventBitmap, OcrdmaBringUpLayout.MqAsyncEvents); // GRP5, RDMA, LINK events
        DmaAccess.Write32(wrb, CreateMqAsyncCqidRingsize, (uint)cqId | EncodedQueueLength(mqLength) << CreateMqRingSizeShift);
        DmaAccess.Write32(wrb, CreateMqValid, CreateMqValidBit);
        for (int i = 0; i < pages; i++)
            DmaAccess.WritePa(wrb, CreateMqPa + 8 * i, mqAddress + (ulong)(i * PageSize4K));
    }

    /// <summary>
    /// ocrdma_hw.c <c>ocrdma_mbx_create_ah_tbl</c>: 8 pages of 4 KiB (page-size code 0), 64-byte entries, the
    /// table's pages listed in a PBL page whose address is <c>tbl_addr[0]</c>.
    /// </summary>
    public static void EncodeCreateAhTbl(Span<byte> mqe, ulong pblAddress)
    {
        InitEmbedded(mqe, SubsysRoce, CmdRoceCreateAhTbl, CreateAhTblSize);
        uint conf = ((uint)AhTablePages << CreateAhNumPagesShift & CreateAhNumPagesMask)
                    | (0u << CreateAhPageSizeShift & CreateAhPageSizeMask)
                    | ((uint)AvSize << CreateAhEntrySizeShift & CreateAhEntrySizeMask);
        DmaAccess.Write32(mqe, CreateAhTblConf, conf);
        DmaAccess.WritePa(mqe, CreateAhTblAddr, pblAddress);
    }

    /// <summary>The PBL of the AV table: <c>struct ocrdma_pbe { pa_hi; pa_lo; }</c> per 4 KiB page.</summary>
    public static void EncodeAhTablePbl(Span<byte> pbl, ulong tableAddress, int pages)
    {
        for (int i = 0; i < pages; i++)
        {
            ulong pa = tableAddress + (ulong)(i * PageSize4K);
            DmaAccess.Write32(pbl, i * PbeSize, (uint)(pa >> 32));
            DmaAccess.Write32(pbl, i * PbeSize + 4, (uint)pa);
        }
    }

    /// <summary>
    /// ocrdma_hw.c <c>ocrdma_mbx_modify_qp</c> with <c>IB_QP_STATE | IB_QP_AV</c> (<c>ocrdma_set_av_params</c>):
    /// the sgid at MQE+80 and the L3 type at MQE+48 bits 13:11 come from the sgid entry; for RoCE v2 over IPv4 the first
    /// four bytes of sgid and dgid are overwritten with the IPv4 addresses; a VLAN id from the sgid's netdev goes to
    /// MQE+116 bits 31:16 with <c>OCRDMA_QP_PARA_VLAN_EN_VALID</c>.
    /// </summary>
    public static void EncodeModifyQpPath(Span<byte> mqe, int qpId, in OcrdmaSgid sgid, in OcrdmaPath path)
    {
        InitEmbedded(mqe, SubsysRoce, CmdRoceModifyQp, ModifyQpSize);
        uint flags = 0;
        DmaAccess.Write32(mqe, QpId, (uint)qpId);
        DmaAccess.Or32(mqe, QpMaxSgeRecvFlags, (uint)path.State << QpStateShift & QpStateMask);
        flags |= QpParaQpsValid;

        DmaAccess.Or32(mqe, QpTclassSqPsn, (uint)path.TrafficClass << QpTclassShift);
        DmaAccess.Or32(mqe, QpRntRcSlFl, path.FlowLabel & QpFlowLabelMask);
        DmaAccess.Or32(mqe, QpRntRcSlFl, (uint)path.ServiceLevel << QpSlShift);
        DmaAccess.Or32(mqe, QpHopLmtRqPsn, (uint)path.HopLimit << QpHopLimitShift);
        flags |= QpParaFlowLblValid;

        path.Dgid.WriteBytes(mqe.Slice(QpDgid, Gid.Size));
        sgid.Gid.WriteBytes(mqe.Slice(QpSgid, Gid.Size));
        ulong mac = path.DestinationMac;
        DmaAccess.Write32(mqe, QpDmacB0ToB3, (uint)(MacByte(mac, 0) | MacByte(mac, 1) << 8 | MacByte(mac, 2) << 16 | MacByte(mac, 3) << 24));
        OcrdmaL3Type l3 = sgid.L3Type;
        if (l3 == OcrdmaL3Type.IPv4)
        {
            // rdma_gid2ip: the IPv4 address is GID bytes 12..15; it replaces bytes 0..3 (bytes 4..15 keep the GID).
            mqe.Slice(QpDgid + 12, 4).CopyTo(mqe.Slice(QpDgid, 4));
            mqe.Slice(QpSgid + 12, 4).CopyTo(mqe.Slice(QpSgid, 4));
        }
        DmaAccess.Write32(mqe, QpVlanDmacB4ToB5, (uint)(MacByte(mac, 4) | MacByte(mac, 5) << 8));
        if (sgid.VlanId != 0)
        {
            DmaAccess.Or32(mqe, QpVlanDmacB4ToB5, (uint)sgid.VlanId << QpVlanShift);
            flags |= QpParaVlanEnValid;
        }
        DmaAccess.Or32(mqe, QpMaxSgeRecvFlags, (uint)l3 << QpL3TypeShift & QpL3TypeMask);
        DmaAccess.Write32(mqe, QpFlags, flags);
    }

    /// <summary>
    /// ocrdma_ah.c <c>set_av_attr</c> after <c>ocrdma_alloc_av</c>: the Ethernet header (VLAN-tagged when the sgid's
    /// netdev is a VLAN), then a GRH (RoCE v1, RoCE v2/IPv6; sgid at AV+22 or AV+26) or an IPv4 header (RoCE v2/IPv4,
    /// saddr at AV+26 or AV+30), and the little-endian valid dword at AV+60. The device's own service level
    /// (<c>dev->sl</c>, learnt from DCBX) is taken as 0: DCBX is not modelled.
    /// </summary>
    public static void EncodeAv(Span<byte> av, in OcrdmaSgid sgid, in OcrdmaAhAttr attr, ulong sourceMac)
    {
        av = av[..AvSize];
        av.Clear();
        OcrdmaL3Type l3 = sgid.L3Type;
        ushort proto = l3 switch
        {
            OcrdmaL3Type.IbGrh => EtherTypeIboe,
            OcrdmaL3Type.IPv4 => EtherTypeIPv4,
            _ => EtherTypeIPv6,
        };
        byte nxthdr = proto == EtherTypeIboe ? NextHeaderIboe : NextHeaderUdp;
        ushort vlan = sgid.VlanId is 0 or > 0xFFF ? (ushort)0 : sgid.VlanId; // dev->pvid is 0
        bool isVlan = vlan != 0;
        int ethSize;
        if (isVlan)
        {
            BinaryPrimitives.WriteUInt16BigEndian(av[EthType..], EtherTypeVlan);
            BinaryPrimitives.WriteUInt16BigEndian(av[EthVlanTag..], vlan); // | (dev->sl & 7) << 13, dev->sl = 0
            BinaryPrimitives.WriteUInt16BigEndian(av[EthRoceType..], proto);
            ethSize = EthVlanSize;
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(av[EthType..], proto);
            ethSize = EthBasicSize;
        }
        WriteMac(av[EthDmac..], attr.DestinationMac);
        WriteMac(av[EthSmac..], sourceMac);
        Span<byte> l3hdr = av[ethSize..];
        if (l3 == OcrdmaL3Type.IPv4)
        {
            BinaryPrimitives.WriteUInt16BigEndian(l3hdr, (ushort)(4 << 12 | 5 << 8 | attr.TrafficClass));
            BinaryPrimitives.WriteUInt16BigEndian(l3hdr[4..], attr.PdId);          // id
            BinaryPrimitives.WriteUInt16BigEndian(l3hdr[6..], IpDontFragment);     // frag_off
            l3hdr[8] = attr.HopLimit;                                               // ttl
            l3hdr[9] = nxthdr;                                                      // protocol
            Span<byte> g = stackalloc byte[Gid.Size];
            sgid.Gid.WriteBytes(g);
            g[12..].CopyTo(l3hdr[Ipv4Saddr..]);
            attr.Dgid.WriteBytes(g);
            g[12..].CopyTo(l3hdr[Ipv4Daddr..]);
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(l3hdr[GrhTclassFlow..], 6u << 28 | (uint)attr.TrafficClass << 24 | (attr.FlowLabel & 0xFFFFF));
            BinaryPrimitives.WriteUInt32BigEndian(l3hdr[GrhPdidHoplimit..], (uint)attr.PdId << 16 | (uint)nxthdr << 8 | attr.HopLimit);
            sgid.Gid.WriteBytes(l3hdr.Slice(GrhSgid, Gid.Size));
            attr.Dgid.WriteBytes(l3hdr.Slice(GrhDgid, Gid.Size));
        }
        DmaAccess.Write32(av, AvValid, AvValidBit | (isVlan ? AvVlanValidBit : 0));
    }

    private static uint MacByte(ulong mac, int i) => (uint)(mac >> (40 - 8 * i)) & 0xFF;

    private static void WriteMac(Span<byte> dest, ulong mac)
    {
        for (int i = 0; i < 6; i++)
            dest[i] = (byte)MacByte(mac, i);
    }

    /// <summary>00:11:22:33:44:55 → 0x001122334455.</summary>
    public static ulong Mac(ReadOnlySpan<byte> mac)
    {
        if (mac.Length != 6)
            throw new ArgumentException($"a MAC address is 6 bytes, got {mac.Length}", nameof(mac));
        ulong v = 0;
        foreach (byte b in mac)
            v = v << 8 | b;
        return v;
    }
}
