using System.Buffers.Binary;
using System.Numerics;
using static RoceUio.Drivers.Mlx4.Mlx4FirmwareLayout;

namespace RoceUio.Drivers.Mlx4;

/// <summary>
/// What QUERY_DEV_CAP says that bring-up needs: ports, the RoCE v1_v2 capability, reserved and maximum object counts
/// and context entry sizes (the ICM profile is made from them), the largest ICM and the UAR size. Decoded as
/// fw.c <c>mlx4_QUERY_DEV_CAP</c> does: most counts are log2 fields (<c>1 &lt;&lt; (field &amp; mask)</c>).
/// </summary>
public sealed record Mlx4DevCap
{
    public int Ports { get; init; } = 2;
    public uint BmmeFlags { get; init; } = Mlx4Layout.BmmeFlagRoceV1V2;
    public int ReservedQps { get; init; } = 1 << 6;
    public int MaxQps { get; init; } = 1 << 17;
    public int ReservedSrqs { get; init; } = 1 << 6;
    public int MaxSrqs { get; init; } = 1 << 16;
    public int ReservedCqs { get; init; } = 1 << 7;
    public int MaxCqs { get; init; } = 1 << 16;
    public int MaxMpts { get; init; } = 1 << 17;
    public int ReservedEqs { get; init; } = 1 << 3;
    public int MaxEqs { get; init; } = 1 << 5;
    public int ReservedMtts { get; init; } = 1 << 4;
    public int ReservedMrws { get; init; } = 1 << 4;
    /// <summary>Plain counts, not logs: <c>reserved_uars = field &gt;&gt; 4</c>, <c>reserved_mgms = field &amp; 0xf</c>.</summary>
    public int ReservedUars { get; init; } = 1;
    public int ReservedMcgs { get; init; } = 0;
    public int MaxMcgs { get; init; } = 1 << 13;
    /// <summary><c>uar_size = 1 &lt;&lt; ((field &amp; 0x3f) + 20)</c>: BAR2 is this big.</summary>
    public long UarSize { get; init; } = 1 << 20;
    public int RdmarcEntrySize { get; init; } = 32;
    public int QpcEntrySize { get; init; } = 256;
    public int AuxEntrySize { get; init; } = 64;
    public int AltcEntrySize { get; init; } = 64;
    public int EqcEntrySize { get; init; } = 64;
    public int CqcEntrySize { get; init; } = 64;
    public int SrqEntrySize { get; init; } = 32;
    public int CmptEntrySize { get; init; } = 64;
    public int MttEntrySize { get; init; } = 8;
    public int DmptEntrySize { get; init; } = 64;
    public ulong MaxIcmSize { get; init; } = 1UL << 36;
    /// <summary>The port caps the outbox carries for command interface revision 2 (bytes 0x36, 0x37, 0x3b, 0x3f; from
    /// revision 3 on QUERY_PORT gives them per port and these bytes are not read).</summary>
    public Mlx4PortCap OldPortCap { get; init; } = new();

    public bool RoceV1V2 => (BmmeFlags & Mlx4Layout.BmmeFlagRoceV1V2) != 0;

