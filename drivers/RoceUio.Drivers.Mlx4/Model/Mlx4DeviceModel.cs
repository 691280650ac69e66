using System.Buffers.Binary;
using RoceUio.Gids;
using RoceUio.Hardware;
using RoceUio.Hardware.Emulation;

namespace RoceUio.Drivers.Mlx4.Model;

/// <summary>
/// A device model of a ConnectX-3 physical function's command interface: it polls BAR0's HCR as the firmware does,
/// runs the firmware's life (<see cref="Mlx4FirmwareModel"/>: reset, MAP_FA ... INIT_HCA, SET_PORT general, INIT_PORT
/// and the teardown, each only in its phase) and answers SET_PORT GID_TABLE / ROCE_ADDR on ports that are up,
/// validating each command as hw-layouts.md section 4 P0 proposes and answering with the status the device would.
/// <list type="bullet">
/// <item>Reset state: dw0..dw6 zero (GO = 0, T = 0). A command is taken when dw6 has GO set; on completion the model
/// writes dw6 once with GO clear, T and the rest as written, and the status in bits 31:24 (hw-layouts.md 1.3.4).</item>
/// <item>Mailboxes are read through <see cref="SharedDmaMemory.TryResolve"/>: an address outside the DMA memory is BAD_PARAM.</item>
/// <item>Each port keeps the table of the last accepted SET_PORT; <see cref="Snapshot"/> reads it in-process, the state
/// file (<see cref="Mlx4ModelState"/>) from another process.</item>
/// <item>It stands on the shared <see cref="DeviceModelHost"/>: its poll loop with the idle backoff, a watch on dw6
/// (the driver's GO write), a poll step reading the reset register, and the one fault file (<see cref="FaultInjection"/>): the
/// common keys (<c>stall</c>: GO never clears, the held command runs once released; <c>delay_ms</c>; <c>error</c>/<c>error_count</c>:
/// a command status) and mlx4's <c>error_opcode</c> (<see cref="Mlx4ModelFaults"/>).</item>
/// <item>The reset register (BAR0+0xf0010): a write of <c>swab32(1)</c> resets the firmware, the ports and the HCR; the
/// model then clears the register, which is how a driver over the files sees the device come back. The ownership
/// register (BAR0+0x8069c) is the driver's semaphore; the model leaves it alone.</item>
/// </list>
/// Not emulated: event mode (E = 1 is answered BAD_PARAM), the UAR, what firmware does with the context memory.
/// Locking: one thread polls (<see cref="PollOnce"/>/<see cref="Run"/>); <see cref="Snapshot"/> may be called from
/// others and takes <c>_lock</c>; <see cref="SetFaults"/> goes to the host's thread-safe <see cref="FaultInjection"/>.
/// </summary>
public sealed class Mlx4DeviceModel : IDisposable
{
    private sealed class PortTable
    {
        public Mlx4GidFormat? Format;
        public Mlx4ModelEntry[] Entries = [];
    }

    /// <summary>mlx4's own fault key: with <c>error</c>, only commands with this opcode fail.</summary>
    public const string ErrorOpcodeKey = "error_opcode";

    private readonly EmulatedDevice _device;
    private readonly bool _ownsDevice;
    private readonly DeviceModelHost _host;
    private readonly MmioRegion _hcr, _resetBlock;
    private readonly Mlx4FirmwareModel _firmware;
    private long _resets;
    private readonly string? _stateDirectory;
    private readonly object _lock = new();
    private readonly PortTable[] _ports;
    private volatile int _errorOpcode;
    private long _accepted, _rejected;
    private byte _lastStatus;
    private string _lastError = "";

