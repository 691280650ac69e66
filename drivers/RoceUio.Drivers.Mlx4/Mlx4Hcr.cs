using System.Diagnostics;
using RoceUio.Hardware;

namespace RoceUio.Drivers.Mlx4;

/// <summary>
/// The HCR (host command register) in poll mode, exactly as drivers/net/ethernet/mellanox/mlx4/cmd.c
/// <c>mlx4_cmd_post</c>, <c>cmd_pending</c> and <c>mlx4_cmd_poll</c>:
/// <list type="number">
/// <item>busy while dw6 has GO set or its T bit equals the driver's toggle (<c>cmd_pending</c>);</item>
/// <item>dw0..dw5 as big-endian 32-bit writes (the HCR takes nothing narrower), <c>wmb()</c>, then dw6 with GO, T = toggle,
/// E = 0, op_mod and opcode; then the toggle flips;</item>
/// <item>spin on <c>cmd_pending</c> up to the command's timeout; the status is dw6 bits 31:24.</item>
/// </list>
/// Two choices differ from the kernel, both written down in docs/driver-guide.md:
/// the initial toggle is taken from the hardware (<c>!T</c>, which is the kernel's <c>toggle = 1</c> right after a reset),
/// so that a restarted driver can pick up a device another run left with T = 1; and a post waits up to
/// <see cref="BusyTimeout"/> for a busy HCR (the kernel's poll mode gives up at once) because a command abandoned by a
/// timeout may still be completing. After a timeout the driver stays usable: its toggle already matches what the
/// device will show when it finally completes, and the next post waits for that.
/// Locking: one lock serialises posts (the HCR holds one command at a time). Posting allocates nothing.
/// </summary>
public sealed class Mlx4Hcr
{
    private readonly MmioRegion _regs;
    private readonly object _lock = new();
    private uint _toggle;
    private ushort _abandonedOpcode;
    private uint _abandonedInModifier;
    private bool _abandoned;

    /// <summary>Maps the HCR of <paramref name="bar0"/> (the DCS BAR) at <see cref="Mlx4Layout.HcrBase"/>.</summary>
    public Mlx4Hcr(MappedFile bar0, string deviceName)
        : this(new MmioRegion(bar0, Mlx4Layout.DcsBar, RegisterByteOrder.BigEndian, Mlx4Layout.HcrBase, Mlx4Layout.HcrSize), deviceName)
    {
    }

    /// <summary>Uses a region that starts at the HCR and is <see cref="Mlx4Layout.HcrSize"/> bytes long.</summary>
    public Mlx4Hcr(MmioRegion hcr, string deviceName)
    {
        ArgumentNullException.ThrowIfNull(hcr);
        if (hcr.Length < Mlx4Layout.HcrSize || hcr.ByteOrder != RegisterByteOrder.BigEndian)
            throw new ArgumentException($"{hcr.Name}: the mlx4 HCR is 0x{Mlx4Layout.HcrSize:x} big-endian bytes; got 0x{hcr.Length:x} {hcr.ByteOrder}", nameof(hcr));
        _regs = hcr;
        DeviceName = deviceName;
        // mlx4_cmd_init sets toggle = 1 after the reset left T = 0: in general the toggle is the opposite of T.
        _toggle = (_regs.Read32(Mlx4Layout.HcrStatus) & Mlx4Layout.HcrToggle) != 0 ? 0u : 1u;
    }

    public string DeviceName { get; }

    /// <summary>The registers (dw0 at offset 0). Set <see cref="MmioRegion.Tracer"/> to see every access.</summary>
    public MmioRegion Registers => _regs;

    /// <summary>The T value the next command will be written with (<c>cmd-&gt;toggle</c>).</summary>
    public uint Toggle => Volatile.Read(ref _toggle);

    /// <summary>How long a post waits for a busy HCR before giving up (the kernel's <c>GO_BIT_TIMEOUT_MSECS</c>).</summary>
    public TimeSpan BusyTimeout { get; set; } = Mlx4Layout.GoBitTimeout;

