using RoceUio.Hardware;
using RoceUio.Roce;
using static RoceUio.Drivers.Ocrdma.OcrdmaBringUpLayout;
using static RoceUio.Drivers.Ocrdma.OcrdmaLayout;

namespace RoceUio.Drivers.Ocrdma;

/// <summary>
/// Starts and stops an ocrdma function's control path the way the kernel does:
/// <list type="number">
/// <item>be2net's handshake on the bootstrap mailbox (<c>be_cmd_fw_init</c>: the pattern FF 12 34 FF FF 56 78 FF
/// across the WRB header, completed like any mailbox command), before any other command;</item>
/// <item><c>ocrdma_create_eqs</c>: CREATE_EQ (4096 entries, four 4 KiB pages, version 2), then the EQ doorbell armed
/// and cleared. One EQ, as the kernel in INTx mode (user space takes no interrupts; the kernel makes one per MSI-X
/// vector up to the CPU count);</item>
/// <item><c>ocrdma_create_mq</c>: CREATE_CQ for the MQ's CQ bound to that EQ (version 2), CREATE_MQ_EXT on that CQ,
/// the CQ doorbell armed;</item>
/// <item>through the MQ: GET_FW_CONFIG (the function must be in RDMA mode: <c>ocrdma_check_fw_config</c>) and
/// QUERY_CONFIG, whose L3-type bits say whether RoCE v2 (UDP encapsulation) is there (<c>ocrdma_get_attr</c>,
/// <c>ocrdma_is_udp_encap_supported</c>).</item>
/// </list>
/// The device then registers its AV table (CREATE_AH_TBL). <see cref="ShutDown"/> is <c>ocrdma_cleanup_hw</c> after
/// DELETE_AH_TBL: DELETE_MQ, DELETE_CQ, the EQ disarmed and DELETE_EQ (<c>ocrdma_destroy_mq</c>,
/// <c>ocrdma_destroy_eqs</c>), then be2net's <c>be_cmd_fw_clean</c> pattern. Not sent (nothing here needs them):
/// GET_FW_VER, PHY_DETAILS, GET_CTRL_ATTRIBUTES, the PD pool, DCBX.
/// Locking: one caller at a time (bring-up and shut-down).
/// </summary>
public sealed class OcrdmaBringUp
{
    private readonly string _name;
    private readonly MmioRegion _db;
    private readonly OcrdmaMailbox _mailbox;
    private readonly DmaBuffer _eqRing, _cq, _ring;
    private readonly TimeSpan _commandTimeout;
    private bool _handshake, _eqCreated, _cqCreated, _mqCreated;

    public OcrdmaBringUp(string name, MmioRegion doorbells, Func<int, int, string, DmaBuffer> allocate, TimeSpan mailboxTimeout, TimeSpan commandTimeout)
    {
        _name = name;
        _db = doorbells;
        _commandTimeout = commandTimeout;
        _mailbox = new OcrdmaMailbox(doorbells, allocate(MailboxSize, PageSize4K, "bootstrap mailbox"), mailboxTimeout);
        _eqRing = allocate(EqLength * EqeSize, PageSize4K, "event queue");
        _cq = allocate(MqCqLength * McqeSize, PageSize4K, "MQ completion queue");
        _ring = allocate(MqLength * MqeSize, PageSize4K, "MQ ring");
    }

    public int EqId { get; private set; } = -1;
    public int EqVector { get; private set; }
    public OcrdmaMq Mq { get; private set; } = null!;
    /// <summary>GET_FW_CONFIG's <c>fn_mode</c>, <c>base_eqid</c>, <c>max_eq</c>.</summary>
    public uint FunctionMode { get; private set; }
    public uint BaseEqId { get; private set; }
    public uint MaxEq { get; private set; }
    /// <summary>QUERY_CONFIG's L3 types with UDP encapsulation (<c>attr.udp_encap</c>: bit 0 IPv4, bit 1 IPv6).</summary>
    public uint UdpEncap { get; private set; }
    /// <summary>QUERY_CONFIG's <c>max_pd</c>.</summary>
    public uint MaxPd { get; private set; }
    /// <summary>RoCE v2 is there (<c>ocrdma_is_udp_encap_supported</c>).</summary>
    public bool RoceV2 => IsUdpEncapSupported(UdpEncap);

