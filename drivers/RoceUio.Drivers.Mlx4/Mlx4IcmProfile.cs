using System.Buffers.Binary;
using System.Numerics;
using static RoceUio.Drivers.Mlx4.Mlx4FirmwareLayout;

namespace RoceUio.Drivers.Mlx4;

/// <summary>The INIT_HCA parameters a profile gives (fw.c <c>struct mlx4_init_hca_param</c>, the fields this driver sets).</summary>
public sealed record Mlx4InitHcaParams
{
    public ulong QpcBase { get; init; }
    public byte LogNumQps { get; init; }
    public ulong SrqcBase { get; init; }
    public byte LogNumSrqs { get; init; }
    public ulong CqcBase { get; init; }
    public byte LogNumCqs { get; init; }
    public ulong AltcBase { get; init; }
    public ulong AuxcBase { get; init; }
    public ulong EqcBase { get; init; }
    public byte LogNumEqs { get; init; }
    public ulong RdmarcBase { get; init; }
    public byte LogRdPerQp { get; init; }
    public ulong McBase { get; init; }
    public byte LogMcEntrySize { get; init; }
    public byte LogMcHashSize { get; init; }
    public byte LogMcTableSize { get; init; }
    public ulong DmptBase { get; init; }
    public byte LogMptSize { get; init; }
    public ulong MttBase { get; init; }
    public ulong CmptBase { get; init; }
    public byte LogUarSize { get; init; }
    public byte UarPageSize { get; init; }

    /// <summary>
    /// The INIT_HCA inbox as fw.c <c>mlx4_INIT_HCA</c> writes it for this driver's case: version 2, the cache line byte
    /// (<c>(ilog2(64) - 4) &lt;&lt; 5 | 1 &lt;&lt; 4</c>), flags with only "check port for UD address vector" (a
    /// little-endian host clears bit 1; no counters, no 64-byte EQEs/CQEs, A0/B0 steering), the context bases and
    /// sizes, the TPT and UAR fields. Each log size is written after its base, into the base qword's last byte (the
    /// bases are page aligned, so nothing of them is lost). <paramref name="inbox"/> must be zeroed.
    /// </summary>
    public void WriteTo(Span<byte> inbox)
    {
        inbox[InitHcaVersionOffset] = InitHcaVersion;
        inbox[InitHcaCachelineSz] = (byte)((BitOperations.Log2(64u) - 4) << 5 | 1 << 4);
        BinaryPrimitives.WriteUInt32BigEndian(inbox[InitHcaFlags..], InitHcaFlagUdAvPortCheck);
        BinaryPrimitives.WriteUInt64BigEndian(inbox[InitHcaQpcBase..], QpcBase);
        inbox[InitHcaLogQp] = LogNumQps;
        BinaryPrimitives.WriteUInt64BigEndian(inbox[InitHcaSrqcBase..], SrqcBase);
        inbox[InitHcaLogSrq] = LogNumSrqs;
        BinaryPrimitives.WriteUInt64BigEndian(inbox[InitHcaCqcBase..], CqcBase);
        inbox[InitHcaLogCq] = LogNumCqs;
        BinaryPrimitives.WriteUInt64BigEndian(inbox[InitHcaAltcBase..], AltcBase);
        BinaryPrimitives.WriteUInt64BigEndian(inbox[InitHcaAuxcBase..], AuxcBase);
        BinaryPrimitives.WriteUInt64BigEndian(inbox[InitHcaEqcBase..], EqcBase);
        inbox[InitHcaLogEq] = LogNumEqs;
        BinaryPrimitives.WriteUInt64BigEndian(inbox[InitHcaRdmarcBase..], RdmarcBase);
        inbox[InitHcaLogRd] = LogRdPerQp;
        BinaryPrimitives.WriteUInt64BigEndian(inbox[InitHcaMcBase..], McBase);
        inbox[InitHcaLogMcEntrySz] = LogMcEntrySize;
        inbox[InitHcaLogMcHashSz] = LogMcHashSize;
        inbox[InitHcaLogMcTableSz] = LogMcTableSize;
        BinaryPrimitives.WriteUInt64BigEndian(inbox[InitHcaDmptBase..], DmptBase);
        inbox[InitHcaLogMptSz] = LogMptSize;
        BinaryPrimitives.WriteUInt64BigEndian(inbox[InitHcaMttBase..], MttBase);
        BinaryPrimitives.WriteUInt64BigEndian(inbox[InitHcaCmptBase..], CmptBase);
        inbox[InitHcaUarPageSz] = UarPageSize;
        inbox[InitHcaLogUarSz] = LogUarSize;
    }

