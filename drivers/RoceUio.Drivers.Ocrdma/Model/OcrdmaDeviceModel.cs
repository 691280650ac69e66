using System.Globalization;
using RoceUio.Gids;
using RoceUio.Hardware;
using RoceUio.Hardware.Emulation;
using static RoceUio.Drivers.Ocrdma.OcrdmaBringUpLayout;
using static RoceUio.Drivers.Ocrdma.OcrdmaLayout;

namespace RoceUio.Drivers.Ocrdma.Model;

/// <summary>
/// A device model of a Skyhawk-R RoCE function over an emulated device directory, for tests and for
/// <c>roceuio model ocrdma --dir DIR</c>, on the shared <see cref="DeviceModelHost"/> (its poll loop, one watch per
/// doorbell, the fault file). It reacts to the doorbell BAR as the firmware does:
/// <list type="bullet">
/// <item>POST: the semaphore at 0x94 of the device's config file (<see cref="EmulatedPciConfig"/>) reads 0 until the
/// model has "booted", then <c>device.conf</c> key <c>ocrdma_post_stage</c> (default 0xc000, ARMFW_RDY) after
/// <c>ocrdma_post_delay_ms</c> (default 0). Only at ARMFW_RDY is the mailbox's RDY set; a mailbox write before that is
/// a violation and never completes (real firmware is not there yet);</item>
/// <item>bootstrap mailbox (BAR+0x160): takes the two address writes, runs FUNCTION_RESET (drops every queue and the AV
/// table, keeps the handshake), the be2net handshake (FW_INIT / FW_CLEAN patterns), CREATE_EQ, CREATE_CQ,
/// CREATE_MQ_EXT and their DELETE_*, writes the completion into the mailbox, sets RDY. It refuses
/// (MCC_STATUS_ILLEGAL_REQUEST, and a violation) any command but FUNCTION_RESET before FW_INIT, an MQ's CQ on no EQ, an
/// MQ on no CQ (ILLEGAL_FIELD), and a teardown out of order: DELETE_MQ with the AV table registered, DELETE_CQ under a
/// live MQ, DELETE_EQ under a live CQ, FW_CLEAN with queues left;</item>
/// <item>the EQ doorbell (BAR+0x120 with the type bit 10 set) for the EQ it created;</item>
/// <item>MQ doorbell (BAR+0x140): parses each posted 256-byte MQE, runs GET_FW_CONFIG, GET_FW_VER
/// (<see cref="FirmwareVersion"/>), QUERY_CONFIG (its L3-type bits
/// from <c>device.conf</c> key <c>ocrdma_udp_encap</c>, 0..3, default 3: IPv4 and IPv6), CREATE_AH_TBL,
/// DELETE_AH_TBL, MODIFY_QP, writes the response into the same ring slot and an MCQE (valid bit, tag) into the MQ's CQ;</item>
/// <item>CQ doorbell (BAR+0x120): consumed.</item>
/// </list>
/// Doorbells are write-only on the hardware; the model clears each after taking it, so that a repeated value is seen.
/// </summary>
/// <remarks>
/// <para>Checks, reported in <c>model.violations</c> (one line each) and, for commands, as an error status:
/// every MODIFY_QP that carries a path and every valid, bound AV must carry the sgid and L3 type (and VLAN) of the host
/// table's entry at the sgid index it was built from, at that moment. The model learns the host table and which index each
/// QP and AV uses only through the SYNTHETIC side channel <see cref="SgidShadowFile"/> (hw-layouts.md P2), never through a
/// register or a command. Any BAR write other than the three doorbells is a violation (so a GID add or delete that touches
/// the device is caught).</para>
/// <para>Fault injection: the fault file every model takes (<see cref="FaultInjection"/>: <c>faults</c> in the device
/// directory, written whole, taken before the next doorbell write is handled). The common keys: <c>stall</c>,
/// <c>delay_ms</c>, and <c>error=S</c> (with <c>error_count</c>): the next command(s), mailbox or MQ, are not run and
/// complete with status S (the bootstrap mailbox's MCQE status; an MQ command's response status, bits 7:0 status and
/// 15:8 additional status of <c>struct ocrdma_mbx_rsp</c>). The ocrdma key <c>mq=</c>, for the next MQ command only:
/// <c>no-completion</c>, <c>wrong-tag</c>, <c>cqe-status STATUS EXT</c>, <c>mbx-status STATUS ADDITIONAL</c>.</para>
/// <para>Stricter than hardware is known to be (decided here): MQ and AV-table pages must be contiguous; QPs are not
/// created by this driver, so any QP id is accepted.</para>
/// Threading: one thread runs <see cref="Run"/>; nothing else touches the model.
/// </remarks>
public sealed class OcrdmaDeviceModel : IDisposable
{
    public const string ViolationsFileName = "model.violations";
    /// <summary>Every command the model ran, one name a line, for whoever runs it in another process (e.g. a test of
    /// <c>roceuio run --emulate ocrdma:...</c>, whose model lives inside the daemon).</summary>
    public const string CommandsFileName = "model.commands";
    /// <summary>The key of an MQ fault in the fault file (<c>mq=no-completion</c>).</summary>
    public const string MqFaultKey = "mq";
    private const int FirstCqId = 7, FirstMqId = 3, AhTableId = 1, FirstEqId = 2;
    /// <summary>device.conf keys: the L3 types QUERY_CONFIG says are UDP-encapsulated (bit 0 IPv4, bit 1 IPv6), and
    /// whether GET_FW_CONFIG says RDMA mode (1) or not (0).</summary>
    public const string UdpEncapKey = "ocrdma_udp_encap", RdmaModeKey = "ocrdma_rdma_mode";
    /// <summary>device.conf keys: the POST stage the firmware reaches (default 0xc000, ARMFW_RDY) and after how many
    /// milliseconds of the model running (default 0).</summary>
    public const string PostStageKey = "ocrdma_post_stage", PostDelayKey = "ocrdma_post_delay_ms";
    /// <summary>What GET_FW_VER answers (a Skyhawk-R release's version string).</summary>
    public const string FirmwareVersion = "11.4.204.34";