    /// <summary>Everything up to the MQ and the two queries; on a failure what was created is deleted again and the error thrown.</summary>
    public void Run() => DeviceBringUp.StartOrTearDown(() =>
    {
        Handshake();
        CreateEq();
        CreateMqCq();
        CreateMq();
        QueryFwConfig();
        QueryConfig();
    }, ShutDown);

    /// <summary>be_cmd_fw_init.</summary>
    public void Handshake()
    {
        Span<byte> wrb = stackalloc byte[MailboxWrbSize];
        wrb.Clear();
        FwInitPattern.CopyTo(wrb);
        _mailbox.Execute(wrb, "FW_INIT (be_cmd_fw_init)");
        _handshake = true;
    }

    /// <summary>ocrdma_create_eq: CREATE_EQ through the mailbox, then the EQ doorbell armed with the interrupt cleared.</summary>
    public void CreateEq()
    {
        Span<byte> wrb = stackalloc byte[MailboxWrbSize];
        EncodeCreateEq(wrb, _eqRing.DeviceAddress);
        _mailbox.Execute(wrb, "CREATE_EQ");
        uint vectorEqid = DmaAccess.Read32(wrb, CreateEqRspVectorEqid);
        EqId = (int)(vectorEqid & 0xFFFF);
        EqVector = (int)(vectorEqid >> 16);
        _eqCreated = true;
        _db.Write32(DbEqOffset, EqDoorbell(EqId, arm: true, clearInterrupt: true, numEqe: 0));
    }

    /// <summary>ocrdma_hw.c <c>ocrdma_mbx_create_eq</c>: version 2, four pages, valid, cnt 4 &lt;&lt; 26, the page list.</summary>
    public static void EncodeCreateEq(Span<byte> wrb, ulong eqAddress)
    {
        OcrdmaCommands.InitMailboxCommand(wrb, SubsysCommon, CmdCommonCreateEq, CreateEqCmdSize, CreateEqVersion);
        DmaAccess.Write32(wrb, CreateEqNumPages, EqPages);
        DmaAccess.Write32(wrb, CreateEqValid, CreateEqValidBit);
        DmaAccess.Write32(wrb, CreateEqCnt, CreateEqCntValue);
        for (int i = 0; i < EqPages; i++)
            DmaAccess.WritePa(wrb, CreateEqPa + 8 * i, eqAddress + (ulong)(i * PageSize4K));
    }

    /// <summary>ocrdma_mbx_mq_cq_create on the EQ.</summary>
    public void CreateMqCq()
    {
        Span<byte> wrb = stackalloc byte[MailboxWrbSize];
        OcrdmaCommands.EncodeCreateMqCq(wrb, _cq.DeviceAddress, MqCqLength * McqeSize / PageSize4K, EqId);
        _mailbox.Execute(wrb, "CREATE_CQ");
        CqId = (int)(DmaAccess.Read32(wrb, CreateCqRspId) & 0xFFFF);
        _cqCreated = true;
    }

    public int CqId { get; private set; } = -1;
    public int MqId { get; private set; } = -1;

    /// <summary>ocrdma_mbx_create_mq on the MQ's CQ, then the CQ armed (<c>ocrdma_ring_cq_db(dev, cq.id, true, false, 0)</c>).</summary>
    public void CreateMq()
    {
        Span<byte> wrb = stackalloc byte[MailboxWrbSize];
        OcrdmaCommands.EncodeCreateMqExt(wrb, _ring.DeviceAddress, MqLength * MqeSize / PageSize4K, CqId, MqLength);
        _mailbox.Execute(wrb, "CREATE_MQ_EXT");
        MqId = (int)(DmaAccess.Read32(wrb, CreateMqRspId) & 0xFFFF);
        _mqCreated = true;
        Mq = new OcrdmaMq(_db, _ring, _cq, MqId, CqId, _commandTimeout);
        _db.Write32(DbCqOffset, CqDoorbell(CqId, rearm: true, popped: 0));
    }

