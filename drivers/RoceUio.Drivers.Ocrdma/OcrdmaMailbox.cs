using RoceUio.Hardware;
using static RoceUio.Drivers.Ocrdma.OcrdmaLayout;

namespace RoceUio.Drivers.Ocrdma;

/// <summary>
/// be2net's bootstrap mailbox (benet/be_cmds.c <c>be_mbox_notify_wait</c>): one 256-byte WRB plus a 16-byte completion
/// in DMA memory, handed to the firmware by two writes of <c>MPU_MAILBOX_DB</c> (BAR+0x160): first HI with address
/// bits 34..63, then address bits 4..33; after each write the driver polls RDY (bit 0). The completion
/// (<c>struct be_mcc_compl</c>: status 15:0 base / 31:16 extended, tag0, tag1, flags bit 31 valid) is then in the mailbox.
/// ocrdma needs it only at bring-up, to create the MQ's CQ and the MQ (which the kernel tunnels through be2net).
/// Locking: one caller at a time (bring-up); not thread-safe.
/// </summary>
public sealed class OcrdmaMailbox
{
    private readonly MmioRegion _db;
    private readonly DmaBuffer _mbox;
    private readonly TimeSpan _timeout;

    public OcrdmaMailbox(MmioRegion doorbells, DmaBuffer mailbox, TimeSpan timeout)
    {
        if (mailbox.Length < MailboxSize || (mailbox.DeviceAddress & (MailboxAlignment - 1)) != 0)
            throw new ArgumentException($"the bootstrap mailbox needs {MailboxSize} bytes aligned to {MailboxAlignment}, got {mailbox.Length} at 0x{mailbox.DeviceAddress:x}", nameof(mailbox));
        _db = doorbells;
        _mbox = mailbox;
        _timeout = timeout;
    }

    /// <summary>
    /// Posts <paramref name="wrb"/> (256 bytes: MQE/WRB header, request header, payload) and waits for its completion;
    /// on success the response (read back from the mailbox's WRB) is copied into <paramref name="wrb"/>.
    /// </summary>
    public void Execute(Span<byte> wrb, string command)
    {
        if (wrb.Length != MailboxWrbSize)
            throw new ArgumentException($"a mailbox WRB is {MailboxWrbSize} bytes", nameof(wrb));
        WaitReady(command, "before posting");
        Span<byte> m = _mbox.Span;
        wrb.CopyTo(m);
        m.Slice(MailboxComplOffset, 16).Clear();
        MmioRegion.WriteBarrier();
        _db.Write32(MpuMailboxDbOffset, MailboxHiWord(_mbox.DeviceAddress));
        WaitReady(command, "after the address-high write");
        _db.Write32(MpuMailboxDbOffset, MailboxLoWord(_mbox.DeviceAddress));
        WaitReady(command, "after the address-low write");

        uint flags = DmaAccess.ReadVolatile32(m, MailboxComplOffset + McqeFlags);
        if ((flags & McqeValid) == 0)
            throw new OcrdmaCommandException($"{_db.Name}: bootstrap mailbox {command}: RDY was set but the completion in the mailbox is not valid (flags 0x{flags:x})",
                command, 0, 0, 0, 0);
        uint status = DmaAccess.Read32(m, MailboxComplOffset + McqeStatus);
        m.Slice(0, MailboxWrbSize).CopyTo(wrb);
        DmaAccess.WriteVolatile32(m, MailboxComplOffset + McqeFlags, 0); // be_mcc_compl_use
        uint baseStatus = status & McqeStatusMask, ext = status >> McqeExtStatusShift;
        if (baseStatus != 0)
            throw new OcrdmaCommandException(
                $"{_db.Name}: bootstrap mailbox {command} failed: {OcrdmaStatus.MccStatusName(baseStatus)} ({baseStatus}), extended status {ext}",
                command, baseStatus, ext, 0, 0);
    }

    private void WaitReady(string command, string when)
    {
        long deadline = Environment.TickCount64 + (long)_timeout.TotalMilliseconds;
        var spin = new SpinWait();
        while (true)
        {
            uint v = _db.Read32(MpuMailboxDbOffset);
            if (v == 0xFFFFFFFF)
                throw new OcrdmaCommandException($"{_db.Name}: bootstrap mailbox reads 0xffffffff {when} {command}: the function is gone or in error", command, 0, 0, 0, 0);
            if ((v & MpuMailboxDbReady) != 0)
                return;
            if (Environment.TickCount64 > deadline)
                throw new OcrdmaCommandException(
                    $"{_db.Name}: bootstrap mailbox {command}: RDY (BAR+0x{MpuMailboxDbOffset:x} bit 0) not set {when} within {_timeout.TotalMilliseconds:0} ms (mbox poll timed out)",
                    command, 0, 0, 0, 0);
            if (spin.Count < 20) spin.SpinOnce(-1); else Thread.Sleep(1);
        }
    }
}
