using System.Buffers.Binary;
using System.Net;

namespace RoceUio.Netlink;

/// <summary>
/// An IP address of a netdev as the cache keeps it: the ifaddrmsg header fields, IFA_FLAGS, and the IFA_ADDRESS and
/// IFA_LOCAL values (stored as 128-bit big-endian numbers so the struct is small, comparable and allocation-free).
/// Identity (<see cref="SameKey"/>): family, address, local and prefix length, like the kernel's
/// find_matching_ifa (IPv4) and the unique address of an inet6_ifaddr.
/// </summary>
public readonly struct NetdevAddress : IEquatable<NetdevAddress>
{
    private readonly UInt128 _address;
    private readonly UInt128 _local;
    private readonly bool _hasLocal;
    private readonly bool _hasAddress;

    public int Ifindex { get; }
    /// <summary>AF_INET (2) or AF_INET6 (10).</summary>
    public byte Family { get; }
    public byte PrefixLength { get; }
    public byte Scope { get; }
    /// <summary>IFA_F_* flags (IFA_FLAGS, or ifa_flags without it).</summary>
    public uint Flags { get; }

    public NetdevAddress(int ifIndex, byte family, byte prefixLength, byte scope, uint flags,
                         ReadOnlySpan<byte> address, ReadOnlySpan<byte> local)
    {
        int size = family == AddressFamilies.AF_INET ? 4 : 16;
        if ((!address.IsEmpty && address.Length != size) || (!local.IsEmpty && local.Length != size))
            throw new ArgumentException($"address family {family} needs {size}-byte addresses");
        Ifindex = ifIndex;
        Family = family;
        PrefixLength = prefixLength;
        Scope = scope;
        Flags = flags;
        _hasAddress = !address.IsEmpty;
        _hasLocal = !local.IsEmpty;
        _address = Pack(address);
        _local = Pack(local);
    }

    public bool IsIPv4 => Family == AddressFamilies.AF_INET;
    public bool IsIPv6 => Family == AddressFamilies.AF_INET6;
    public int ByteLength => IsIPv4 ? 4 : 16;
    public bool IsTentative => (Flags & IfaFlags.IFA_F_TENTATIVE) != 0;
    public bool HasLocal => _hasLocal;
    public bool HasAddress => _hasAddress;

    /// <summary>
    /// The address the kernel's RoCE code turns into a GID (roce_gid_mgmt.c): for IPv4 <c>ifa->ifa_address</c>, which
    /// is IFA_ADDRESS; for IPv6 <c>ifp->addr</c>, which is IFA_LOCAL when a peer was set and IFA_ADDRESS otherwise
    /// (addrconf.c inet6_fill_ifaddr). Writes <see cref="ByteLength"/> bytes.
    /// </summary>
    public void CopyRoceAddressTo(Span<byte> destination)
        => Unpack(IsIPv6 && _hasLocal ? _local : (_hasAddress ? _address : _local), destination[..ByteLength]);

    /// <summary>IFA_ADDRESS (or IFA_LOCAL when only that was sent).</summary>
    public void CopyAddressTo(Span<byte> destination) => Unpack(_hasAddress ? _address : _local, destination[..ByteLength]);

    public IPAddress ToIPAddress()
    {
        Span<byte> b = stackalloc byte[16];
        CopyRoceAddressTo(b);
        return new IPAddress(b[..ByteLength]);
    }

    /// <summary>Same address identity (family, IFA_ADDRESS, IFA_LOCAL, prefix), whatever the flags and scope.</summary>
    public bool SameKey(in NetdevAddress o)
        => Ifindex == o.Ifindex && Family == o.Family && PrefixLength == o.PrefixLength && _address == o._address
           && _local == o._local && _hasAddress == o._hasAddress && _hasLocal == o._hasLocal;

    public bool Equals(NetdevAddress o) => SameKey(o) && Flags == o.Flags && Scope == o.Scope;
    public override bool Equals(object? obj) => obj is NetdevAddress a && Equals(a);
    public override int GetHashCode() => HashCode.Combine(Ifindex, Family, PrefixLength, _address, _local, Flags);
    public static bool operator ==(NetdevAddress a, NetdevAddress b) => a.Equals(b);
    public static bool operator !=(NetdevAddress a, NetdevAddress b) => !a.Equals(b);

    public override string ToString() => $"{ToIPAddress()}/{PrefixLength} if{Ifindex} flags 0x{Flags:x}";

    private static UInt128 Pack(ReadOnlySpan<byte> b)
    {
        Span<byte> buf = stackalloc byte[16];
        buf.Clear();
        b.CopyTo(buf);
        return BinaryPrimitives.ReadUInt128BigEndian(buf);
    }

    private static void Unpack(UInt128 v, Span<byte> destination)
    {
        Span<byte> buf = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(buf, v);
        buf[..destination.Length].CopyTo(destination);
    }
}
