using RoceUio.Hardware;
using static RoceUio.Drivers.Ocrdma.OcrdmaLayout;

namespace RoceUio.Drivers.Ocrdma;

/// <summary>
/// The ocrdma mailbox queue (ocrdma_hw.c <c>ocrdma_post_mqe</c>, <c>ocrdma_wait_mqe_cmpl</c>, <c>ocrdma_mq_cq_handler</c>,
/// <c>ocrdma_mbx_cmd</c>): a ring of 128 MQEs of 256 bytes in DMA memory and its completion queue of 256 MCQEs of
/// 16 bytes. Posting: <c>tag_lo</c> = ring head, copy the MQE into the slot, <c>wmb</c>, head+1, ring the MQ doorbell
/// (BAR+0x140, <c>(mq_id &amp; 0x7FF) | 1 &lt;&lt; 16</c>). Completion: the MCQE at the CQ tail with bit 31 valid names the slot by
/// <c>tag_lo</c>; the response is read back from that slot; the MCQE is zeroed, the tail advanced, the CQ doorbell rung
/// (rearm, one popped). Errors carry the kernel's status names.
/// </summary>
/// <remarks>
/// Locking: <see cref="Execute"/> takes the queue's lock, so one command is in flight at a time, as the kernel's
/// <c>mqe_ctx.lock</c>. Unlike the kernel, which sets <c>fw_error_state</c> after a timeout and fails every later command,
/// a timed-out or mis-tagged slot is remembered as abandoned: a late completion for it is consumed and dropped, and the
/// queue stays usable.
/// </remarks>
public sealed class OcrdmaMq
{
    /// <summary>ocrdma_hw.c <c>ocrdma_wait_mqe_cmpl</c>: 30 s.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private readonly MmioRegion _db;
    private readonly DmaBuffer _ring;
    private readonly DmaBuffer _cq;
    private readonly object _lock = new();
    private readonly bool[] _abandoned = new bool[MqLength];
    private int _head;
    private int _cqTail;

    public OcrdmaMq(MmioRegion doorbells, DmaBuffer ring, DmaBuffer cq, int mqId, int cqId, TimeSpan timeout)
    {
        if (ring.Length < MqLength * MqeSize)
            throw new ArgumentException($"the MQ ring needs {MqLength * MqeSize} bytes", nameof(ring));
        if (cq.Length < MqCqLength * McqeSize)
            throw new ArgumentException($"the MQ's CQ needs {MqCqLength * McqeSize} bytes", nameof(cq));
        _db = doorbells;
        _ring = ring;
        _cq = cq;
        MqId = mqId;
        CqId = cqId;
        Timeout = timeout;
    }

    public int MqId { get; }
    public int CqId { get; }
    public TimeSpan Timeout { get; set; }

    /// <summary>Commands completed, failed or timed out since bring-up (for diagnostics and tests).</summary>
    public long Posted { get; private set; }

    /// <summary>
    /// Posts one embedded MQE and waits for its completion. <paramref name="mqe"/> is 256 bytes with the MQE header and the
    /// request header filled; the tag is set here. On success the response is copied back into <paramref name="mqe"/>.
    /// Throws <see cref="OcrdmaCommandException"/> naming <paramref name="command"/> on an error status, a wrong tag or a timeout.
    /// </summary>
    public void Execute(Span<byte> mqe, string command)
    {
        if (mqe.Length != MqeSize)
            throw new ArgumentException($"an MQE is {MqeSize} bytes, got {mqe.Length}", nameof(mqe));
        lock (_lock)
        {
            int slot = _head;
            DmaAccess.Write32(mqe, MqeHdrTagLo, (uint)slot);
            DmaAccess.Write32(mqe, MqeHdrTagHi, 0);
            _abandoned[slot] = false;
            mqe.CopyTo(_ring.Span.Slice(slot * MqeSize, MqeSize));
            MmioRegion.WriteBarrier();
            _head = (_head + 1) & (MqLength - 1);
            Posted++;
            _db.Write32(DbMqOffset, MqDoorbell(MqId));
            Wait(slot, mqe, command);
        }
    }

