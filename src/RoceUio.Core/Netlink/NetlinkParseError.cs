namespace RoceUio.Netlink;

/// <summary>Why a netlink message or attribute was rejected.</summary>
public enum NetlinkParseError : byte
{
    None = 0,
    /// <summary>Fewer bytes left than a nlmsghdr, or nlmsg_len below 16 or beyond the buffer.</summary>
    BadMessageLength,
    /// <summary>The payload is shorter than the family header (ifinfomsg/ifaddrmsg).</summary>
    ShortFamilyHeader,
    /// <summary>An rtattr whose rta_len is below 4 or runs past the message.</summary>
    BadAttributeLength,
    /// <summary>A known attribute whose payload size is not the size its type requires.</summary>
    BadAttributeSize,
    /// <summary>A string attribute without its terminating NUL.</summary>
    UnterminatedString,
    /// <summary>An address attribute whose size does not match the message's address family.</summary>
    AddressFamilyMismatch,
    /// <summary>An ifindex of 0 or below where a device is required.</summary>
    InvalidIfindex,
}

/// <summary>A rejected message: the reason and the byte offset of the offending field within the message.</summary>
public readonly record struct NetlinkParseFailure(NetlinkParseError Error, int Offset)
{
    public static NetlinkParseFailure None => default;
    public bool IsError => Error != NetlinkParseError.None;
    public override string ToString() => $"{Error} at offset {Offset}";
}