    private readonly EmulatedDevice _dev;
    private readonly DeviceModelHost _host;
    private readonly MmioRegion _db;
    private string? _mqFault;
    private readonly string _dir;
    private readonly List<(int Bar, byte[] Snapshot)> _bars = new();
    private readonly HashSet<string> _reportedAv = new();
    private uint? _mboxHi;
    private ulong _cqAddr;
    private int _cqId = -1, _cqProducer;
    private ulong _mqAddr;
    private int _mqId = -1, _mqConsumer;
    private ulong[]? _ahPages;
    private bool _handshake;
    private int _eqId = -1;
    private bool _eqArmed;
    private readonly uint _udpEncap = L3TypeIPv4 | L3TypeIPv6;
    private readonly bool _rdmaMode = true;
    private long _lastAvCheck;
    private readonly MappedFile? _config;
    private readonly uint _postStage = PostStageArmFwRdy;
    private readonly long _postAt;
    private bool _postDone, _resetSinceInit;

    public OcrdmaDeviceModel(string directory)
    {
        _dir = directory;
        _dev = EmulatedDevice.Open(directory);
        if (!OcrdmaPci.IsSupported(_dev.VendorId, _dev.DeviceId))
            throw new InvalidOperationException($"{directory}: PCI {_dev.VendorId:x4}:{_dev.DeviceId:x4} is not a Skyhawk RoCE function");
        _host = new DeviceModelHost(_dev, RegisterByteOrder.LittleEndian);
        _db = _host.Bar(OcrdmaPci.DoorbellBar(_dev.DeviceId));
        foreach (string line in File.ReadAllLines(Path.Combine(directory, "device.conf")))
        {
            string[] kv = line.Split('=', 2, StringSplitOptions.TrimEntries);
            if (kv.Length == 2 && kv[0] == UdpEncapKey)
                _udpEncap = uint.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out uint u) && u <= 3 ? u
                    : throw new FormatException($"{directory}/device.conf: {UdpEncapKey}={kv[1]}: 0..3 (bit 0 IPv4, bit 1 IPv6)");
            else if (kv.Length == 2 && kv[0] == RdmaModeKey)
                _rdmaMode = kv[1] == "1";
            else if (kv.Length == 2 && kv[0] == PostStageKey)
                _postStage = FaultInjection.TryParseNumber(kv[1], out ulong st) && st <= uint.MaxValue ? (uint)st
                    : throw new FormatException($"{directory}/device.conf: {PostStageKey}={kv[1]}: a 32-bit number (0xc000 is ARMFW_RDY)");
            else if (kv.Length == 2 && kv[0] == PostDelayKey)
                _postAt = Environment.TickCount64 + (long.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out long ms) && ms <= 600_000 ? ms
                    : throw new FormatException($"{directory}/device.conf: {PostDelayKey}={kv[1]}: milliseconds, 0..600000"));
        }
        string configPath = Path.Combine(directory, EmulatedPciConfig.FileName);
        _config = File.Exists(configPath) ? MappedFile.Open(configPath, EmulatedPciConfig.Size) : null;
        foreach (int bar in new[] { 0, 1, 2, 3, 4, 5 })
            if (HasBar(bar))
                _bars.Add((bar, Array.Empty<byte>()));
        FinishPost(); // with no delay, POST is done at once: ready for the first mailbox command
        for (int i = 0; i < _bars.Count; i++)
            _bars[i] = (_bars[i].Bar, BarBytes(_bars[i].Bar).ToArray());
        _host.OnWrite(_db.Bar, MpuMailboxDbOffset, v =>
        {
            if ((v & MpuMailboxDbReady) == 0)
                HandleMailboxWrite(v);
        });
        _host.OnWrite(_db.Bar, DbMqOffset, v =>
        {
            if (v == 0)
                return;
            Answer(DbMqOffset, 0);
            HandleMqDoorbell(v);
        });
        _host.OnWrite(_db.Bar, DbCqOffset, v =>
        {
            if (v == 0)
                return;
            Answer(DbCqOffset, 0);
            HandleCqDoorbell(v);
        });
        _host.OnPoll(FinishPost);
        _host.OnPoll(CheckStrayWrites);
        _host.OnPoll(CheckAddressVectorsEvery5Ms);
        _host.Faults.AddKey(MqFaultKey, MqFaultSyntax, CheckMqFault, v => _mqFault = v);
    }

    /// <summary>POST finishes once its delay is over: the configured stage goes into the semaphore, and at ARMFW_RDY the
    /// mailbox says ready. Without a config file (a directory made before it existed) the model is ready at once.</summary>
    private bool FinishPost()
    {
        if (_postDone || Environment.TickCount64 < _postAt)
            return false;
        _postDone = true;
        if (_config is not null)
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(_config.Span(SliportSemaphoreOffsetSh, 4), _postStage);
        if (PostReady)
            _db.Write32(MpuMailboxDbOffset, MpuMailboxDbReady);
        return true;
    }

    /// <summary>POST reached ARMFW_RDY (be_fw_wait_ready would return).</summary>
    private bool PostReady => _postDone && (_config is null || (_postStage & PostStageMask) == PostStageArmFwRdy);

    /// <summary>Every violation seen so far, in order.</summary>
    public List<string> Violations { get; } = new();

    private readonly List<string> _commands = new();

    /// <summary>Every command the model ran, in order (mailbox and MQ, refused ones too), e.g. "FW_INIT", "CREATE_EQ".
    /// A copy, safe to take from another thread.</summary>
    public string[] Commands
    {
        get
        {
            lock (_commands)
                return _commands.ToArray();
        }
    }

    private void Log(string command)
    {
        lock (_commands)
            _commands.Add(command);
        File.AppendAllText(Path.Combine(_dir, CommandsFileName), command + "\n");
    }

    /// <summary>The queues that exist now: EQ, MQ's CQ, MQ ids (-1 when none) and whether the handshake is done.</summary>
    public (bool Handshake, int Eq, int Cq, int Mq) Queues => (Volatile.Read(ref _handshake), Volatile.Read(ref _eqId), Volatile.Read(ref _cqId), Volatile.Read(ref _mqId));

    // ---- hosting ----

    /// <summary>The entry point of <c>roceuio model ocrdma --dir DIR</c>: serves until cancelled; 0 on a clean stop.</summary>
    public static int Main(string directory, CancellationToken stop)
    {
        string conf = Path.Combine(directory, "device.conf");
        long deadline = Environment.TickCount64 + 10_000;
        while (!File.Exists(conf))
        {
            if (Environment.TickCount64 > deadline || stop.IsCancellationRequested)
            {
                Console.Error.WriteLine($"ocrdma model: {conf} did not appear");
                return 1;
            }
            Thread.Sleep(10);
        }
        using var model = new OcrdmaDeviceModel(directory);
        Console.Out.WriteLine($"ocrdma model: serving {directory}");
        Console.Out.Flush();
        return model.Run(stop);
    }

    /// <summary>Runs the model on a background thread of this process.</summary>
    public static DeviceModelThread<OcrdmaDeviceModel> StartThread(string directory)
        => new("ocrdma-model", new OcrdmaDeviceModel(directory), static (m, stop) => m.Run(stop));

    /// <summary>Creates the files of an emulated Skyhawk PF (BAR0 CSR, BAR4 doorbells) or VF (BAR0 doorbells).</summary>
    public static EmulatedDevice CreateDevice(string directory, bool virtualFunction = false, ushort vendor = VendorEmulex, uint udpEncap = 3, bool rdmaMode = true,
        uint postStage = PostStageArmFwRdy, int postDelayMs = 0)
    {
        var bars = virtualFunction
            ? new Dictionary<int, long> { [0] = 64 * 1024 }
            : new Dictionary<int, long> { [0] = 16 * 1024, [4] = 64 * 1024 };
        foreach (string f in new[] { ViolationsFileName, CommandsFileName, FaultInjection.FileName, SgidShadowFile.FileName })
            File.Delete(Path.Combine(directory, f));
        EmulatedDevice dev = EmulatedDevice.Create(directory, vendor, virtualFunction ? DeviceSkyhawkVf : DeviceSkyhawk, bars, 256 * 1024);
        string conf = Path.Combine(directory, "device.conf");
        File.AppendAllLines(conf, [$"{UdpEncapKey}={udpEncap}", $"{RdmaModeKey}={(rdmaMode ? 1 : 0)}",
            $"{PostStageKey}=0x{postStage:x}", $"{PostDelayKey}={postDelayMs}"]);
        EmulatedPciConfig.Create(directory, vendor, virtualFunction ? DeviceSkyhawkVf : DeviceSkyhawk);
        return dev;
    }

    /// <summary>The violations a model (in any process) has written for <paramref name="directory"/>.</summary>
    public static string[] ReadViolations(string directory)
    {
        string p = Path.Combine(directory, ViolationsFileName);
        return File.Exists(p) ? File.ReadAllLines(p) : Array.Empty<string>();
    }

    /// <summary>Arms a one-shot fault for the next MQ command (see the remarks).</summary>
    public static void InjectFault(string directory, string fault)
    {
        FaultInjection.Arm(directory, $"{MqFaultKey}={fault}\n");
    }

    /// <summary>Serves until <paramref name="stop"/> (the host's poll loop); 0 on a clean stop. A model that fails (a bad
    /// fault file, a damaged device directory) writes why to its violations and throws it, so that whoever runs it
    /// reports it (<see cref="DeviceModelThread"/>, <c>roceuio model</c>).</summary>
    public int Run(CancellationToken stop)
    {
        try
        {
            _host.Run(stop);
            return 0;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Violation($"model stopped: {e.GetType().Name}: {e.Message}", quiet: true);
            throw;
        }
    }

    /// <summary>One pass of the host over the doorbells and checks (tests step the model with it); true if anything was done.</summary>
    public bool PollOnce() => _host.PollOnce() > 0;

    private void HandleCqDoorbell(uint cq)
    {
        if (IsEqDoorbell(cq))
        {
            if (_eqId < 0 || EqDoorbellId(cq) != _eqId)
                Violation($"EQ doorbell 0x{cq:x} names EQ {EqDoorbellId(cq)}, but the EQ is {_eqId}");
            else
                _eqArmed = (cq & 1u << EqRearmShift) != 0;
        }
        else if (_cqId < 0 || (int)((cq & DbCqRingIdMask) | (cq >> 1 & DbCqRingIdExtMask)) != _cqId)
            Violation($"CQ doorbell 0x{cq:x} names no CQ this model created (MQ's CQ is {_cqId})");
    }

    private bool CheckAddressVectorsEvery5Ms()
    {
        if (Environment.TickCount64 - _lastAvCheck < 5)
            return false;
        _lastAvCheck = Environment.TickCount64;
        CheckAddressVectors();
        return false;
    }

    // ---- bootstrap mailbox ----

    // The model's write to a watched doorbell register from inside its handler (RDY set on the mailbox doorbell, a rung
    // MQ/CQ doorbell cleared): through DeviceModelHost.Acknowledge, which remembers it as the register's value. With a
    // plain write the host read the register back after the handler, and a driver quick enough to write its next value
    // in between (the address-low write right after RDY came for the address-high one) had that value taken for the
    // model's own answer: never handed over, the driver waited out its 10 s for RDY and failed with status 0 (seen
    // once in a gate run as "the FUNCTION_RESET refusal test got status 0 instead of 3"; mlx4's HCR had the same).
    private void Answer(long offset, uint value) => _host.Acknowledge(_db.Bar, offset, value);

    private void HandleMailboxWrite(uint value)
    {
        if (!PostReady)
        {
            // No firmware to take it: RDY stays clear, as on a card whose POST has not finished.
            Log("(mailbox before POST)");
            Violation($"bootstrap mailbox written (0x{value:x}) while the POST stage is {PostStageName(CurrentPostSemaphore)}: be_fw_wait_ready waits for ARMFW_RDY (0xc000) first");
            return;
        }
        if ((value & MpuMailboxDbHi) != 0)
        {
            _mboxHi = value;
            Answer(MpuMailboxDbOffset, value | MpuMailboxDbReady);
            return;
        }
        if (_mboxHi is not uint hi)
        {
            Violation($"bootstrap mailbox: address-low write 0x{value:x} without an address-high write before it");
            Answer(MpuMailboxDbOffset, value | MpuMailboxDbReady);
            return;
        }
        _mboxHi = null;
        ulong addr = MailboxAddress(hi, value);
        if (!_dev.Dma.TryResolve(addr, MailboxSize, out Span<byte> m))
            Violation($"bootstrap mailbox at 0x{addr:x} is outside DMA memory");
        else
            RunMailboxCommand(m);
        Answer(MpuMailboxDbOffset, value | MpuMailboxDbReady);
    }

    private void RunMailboxCommand(Span<byte> m)
    {
        uint status = 0;
        byte subsys = m[MbxSubsysOp + 1], op = m[MbxSubsysOp];
        string? error;
        string name;
        if (m[..8].SequenceEqual(FwInitPattern))
        {
            name = "FW_INIT";
            error = _handshake && !_resetSinceInit ? "FW_INIT again without FW_CLEAN or FUNCTION_RESET" : null;
            _handshake = true;
            _resetSinceInit = false;
        }
        else if (m[..8].SequenceEqual(FwCleanPattern))
        {
            name = "FW_CLEAN";
            error = !_handshake ? "FW_CLEAN without FW_INIT"
                : _eqId >= 0 || _cqId >= 0 || _mqId >= 0 ? $"FW_CLEAN with queues left (EQ {_eqId}, CQ {_cqId}, MQ {_mqId}): delete them first" : null;
            if (error == null)
                _handshake = false;
        }
        else if ((subsys, op) == (SubsysCommon, CmdCommonFunctionReset))
        {
            // be_cmd_reset_function: allowed before FW_INIT (be_func_init) and after the queues are gone (be_remove).
            name = CommandName(subsys, op);
            error = (DmaAccess.Read32(m, MqeHdrFlags) & MqeEmbedded) == 0 || DmaAccess.Read32(m, MqeHdrPayloadLength) != FunctionResetCmdSize
                    || DmaAccess.Read32(m, MbxCmdLength) != 0
                ? $"a FUNCTION_RESET WRB is embedded with payload_length {FunctionResetCmdSize} and request_length 0 (be_wrb_cmd_hdr_prepare)"
                : ResetFunction();
        }
        else if (_host.Faults.TryTakeError(out uint injected))
        {
            name = CommandName(subsys, op);
            error = null;
            status = injected;
        }
        else
        {
            name = CommandName(subsys, op);
            error = !_handshake ? $"{name} before the FW_INIT handshake (be_cmd_fw_init)"
                : (DmaAccess.Read32(m, MqeHdrFlags) & MqeEmbedded) == 0 ? "only embedded commands are modelled"
                : (subsys, op) switch
                {
                    (SubsysCommon, CmdCommonCreateEq) => CreateEq(m),
                    (SubsysCommon, CmdCommonCreateCq) => CreateCq(m),
                    (SubsysCommon, CmdCommonCreateMqExt) => CreateMq(m),
                    (SubsysCommon, CmdCommonDeleteMq) => DeleteMq(m),
                    (SubsysCommon, CmdCommonDeleteCq) => DeleteCq(m),
                    (SubsysCommon, CmdCommonDeleteEq) => DeleteEq(m),
                    _ => $"{name} is not modelled on the bootstrap mailbox",
                };
        }
        Log(name);
        if (error != null)
        {
            Violation($"bootstrap mailbox {name}: {error}");
            status = (!_handshake && name != "FUNCTION_RESET") || error.Contains("not modelled") ? 2u : 3u; // ILLEGAL_REQUEST / ILLEGAL_FIELD
        }
        DmaAccess.Write32(m, MailboxComplOffset + McqeStatus, status);
        DmaAccess.Write32(m, MailboxComplOffset + McqeTagLo, DmaAccess.Read32(m, MqeHdrTagLo));
        DmaAccess.Write32(m, MailboxComplOffset + McqeTagHi, DmaAccess.Read32(m, MqeHdrTagHi));
        Interlocked.MemoryBarrier();
        DmaAccess.WriteVolatile32(m, MailboxComplOffset + McqeFlags, McqeValid | McqeCompleted);
    }

    /// <summary>The function's queues and AV table are gone (the firmware's side of a function-level reset).</summary>
    private string? ResetFunction()
    {
        _eqId = _cqId = _mqId = -1;
        _eqArmed = false;
        _ahPages = null;
        _resetSinceInit = true; // be_func_init's FW_INIT follows, even after a run that never sent FW_CLEAN
        return null;
    }

    private uint CurrentPostSemaphore
        => _config is null ? PostStageArmFwRdy : System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(_config.Span(SliportSemaphoreOffsetSh, 4));

    /// <summary>ocrdma_mbx_create_eq: version 2, 1..8 pages (the kernel gives 4), the valid bit, pages in DMA.</summary>
    private string? CreateEq(Span<byte> m)
    {
        if (_eqId >= 0)
            return $"the model serves one EQ, and EQ {_eqId} exists";
        if (DmaAccess.Read32(m, MbxVersion) != CreateEqVersion)
            return $"CREATE_EQ version {DmaAccess.Read32(m, MbxVersion)} (ocrdma sends version 2)";
        int pages = (int)DmaAccess.Read32(m, CreateEqNumPages);
        if (pages is < 1 or > 8)
            return $"{pages} pages (1..8, MAX_OCRDMA_EQ_PAGES)";
        if ((DmaAccess.Read32(m, CreateEqValid) & CreateEqValidBit) == 0)
            return "OCRDMA_CREATE_EQ_VALID is clear";
        for (int i = 0; i < pages; i++)
            if (!_dev.Dma.TryResolve(DmaAccess.ReadPa(m, CreateEqPa + 8 * i), PageSize4K, out _))
                return $"EQ page {i} at 0x{DmaAccess.ReadPa(m, CreateEqPa + 8 * i):x} is outside DMA memory";
        _eqId = FirstEqId;
        _eqArmed = false;
        DmaAccess.Write32(m, CreateEqRspVectorEqid, (uint)_eqId); // vector 0
        return null;
    }

    private string? DeleteMq(Span<byte> m)
    {
        int id = (int)DmaAccess.Read32(m, DeleteQId);
        if (_mqId < 0 || id != _mqId)
            return $"MQ {id} does not exist (the MQ is {_mqId})";
        if (_ahPages != null)
            return $"the AV table {AhTableId} is still registered through MQ {_mqId}: DELETE_AH_TBL first (ocrdma_cleanup_hw)";
        _mqId = -1;
        return null;
    }

    private string? DeleteCq(Span<byte> m)
    {
        int id = (int)DmaAccess.Read32(m, DeleteQId);
        if (_cqId < 0 || id != _cqId)
            return $"CQ {id} does not exist (the MQ's CQ is {_cqId})";
        if (_mqId >= 0)
            return $"MQ {_mqId} still completes into CQ {_cqId}: DELETE_MQ first (ocrdma_destroy_mq)";
        _cqId = -1;
        return null;
    }

    private string? DeleteEq(Span<byte> m)
    {
        int id = (int)DmaAccess.Read32(m, DeleteQId);
        if (_eqId < 0 || id != _eqId)
            return $"EQ {id} does not exist (the EQ is {_eqId})";
        if (_cqId >= 0)
            return $"CQ {_cqId} is still bound to EQ {_eqId}: DELETE_CQ first (ocrdma_cleanup_hw: the MQ, then the EQs)";
        if (_eqArmed)
            return $"EQ {_eqId} is still armed (ocrdma_destroy_eq disarms it before DELETE_EQ)";
        _eqId = -1;
        return null;
    }

    private string? CreateCq(Span<byte> m)
    {
        if (_cqId >= 0)
            return $"the model serves the MQ's CQ only, and CQ {_cqId} exists";
        int eqn = (int)(DmaAccess.Read32(m, CreateCqEqn) & 0xFFFF);
        if (_eqId < 0 || eqn != _eqId)
            return $"the MQ's CQ is bound to EQ {eqn}, but {(_eqId < 0 ? "no EQ exists (ocrdma_create_eqs comes first)" : $"the EQ is {_eqId}")}";
        int pages = (int)(DmaAccess.Read32(m, CreateCqPgszPgcnt) & 0xFFFF);
        if (pages != MqCqLength * McqeSize / PageSize4K)
            return $"{pages} pages where the MQ's CQ of {MqCqLength} entries needs {MqCqLength * McqeSize / PageSize4K}";
        if ((DmaAccess.Read32(m, CreateCqEvCntFlags) & CreateCqFlagsValid) == 0)
            return "OCRDMA_CREATE_CQ_FLAGS_VALID is clear";
        ulong pa = DmaAccess.ReadPa(m, CreateCqPa);
        if (!_dev.Dma.TryResolve(pa, PageSize4K * pages, out _))
            return $"CQ page 0x{pa:x} is outside DMA memory";
        _cqAddr = pa;
        _cqId = FirstCqId;
        _cqProducer = 0;
        DmaAccess.Write32(m, CreateCqRspId, (uint)_cqId);
        return null;
    }

    private string? CreateMq(Span<byte> m)
    {
        if (DmaAccess.Read32(m, MbxVersion) != 1)
            return $"CREATE_MQ_EXT version {DmaAccess.Read32(m, MbxVersion)} (Skyhawk takes version 1)";
        uint cqidPages = DmaAccess.Read32(m, CreateMqCqidPages);
        int pages = (int)(cqidPages & 0xFFFF), cq = (int)(cqidPages >> CreateMqCqIdShift);
        if (_mqId >= 0)
            return $"the model serves one MQ, and MQ {_mqId} exists";
        if (_cqId < 0 || cq != _cqId)
            return $"MQ on CQ {cq}, but {(_cqId < 0 ? "no CQ exists (ocrdma_mbx_mq_cq_create comes first)" : $"the MQ's CQ is {_cqId}")}";
        if ((DmaAccess.Read32(m, CreateMqValid) & CreateMqValidBit) == 0)
            return "OCRDMA_CREATE_MQ_VALID is clear";
        uint ring = DmaAccess.Read32(m, CreateMqAsyncCqidRingsize) >> CreateMqRingSizeShift & 0xF;
        if (ring != EncodedQueueLength(MqLength) || pages * PageSize4K != MqLength * MqeSize)
            return $"ring size code {ring} with {pages} pages; the model serves {MqLength} entries of {MqeSize} bytes";
        ulong pa0 = DmaAccess.ReadPa(m, CreateMqPa);
        for (int i = 1; i < pages; i++)
            if (DmaAccess.ReadPa(m, CreateMqPa + 8 * i) != pa0 + (ulong)(i * PageSize4K))
                return $"MQ page {i} is not contiguous with page 0";
        if (!_dev.Dma.TryResolve(pa0, pages * PageSize4K, out _))
            return $"MQ ring 0x{pa0:x} is outside DMA memory";
        _mqAddr = pa0;
        _mqId = FirstMqId;
        _mqConsumer = 0;
        DmaAccess.Write32(m, CreateMqRspId, (uint)_mqId);
        return null;
    }

    // ---- MQ ----

    private void HandleMqDoorbell(uint value)
    {
        int id = (int)(value & MqIdMask), num = (int)(value >> MqNumMqeShift & 0x3FFF);
        if (_mqId < 0 || id != _mqId)
        {
            Violation($"MQ doorbell 0x{value:x} for MQ {id}, but the MQ is {_mqId}");
            return;
        }
        if (num == 0)
            Violation($"MQ doorbell 0x{value:x} posts no MQE");
        for (int i = 0; i < num; i++)
        {
            RunMqe(_mqConsumer);
            _mqConsumer = (_mqConsumer + 1) & (MqLength - 1);
        }
    }

    private void RunMqe(int slot)
    {
        _dev.Dma.TryResolve(_mqAddr + (ulong)(slot * MqeSize), MqeSize, out Span<byte> mqe);
        string fault = _mqFault ?? "";
        _mqFault = null;   // one MQ command
        uint tagLo = DmaAccess.Read32(mqe, MqeHdrTagLo), tagHi = DmaAccess.Read32(mqe, MqeHdrTagHi);
        byte subsys = mqe[MbxSubsysOp + 1], op = mqe[MbxSubsysOp];
        byte mbx = 0, addl = 0;
        string? error;
        Log(CommandName(subsys, op));
        if (_host.Faults.TryTakeError(out uint injected))
        {
            error = null;   // not run: it completes with the injected status
            mbx = (byte)injected;
            addl = (byte)(injected >> 8);
        }
        else if ((DmaAccess.Read32(mqe, MqeHdrFlags) & MqeEmbedded) == 0)
            error = "only embedded MQEs are modelled";
        else
            error = (subsys, op) switch
            {
                (SubsysCommon, CmdCommonGetFwConfig) => GetFwConfig(mqe),
                (SubsysCommon, CmdCommonGetFwVer) => GetFwVer(mqe),
                (SubsysRoce, CmdRoceQueryConfig) => QueryConfig(mqe),
                (SubsysRoce, CmdRoceCreateAhTbl) => CreateAhTable(mqe),
                (SubsysRoce, CmdRoceDeleteAhTbl) => DeleteAhTable(mqe),
                (SubsysRoce, CmdRoceModifyQp) => ModifyQp(mqe),
                _ => $"{CommandName(subsys, op)} is not modelled",
            };
        if (error != null)
        {
            Violation($"MQ slot {slot} {CommandName(subsys, op)}: {error}");
            mbx = (subsys, op) is (SubsysRoce, CmdRoceModifyQp) or (SubsysRoce, CmdRoceCreateAhTbl)
                ? OcrdmaStatus.MbxIllegalField : OcrdmaStatus.MbxFailed;
        }
        uint cqeStatus = 0;
        string[] f = fault.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (f.Length == 3 && f[0] == "cqe-status")
            cqeStatus = Number(f[1]) | Number(f[2]) << McqeExtStatusShift;
        if (f.Length == 3 && f[0] == "mbx-status")
        {
            mbx = (byte)Number(f[1]);
            addl = (byte)Number(f[2]);
        }
        DmaAccess.Write32(mqe, RspStatus, mbx | (uint)addl << 8);
        DmaAccess.Write32(mqe, RspLength, 0);
        DmaAccess.Write32(mqe, RspAddLength, 0);
        if (fault == "no-completion")
            return;
        if (fault == "wrong-tag")
            tagLo = (tagLo + MqLength / 2) & (MqLength - 1);
        PostCompletion(cqeStatus, tagLo, tagHi);
    }

    private void PostCompletion(uint status, uint tagLo, uint tagHi)
    {
        _dev.Dma.TryResolve(_cqAddr + (ulong)(_cqProducer * McqeSize), McqeSize, out Span<byte> cqe);
        if ((DmaAccess.ReadVolatile32(cqe, McqeFlags) & McqeValid) != 0)
            Violation($"MQ's CQ overflow: entry {_cqProducer} is still valid (the driver did not pop it)");
        DmaAccess.Write32(cqe, McqeStatus, status);
        DmaAccess.Write32(cqe, McqeTagLo, tagLo);
        DmaAccess.Write32(cqe, McqeTagHi, tagHi);
        Interlocked.MemoryBarrier();
        DmaAccess.WriteVolatile32(cqe, McqeFlags, McqeValid | McqeCompleted);
        _cqProducer = (_cqProducer + 1) & (MqCqLength - 1);
    }

    /// <summary>The values of the <c>mq=</c> fault key.</summary>
    public const string MqFaultSyntax = "no-completion|wrong-tag|cqe-status STATUS EXT|mbx-status STATUS ADDITIONAL";

    /// <summary>Why an <c>mq=</c> value is wrong; null when it is right (numbers: decimal or 0x hex; the MCQE status
    /// 16 bits, its extended status 16 bits, the mailbox status and additional status 8 bits each).</summary>
    private static string? CheckMqFault(string value)
    {
        string[] f = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (f is ["no-completion"] or ["wrong-tag"])
            return null;
        if (f is not ["cqe-status" or "mbx-status", _, _])
            return "not one of the MQ faults";
        ulong max = f[0] == "cqe-status" ? 0xFFFFUL : 0xFFUL;
        for (int i = 1; i < 3; i++)
            if (!FaultInjection.TryParseNumber(f[i], out ulong n) || n > max)
                return $"'{f[i]}' is not a number 0..0x{max:x}";
        return null;
    }

    private static uint Number(string text) => FaultInjection.TryParseNumber(text, out ulong n) ? (uint)n : 0;

    /// <summary>struct ocrdma_fw_conf_rsp: RDMA function mode (unless configured off), EQ base 0, 8 EQs.</summary>
    private string? GetFwConfig(Span<byte> mqe)
    {
        mqe[FwConfigNum..MqeSize].Clear();
        DmaAccess.Write32(mqe, FwConfigFnMode, _rdmaMode ? FnModeRdma : 0);
        DmaAccess.Write32(mqe, FwConfigBaseEqid, 0);
        DmaAccess.Write32(mqe, FwConfigMaxEq, 8);
        return null;
    }

    /// <summary>struct ocrdma_fw_ver_rsp: <c>running_ver</c>, NUL-padded. The request is ocrdma_mbx_query_fw_ver's
    /// (cmd_len 240, as <c>ocrdma_init_mch</c> with the whole MQE's size gives).</summary>
    private string? GetFwVer(Span<byte> mqe)
    {
        uint len = DmaAccess.Read32(mqe, MbxCmdLength);
        if (len != MqeSize - MbxHdrSize)
            return $"cmd_len {len}: ocrdma_mbx_query_fw_ver sends {MqeSize - MbxHdrSize} (sizeof(struct ocrdma_mqe) - the header)";
        mqe[FwVerRunning..MqeSize].Clear();
        System.Text.Encoding.ASCII.GetBytes(FirmwareVersion, mqe.Slice(FwVerRunning, FwVerLength));
        return null;
    }

    /// <summary>struct ocrdma_mbx_query_config: max_pd 64K in 31:16, ack delay 15:8, the UDP-encapsulated L3 types in 4:3.</summary>
    private string? QueryConfig(Span<byte> mqe)
    {
        mqe[QueryConfigQpSrqCqIrdOrd..MqeSize].Clear();
        DmaAccess.Write32(mqe, QueryConfigQpSrqCqIrdOrd, 2048u << 8);                      // max_qp (OCRDMA_MAX_QP)
        DmaAccess.Write32(mqe, QueryConfigMaxPdCaAckDelay, 0xFFFFu << QueryConfigMaxPdShift | 16u << 8 | _udpEncap << QueryConfigL3TypeShift);
        return null;
    }

    private string? DeleteAhTable(Span<byte> mqe)
    {
        if (_ahPages == null)
            return "no AV table is registered";
        if (DmaAccess.Read32(mqe, Payload) != AhTableId)
            return $"ahid {DmaAccess.Read32(mqe, Payload)}, but the AV table is {AhTableId}";
        _ahPages = null;
        return null;
    }

    private string? CreateAhTable(Span<byte> mqe)
    {
        if (_ahPages != null)
            return "the AV table is already registered (CREATE_AH_TBL is sent once)";
        uint conf = DmaAccess.Read32(mqe, CreateAhTblConf);
        int pages = (int)((conf & CreateAhNumPagesMask) >> CreateAhNumPagesShift);
        int pageCode = (int)((conf & CreateAhPageSizeMask) >> CreateAhPageSizeShift);
        int entry = (int)((conf & CreateAhEntrySizeMask) >> CreateAhEntrySizeShift);
        if (pages != AhTablePages || pageCode != 0 || entry != AvSize)
            return $"ah_conf 0x{conf:x}: {pages} pages, page-size code {pageCode}, entry {entry} (want {AhTablePages}, 0 = 4 KiB, {AvSize})";
        ulong pbl = DmaAccess.ReadPa(mqe, CreateAhTblAddr);
        if (!_dev.Dma.TryResolve(pbl, pages * PbeSize, out Span<byte> pbes))
            return $"the PBL at 0x{pbl:x} is outside DMA memory";
        var list = new ulong[pages];
        for (int i = 0; i < pages; i++)
        {
            list[i] = (ulong)DmaAccess.Read32(pbes, i * PbeSize) << 32 | DmaAccess.Read32(pbes, i * PbeSize + 4);
            if (!_dev.Dma.TryResolve(list[i], PageSize4K, out _))
                return $"AV table page {i} at 0x{list[i]:x} is outside DMA memory";
        }
        _ahPages = list;
        DmaAccess.Write32(mqe, CreateAhTblRspAhid, AhTableId);
        return null;
    }

    private string? ModifyQp(Span<byte> mqe)
    {
        uint flags = DmaAccess.Read32(mqe, QpFlags);
        if ((flags & QpParaFlowLblValid) == 0)
            return null; // no path in this MODIFY_QP
        int qp = (int)(DmaAccess.Read32(mqe, QpId) & 0xFFFF);
        OcrdmaShadowSnapshot host = ReadHostTable();
        ShadowBinding? b = null;
        foreach (ShadowBinding q in host.Qps)
            if (q.Id == qp) b = q;
        if (b is not ShadowBinding bind)
            return $"qp {qp} carries a path but the host names no sgid index for it";
        if (!host.TryGetGid(bind.Port, bind.Index, out ShadowGid e))
            return $"qp {qp} uses sgid index {bind.Index} of port {bind.Port}, which is free on the host";
        Span<byte> want = stackalloc byte[Gid.Size];
        e.Gid.WriteBytes(want);
        if (e.L3Type == OcrdmaL3Type.IPv4)
            want[12..].CopyTo(want);
        ReadOnlySpan<byte> got = mqe.Slice(QpSgid, Gid.Size);
        if (!got.SequenceEqual(want))
            return $"qp {qp} sgid bytes {Convert.ToHexString(got)} != host index {bind.Index} ({e.Gid}) {Convert.ToHexString(want)}";
        uint l3 = (DmaAccess.Read32(mqe, QpMaxSgeRecvFlags) & QpL3TypeMask) >> QpL3TypeShift;
        if (l3 != (uint)e.L3Type)
            return $"qp {qp} L3 type {l3} != host index {bind.Index} L3 type {(int)e.L3Type} ({e.L3Type})";
        bool vlanEn = (flags & QpParaVlanEnValid) != 0;
        uint vlan = DmaAccess.Read32(mqe, QpVlanDmacB4ToB5) >> QpVlanShift;
        if (e.VlanId != 0 && (!vlanEn || vlan != e.VlanId))
            return $"qp {qp} VLAN {(vlanEn ? vlan.ToString(CultureInfo.InvariantCulture) : "off")} != host index {bind.Index} VLAN {e.VlanId}";
        if (e.VlanId == 0 && vlanEn)
            return $"qp {qp} enables VLAN {vlan} but host index {bind.Index} is not on a VLAN";
        return null;
    }

    // ---- AV table ----

    private void CheckAddressVectors()
    {
        if (_ahPages == null)
            return;
        OcrdmaShadowSnapshot before = ReadHostTable();
        if (before.Ahs.Count == 0)
            return;
        var problems = new List<string>();
        Span<byte> av = stackalloc byte[AvSize];
        foreach (ShadowBinding b in before.Ahs)
        {
            if ((uint)b.Id >= MaxAh)
            {
                problems.Add($"AV {b.Id} is outside the {MaxAh}-entry table");
                continue;
            }
            int off = b.Id * AvSize;
            _dev.Dma.TryResolve(_ahPages[off / PageSize4K] + (ulong)(off % PageSize4K), AvSize, out Span<byte> mem);
            mem.CopyTo(av);
            string? p = CheckAv(av, b, before);
            if (p != null)
                problems.Add(p);
        }
        if (problems.Count == 0 || ReadHostTable().Generation != before.Generation)
            return; // changed while we read: look again next time
        foreach (string p in problems)
            if (_reportedAv.Add($"{before.Generation}:{p}"))
                Violation(p);
    }

    private static string? CheckAv(ReadOnlySpan<byte> av, ShadowBinding b, OcrdmaShadowSnapshot host)
    {
        uint valid = DmaAccess.Read32(av, AvValid);
        if ((valid & AvValidBit) == 0)
            return $"AV {b.Id} is in use by the host but its valid bit is clear";
        if (!host.TryGetGid(b.Port, b.Index, out ShadowGid e))
            return $"AV {b.Id} uses sgid index {b.Index} of port {b.Port}, which is free on the host";
        ushort ethType = (ushort)(av[EthType] << 8 | av[EthType + 1]);
        bool vlan = ethType == EtherTypeVlan;
        int ethSize = vlan ? EthVlanSize : EthBasicSize;
        ushort proto = vlan ? (ushort)(av[EthRoceType] << 8 | av[EthRoceType + 1]) : ethType;
        if (vlan != ((valid & AvVlanValidBit) != 0))
            return $"AV {b.Id}: ethertype {ethType:x4} disagrees with OCRDMA_AV_VLAN_VALID";
        ushort tag = (ushort)((av[EthVlanTag] << 8 | av[EthVlanTag + 1]) & 0xFFF);
        if (e.VlanId != 0 && (!vlan || tag != e.VlanId))
            return $"AV {b.Id} VLAN {(vlan ? tag.ToString(CultureInfo.InvariantCulture) : "none")} != host index {b.Index} VLAN {e.VlanId}";
        if (e.VlanId == 0 && vlan)
            return $"AV {b.Id} is VLAN-tagged ({tag}) but host index {b.Index} is not on a VLAN";
        OcrdmaL3Type l3 = proto switch
        {
            EtherTypeIboe => OcrdmaL3Type.IbGrh,
            EtherTypeIPv4 => OcrdmaL3Type.IPv4,
            EtherTypeIPv6 => OcrdmaL3Type.IPv6,
            _ => (OcrdmaL3Type)0xFF,
        };
        if (l3 != e.L3Type)
            return $"AV {b.Id} ethertype {proto:x4} (L3 {l3}) != host index {b.Index} L3 type {e.L3Type}";
        Span<byte> want = stackalloc byte[Gid.Size];
        e.Gid.WriteBytes(want);
        ReadOnlySpan<byte> got = l3 == OcrdmaL3Type.IPv4 ? av.Slice(ethSize + Ipv4Saddr, 4) : av.Slice(ethSize + GrhSgid, Gid.Size);
        ReadOnlySpan<byte> expected = l3 == OcrdmaL3Type.IPv4 ? want[12..] : want;
        if (!got.SequenceEqual(expected))
            return $"AV {b.Id} source {Convert.ToHexString(got)} != host index {b.Index} ({e.Gid})";
        return null;
    }

    private OcrdmaShadowSnapshot ReadHostTable()
    {
        string p = Path.Combine(_dir, SgidShadowFile.FileName);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return SgidShadowFile.Parse(File.ReadAllText(p));
            }
            catch (FileNotFoundException)
            {
                return new OcrdmaShadowSnapshot(0, [], [], []);
            }
            catch (IOException) when (attempt < 5)
            {
                Thread.Sleep(1);
            }
        }
    }

    // ---- stray writes ----

    /// <summary>A poll step: any BAR write other than a doorbell is a violation. Never counts as work.</summary>
    private bool CheckStrayWrites()
    {
        for (int i = 0; i < _bars.Count; i++)
        {
            var (bar, snap) = _bars[i];
            Span<byte> now = BarBytes(bar);
            if (now.SequenceEqual(snap))
                continue;
            for (int off = 0; off + 4 <= snap.Length; off += 4)
            {
                if (now.Slice(off, 4).SequenceEqual(snap.AsSpan(off, 4)))
                    continue;
                bool doorbell = bar == _db.Bar && off is DbCqOffset or DbMqOffset or MpuMailboxDbOffset;
                if (!doorbell)
                    Violation($"BAR{bar}+0x{off:x} was written (0x{DmaAccess.Read32(now, off):x}): not a doorbell; the driver must not touch the device here (GID add/delete does no device I/O)");
                now.Slice(off, 4).CopyTo(snap.AsSpan(off, 4));
            }
        }
        return false;
    }

    private bool HasBar(int bar)
    {
        try { _dev.Bar(bar); return true; }
        catch (ArgumentException) { return false; }
    }

    private Span<byte> BarBytes(int bar) => _dev.Bar(bar).Span(0, (int)_dev.Bar(bar).Length);

    private void Violation(string text, bool quiet = false)
    {
        lock (Violations)
            Violations.Add(text);
        try
        {
            File.AppendAllText(Path.Combine(_dir, ViolationsFileName), text + "\n");
        }
        catch (IOException) when (quiet)
        {
            // the directory is gone: the failure being reported says enough
        }
    }

    public void Dispose()
    {
        _host.Dispose();
        _config?.Dispose();
        _dev.Dispose();
    }
}
