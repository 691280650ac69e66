using RoceUio.Hardware;
using RoceUio.Roce;
using static RoceUio.Drivers.Ocrdma.OcrdmaBringUpLayout;
using static RoceUio.Drivers.Ocrdma.OcrdmaLayout;

namespace RoceUio.Drivers.Ocrdma;

/// <summary>
/// Starts and stops an ocrdma function's control path the way the kernel does:
/// <list type="number">
/// <item>be2net's <c>be_func_init</c>: wait for the firmware's POST (<c>be_fw_wait_ready</c>). The functions this
/// driver serves are Skyhawk-R's (ocrdma runs on no other be2net chip: <see cref="OcrdmaPci.IsSupported"/>), so the
/// stage is <c>be_POST_stage_get</c>'s non-BEx branch, the dword at <c>SLIPORT_SEMAPHORE_OFFSET_SH</c> (0x94) of PCI
/// config space, polled until its low 16 bits read <c>POST_STAGE_ARMFW_RDY</c> (0xc000), 60 s at most;
/// <c>lancer_wait_ready</c> (SLIPORT_STATUS in the doorbell BAR) is Lancer's and the CSR-BAR semaphore BE2/BE3's, and
/// neither applies. Then FUNCTION_RESET through the bootstrap mailbox (<c>be_reset_required</c>: a function with no
/// VFs, which is what user space drives), so that whatever an earlier run left is gone;</item>
/// <item>be2net's handshake on the bootstrap mailbox (<c>be_cmd_fw_init</c>: the pattern FF 12 34 FF FF 56 78 FF
/// across the WRB header, completed like any mailbox command), before any other command;</item>
/// <item><c>ocrdma_create_eqs</c>: CREATE_EQ (4096 entries, four 4 KiB pages, version 2), then the EQ doorbell armed
/// and cleared. One EQ, as the kernel in INTx mode (user space takes no interrupts; the kernel makes one per MSI-X
/// vector up to the CPU count);</item>
/// <item><c>ocrdma_create_mq</c>: CREATE_CQ for the MQ's CQ bound to that EQ (version 2), CREATE_MQ_EXT on that CQ,
/// the CQ doorbell armed;</item>
/// <item>through the MQ: GET_FW_CONFIG (the function must be in RDMA mode: <c>ocrdma_check_fw_config</c>) and
/// QUERY_CONFIG, whose L3-type bits say whether RoCE v2 (UDP encapsulation) is there (<c>ocrdma_get_attr</c>,
/// <c>ocrdma_is_udp_encap_supported</c>), then GET_FW_VER (<c>ocrdma_mbx_query_fw_ver</c>: the running firmware's
/// version string).</item>
/// </list>
/// The device then registers its AV table (CREATE_AH_TBL). <see cref="ShutDown"/> is <c>ocrdma_cleanup_hw</c> after
/// DELETE_AH_TBL: DELETE_MQ, DELETE_CQ, the EQ disarmed and DELETE_EQ (<c>ocrdma_destroy_mq</c>,
/// <c>ocrdma_destroy_eqs</c>), then what be2net's <c>be_remove</c> does after <c>be_roce_dev_remove</c>:
/// FUNCTION_RESET and the <c>be_cmd_fw_clean</c> pattern. Not sent (nothing here needs them): PHY_DETAILS,
/// GET_CTRL_ATTRIBUTES, the PD pool, DCBX, be2net's interrupt enable (<c>be_intr_set</c>: no interrupts here).
/// Locking: one caller at a time (bring-up and shut-down).
/// </summary>
public sealed class OcrdmaBringUp
{
    private readonly string _name;
    private readonly MmioRegion _db;
    private readonly OcrdmaMailbox _mailbox;
    private readonly DmaBuffer _eqRing, _cq, _ring;
    private readonly TimeSpan _commandTimeout, _postTimeout;
    private readonly Func<uint>? _postSemaphore;
    private bool _handshake, _eqCreated, _cqCreated, _mqCreated;