    private void Wait(int slot, Span<byte> mqe, string command)
    {
        long deadline = Environment.TickCount64 + (long)Timeout.TotalMilliseconds;
        var spin = new SpinWait();
        while (true)
        {
            if (TryPopCompletion(out uint status, out uint tagLo, out uint tagHi))
            {
                if (tagHi == 0 && tagLo < MqLength && tagLo != slot && _abandoned[tagLo])
                {
                    _abandoned[tagLo] = false; // a late completion of an abandoned command: drop it
                    continue;
                }
                if (tagLo != slot || tagHi != 0)
                {
                    _abandoned[slot] = true;
                    throw new OcrdmaCommandException(
                        $"{_db.Name}: MQ {MqId}: {command} posted in slot {slot} but the device completed tag 0x{tagHi:x}:{tagLo} (status 0x{status:x}); the command's outcome is unknown",
                        command, status & McqeStatusMask, status >> McqeExtStatusShift, 0, 0);
                }
                _ring.Span.Slice(slot * MqeSize, MqeSize).CopyTo(mqe); // ocrdma_get_mqe_rsp: same slot
                CheckStatus(mqe, status, command);
                return;
            }
            if (Environment.TickCount64 > deadline)
            {
                _abandoned[slot] = true;
                throw new OcrdmaCommandException(
                    $"{_db.Name}: MQ {MqId}: {command} (slot {slot}) was not completed within {Timeout.TotalMilliseconds:0} ms (ocrdma_wait_mqe_cmpl timeout)",
                    command, 0, 0, 0, 0);
            }
            if (spin.Count < 20) spin.SpinOnce(-1); else Thread.Sleep(1);
        }
    }

    private bool TryPopCompletion(out uint status, out uint tagLo, out uint tagHi)
    {
        Span<byte> cqe = _cq.Span.Slice(_cqTail * McqeSize, McqeSize);
        uint flags = DmaAccess.ReadVolatile32(cqe, McqeFlags);
        if ((flags & McqeValid) == 0)
        {
            status = tagLo = tagHi = 0;
            return false;
        }
        Interlocked.MemoryBarrier(); // rmb: read the CQE body after its valid bit
        status = DmaAccess.Read32(cqe, McqeStatus);
        tagLo = DmaAccess.Read32(cqe, McqeTagLo);
        tagHi = DmaAccess.Read32(cqe, McqeTagHi);
        cqe.Clear();
        _cqTail = (_cqTail + 1) & (MqCqLength - 1);
        _db.Write32(DbCqOffset, CqDoorbell(CqId, rearm: true, popped: 1));
        return true;
    }

    private void CheckStatus(ReadOnlySpan<byte> rsp, uint cqeStatus, string command)
    {
        uint compl = cqeStatus & McqeStatusMask, ext = cqeStatus >> McqeExtStatusShift;
        uint rs = DmaAccess.Read32(rsp, RspStatus);
        byte mbx = (byte)rs, addl = (byte)(rs >> 8);
        if (compl != 0 || ext != 0)
            throw new OcrdmaCommandException(
                $"{_db.Name}: {command} failed: completion status {OcrdmaStatus.CqeStatusName(compl)} ({compl}), extended status {ext} (-{OcrdmaStatus.CqeErrno(compl)})",
                command, compl, ext, mbx, addl);
        if (mbx != 0)
            throw new OcrdmaCommandException(
                $"{_db.Name}: {command} failed: {OcrdmaStatus.MbxStatusName(mbx)} ({mbx}), additional status {OcrdmaStatus.AdditionalStatusName(addl)} (-{OcrdmaStatus.MbxErrno(mbx, addl)})",
                command, compl, ext, mbx, addl);
    }
}
