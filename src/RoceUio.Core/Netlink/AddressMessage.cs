using System.Buffers.Binary;

namespace RoceUio.Netlink;

/// <summary>
/// An RTM_NEWADDR/RTM_DELADDR message: struct ifaddrmsg (if_addr.h) plus IFA_ADDRESS, IFA_LOCAL and IFA_FLAGS.
/// Only AF_INET and AF_INET6 are parsed (<see cref="IsIp"/>); address sizes must match the family (4 or 16).
/// </summary>
public ref struct AddressMessage
{
    public ushort MessageType;
    public byte Family;
    public byte PrefixLength;
    /// <summary>IFA_FLAGS when present (u32), else the u8 ifa_flags (if_addr.h: IFA_FLAGS supersedes ifa_flags).</summary>
    public uint Flags;
    public byte Scope;
    public int Ifindex;
    /// <summary>IFA_ADDRESS: the address; on point-to-point links the peer (if_addr.h comment).</summary>
    public ReadOnlySpan<byte> Address;
    /// <summary>IFA_LOCAL: the local address; present for IPv4 always, for IPv6 only with a peer.</summary>
    public ReadOnlySpan<byte> Local;

    public readonly bool IsDelete => MessageType == NlMsgType.RTM_DELADDR;
    public readonly bool IsIp => Family is AddressFamilies.AF_INET or AddressFamilies.AF_INET6;

    public static bool TryParse(in NetlinkMessage message, out AddressMessage addr, out NetlinkParseFailure failure)
    {
        addr = default;
        addr.MessageType = message.Type;
        ReadOnlySpan<byte> p = message.Payload;
        if (p.Length < IfAddrMsg.Size)
            return Fail(out failure, NetlinkParseError.ShortFamilyHeader, NlMsgHdr.Size);
        addr.Family = p[IfAddrMsg.OffsetFamily];
        addr.PrefixLength = p[IfAddrMsg.OffsetPrefixLen];
        addr.Flags = p[IfAddrMsg.OffsetFlags];
        addr.Scope = p[IfAddrMsg.OffsetScope];
        addr.Ifindex = (int)BinaryPrimitives.ReadUInt32LittleEndian(p[IfAddrMsg.OffsetIndex..]);
        int size = addr.Family switch { AddressFamilies.AF_INET => 4, AddressFamilies.AF_INET6 => 16, _ => -1 };
        const int attrBase = NlMsgHdr.Size + IfAddrMsg.Size;
        var reader = new RtAttributeReader(p[IfAddrMsg.Size..]);
        while (reader.TryRead(out RtAttribute a))
        {
            int at = attrBase + a.Offset;
            switch (a.Type)
            {
                case Ifa.IFA_ADDRESS:
                case Ifa.IFA_LOCAL:
                    if (size > 0 && a.Payload.Length != size)
                        return Fail(out failure, NetlinkParseError.AddressFamilyMismatch, at);
                    if (a.Type == Ifa.IFA_ADDRESS) addr.Address = a.Payload; else addr.Local = a.Payload;
                    break;
                case Ifa.IFA_FLAGS:
                    if (!a.TryGetU32(out addr.Flags))
                        return Fail(out failure, NetlinkParseError.BadAttributeSize, at);
                    break;
            }
        }
        if (reader.Failure.IsError)
            return Fail(out failure, reader.Failure.Error, attrBase + reader.Failure.Offset);
        if (size > 0 && addr.Address.IsEmpty && addr.Local.IsEmpty)
            return Fail(out failure, NetlinkParseError.AddressFamilyMismatch, attrBase);
        if (size > 0 && addr.PrefixLength > size * 8)
            return Fail(out failure, NetlinkParseError.BadAttributeSize, NlMsgHdr.Size + IfAddrMsg.OffsetPrefixLen);
        failure = default;
        return true;
    }

    private static bool Fail(out NetlinkParseFailure failure, NetlinkParseError error, int offset)
    {
        failure = new NetlinkParseFailure(error, offset);
        return false;
    }
}