    /// <summary>
    /// Over the doorbell BAR and memory the device can reach. <paramref name="postSemaphore"/> reads the function's
    /// POST semaphore (config space dword 0x94; an emulated device's is its <c>pci_config</c> file); null: there is
    /// nothing to read, and the POST wait is skipped. <paramref name="postTimeout"/>: how long to wait (60 s, as the kernel).
    /// </summary>
    public OcrdmaBringUp(string name, MmioRegion doorbells, Func<int, int, string, DmaBuffer> allocate, TimeSpan mailboxTimeout, TimeSpan commandTimeout,
        Func<uint>? postSemaphore = null, TimeSpan? postTimeout = null)
    {
        _name = name;
        _db = doorbells;
        _commandTimeout = commandTimeout;
        _postSemaphore = postSemaphore;
        _postTimeout = postTimeout ?? PostTimeout;
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
    /// <summary>GET_FW_VER's <c>running_ver</c> (e.g. <c>11.4.204.34</c>); empty before.</summary>
    public string FirmwareVersion { get; private set; } = "";
    /// <summary>The POST semaphore as the wait last read it (null when there was none to read).</summary>
    public uint? PostSemaphore { get; private set; }
    /// <summary>How many times the POST wait read the semaphore (1 on a card that was ready).</summary>
    public int PostReads { get; private set; }

    /// <summary>Everything up to the MQ and the three queries; on a failure what was created is deleted again and the error thrown.</summary>
    public void Run() => DeviceBringUp.StartOrTearDown(() =>
    {
        WaitForPost();
        ResetFunction();
        Handshake();
        CreateEq();
        CreateMqCq();
        CreateMq();
        QueryFwConfig();
        QueryConfig();
        QueryFwVersion();
    }, ShutDown);

    /// <summary>
    /// be_fw_wait_ready on Skyhawk: the POST stage (<c>be_POST_stage_get</c>, bits 15:0 of config dword 0x94) until it
    /// reads ARMFW_RDY. The kernel reads it every 2 s for 60 s; this reads it every 10 ms (a ready card costs one read)
    /// for the same 60 s, and names the stage it last saw when it gives up.
    /// </summary>
    public void WaitForPost()
    {
        if (_postSemaphore is null)
            return;
        long deadline = Environment.TickCount64 + (long)_postTimeout.TotalMilliseconds;
        while (true)
        {
            uint sem = _postSemaphore();
            PostSemaphore = sem;
            PostReads++;
            if ((sem & PostStageMask) == PostStageArmFwRdy)
                return;
            if (Environment.TickCount64 > deadline)
                throw new RoceDeviceException(
                    $"{_name}: the firmware did not finish POST within {_postTimeout.TotalSeconds:0.#} s: config space 0x{SliportSemaphoreOffsetSh:x} " +
                    $"reads 0x{sem:x8}, stage {PostStageName(sem)}; be_fw_wait_ready waits for 0xc000 (ARMFW_RDY)");
            Thread.Sleep(10);
        }
    }

    /// <summary>be_cmd_reset_function (be_func_init before FW_INIT, be_remove before FW_CLEAN).</summary>
    public void ResetFunction()
    {
        Span<byte> wrb = stackalloc byte[MailboxWrbSize];
        EncodeFunctionReset(wrb);
        _mailbox.Execute(wrb, "FUNCTION_RESET (be_cmd_reset_function)");
    }

    /// <summary>be_wrb_cmd_hdr_prepare for OPCODE_COMMON_FUNCTION_RESET: the WRB embedded with payload_length 16, the
    /// request header opcode 61, subsystem COMMON, request_length 0, version 0; timeout and tags are not needed (0).</summary>
    public static void EncodeFunctionReset(Span<byte> wrb)
    {
        wrb[..MailboxWrbSize].Clear();
        DmaAccess.Write32(wrb, MqeHdrFlags, MqeEmbedded);
        DmaAccess.Write32(wrb, MqeHdrPayloadLength, FunctionResetCmdSize);
        DmaAccess.Write32(wrb, MbxSubsysOp, SubsysOp(SubsysCommon, CmdCommonFunctionReset));
    }

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

    /// <summary>ocrdma_mbx_query_fw_ver: GET_FW_VER, the running version as a string (ocrdma_le32_to_cpu is nothing on
    /// a little-endian host).</summary>
    public void QueryFwVersion()
    {
        Span<byte> mqe = stackalloc byte[MqeSize];
        EncodeGetFwVer(mqe);
        Mq.Execute(mqe, "GET_FW_VER");
        ReadOnlySpan<byte> v = mqe.Slice(FwVerRunning, FwVerLength);
        int end = v.IndexOf((byte)0);
        FirmwareVersion = System.Text.Encoding.ASCII.GetString(end < 0 ? v : v[..end]);
    }

    /// <summary>ocrdma_mbx_query_fw_ver's MQE: as GET_FW_CONFIG's (<c>ocrdma_init_emb_mqe</c>, then <c>ocrdma_init_mch</c>
    /// with the MQE's whole size: cmd_len 240), COMMON opcode 35.</summary>
    public static void EncodeGetFwVer(Span<byte> mqe)
    {
        OcrdmaCommands.InitEmbedded(mqe, SubsysCommon, CmdCommonGetFwVer, MqeSize);
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
    /// ocrdma_destroy_mq (DELETE_MQ, DELETE_CQ), ocrdma_destroy_eqs (the EQ disarmed, DELETE_EQ), be_remove's
    /// FUNCTION_RESET and be_cmd_fw_clean; only what was created. Goes on after a failed step and throws the failures together. Safe to call again.
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
        {
            // be_remove: be_cmd_reset_function (no VFs assigned), then be_cmd_fw_clean.
            steps.Run(ResetFunction);
            steps.Run(() =>
            {
                Span<byte> wrb = stackalloc byte[MailboxWrbSize];
                wrb.Clear();
                FwCleanPattern.CopyTo(wrb);
                _mailbox.Execute(wrb, "FW_CLEAN (be_cmd_fw_clean)");
                _handshake = false;
            });
        }
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