    /// <summary><c>cmd_pending</c>: GO set, or T still equal to the toggle of the next command.</summary>
    public bool IsPending()
    {
        uint dw6 = _regs.Read32(Mlx4Layout.HcrStatus);
        return (dw6 & Mlx4Layout.HcrGo) != 0 || ((dw6 & Mlx4Layout.HcrToggle) != 0 ? 1u : 0u) == _toggle;
    }

    /// <summary>Runs a command and throws <see cref="Mlx4CommandException"/> unless the device answers status OK.</summary>
    public void Execute(ulong inParam, ulong outParam, uint inModifier, byte opModifier, ushort opcode, TimeSpan timeout)
    {
        byte status = ExecuteForStatus(inParam, outParam, inModifier, opModifier, opcode, timeout);
        if (status != 0)
            throw new Mlx4CommandException(
                $"{DeviceName}: {Describe(opcode, opModifier, inModifier)} failed: status 0x{status:x2} {Mlx4StatusText.Name(status)} (-{Mlx4StatusText.Errno(status)})",
                opcode, opModifier, inModifier, status, timedOut: false);
    }

    /// <summary>
    /// Runs a command whose output is immediate (<c>mlx4_cmd_imm</c>: SET_ICM_SIZE answers the aux pages it needs) and
    /// returns dw3:dw4 as the device left them (<c>mlx4_cmd_poll</c> with <c>out_is_imm</c>). Throws like <see cref="Execute"/>.
    /// </summary>
    public ulong ExecuteImmediate(ulong inParam, uint inModifier, byte opModifier, ushort opcode, TimeSpan timeout)
    {
        lock (_lock)
        {
            Execute(inParam, 0, inModifier, opModifier, opcode, timeout);
            return (ulong)_regs.Read32(Mlx4Layout.HcrOutParamHigh) << 32 | _regs.Read32(Mlx4Layout.HcrOutParamLow);
        }
    }

    /// <summary>
    /// Runs a command and returns the device's status byte (0 = OK). Throws <see cref="Mlx4CommandException"/> only
    /// when the device does not answer: the HCR stays busy before the post, or GO does not clear within <paramref name="timeout"/>.
    /// </summary>
    public byte ExecuteForStatus(ulong inParam, ulong outParam, uint inModifier, byte opModifier, ushort opcode, TimeSpan timeout)
    {
        if (opModifier > 0xf || opcode > Mlx4Layout.HcrOpcodeMask)
            throw new ArgumentOutOfRangeException(nameof(opcode), $"op_mod {opModifier} / opcode 0x{opcode:x} do not fit dw6 (4 and 12 bits)");
        lock (_lock)
        {
            if (!WaitWhilePending(BusyTimeout))
                throw BusyError(opcode, opModifier, inModifier);
            _abandoned = false;
            Post(inParam, outParam, inModifier, opModifier, opcode);
            if (!WaitWhilePending(timeout))
            {
                _abandoned = true;
                _abandonedOpcode = opcode;
                _abandonedInModifier = inModifier;
                uint dw6 = _regs.Read32(Mlx4Layout.HcrStatus);
                throw new Mlx4CommandException(
                    $"{DeviceName}: {Describe(opcode, opModifier, inModifier)} timed out after {timeout.TotalMilliseconds:0} ms: GO never cleared " +
                    $"(BAR0+0x{Mlx4Layout.HcrBase + Mlx4Layout.HcrStatus:x} reads 0x{dw6:x8}); the next command waits for the HCR to drain",
                    opcode, opModifier, inModifier, status: null, timedOut: true);
            }
            return (byte)(_regs.Read32(Mlx4Layout.HcrStatus) >> Mlx4Layout.HcrStatusShift);
        }
    }