    /// <summary>ocrdma_mbx_query_fw_config + ocrdma_check_fw_config.</summary>
    public void QueryFwConfig()
    {
        Span<byte> mqe = stackalloc byte[MqeSize];
        EncodeGetFwConfig(mqe);
        Mq.Execute(mqe, "GET_FW_CONFIG");
        FunctionMode = DmaAccess.Read32(mqe, FwConfigFnMode);
        BaseEqId = DmaAccess.Read32(mqe, FwConfigBaseEqid);
        MaxEq = DmaAccess.Read32(mqe, FwConfigMaxEq);
        if ((FunctionMode & FnModeRdma) != FnModeRdma)
            throw new RoceDeviceException($"{_name}: GET_FW_CONFIG says function mode 0x{FunctionMode:x}: the function is not in RDMA mode (OCRDMA_FN_MODE_RDMA 0x4; ocrdma_check_fw_config)");
    }

    /// <summary>
    /// ocrdma_mbx_query_fw_config's MQE: <c>ocrdma_init_emb_mqe</c> (embedded, pyld_len 236) and then
    /// <c>ocrdma_init_mch</c> again with the COMMON subsystem and the MQE's whole size, so cmd_len is 256 - 16 = 240.
    /// </summary>
    public static void EncodeGetFwConfig(Span<byte> mqe)
    {
        OcrdmaCommands.InitEmbedded(mqe, SubsysCommon, CmdCommonGetFwConfig, MqeSize);
        DmaAccess.Write32(mqe, MbxCmdLength, MqeSize - MbxHdrSize);
    }

    /// <summary>ocrdma_mbx_query_dev: QUERY_CONFIG, read as ocrdma_get_attr does.</summary>
    public void QueryConfig()
    {
        Span<byte> mqe = stackalloc byte[MqeSize];
        OcrdmaCommands.InitEmbedded(mqe, SubsysRoce, CmdRoceQueryConfig, MqeSize);
        Mq.Execute(mqe, "QUERY_CONFIG");
        uint v = DmaAccess.Read32(mqe, QueryConfigMaxPdCaAckDelay);
        UdpEncap = (v & QueryConfigL3TypeMask) >> QueryConfigL3TypeShift;
        MaxPd = v >> QueryConfigMaxPdShift;
    }

    /// <summary>
    /// ocrdma_destroy_mq (DELETE_MQ, DELETE_CQ), ocrdma_destroy_eqs (the EQ disarmed, DELETE_EQ), be_cmd_fw_clean; only
    /// what was created. Goes on after a failed step and throws the failures together. Safe to call again.
    /// </summary>
    public void ShutDown()
    {
        var steps = new TearDownSteps(_name);
        if (_mqCreated)
            steps.Run(() => { DeleteQueue(CmdCommonDeleteMq, MqId, "DELETE_MQ"); _mqCreated = false; });
        if (_cqCreated && !_mqCreated)
            steps.Run(() => { DeleteQueue(CmdCommonDeleteCq, CqId, "DELETE_CQ"); _cqCreated = false; });
        if (_eqCreated && !_cqCreated)
        {
            _db.Write32(DbEqOffset, EqDoorbell(EqId, arm: false, clearInterrupt: false, numEqe: 0));
            steps.Run(() => { DeleteQueue(CmdCommonDeleteEq, EqId, "DELETE_EQ"); _eqCreated = false; });
        }
        if (_handshake && !_eqCreated)
            steps.Run(() =>
            {
                Span<byte> wrb = stackalloc byte[MailboxWrbSize];
                wrb.Clear();
                FwCleanPattern.CopyTo(wrb);
                _mailbox.Execute(wrb, "FW_CLEAN (be_cmd_fw_clean)");
                _handshake = false;
            });
        steps.ThrowIfFailed();
    }

    /// <summary>ocrdma_mbx_delete_q: the header, then the queue's id.</summary>
    private void DeleteQueue(byte opcode, int id, string name)
    {
        Span<byte> wrb = stackalloc byte[MailboxWrbSize];
        EncodeDeleteQueue(wrb, opcode, id);
        _mailbox.Execute(wrb, name);
    }

    public static void EncodeDeleteQueue(Span<byte> wrb, byte opcode, int id)
    {
        OcrdmaCommands.InitMailboxCommand(wrb, SubsysCommon, opcode, DeleteQCmdSize);
        DmaAccess.Write32(wrb, DeleteQId, (uint)id);
    }
}