    /// <summary>Reads an INIT_HCA inbox (the device model's side), masking as fw.c <c>mlx4_QUERY_HCA</c> does: the
    /// QPC, SRQC, CQC, EQC and RDMARC bases share their last byte with the log size written after them.</summary>
    public static Mlx4InitHcaParams Parse(ReadOnlySpan<byte> b) => new()
    {
        QpcBase = Be64(b, InitHcaQpcBase) & ~0x1fUL,
        LogNumQps = (byte)(b[InitHcaLogQp] & 0x1f),
        SrqcBase = Be64(b, InitHcaSrqcBase) & ~0x1fUL,
        LogNumSrqs = (byte)(b[InitHcaLogSrq] & 0x1f),
        CqcBase = Be64(b, InitHcaCqcBase) & ~0x1fUL,
        LogNumCqs = (byte)(b[InitHcaLogCq] & 0x1f),
        AltcBase = Be64(b, InitHcaAltcBase),
        AuxcBase = Be64(b, InitHcaAuxcBase),
        EqcBase = Be64(b, InitHcaEqcBase) & ~0x1fUL,
        LogNumEqs = (byte)(b[InitHcaLogEq] & 0x1f),
        RdmarcBase = Be64(b, InitHcaRdmarcBase) & ~0x1fUL,
        LogRdPerQp = (byte)(b[InitHcaLogRd] & 0x7),
        McBase = Be64(b, InitHcaMcBase),
        LogMcEntrySize = (byte)(b[InitHcaLogMcEntrySz] & 0x1f),
        LogMcHashSize = (byte)(b[InitHcaLogMcHashSz] & 0x1f),
        LogMcTableSize = (byte)(b[InitHcaLogMcTableSz] & 0x1f),
        DmptBase = Be64(b, InitHcaDmptBase),
        LogMptSize = (byte)(b[InitHcaLogMptSz] & 0x3f),
        MttBase = Be64(b, InitHcaMttBase),
        CmptBase = Be64(b, InitHcaCmptBase),
        UarPageSize = b[InitHcaUarPageSz],
        LogUarSize = (byte)(b[InitHcaLogUarSz] & 0xf),
    };

    private static ulong Be64(ReadOnlySpan<byte> b, int off) => BinaryPrimitives.ReadUInt64BigEndian(b[off..]);
}

/// <summary>
/// One context table as main.c <c>mlx4_init_icm</c> hands it to icm.c <c>mlx4_init_icm_table</c>: its ICM address,
/// object size, number of objects and how many of them the firmware reserves. The reserved objects are the part that
/// must be mapped before INIT_HCA (mlx4_init_icm_table maps the chunks that hold them and pins them).
/// </summary>
public readonly record struct Mlx4IcmTable(string Name, ulong Virt, int ObjectSize, long Objects, long Reserved)
{
    public long Size => Objects * ObjectSize;

    /// <summary>The bytes of the reserved objects: the range the firmware writes from INIT_HCA on.</summary>
    public long ReservedBytes => Reserved * ObjectSize;

    /// <summary>
    /// The chunks <c>mlx4_init_icm_table</c> maps: chunk i at <c>virt + i * MLX4_TABLE_CHUNK_SIZE</c> for each i with
    /// <c>i * CHUNK &lt; reserved * obj_size</c>, of CHUNK bytes, or <c>PAGE_ALIGN(size - i * CHUNK)</c> for a last one
    /// that would pass the table's end.
    /// </summary>
    public IEnumerable<(ulong Virt, int Bytes)> MappedChunks()
    {
        for (long i = 0; i * TableChunkSize < ReservedBytes; i++)
        {
            long bytes = TableChunkSize;
            if ((i + 1) * TableChunkSize > Size)
                bytes = (Size - i * TableChunkSize + IcmPageSize - 1) & ~(long)(IcmPageSize - 1);
            yield return (Virt + (ulong)(i * TableChunkSize), (int)bytes);
        }
    }
}