    /// <summary>Reads a QUERY_DEV_CAP outbox.</summary>
    public static Mlx4DevCap Parse(ReadOnlySpan<byte> o) => new()
    {
        Ports = o[Mlx4Layout.QueryDevCapVlPort] & 0xf,
        BmmeFlags = BinaryPrimitives.ReadUInt32BigEndian(o[Mlx4Layout.QueryDevCapBmmeFlags..]),
        ReservedQps = 1 << (o[DevCapRsvdQp] & 0xf),
        MaxQps = 1 << (o[DevCapMaxQp] & 0x1f),
        ReservedSrqs = 1 << (o[DevCapRsvdSrq] >> 4),
        MaxSrqs = 1 << (o[DevCapMaxSrq] & 0x1f),
        ReservedCqs = 1 << (o[DevCapRsvdCq] & 0xf),
        MaxCqs = 1 << (o[DevCapMaxCq] & 0x1f),
        MaxMpts = 1 << (o[DevCapMaxMpt] & 0x3f),
        ReservedEqs = 1 << (o[DevCapRsvdEq] & 0xf),
        MaxEqs = 1 << (o[DevCapMaxEq] & 0xf),
        ReservedMtts = 1 << (o[DevCapRsvdMtt] >> 4),
        ReservedMrws = 1 << (o[DevCapRsvdMrw] & 0xf),
        ReservedUars = o[DevCapRsvdUar] >> 4,
        UarSize = 1L << ((o[DevCapUarSz] & 0x3f) + 20),
        ReservedMcgs = o[DevCapRsvdMcg] & 0xf,
        MaxMcgs = 1 << o[DevCapMaxMcg],
        RdmarcEntrySize = Be16(o, DevCapRdmarcEntrySz),
        QpcEntrySize = Be16(o, DevCapQpcEntrySz),
        AuxEntrySize = Be16(o, DevCapAuxEntrySz),
        AltcEntrySize = Be16(o, DevCapAltcEntrySz),
        EqcEntrySize = Be16(o, DevCapEqcEntrySz),
        CqcEntrySize = Be16(o, DevCapCqcEntrySz),
        SrqEntrySize = Be16(o, DevCapSrqEntrySz),
        CmptEntrySize = Be16(o, DevCapCmptEntrySz),
        MttEntrySize = Be16(o, DevCapMttEntrySz),
        DmptEntrySize = Be16(o, DevCapDmptEntrySz),
        MaxIcmSize = BinaryPrimitives.ReadUInt64BigEndian(o[DevCapMaxIcmSz..]),
        OldPortCap = Mlx4PortCap.ParseDevCap(o),
    };

    /// <summary>Writes the fields into an outbox (the device model's side); counts must be powers of two where the field is a log.</summary>
    public void WriteTo(Span<byte> o)
    {
        o[Mlx4Layout.QueryDevCapVlPort] = (byte)Ports;
        OldPortCap.WriteDevCap(o);
        BinaryPrimitives.WriteUInt32BigEndian(o[Mlx4Layout.QueryDevCapBmmeFlags..], BmmeFlags);
        o[DevCapRsvdQp] = Log(ReservedQps);
        o[DevCapMaxQp] = Log(MaxQps);
        o[DevCapRsvdSrq] = (byte)(Log(ReservedSrqs) << 4);
        o[DevCapMaxSrq] = Log(MaxSrqs);
        o[DevCapRsvdCq] = Log(ReservedCqs);
        o[DevCapMaxCq] = Log(MaxCqs);
        o[DevCapMaxMpt] = Log(MaxMpts);
        o[DevCapRsvdEq] = Log(ReservedEqs);
        o[DevCapMaxEq] = Log(MaxEqs);
        o[DevCapRsvdMtt] = (byte)(Log(ReservedMtts) << 4);
        o[DevCapRsvdMrw] = Log(ReservedMrws);
        o[DevCapRsvdUar] = (byte)(ReservedUars << 4);
        o[DevCapUarSz] = (byte)(BitOperations.Log2((ulong)UarSize) - 20);
        o[DevCapRsvdMcg] = (byte)ReservedMcgs;
        o[DevCapMaxMcg] = Log(MaxMcgs);
        BinaryPrimitives.WriteUInt16BigEndian(o[DevCapRdmarcEntrySz..], (ushort)RdmarcEntrySize);
        BinaryPrimitives.WriteUInt16BigEndian(o[DevCapQpcEntrySz..], (ushort)QpcEntrySize);
        BinaryPrimitives.WriteUInt16BigEndian(o[DevCapAuxEntrySz..], (ushort)AuxEntrySize);
        BinaryPrimitives.WriteUInt16BigEndian(o[DevCapAltcEntrySz..], (ushort)AltcEntrySize);
        BinaryPrimitives.WriteUInt16BigEndian(o[DevCapEqcEntrySz..], (ushort)EqcEntrySize);
        BinaryPrimitives.WriteUInt16BigEndian(o[DevCapCqcEntrySz..], (ushort)CqcEntrySize);
        BinaryPrimitives.WriteUInt16BigEndian(o[DevCapSrqEntrySz..], (ushort)SrqEntrySize);
        BinaryPrimitives.WriteUInt16BigEndian(o[DevCapCmptEntrySz..], (ushort)CmptEntrySize);
        BinaryPrimitives.WriteUInt16BigEndian(o[DevCapMttEntrySz..], (ushort)MttEntrySize);
        BinaryPrimitives.WriteUInt16BigEndian(o[DevCapDmptEntrySz..], (ushort)DmptEntrySize);
        BinaryPrimitives.WriteUInt64BigEndian(o[DevCapMaxIcmSz..], MaxIcmSize);
    }