    /// <summary><c>mlx4_cmd_post</c>, poll mode: dw0..dw5, barrier, dw6; then the toggle flips.</summary>
    private void Post(ulong inParam, ulong outParam, uint inModifier, byte opModifier, ushort opcode)
    {
        _regs.Write32(Mlx4Layout.HcrInParamHigh, (uint)(inParam >> 32));
        _regs.Write32(Mlx4Layout.HcrInParamLow, (uint)inParam);
        _regs.Write32(Mlx4Layout.HcrInModifier, inModifier);
        _regs.Write32(Mlx4Layout.HcrOutParamHigh, (uint)(outParam >> 32));
        _regs.Write32(Mlx4Layout.HcrOutParamLow, (uint)outParam);
        _regs.Write32(Mlx4Layout.HcrToken, (uint)Mlx4Layout.PollToken << Mlx4Layout.HcrTokenShift);
        // "__raw_writel may not order writes."
        MmioRegion.WriteBarrier();
        _regs.Write32(Mlx4Layout.HcrStatus, EncodeDw6(_toggle, opModifier, opcode));
        if (opcode == Mlx4Layout.CmdSetPort)
            RoceUio.Diagnostics.PushTrace.Mark(RoceUio.Diagnostics.PushTrace.GoBit, (int)inModifier);
        Volatile.Write(ref _toggle, _toggle ^ 1);
    }

    /// <summary>dw6 as written: GO | T | op_mod &lt;&lt; 12 | opcode (E = 0 in poll mode).</summary>
    public static uint EncodeDw6(uint toggle, byte opModifier, ushort opcode)
        => Mlx4Layout.HcrGo | (toggle != 0 ? Mlx4Layout.HcrToggle : 0) | (uint)opModifier << Mlx4Layout.HcrOpModShift | opcode;

    private bool WaitWhilePending(TimeSpan timeout)
    {
        if (!IsPending())
            return true;
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        RoceUio.Hardware.Emulation.EmulatedDoorbell? bell = _regs.Doorbell;
        var spin = new SpinWait();
        while (true)
        {
            // An emulated device: sleep on its doorbell, which the model's go-bit clear rings (the kernel would take
            // the completion's interrupt in event mode); the count is read before the register so that an answer in
            // between ends the sleep at once, and each sleep ends after 1 ms for a model that does not ring.
            uint seen = bell?.Count ?? 0;
            if (!IsPending())
                return true;
            if (Stopwatch.GetTimestamp() >= deadline)
                return false;
            if (bell is not null)
                bell.Wait(seen, 1);
            else
                spin.SpinOnce(); // a real HCR: spins, then yields, with a 1 ms sleep every 20th pass (cond_resched in the kernel)
        }
    }

    private Mlx4CommandException BusyError(ushort opcode, byte opModifier, uint inModifier)
    {
        string why = _abandoned
            ? $"the device has still not completed {Describe(_abandonedOpcode, _abandonedOpcode == Mlx4Layout.CmdSetPort ? Mlx4Layout.SetPortEthOpcode : (byte)0, _abandonedInModifier)}, which timed out earlier"
            : "the HCR is busy (GO set or T equal to the driver's toggle)";
        return new Mlx4CommandException(
            $"{DeviceName}: cannot post {Describe(opcode, opModifier, inModifier)}: {why} after waiting {BusyTimeout.TotalMilliseconds:0} ms",
            opcode, opModifier, inModifier, status: null, timedOut: true);
    }

    /// <summary>"SET_PORT ROCE_ADDR port 1 (opcode 0x00c, op_mod 1, in_mod 0x00000d01)".</summary>
    public static string Describe(ushort opcode, byte opModifier, uint inModifier)
    {
        string what = Mlx4Layout.OpcodeName(opcode);
        if (opcode == Mlx4Layout.CmdSetPort && opModifier == Mlx4Layout.SetPortEthOpcode)
        {
            byte sub = (byte)(inModifier >> 8);
            string subName = sub switch
            {
                Mlx4Layout.SetPortGidTable => "GID_TABLE",
                Mlx4Layout.SetPortRoceAddr => "ROCE_ADDR",
                Mlx4Layout.SetPortGeneral => "GENERAL",
                _ => $"sub-op 0x{sub:x2}",
            };
            what = $"{what} {subName} port {inModifier & 0xff}";
        }
        return $"{what} (opcode 0x{opcode:x3}, op_mod {opModifier}, in_mod 0x{inModifier:x8})";
    }
}