/// <summary>
/// The ICM profile: how many of each context object the HCA gets and where each table sits in ICM, computed as
/// profile.c <c>mlx4_make_profile</c> does (counts rounded up to powers of two, each table at least a page, sorted by
/// decreasing size and packed so that each stays aligned to its size), and the tables <c>mlx4_init_icm</c> maps.
/// The request is ours and as small as the firmware's reservations allow (the kernel's smallest is
/// <c>low_mem_profile</c>, for kdump): twice the reserved QPs, SRQs, CQs, MPTs and MTTs, one RDMA read per QP, 64
/// multicast groups. A GID manager creates no objects of its own; the reserved ones are the firmware's.
/// </summary>
public sealed class Mlx4IcmProfile
{
    /// <summary>main.c <c>MAX_MSIX</c>: EQs are capped at it (<c>min(max_eqs, MAX_MSIX)</c>).</summary>
    public const int MaxMsix = 128;
    /// <summary>include/linux/mlx4/device.h <c>MLX4_CMPT_SHIFT</c>, <c>MLX4_CMPT_NUM_TYPE</c>: the cMPT table has four
    /// regions (QP, SRQ, CQ, EQ) of 2^24 entries each (<c>MLX4_NUM_CMPTS</c>).</summary>
    public const int CmptShift = 24, CmptTypes = 4;
    /// <summary><c>MLX4_DEFAULT_MGM_LOG_ENTRY_SIZE</c>: 1 KiB multicast group entries (A0/B0 steering).</summary>
    public const int LogMgmEntrySize = 10;
    /// <summary>The multicast groups requested (ours; the kernel's default is 1 &lt;&lt; 13).</summary>
    public const int RequestedMcgs = 64;

    private Mlx4IcmProfile(Mlx4DevCap cap, Mlx4InitHcaParams p, ulong size, IReadOnlyList<Mlx4IcmTable> tables)
    {
        DevCap = cap;
        InitHca = p;
        IcmSize = size;
        Tables = tables;
    }

    public Mlx4DevCap DevCap { get; }
    public Mlx4InitHcaParams InitHca { get; }
    /// <summary>The ICM the profile uses: what SET_ICM_SIZE tells the firmware.</summary>
    public ulong IcmSize { get; }
    /// <summary>The tables in <c>mlx4_init_icm</c>'s mapping order (UNMAP in reverse: <c>mlx4_free_icms</c>).</summary>
    public IReadOnlyList<Mlx4IcmTable> Tables { get; }

    private enum Res { Qp, Rdmarc, Altc, Auxc, Srq, Cq, Eq, Dmpt, Cmpt, Mtt, Mcg }