    private static int Be16(ReadOnlySpan<byte> o, int off) => BinaryPrimitives.ReadUInt16BigEndian(o[off..]);

    private static byte Log(int powerOfTwo) => (byte)BitOperations.Log2((uint)powerOfTwo);
}

/// <summary>
/// One port's limits as mlx4_core keeps them (<c>struct mlx4_port_cap</c>, copied into <c>dev->caps</c> by main.c
/// <c>_mlx4_dev_port</c>: <c>vl_cap</c>, <c>ib_mtu_cap</c>, <c>port_width_cap</c>, <c>gid_table_len</c>,
/// <c>pkey_table_len</c>), which the revision-2 INIT_PORT mailbox gives back to the firmware. Encodings are the IB ones:
/// <see cref="MaxVl"/> 1 = VL0, 2 = VL0-1, 3 = VL0-3, 4 = VL0-7, 5 = VL0-14; <see cref="IbMtu"/> 1..5 = 256..4096
/// bytes (<c>128 &lt;&lt; ib_mtu</c>); <see cref="PortWidth"/> a mask of 1x (1), 4x (2), 8x (4), 12x (8). The defaults
/// are the model's ConnectX-3: VL0-7, 4096, 1x and 4x, 128 GIDs, 128 P_Keys.
/// </summary>
public sealed record Mlx4PortCap
{
    public int MaxVl { get; init; } = 4;
    public int IbMtu { get; init; } = 5;
    public int PortWidth { get; init; } = 3;
    public int MaxGids { get; init; } = Mlx4Layout.MaxPortGids;
    public int MaxPkeys { get; init; } = 128;

    /// <summary>The MTU in bytes, <c>128 &lt;&lt; ib_mtu_cap</c> (what INIT_PORT's mtu field carries).</summary>
    public int MtuBytes => 128 << IbMtu;

    /// <summary>fw.c mlx4_QUERY_PORT with <c>MLX4_FLAG_OLD_PORT_CMDS</c>: from a QUERY_DEV_CAP outbox.</summary>
    public static Mlx4PortCap ParseDevCap(ReadOnlySpan<byte> o) => new()
    {
        MaxVl = o[DevCapVlPort] >> 4,
        IbMtu = o[DevCapMtuWidth] >> 4,
        PortWidth = o[DevCapMtuWidth] & 0xf,
        MaxGids = 1 << (o[DevCapMaxGid] & 0xf),
        MaxPkeys = 1 << (o[DevCapMaxPkey] & 0xf),
    };

    /// <summary>fw.c mlx4_QUERY_PORT from revision 3 on: from a QUERY_PORT outbox.</summary>
    public static Mlx4PortCap ParseQueryPort(ReadOnlySpan<byte> o) => new()
    {
        MaxVl = o[QueryPortMaxVl] & 0xf,
        IbMtu = o[QueryPortIbMtu] & 0xf,
        PortWidth = o[QueryPortWidth] & 0xf,
        MaxGids = 1 << (o[QueryPortMaxGidPkey] >> 4),
        MaxPkeys = 1 << (o[QueryPortMaxGidPkey] & 0xf),
    };

    /// <summary>The model's side of <see cref="ParseDevCap"/> (the port count's nibble at 0x37 is left as it is).</summary>
    public void WriteDevCap(Span<byte> o)
    {
        o[DevCapVlPort] = (byte)((o[DevCapVlPort] & 0x0f) | (MaxVl & 0xf) << 4);
        o[DevCapMtuWidth] = (byte)((IbMtu & 0xf) << 4 | (PortWidth & 0xf));
        o[DevCapMaxGid] = (byte)BitOperations.Log2((uint)MaxGids);
        o[DevCapMaxPkey] = (byte)BitOperations.Log2((uint)MaxPkeys);
    }

    /// <summary>The model's side of <see cref="ParseQueryPort"/>.</summary>
    public void WriteQueryPort(Span<byte> o)
    {
        o[QueryPortIbMtu] = (byte)(IbMtu & 0xf);
        o[QueryPortWidth] = (byte)(PortWidth & 0xf);
        o[QueryPortMaxGidPkey] = (byte)(BitOperations.Log2((uint)MaxGids) << 4 | BitOperations.Log2((uint)MaxPkeys));
        o[QueryPortMaxVl] = (byte)(MaxVl & 0xf);
    }
}
