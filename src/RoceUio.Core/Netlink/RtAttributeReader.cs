using System.Buffers.Binary;

namespace RoceUio.Netlink;

/// <summary>One rtattr/nlattr: its type (NLA_TYPE_MASK applied), whether NLA_F_NESTED was set, and its payload.</summary>
public readonly ref struct RtAttribute
{
    public ushort Type { get; }
    public bool NestedFlag { get; }
    public ReadOnlySpan<byte> Payload { get; }
    /// <summary>Offset of the attribute header relative to the start of the span the reader walks.</summary>
    public int Offset { get; }

    public RtAttribute(ushort type, bool nested, ReadOnlySpan<byte> payload, int offset)
    {
        Type = type;
        NestedFlag = nested;
        Payload = payload;
        Offset = offset;
    }

    public bool TryGetU8(out byte value)
    {
        value = Payload.Length == 1 ? Payload[0] : (byte)0;
        return Payload.Length == 1;
    }

    public bool TryGetU16(out ushort value)
    {
        bool ok = Payload.Length == 2;
        value = ok ? BinaryPrimitives.ReadUInt16LittleEndian(Payload) : (ushort)0;
        return ok;
    }

    public bool TryGetU32(out uint value)
    {
        bool ok = Payload.Length == 4;
        value = ok ? BinaryPrimitives.ReadUInt32LittleEndian(Payload) : 0;
        return ok;
    }

    public bool TryGetS32(out int value)
    {
        bool ok = Payload.Length == 4;
        value = ok ? BinaryPrimitives.ReadInt32LittleEndian(Payload) : 0;
        return ok;
    }

    /// <summary>A NUL-terminated string (NLA_NUL_STRING): the bytes before the first NUL; false without a NUL.</summary>
    public bool TryGetString(out ReadOnlySpan<byte> value)
    {
        int nul = Payload.IndexOf((byte)0);
        value = nul >= 0 ? Payload[..nul] : default;
        return nul >= 0;
    }

    /// <summary>A reader over this attribute's payload as nested attributes.</summary>
    public RtAttributeReader Nested() => new(Payload);
}

/// <summary>
/// Walks the attributes of a message or of a nested attribute (RTA_OK/RTA_NEXT): rta_len must be at least 4 and fit in
/// what is left; the last attribute may lack its padding. A bad length stops the walk and sets <see cref="Failure"/>.
/// </summary>
public ref struct RtAttributeReader
{
    private readonly ReadOnlySpan<byte> _span;
    private int _offset;

    public RtAttributeReader(ReadOnlySpan<byte> span)
    {
        _span = span;
        _offset = 0;
        Failure = default;
    }

    public NetlinkParseFailure Failure { get; private set; }

    public bool TryRead(out RtAttribute attribute)
    {
        attribute = default;
        if (Failure.IsError || _offset >= _span.Length)
            return false;
        int left = _span.Length - _offset;
        if (left < RtAttr.Size)
            return Fail();
        ushort len = BinaryPrimitives.ReadUInt16LittleEndian(_span[_offset..]);
        ushort rawType = BinaryPrimitives.ReadUInt16LittleEndian(_span[(_offset + RtAttr.OffsetType)..]);
        if (len < RtAttr.Size || len > left)
            return Fail();
        attribute = new RtAttribute((ushort)(rawType & RtAttr.TypeMask), (rawType & RtAttr.NLA_F_NESTED) != 0,
            _span.Slice(_offset + RtAttr.Size, len - RtAttr.Size), _offset);
        _offset = Math.Min(_span.Length, _offset + NlMsgHdr.Align(len));
        return true;
    }

    private bool Fail()
    {
        Failure = new NetlinkParseFailure(NetlinkParseError.BadAttributeLength, _offset);
        return false;
    }
}