    /// <summary>The profile for a device with these capabilities; throws when it does not fit the device's ICM.</summary>
    public static Mlx4IcmProfile Make(Mlx4DevCap cap)
    {
        int numQp = 2 * cap.ReservedQps, rdmarcPerQp = 1, numSrq = 2 * cap.ReservedSrqs, numCq = 2 * cap.ReservedCqs;
        int numMpt = 2 * cap.ReservedMrws, numMtt = 2 * cap.ReservedMtts;
        int numEq = Math.Min(cap.MaxEqs, MaxMsix);
        var res = new (Res Type, ulong Size, ulong Num)[]
        {
            (Res.Qp, (ulong)cap.QpcEntrySize, (ulong)numQp),
            (Res.Rdmarc, (ulong)cap.RdmarcEntrySize, (ulong)(numQp * rdmarcPerQp)),
            (Res.Altc, (ulong)cap.AltcEntrySize, (ulong)numQp),
            (Res.Auxc, (ulong)cap.AuxEntrySize, (ulong)numQp),
            (Res.Srq, (ulong)cap.SrqEntrySize, (ulong)numSrq),
            (Res.Cq, (ulong)cap.CqcEntrySize, (ulong)numCq),
            (Res.Eq, (ulong)cap.EqcEntrySize, (ulong)numEq),
            (Res.Dmpt, (ulong)cap.DmptEntrySize, (ulong)numMpt),
            (Res.Cmpt, (ulong)cap.CmptEntrySize, (ulong)CmptTypes << CmptShift),
            (Res.Mtt, (ulong)cap.MttEntrySize, (ulong)numMtt), // log_mtts_per_seg 0: one MTT per segment
            (Res.Mcg, 1UL << LogMgmEntrySize, RequestedMcgs),
        };
        for (int i = 0; i < res.Length; i++)
        {
            ulong num = BitOperations.RoundUpToPowerOf2(res[i].Num);
            res[i] = (res[i].Type, Math.Max(res[i].Size * num, IcmPageSize), num);
        }
        // profile.c: a bubble sort in decreasing order of size (stable for equal sizes), then packing.
        for (int i = res.Length; i > 0; --i)
            for (int j = 1; j < i; ++j)
                if (res[j].Size > res[j - 1].Size)
                    (res[j], res[j - 1]) = (res[j - 1], res[j]);
        var start = new Dictionary<Res, (ulong Start, ulong Num)>();
        ulong total = 0;
        foreach (var r in res)
        {
            start[r.Type] = (total, r.Num);
            total += r.Size;
            if (total > cap.MaxIcmSize)
                throw new Mlx4ProfileException($"the ICM profile needs 0x{total:x} bytes; QUERY_DEV_CAP allows 0x{cap.MaxIcmSize:x} (profile.c mlx4_make_profile)");
        }
        byte Log(Res t) => (byte)BitOperations.Log2(start[t].Num);
        int rdmarcShift = 0;
        while ((ulong)numQp << rdmarcShift < start[Res.Rdmarc].Num)
            rdmarcShift++;
        long numUars = cap.UarSize / 4096;
        var p = new Mlx4InitHcaParams
        {
            QpcBase = start[Res.Qp].Start, LogNumQps = Log(Res.Qp),
            RdmarcBase = start[Res.Rdmarc].Start, LogRdPerQp = (byte)rdmarcShift,
            AltcBase = start[Res.Altc].Start, AuxcBase = start[Res.Auxc].Start,
            SrqcBase = start[Res.Srq].Start, LogNumSrqs = Log(Res.Srq),
            CqcBase = start[Res.Cq].Start, LogNumCqs = Log(Res.Cq),
            EqcBase = start[Res.Eq].Start, LogNumEqs = (byte)BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)numEq)),
            DmptBase = start[Res.Dmpt].Start, LogMptSize = Log(Res.Dmpt),
            CmptBase = start[Res.Cmpt].Start,
            MttBase = start[Res.Mtt].Start,
            McBase = start[Res.Mcg].Start, LogMcEntrySize = LogMgmEntrySize, LogMcTableSize = Log(Res.Mcg),
            LogMcHashSize = (byte)(Log(Res.Mcg) - 1),
            // main.c mlx4_init_hca with 4 KiB UAR pages (DEFAULT_UAR_PAGE_SHIFT 12 on a 4 KiB-page host).
            LogUarSize = (byte)BitOperations.Log2((ulong)numUars), UarPageSize = 0,
        };
        return new Mlx4IcmProfile(cap, p, total, TablesOf(cap, p, mttObjects: (long)start[Res.Mtt].Num));
    }

    /// <summary>
    /// The tables <c>mlx4_init_icm</c> maps, in its order, for INIT_HCA parameters <paramref name="p"/> and the
    /// device's reserved counts: the four cMPT regions, EQC, MTT, dMPT, QPC, AUXC, ALTC, RDMARC, CQC, SRQC, MCG.
    /// The device model uses the same list to check that INIT_HCA's tables lie in mapped ICM.
    /// </summary>
    public static IReadOnlyList<Mlx4IcmTable> TablesOf(Mlx4DevCap cap, Mlx4InitHcaParams p, long? mttObjects = null)
    {
        long qps = 1L << p.LogNumQps, srqs = 1L << p.LogNumSrqs, cqs = 1L << p.LogNumCqs, eqs = 1L << p.LogNumEqs;
        long mcgs = 1L << p.LogMcTableSize;
        ulong Cmpt(int type) => p.CmptBase + ((ulong)(type * cap.CmptEntrySize) << CmptShift);
        // main.c: reserved MTTs are aligned up to a cache line, since the firmware writes them.
        long reservedMtts = (cap.ReservedMtts * cap.MttEntrySize + 63) / 64 * 64 / cap.MttEntrySize;
        return
        [
            new("QP cMPT", Cmpt(0), cap.CmptEntrySize, qps, cap.ReservedQps),
            new("SRQ cMPT", Cmpt(1), cap.CmptEntrySize, srqs, cap.ReservedSrqs),
            new("CQ cMPT", Cmpt(2), cap.CmptEntrySize, cqs, cap.ReservedCqs),
            new("EQ cMPT", Cmpt(3), cap.CmptEntrySize, eqs, eqs),
            new("EQC", p.EqcBase, cap.EqcEntrySize, eqs, eqs),
            new("MTT", p.MttBase, cap.MttEntrySize, mttObjects ?? reservedMtts, reservedMtts),
            new("dMPT", p.DmptBase, cap.DmptEntrySize, 1L << p.LogMptSize, cap.ReservedMrws),
            new("QPC", p.QpcBase, cap.QpcEntrySize, qps, cap.ReservedQps),
            new("AUXC", p.AuxcBase, cap.AuxEntrySize, qps, cap.ReservedQps),
            new("ALTC", p.AltcBase, cap.AltcEntrySize, qps, cap.ReservedQps),
            new("RDMARC", p.RdmarcBase, cap.RdmarcEntrySize << p.LogRdPerQp, qps, cap.ReservedQps),
            new("CQC", p.CqcBase, cap.CqcEntrySize, cqs, cap.ReservedCqs),
            new("SRQC", p.SrqcBase, cap.SrqEntrySize, srqs, cap.ReservedSrqs),
            new("MCG", p.McBase, 1 << p.LogMcEntrySize, mcgs, mcgs),
        ];
    }
}

/// <summary>The device's capabilities leave no room for a profile.</summary>
public sealed class Mlx4ProfileException(string message) : RoceUio.Roce.RoceDeviceException(message);
