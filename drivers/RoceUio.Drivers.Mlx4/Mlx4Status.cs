using RoceUio.Roce;

namespace RoceUio.Drivers.Mlx4;

/// <summary>
/// The HCR status byte (dw6 bits 31:24), with the kernel's names (cmd.c enum <c>CMD_STAT_*</c>) and the errno
/// <c>mlx4_status_to_errno</c> maps each to.
/// </summary>
public enum Mlx4Status : byte
{
    Ok = 0x00,
    InternalErr = 0x01,
    BadOp = 0x02,
    BadParam = 0x03,
    BadSysState = 0x04,
    BadResource = 0x05,
    ResourceBusy = 0x06,
    ExceedLim = 0x08,
    BadResState = 0x09,
    BadIndex = 0x0a,
    BadNvmem = 0x0b,
    IcmError = 0x0c,
    BadQpState = 0x10,
    BadSegParam = 0x20,
    RegBound = 0x21,
    LamNotPre = 0x22,
    BadPkt = 0x30,
    BadSize = 0x40,
    MultiFuncReq = 0x50,
}

public static class Mlx4StatusText
{
    /// <summary>The kernel's name without the <c>CMD_STAT_</c> prefix, e.g. <c>BAD_PARAM</c>; unknown values as hex.</summary>
    public static string Name(byte status) => (Mlx4Status)status switch
    {
        Mlx4Status.Ok => "OK",
        Mlx4Status.InternalErr => "INTERNAL_ERR",
        Mlx4Status.BadOp => "BAD_OP",
        Mlx4Status.BadParam => "BAD_PARAM",
        Mlx4Status.BadSysState => "BAD_SYS_STATE",
        Mlx4Status.BadResource => "BAD_RESOURCE",
        Mlx4Status.ResourceBusy => "RESOURCE_BUSY",
        Mlx4Status.ExceedLim => "EXCEED_LIM",
        Mlx4Status.BadResState => "BAD_RES_STATE",
        Mlx4Status.BadIndex => "BAD_INDEX",
        Mlx4Status.BadNvmem => "BAD_NVMEM",
        Mlx4Status.IcmError => "ICM_ERROR",
        Mlx4Status.BadQpState => "BAD_QP_STATE",
        Mlx4Status.BadSegParam => "BAD_SEG_PARAM",
        Mlx4Status.RegBound => "REG_BOUND",
        Mlx4Status.LamNotPre => "LAM_NOT_PRE",
        Mlx4Status.BadPkt => "BAD_PKT",
        Mlx4Status.BadSize => "BAD_SIZE",
        Mlx4Status.MultiFuncReq => "MULTI_FUNC_REQ",
        _ => $"status 0x{status:x2}",
    };

    /// <summary><c>mlx4_status_to_errno</c>: the errno name; anything unknown is EIO.</summary>
    public static string Errno(byte status) => (Mlx4Status)status switch
    {
        Mlx4Status.Ok => "0",
        Mlx4Status.InternalErr => "EIO",
        Mlx4Status.BadOp => "EPERM",
        Mlx4Status.BadParam => "EINVAL",
        Mlx4Status.BadSysState => "ENXIO",
        Mlx4Status.BadResource => "EBADF",
        Mlx4Status.ResourceBusy => "EBUSY",
        Mlx4Status.ExceedLim => "ENOMEM",
        Mlx4Status.BadResState => "EBADF",
        Mlx4Status.BadIndex => "EBADF",
        Mlx4Status.BadNvmem => "EFAULT",
        Mlx4Status.IcmError => "ENFILE",
        Mlx4Status.BadQpState => "EINVAL",
        Mlx4Status.BadSegParam => "EFAULT",
        Mlx4Status.RegBound => "EBUSY",
        Mlx4Status.LamNotPre => "EAGAIN",
        Mlx4Status.BadPkt => "EINVAL",
        Mlx4Status.BadSize => "ENOMEM",
        Mlx4Status.MultiFuncReq => "EACCES",
        _ => "EIO",
    };
}

/// <summary>
/// An HCR command failed: the device answered a non-zero status, or did not answer (GO never cleared) within the
/// timeout, or the HCR stayed busy. The message names the device, the command (opcode, op_mod, in_modifier) and why.
/// </summary>
public sealed class Mlx4CommandException : RoceDeviceException
{
    public Mlx4CommandException(string message, ushort opcode, byte opModifier, uint inModifier, byte? status, bool timedOut)
        : base(message)
    {
        Opcode = opcode;
        OpModifier = opModifier;
        InModifier = inModifier;
        Status = status;
        TimedOut = timedOut;
    }

    public ushort Opcode { get; }
    public byte OpModifier { get; }
    public uint InModifier { get; }
    /// <summary>The status byte the device wrote; null when it never completed.</summary>
    public byte? Status { get; }
    /// <summary>True when GO did not clear in time (the command's outcome is unknown).</summary>
    public bool TimedOut { get; }
}
