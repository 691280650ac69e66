using System.Buffers.Binary;

namespace RoceUio.Netlink;

/// <summary>
/// One netlink message: a view of its nlmsghdr fields and its payload (the bytes after the 16-byte header, up to
/// nlmsg_len, padding excluded). Produced by <see cref="NetlinkMessageReader"/>; valid as long as the buffer is.
/// </summary>
public readonly ref struct NetlinkMessage
{
    /// <summary>The whole message, header included, nlmsg_len bytes.</summary>
    public ReadOnlySpan<byte> Bytes { get; }
    /// <summary>Offset of the message in the buffer (datagram or capture file) it was read from.</summary>
    public int Offset { get; }

    public NetlinkMessage(ReadOnlySpan<byte> bytes, int offset)
    {
        Bytes = bytes;
        Offset = offset;
    }

    public int Length => Bytes.Length;
    public ushort Type => BinaryPrimitives.ReadUInt16LittleEndian(Bytes[NlMsgHdr.OffsetType..]);
    public ushort Flags => BinaryPrimitives.ReadUInt16LittleEndian(Bytes[NlMsgHdr.OffsetFlags..]);
    public uint Sequence => BinaryPrimitives.ReadUInt32LittleEndian(Bytes[NlMsgHdr.OffsetSeq..]);
    public uint PortId => BinaryPrimitives.ReadUInt32LittleEndian(Bytes[NlMsgHdr.OffsetPid..]);
    public ReadOnlySpan<byte> Payload => Bytes[NlMsgHdr.Size..];
    public bool IsDumpInterrupted => (Flags & NlMsgFlags.NLM_F_DUMP_INTR) != 0;

    /// <summary>
    /// For NLMSG_ERROR and NLMSG_DONE: the s32 error at the start of the payload (0 = ACK or success, else -errno).
    /// False when the payload is too short to hold it.
    /// </summary>
    public bool TryGetError(out int error)
    {
        if (Payload.Length < 4) { error = 0; return false; }
        error = BinaryPrimitives.ReadInt32LittleEndian(Payload);
        return true;
    }
}
