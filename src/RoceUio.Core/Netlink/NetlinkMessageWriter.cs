using System.Buffers.Binary;
using System.Text;

namespace RoceUio.Netlink;

/// <summary>
/// Builds netlink messages into a growing buffer: a header, a family header, attributes (padded to 4 bytes, rta_len
/// unpadded, like nla_put) and nested attributes (nla_nest_start/nla_nest_end). Used by tests and replay to make the
/// messages this kernel cannot produce (vlan, bond), and for requests. Not for the hot path.
/// </summary>
public sealed class NetlinkMessageWriter
{
    private byte[] _buf = new byte[4096];
    private int _len;
    private int _msgStart = -1;
    private readonly Stack<int> _nests = new();

    /// <summary>The messages written so far, back to back.</summary>
    public ReadOnlySpan<byte> Written => _buf.AsSpan(0, _len);
    public byte[] ToArray() => Written.ToArray();
    public void Clear() { _len = 0; _msgStart = -1; _nests.Clear(); }

    public void BeginMessage(ushort type, ushort flags = 0, uint seq = 0, uint pid = 0)
    {
        if (_msgStart >= 0) throw new InvalidOperationException("EndMessage first");
        _msgStart = _len;
        Span<byte> h = Reserve(NlMsgHdr.Size);
        BinaryPrimitives.WriteUInt16LittleEndian(h[NlMsgHdr.OffsetType..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(h[NlMsgHdr.OffsetFlags..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(h[NlMsgHdr.OffsetSeq..], seq);
        BinaryPrimitives.WriteUInt32LittleEndian(h[NlMsgHdr.OffsetPid..], pid);
    }

    public void WriteIfInfoMsg(byte family, ushort arphrdType, int ifIndex, uint flags, uint change)
    {
        Span<byte> p = Reserve(IfInfoMsg.Size);
        p[IfInfoMsg.OffsetFamily] = family;
        BinaryPrimitives.WriteUInt16LittleEndian(p[IfInfoMsg.OffsetType..], arphrdType);
        BinaryPrimitives.WriteInt32LittleEndian(p[IfInfoMsg.OffsetIndex..], ifIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(p[IfInfoMsg.OffsetFlags..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(p[IfInfoMsg.OffsetChange..], change);
    }

    public void WriteIfAddrMsg(byte family, byte prefixLength, byte flags, byte scope, int ifIndex)
    {
        Span<byte> p = Reserve(IfAddrMsg.Size);
        p[IfAddrMsg.OffsetFamily] = family;
        p[IfAddrMsg.OffsetPrefixLen] = prefixLength;
        p[IfAddrMsg.OffsetFlags] = flags;
        p[IfAddrMsg.OffsetScope] = scope;
        BinaryPrimitives.WriteInt32LittleEndian(p[IfAddrMsg.OffsetIndex..], ifIndex);
    }

    /// <summary>Raw bytes in the payload (a family header this class does not know).</summary>
    public void WriteBytes(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Reserve(bytes.Length));

    public void PutAttribute(ushort type, ReadOnlySpan<byte> payload)
    {
        int len = RtAttr.Size + payload.Length;
        if (len > ushort.MaxValue) throw new ArgumentException("attribute too long", nameof(payload));
        Span<byte> a = Reserve(NlMsgHdr.Align(len));
        BinaryPrimitives.WriteUInt16LittleEndian(a, (ushort)len);
        BinaryPrimitives.WriteUInt16LittleEndian(a[RtAttr.OffsetType..], type);
        payload.CopyTo(a[RtAttr.Size..]);
    }

    public void PutU8(ushort type, byte v) => PutAttribute(type, [v]);
    public void PutU16(ushort type, ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); PutAttribute(type, b); }
    public void PutU32(ushort type, uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); PutAttribute(type, b); }
    public void PutS32(ushort type, int v) => PutU32(type, (uint)v);

    /// <summary>A NUL-terminated string (nla_put_string).</summary>
    public void PutString(ushort type, string s)
    {
        byte[] b = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, b);
        PutAttribute(type, b);
    }

    /// <summary>Starts a nested attribute (nla_nest_start: the kernel does not set NLA_F_NESTED in rtnl_fill_ifinfo).</summary>
    public void BeginNested(ushort type)
    {
        _nests.Push(_len);
        Span<byte> a = Reserve(RtAttr.Size);
        BinaryPrimitives.WriteUInt16LittleEndian(a[RtAttr.OffsetType..], type);
    }

    public void EndNested()
    {
        int start = _nests.Pop();
        BinaryPrimitives.WriteUInt16LittleEndian(_buf.AsSpan(start), checked((ushort)(_len - start)));
    }

    /// <summary>Sets nlmsg_len. Returns the finished message.</summary>
    public ReadOnlySpan<byte> EndMessage()
    {
        if (_msgStart < 0 || _nests.Count != 0) throw new InvalidOperationException("no open message, or an open nest");
        int start = _msgStart;
        BinaryPrimitives.WriteUInt32LittleEndian(_buf.AsSpan(start), (uint)(_len - start));
        _msgStart = -1;
        return _buf.AsSpan(start, _len - start);
    }

    private Span<byte> Reserve(int n)
    {
        if (_len + n > _buf.Length)
            Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _len + n));
        Span<byte> s = _buf.AsSpan(_len, n);
        s.Clear();
        _len += n;
        return s;
    }
}