    /// <summary>
    /// A model over <paramref name="device"/>'s BAR0 and DMA memory. With <paramref name="stateDirectory"/> it writes its
    /// state file there (the cross-process side channel); the host takes the fault file (<see cref="FaultInjection.FileName"/>)
    /// from the device's directory. Resets the HCR.
    /// </summary>
    public Mlx4DeviceModel(EmulatedDevice device, Mlx4ModelConfig config, string? stateDirectory = null, bool ownsDevice = false)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (config.Ports is < 1 or > Mlx4Layout.MaxPorts)
            throw new ArgumentOutOfRangeException(nameof(config), $"mlx4 has 1 or 2 ports, not {config.Ports}");
        _device = device;
        _ownsDevice = ownsDevice;
        Config = config = config.Normalised();
        _firmware = new Mlx4FirmwareModel(config, device.Dma);
        _resetBlock = new MmioRegion(device.Bar(Mlx4Layout.DcsBar), Mlx4Layout.DcsBar, RegisterByteOrder.LittleEndian, Mlx4Layout.ResetBase, 0x400);
        _stateDirectory = stateDirectory;
        _hcr = new MmioRegion(device.Bar(Mlx4Layout.DcsBar), Mlx4Layout.DcsBar, RegisterByteOrder.BigEndian, Mlx4Layout.HcrBase, Mlx4Layout.HcrSize);
        _ports = new PortTable[config.Ports];
        for (int i = 0; i < _ports.Length; i++)
            _ports[i] = new PortTable();
        // The watches exist before Reset() writes the state file that tells a driver the model is serving.
        _host = new DeviceModelHost(device, RegisterByteOrder.BigEndian);
        _host.OnWrite(Mlx4Layout.DcsBar, Mlx4Layout.HcrBase + Mlx4Layout.HcrStatus, OnStatusWrite);
        // The reset register by value, not as a change: a reset written before the model started still counts.
        _host.OnPoll(CheckResetRegister);
        _host.Faults.AddKey(ErrorOpcodeKey, "0xNNN (a 12-bit opcode; 0: any)", CheckOpcode,
            v => _errorOpcode = v == null ? 0 : ParseOpcode(v));
        Reset();
    }

    private static string? CheckOpcode(string v)
        => FaultInjection.TryParseNumber(v, out ulong n) && n <= Mlx4Layout.HcrOpcodeMask ? null : "not an opcode 0..0xfff";

    private static int ParseOpcode(string v)
    {
        FaultInjection.TryParseNumber(v, out ulong n);
        return (int)n;
    }

    public Mlx4ModelConfig Config { get; }

    /// <summary>The firmware's state machine (phase, ports, mapped memory).</summary>
    public Mlx4FirmwareModel Firmware => _firmware;

    /// <summary>The chip reset: the HCR's dwords 0 (GO = 0, T = 0), the firmware back to its start, the ports' tables empty.</summary>
    public void Reset()
    {
        for (int off = 0; off < Mlx4Layout.HcrSize; off += 4)
            _hcr.Write32(off, 0);
        lock (_lock)
        {
            _firmware.Reset();
            foreach (PortTable t in _ports)
            {
                t.Format = null;
                t.Entries = [];
            }
        }
        WriteStateFile();
    }

    /// <summary>A write of swab32(1) to the reset register: reset, then clear the register ("the device is back").</summary>
    private bool CheckResetRegister()
    {
        long off = Mlx4FirmwareLayout.ResetOffset - Mlx4Layout.ResetBase;
        if (_resetBlock.Read32(off) != Mlx4FirmwareLayout.ResetValue)
            return false;
        lock (_lock)
            _resets++;
        Reset();
        _resetBlock.Write32(off, 0);
        return true;
    }

    /// <summary>Sets the faults in this process (the same as a fault file with <see cref="Mlx4ModelFaults.ToFileText"/>).</summary>
    public void SetFaults(Mlx4ModelFaults faults)
    {
        ArgumentNullException.ThrowIfNull(faults);
        _errorOpcode = faults.StatusOpcode;
        _host.Faults.Delay = TimeSpan.FromMilliseconds(faults.DelayMs);
        _host.Faults.InjectError(faults.Status, faults.Status != 0 ? Math.Max(1, faults.StatusCount) : 0);
        _host.Faults.Stalled = faults.GoStuck;
    }

    /// <summary>The model's counters and tables now.</summary>
    public Mlx4ModelState Snapshot()
    {
        lock (_lock)
        {
            var tables = new Mlx4ModelPortTable[_ports.Length];
            for (int i = 0; i < _ports.Length; i++)
                tables[i] = new Mlx4ModelPortTable(i + 1, _ports[i].Format, _ports[i].Entries);
            return new Mlx4ModelState(Config.Ports, Config.RoceV1V2, _accepted, _rejected, _lastStatus, _lastError, tables)
                { Phase = _firmware.Phase.ToString(), PortsUp = PortsUp(), Resets = _resets, PortMap = _firmware.PortMap.ToString(), RxPortCheckDisabled = _firmware.RxPortCheckDisabled };
        }
    }

    private string PortsUp()
        => string.Join(",", Enumerable.Range(1, Config.Ports).Where(p => _firmware.Ports[p].Up));

    /// <summary>Polls until <paramref name="stop"/> on the shared host's loop (<see cref="DeviceModelHost.Run"/>: it
    /// spins after a command and backs off to 1 ms, then 5 ms naps while idle).</summary>
    public void Run(CancellationToken stop) => _host.Run(stop);

    /// <summary>One pass of the host: the fault file when due, dw6, the reset register. True when something was handled.</summary>
    public bool PollOnce() => _host.PollOnce() > 0;

    /// <summary>dw6 changed: a command is taken when GO is set (our own completion, GO clear, is not one).</summary>
    private void OnStatusWrite(uint dw6)
    {
        if ((dw6 & Mlx4Layout.HcrGo) == 0)
            return;
        int onlyOpcode = _errorOpcode;
        lock (_lock)
        {
            if ((onlyOpcode == 0 || onlyOpcode == (dw6 & Mlx4Layout.HcrOpcodeMask)) && _host.Faults.TryTakeError(out uint injected))
            {
                byte st = (byte)injected;
                Complete(dw6, st, $"{Describe(dw6)}: injected status 0x{st:x2} {Mlx4StatusText.Name(st)}; not applied");
                return;
            }
            byte status = Execute(dw6, out string error);
            Complete(dw6, status, error);
        }
    }

    // ---- commands ----

    private byte Execute(uint dw6, out string error)
    {
        ulong inParam = (ulong)_hcr.Read32(Mlx4Layout.HcrInParamHigh) << 32 | _hcr.Read32(Mlx4Layout.HcrInParamLow);
        uint inMod = _hcr.Read32(Mlx4Layout.HcrInModifier);
        ulong outParam = (ulong)_hcr.Read32(Mlx4Layout.HcrOutParamHigh) << 32 | _hcr.Read32(Mlx4Layout.HcrOutParamLow);
        ushort opcode = (ushort)(dw6 & Mlx4Layout.HcrOpcodeMask);
        byte opMod = (byte)((dw6 >> Mlx4Layout.HcrOpModShift) & 0xf);
        string what = Mlx4Hcr.Describe(opcode, opMod, inMod);
        error = "";
        if ((dw6 & Mlx4Layout.HcrEvent) != 0)
            return Reject(out error, Mlx4Status.BadParam, $"{what}: E = 1 asks for an event-mode completion; the model has no EQ (poll mode only)");
        if (opcode == Mlx4Layout.CmdSetPort)
            return SetPort(opMod, inMod, inParam, outParam, what, out error);
        if (!Mlx4FirmwareModel.Handles(opcode))
            return Reject(out error, Mlx4Status.BadOp, $"{what}: the model knows the firmware start/stop commands (Mlx4FirmwareLayout), QUERY_DEV_CAP, QUERY_FW and SET_PORT");
        Mlx4Status st = _firmware.Execute(opcode, opMod, inMod, inParam, outParam, what, out ulong? imm, out error);
        if (imm is { } v && st == Mlx4Status.Ok)
        {
            // mlx4_cmd_imm: the answer in out_param (dw3:dw4), read by the driver once GO is clear.
            _hcr.Write32(Mlx4Layout.HcrOutParamHigh, (uint)(v >> 32));
            _hcr.Write32(Mlx4Layout.HcrOutParamLow, (uint)v);
        }
        return (byte)st;
    }

    private byte SetPort(byte opMod, uint inMod, ulong inParam, ulong outParam, string what, out string error)
    {
        error = "";
        if (opMod != Mlx4Layout.SetPortEthOpcode)
            return Reject(out error, Mlx4Status.BadParam, $"{what}: op_mod {opMod}: only the ETH SET_PORT (op_mod 1) is emulated");
        if (inMod >> 16 != 0)
            return Reject(out error, Mlx4Status.BadParam, $"{what}: in_modifier bits 31:16 must be 0");
        byte sub = (byte)(inMod >> 8);
        int port = (int)(inMod & 0xff);
        if (sub != Mlx4Layout.SetPortGidTable && sub != Mlx4Layout.SetPortRoceAddr && sub != Mlx4Layout.SetPortGeneral)
            return Reject(out error, Mlx4Status.BadParam, $"{what}: sub-op 0x{sub:x2} is none of GENERAL (0x00), GID_TABLE (0x05), ROCE_ADDR (0x0d)");
        if (port < 1 || port > Config.Ports)
            return Reject(out error, Mlx4Status.BadParam, $"{what}: port {port} does not exist (1..{Config.Ports})");
        if (sub == Mlx4Layout.SetPortGeneral)
        {
            if (!TryMailbox(inParam, 0x20, what, "in_param (inbox)", out Span<byte> general, out error))
                return (byte)Mlx4Status.BadParam;
            return (byte)_firmware.SetPortGeneral(port, general, what, out error);
        }
        if (!_firmware.PortReady(port, out string notReady))
            return Reject(out error, Mlx4Status.BadSysState, $"{what}: {notReady}: the GID table is written once the port is up (firmware phase {_firmware.Phase})");
        if (sub == Mlx4Layout.SetPortRoceAddr && !Config.RoceV1V2)
            return Reject(out error, Mlx4Status.BadParam, $"{what}: ROCE_ADDR needs the RoCE v1_v2 capability, which QUERY_DEV_CAP does not advertise (bmme bit 19 clear)");
        if (outParam != 0)
            return Reject(out error, Mlx4Status.BadParam, $"{what}: out_param must be 0, is 0x{outParam:x}");
        var format = sub == Mlx4Layout.SetPortRoceAddr ? Mlx4GidFormat.RoceAddr : Mlx4GidFormat.GidTable;
        if (!TryMailbox(inParam, Mlx4Layout.TableBytes(format), what, "in_param (inbox)", out Span<byte> inbox, out error))
            return (byte)Mlx4Status.BadParam;
        var entries = new List<Mlx4ModelEntry>();
        int stride = format == Mlx4GidFormat.RoceAddr ? Mlx4Layout.GidEntrySizeV1V2 : Mlx4Layout.GidEntrySizeV1;
        for (int i = 0; i < Mlx4Layout.MaxPortGids; i++)
        {
            Span<byte> e = inbox.Slice(i * stride, stride);
            var gid = new Gid(e[..Gid.Size]);
            byte type = 0, version = 0;
            if (format == Mlx4GidFormat.RoceAddr)
            {
                string? bad = CheckRoceAddrEntry(e, gid, out type, out version);
                if (bad != null)
                    return Reject(out error, Mlx4Status.BadParam, $"{what}: entry {i} (mailbox +0x{i * stride:x3}): {bad}");
                if (version == Mlx4Layout.V1V2VersionRoceV2 && !_firmware.Ports[port].RoceV1V2)
                    return Reject(out error, Mlx4Status.BadParam,
                        $"{what}: entry {i} is RoCE v2 but RoCE v2 is not enabled on port {port} (its SET_PORT general had no MLX4_SET_PORT_ROCE_V1_V2)");
            }
            if (!gid.IsZero)
                entries.Add(new Mlx4ModelEntry(i, gid, type, version));
        }
        _ports[port - 1].Format = format;
        _ports[port - 1].Entries = entries.ToArray();
        return 0;
    }

    /// <summary>hw-layouts.md 1.9 / P0: reserved bytes zero, version 0 or 2, type 0 or 1, type consistent with the GID.</summary>
    private static string? CheckRoceAddrEntry(ReadOnlySpan<byte> e, Gid gid, out byte type, out byte version)
    {
        type = e[Mlx4Layout.V1V2Type];
        version = e[Mlx4Layout.V1V2Version];
        int r1 = e.Slice(Mlx4Layout.V1V2Reserved1, Mlx4Layout.V1V2Reserved1Length).IndexOfAnyExcept((byte)0);
        if (r1 >= 0)
            return $"reserved byte {Mlx4Layout.V1V2Reserved1 + r1} is 0x{e[Mlx4Layout.V1V2Reserved1 + r1]:x2}, must be 0";
        int r3 = e.Slice(Mlx4Layout.V1V2Reserved3, Mlx4Layout.V1V2Reserved3Length).IndexOfAnyExcept((byte)0);
        if (r3 >= 0)
            return $"reserved byte {Mlx4Layout.V1V2Reserved3 + r3} is 0x{e[Mlx4Layout.V1V2Reserved3 + r3]:x2}, must be 0";
        if (version != Mlx4Layout.V1V2VersionRoceV1 && version != Mlx4Layout.V1V2VersionRoceV2)
            return $"byte 27 (version) is {version}; RoCE v1 is 0 and v2 is 2";
        if (type != Mlx4Layout.V1V2TypeIPv4 && type != Mlx4Layout.V1V2TypeIPv6)
            return $"byte 26 (type) is {type}; 0 is IPv4, 1 is IPv6";
        if (gid.IsZero)
            return type != 0 || version != 0 ? $"an empty (zero) GID with type {type} version {version}; both must be 0" : null;
        if (version == Mlx4Layout.V1V2VersionRoceV1 && type != 0)
            return $"type {type} with version 0: only a RoCE v2 entry has a type";
        if (version == Mlx4Layout.V1V2VersionRoceV2)
        {
            byte expected = gid.IsIPv4Mapped ? Mlx4Layout.V1V2TypeIPv4 : Mlx4Layout.V1V2TypeIPv6;
            if (type != expected)
                return $"RoCE v2 GID {gid} has type {type}; a {(gid.IsIPv4Mapped ? "v4-mapped GID is IPv4 (0)" : "non-v4-mapped GID is IPv6 (1)")}";
        }
        return null;
    }

    private bool TryMailbox(ulong address, int length, string what, string which, out Span<byte> memory, out string error)
    {
        memory = default;
        error = "";
        if (address == 0)
        {
            Reject(out error, Mlx4Status.BadParam, $"{what}: {which} is 0: no mailbox");
            return false;
        }
        if (address % Mlx4Layout.MailboxAlignment != 0)
        {
            Reject(out error, Mlx4Status.BadParam, $"{what}: {which} 0x{address:x} is not 4096-aligned (the mailbox pool's alignment)");
            return false;
        }
        if (!_device.Dma.TryResolve(address, length, out memory))
        {
            Reject(out error, Mlx4Status.BadParam, $"{what}: {which} [0x{address:x}, +{length}) is outside the device's DMA memory");
            return false;
        }
        return true;
    }

    private static byte Reject(out string error, Mlx4Status status, string why)
    {
        error = $"{Mlx4StatusText.Name((byte)status)}: {why}";
        return (byte)status;
    }

    /// <summary>Completes the command: counters, state file, then dw6 with GO clear, T kept, status in bits 31:24. Holds _lock.</summary>
    private void Complete(uint dw6, byte status, string error)
    {
        if (status == 0)
            _accepted++;
        else
        {
            _rejected++;
            _lastError = error;
        }
        _lastStatus = status;
        WriteStateFileLocked();
        // The go bit's clear is the answer the driver waits for: through the host, so that a next command the driver
        // writes at once is not taken for it.
        _host.Acknowledge(Mlx4Layout.DcsBar, Mlx4Layout.HcrBase + Mlx4Layout.HcrStatus,
            (uint)status << Mlx4Layout.HcrStatusShift | (dw6 & 0x00ffffffu & ~Mlx4Layout.HcrGo));
    }

    private static string Describe(uint dw6)
        => Mlx4Layout.OpcodeName((ushort)(dw6 & Mlx4Layout.HcrOpcodeMask));

    // ---- the side channel (files in the device directory) ----

    private void WriteStateFile()
    {
        lock (_lock)
            WriteStateFileLocked();
    }

    private void WriteStateFileLocked()
    {
        if (_stateDirectory == null)
            return;
        string path = Path.Combine(_stateDirectory, Mlx4ModelState.FileName);
        string tmp = path + ".tmp";
        var tables = new Mlx4ModelPortTable[_ports.Length];
        for (int i = 0; i < _ports.Length; i++)
            tables[i] = new Mlx4ModelPortTable(i + 1, _ports[i].Format, _ports[i].Entries);
        try
        {
            File.WriteAllText(tmp, new Mlx4ModelState(Config.Ports, Config.RoceV1V2, _accepted, _rejected, _lastStatus, _lastError, tables)
                { Phase = _firmware.Phase.ToString(), PortsUp = PortsUp(), Resets = _resets, PortMap = _firmware.PortMap.ToString(), RxPortCheckDisabled = _firmware.RxPortCheckDisabled }.ToText());
            File.Move(tmp, path, overwrite: true);
        }
        catch (DirectoryNotFoundException)
        {
            // The device directory went away under us (a replay removing it on a signal): keep answering commands.
        }
    }

    public void Dispose()
    {
        _host.Dispose();
        if (_ownsDevice)
            _device.Dispose();
    }

    // ---- hosting ----

    /// <summary>
    /// The <c>roceuio model mlx4 --dir DIR</c> entry point: opens the emulated device in DIR, reads its mlx4 keys, and
    /// serves it until <paramref name="stop"/>, with the state file and fault file in DIR. Returns the exit status.
    /// </summary>
    public static int Serve(string dir, CancellationToken stop)
    {
        Mlx4DeviceModel model;
        try
        {
            model = Open(dir);
        }
        catch (Exception e) when (e is IOException or FormatException or ArgumentException)
        {
            Console.Error.WriteLine($"roceuio model mlx4: {e.Message}");
            return 1;
        }
        Console.Out.WriteLine($"mlx4 model: serving {dir} ({model.Config.Ports} port(s)); Ctrl-C stops");
        Console.Out.Flush();
        using (model)
            model.Run(stop);
        return 0;
    }

    /// <summary>A model over the emulated device in <paramref name="dir"/> (config from its device.conf, side channel in dir).</summary>
    public static Mlx4DeviceModel Open(string dir)
    {
        var device = EmulatedDevice.Open(dir);
        try
        {
            if (!Mlx4PciIds.TryFind(device.VendorId, device.DeviceId, out _))
                throw new ArgumentException($"{dir}: PCI id {device.VendorId:x4}:{device.DeviceId:x4} is not an mlx4 device");
            return new Mlx4DeviceModel(device, Mlx4ModelConfig.Read(dir), dir, ownsDevice: true);
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    /// <summary>Runs the model over <paramref name="dir"/> on a background thread of this process (for <c>--emulate</c>
    /// and tests); a loop that dies is reported by the thread (<see cref="DeviceModelThread.Failure"/>).</summary>
    public static DeviceModelThread<Mlx4DeviceModel> StartThread(string dir) => StartThread(Open(dir));

    /// <summary>Runs a model on a background thread of this process.</summary>
    public static DeviceModelThread<Mlx4DeviceModel> StartThread(Mlx4DeviceModel model)
        => new("mlx4-model", model, static (m, stop) =>
        {
            m.Run(stop);
            return 0;
        });
}
