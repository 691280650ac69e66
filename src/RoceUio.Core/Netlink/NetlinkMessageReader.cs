using System.Buffers.Binary;

namespace RoceUio.Netlink;

/// <summary>
/// Walks the nlmsghdr-framed messages of a datagram or capture file (NLMSG_OK/NLMSG_NEXT in netlink.h).
/// Every nlmsg_len is checked against the bytes left; a bad one stops the walk (framing is lost) and is reported in
/// <see cref="Failure"/>. The last message may lack its alignment padding. Allocation-free.
/// </summary>
public ref struct NetlinkMessageReader
{
    private readonly ReadOnlySpan<byte> _buffer;
    private int _offset;

    public NetlinkMessageReader(ReadOnlySpan<byte> buffer)
    {
        _buffer = buffer;
        _offset = 0;
        Failure = default;
    }

    /// <summary>Offset of the next message.</summary>
    public readonly int Offset => _offset;
    /// <summary>Set when the walk stopped on a malformed header; Offset is where that header starts.</summary>
    public NetlinkParseFailure Failure { get; private set; }
    /// <summary>True when every byte was consumed without a framing error.</summary>
    public readonly bool IsComplete => !Failure.IsError && _offset >= _buffer.Length;

    /// <summary>Reads the next message; false at the end or on a framing error (see <see cref="Failure"/>).</summary>
    public bool TryRead(out NetlinkMessage message)
    {
        message = default;
        if (Failure.IsError || _offset >= _buffer.Length)
            return false;
        int left = _buffer.Length - _offset;
        if (left < NlMsgHdr.Size)
            return Fail(_offset);
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(_buffer[_offset..]);
        if (len < NlMsgHdr.Size || len > (uint)left)
            return Fail(_offset);
        message = new NetlinkMessage(_buffer.Slice(_offset, (int)len), _offset);
        _offset = Math.Min(_buffer.Length, _offset + NlMsgHdr.Align((int)len));
        return true;
    }

    private bool Fail(int offset)
    {
        Failure = new NetlinkParseFailure(NetlinkParseError.BadMessageLength, offset);
        return false;
    }
}
