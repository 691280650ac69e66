using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace RoceUio.Gids;

/// <summary>
/// A 128-bit GID, the address by which a RoCE port is known on the wire
/// (<c>union ib_gid</c> in include/rdma/ib_verbs.h: <c>u8 raw[16]</c>, network byte order).
/// </summary>
/// <remarks>
/// Stored as two big-endian-read 64-bit halves so that equality and hashing are two compares.
/// Text forms:
/// <list type="bullet">
/// <item>"F" (the default): the sysfs form, <c>%pI6</c>: 8 groups of 4 lowercase hex digits,
/// e.g. <c>fe80:0000:0000:0000:268a:07ff:feaa:bbcc</c> (drivers/infiniband/core/sysfs.c show_port_gid).</item>
/// <item>"C": the compressed RFC 5952 form (<c>fe80::268a:7ff:feaa:bbcc</c>, <c>::ffff:192.0.2.1</c>).</item>
/// </list>
/// The zero GID is never a valid table entry (IB spec 4.1.1(6), cache.c __ib_cache_gid_add).
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = 16)]
public readonly struct Gid : IEquatable<Gid>, ISpanFormattable, ISpanParsable<Gid>
{
    /// <summary>Bytes 0..7, read big-endian (the subnet prefix).</summary>
    private readonly ulong _hi;
    /// <summary>Bytes 8..15, read big-endian (the interface id).</summary>
    private readonly ulong _lo;

    public const int Size = 16;
    /// <summary>Length of the sysfs form: 8 groups of 4 hex digits and 7 colons.</summary>
    public const int FullFormLength = 39;

    public static Gid Zero => default;

    /// <summary>fe80::/64, the link-local subnet prefix of default GIDs (cache.c make_default_gid).</summary>
    public const ulong LinkLocalPrefix = 0xfe80_0000_0000_0000UL;

    public Gid(ulong subnetPrefix, ulong interfaceId)
    {
        _hi = subnetPrefix;
        _lo = interfaceId;
    }

    public Gid(ReadOnlySpan<byte> raw)
    {
        if (raw.Length != Size)
            throw new ArgumentException($"a GID is {Size} bytes, got {raw.Length}", nameof(raw));
        _hi = BinaryPrimitives.ReadUInt64BigEndian(raw);
        _lo = BinaryPrimitives.ReadUInt64BigEndian(raw[8..]);
    }

    /// <summary>The subnet prefix, <c>global.subnet_prefix</c> in host order.</summary>
    public ulong SubnetPrefix => _hi;
    /// <summary>The interface id, <c>global.interface_id</c> in host order.</summary>
    public ulong InterfaceId => _lo;

    public bool IsZero => (_hi | _lo) == 0;

    /// <summary>True for <c>::ffff:a.b.c.d</c> (<c>ipv6_addr_v4mapped</c>).</summary>
    public bool IsIPv4Mapped => _hi == 0 && (_lo >> 32) == 0x0000_ffffUL;

    /// <summary>True for fe80::/10 (a link-local address, as default GIDs are).</summary>
    public bool IsLinkLocal => (_hi >> 54) == (0xfe80UL >> 6);

    /// <summary>Writes the 16 raw bytes, network order, into <paramref name="destination"/>.</summary>
    public void WriteBytes(Span<byte> destination)
    {
        if (destination.Length < Size)
            throw new ArgumentException($"a GID needs {Size} bytes, the destination has {destination.Length}", nameof(destination));
        BinaryPrimitives.WriteUInt64BigEndian(destination, _hi);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _lo);
    }

    public byte[] ToByteArray()
    {
        var b = new byte[Size];
        WriteBytes(b);
        return b;
    }

    // ---- from and to IP addresses (include/rdma/ib_addr.h rdma_ip2gid / rdma_gid2ip) ----

    /// <summary><c>::ffff:a.b.c.d</c>: bytes 10..11 are ff ff, 12..15 the address in network order.</summary>
    public static Gid FromIPv4(ReadOnlySpan<byte> address)
    {
        if (address.Length != 4)
            throw new ArgumentException($"an IPv4 address is 4 bytes, got {address.Length}", nameof(address));
        return new Gid(0, 0x0000_ffff_0000_0000UL | BinaryPrimitives.ReadUInt32BigEndian(address));
    }

    /// <summary>An IPv6 address is its own GID.</summary>
    public static Gid FromIPv6(ReadOnlySpan<byte> address)
    {
        if (address.Length != Size)
            throw new ArgumentException($"an IPv6 address is 16 bytes, got {address.Length}", nameof(address));
        return new Gid(address);
    }

    /// <summary>As <c>rdma_ip2gid</c>: IPv4 becomes v4-mapped, IPv6 is copied, other families are refused.</summary>
    public static Gid FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> b = stackalloc byte[Size];
        if (!address.TryWriteBytes(b, out int n))
            throw new ArgumentException($"cannot read address {address}", nameof(address));
        return address.AddressFamily switch
        {
            AddressFamily.InterNetwork => FromIPv4(b[..n]),
            AddressFamily.InterNetworkV6 => FromIPv6(b[..n]),
            _ => throw new ArgumentException($"address family {address.AddressFamily} has no GID (rdma_ip2gid: -EINVAL)", nameof(address)),
        };
    }

    /// <summary>As <c>rdma_gid2ip</c>: a v4-mapped GID gives the IPv4 address, any other the IPv6 address.</summary>
    public IPAddress ToIPAddress()
    {
        Span<byte> b = stackalloc byte[Size];
        WriteBytes(b);
        return IsIPv4Mapped ? new IPAddress(b[12..]) : new IPAddress(b);
    }

    // ---- default GID (cache.c make_default_gid, include/net/addrconf.h addrconf_ifid_eui48) ----

    /// <summary>
    /// The default GID of a netdev: fe80::/64 plus the EUI-64 interface id from its MAC and <c>dev_id</c>,
    /// exactly as <c>addrconf_ifid_eui48</c>: with dev_id 0 insert ff:fe and flip the U/L bit (0x02 of byte 0);
    /// with a non-zero dev_id insert its two bytes (high first) and do not flip.
    /// A hardware address that is not 6 bytes gives <c>fe80::</c> (the current kernel zero-initialises the id).
    /// </summary>
    public static Gid DefaultFromMac(ReadOnlySpan<byte> mac, ushort devId = 0)
    {
        if (mac.Length != 6)
            return new Gid(LinkLocalPrefix, 0);
        Span<byte> eui = stackalloc byte[8];
        mac[..3].CopyTo(eui);
        mac[3..].CopyTo(eui[5..]);
        if (devId != 0)
        {
            eui[3] = (byte)(devId >> 8);
            eui[4] = (byte)devId;
        }
        else
        {
            eui[3] = 0xff;
            eui[4] = 0xfe;
            eui[0] ^= 0x02;
        }
        return new Gid(LinkLocalPrefix, BinaryPrimitives.ReadUInt64BigEndian(eui));
    }

    // ---- equality ----

    public bool Equals(Gid other) => _hi == other._hi && _lo == other._lo;
    public override bool Equals([NotNullWhen(true)] object? obj) => obj is Gid g && Equals(g);
    public override int GetHashCode() => HashCode.Combine(_hi, _lo);
    public static bool operator ==(Gid a, Gid b) => a.Equals(b);
    public static bool operator !=(Gid a, Gid b) => !a.Equals(b);

    // ---- formatting ----

    /// <summary>The sysfs form (<c>%pI6</c>).</summary>
    public override string ToString() => ToString("F", null);

    /// <summary>The compressed RFC 5952 form.</summary>
    public string ToCompressedString() => ToString("C", null);

    public string ToString(string? format, IFormatProvider? formatProvider)
    {
        Span<char> buf = stackalloc char[FullFormLength + 8];
        if (!TryFormat(buf, out int n, format, formatProvider))
            throw new FormatException($"unknown GID format '{format}': use F (sysfs) or C (compressed)");
        return new string(buf[..n]);
    }

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format = default, IFormatProvider? provider = null)
    {
        if (format.IsEmpty || format.SequenceEqual("F"))
            return TryFormatFull(destination, out charsWritten);
        if (format.SequenceEqual("C"))
            return TryFormatCompressed(destination, out charsWritten);
        charsWritten = 0;
        return false;
    }

    private ushort Group(int i) => (ushort)((i < 4 ? _hi : _lo) >> (48 - 16 * (i & 3)));

    private bool TryFormatFull(Span<char> d, out int written)
    {
        written = 0;
        if (d.Length < FullFormLength)
            return false;
        int p = 0;
        for (int i = 0; i < 8; i++)
        {
            if (i > 0)
                d[p++] = ':';
            ushort g = Group(i);
            for (int s = 12; s >= 0; s -= 4)
                d[p++] = "0123456789abcdef"[(g >> s) & 0xf];
        }
        written = p;
        return true;
    }

    private bool TryFormatCompressed(Span<char> d, out int written)
    {
        written = 0;
        // RFC 5952 5: an IPv4-mapped address is written ::ffff:a.b.c.d.
        if (IsIPv4Mapped)
        {
            uint v4 = (uint)_lo;
            return d.TryWrite($"::ffff:{v4 >> 24}.{(v4 >> 16) & 0xff}.{(v4 >> 8) & 0xff}.{v4 & 0xff}", out written);
        }
        // RFC 5952 4.2: compress the longest run of two or more zero groups, the first one on a tie.
        int bestStart = -1, bestLen = 1;
        for (int i = 0; i < 8;)
        {
            if (Group(i) != 0) { i++; continue; }
            int j = i;
            while (j < 8 && Group(j) == 0) j++;
            if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
            i = j;
        }
        int p = 0;
        for (int i = 0; i < 8; i++)
        {
            if (i == bestStart)
            {
                if (p + 2 > d.Length) return false;
                d[p++] = ':';
                d[p++] = ':';
                i += bestLen - 1;
                continue;
            }
            if (i > 0 && i != bestStart + bestLen)
            {
                if (p + 1 > d.Length) return false;
                d[p++] = ':';
            }
            if (!Group(i).TryFormat(d[p..], out int n, "x"))
                return false;
            p += n;
        }
        written = p;
        return true;
    }

    // ---- parsing ----

    public static Gid Parse(string s) => Parse(s.AsSpan(), null);
    public static Gid Parse(string s, IFormatProvider? provider) => Parse(s.AsSpan(), provider);

    public static Gid Parse(ReadOnlySpan<char> s, IFormatProvider? provider = null)
    {
        if (TryParseCore(s, out Gid g, out string? error))
            return g;
        throw new FormatException($"'{s}' is not a GID: {error}");
    }

    public static bool TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out Gid result)
        => TryParse(s.AsSpan(), provider, out result);

    public static bool TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, out Gid result)
        => TryParseCore(s, out result, out _);

    public static bool TryParse(ReadOnlySpan<char> s, out Gid result) => TryParseCore(s, out result, out _);

    /// <summary>
    /// Accepts IPv6 text: the full sysfs form, any compressed form with at most one "::",
    /// and a trailing dotted IPv4 quad (<c>::ffff:192.0.2.1</c>). Whitespace and a trailing
    /// newline (as read from sysfs) are trimmed.
    /// </summary>
    private static bool TryParseCore(ReadOnlySpan<char> s, out Gid result, out string? error)
    {
        result = default;
        s = s.Trim();
        Span<ushort> groups = stackalloc ushort[8];
        int count = 0, gap = -1, pos = 0;
        if (s.IsEmpty) { error = "empty text"; return false; }
        if (s.StartsWith("::"))
        {
            gap = 0;
            pos = 2;
            if (pos == s.Length) { result = default; error = null; return true; }
        }
        else if (s[0] == ':') { error = "a single leading ':'"; return false; }

        while (pos < s.Length)
        {
            int end = pos;
            while (end < s.Length && s[end] != ':') end++;
            ReadOnlySpan<char> part = s[pos..end];
            if (part.IsEmpty)
            {
                // "::" in the middle or at the end.
                if (gap >= 0) { error = "more than one '::'"; return false; }
                gap = count;
                pos = end + 1;
                if (pos == s.Length) break;
                continue;
            }
            if (part.Contains('.'))
            {
                if (end != s.Length) { error = $"an IPv4 part '{part}' that is not last"; return false; }
                if (count > 6) { error = "too many groups before the IPv4 part"; return false; }
                if (!TryParseDottedQuad(part, out uint v4)) { error = $"'{part}' is not a dotted IPv4 address"; return false; }
                groups[count++] = (ushort)(v4 >> 16);
                groups[count++] = (ushort)v4;
                pos = end;
                break;
            }
            if (count == 8) { error = "more than 8 groups"; return false; }
            if (part.Length > 4) { error = $"group {count + 1} '{part}' has more than 4 hex digits"; return false; }
            if (!ushort.TryParse(part, System.Globalization.NumberStyles.AllowHexSpecifier, null, out ushort v))
            { error = $"group {count + 1} '{part}' is not hexadecimal"; return false; }
            groups[count++] = v;
            if (end == s.Length) { pos = end; break; }
            pos = end + 1;
            if (pos == s.Length) { error = "a trailing single ':'"; return false; }
        }

        if (gap < 0 && count != 8) { error = $"{count} groups where 8 are needed (or use '::')"; return false; }
        if (gap >= 0 && count > 7) { error = "'::' with 8 groups already"; return false; }

        Span<byte> raw = stackalloc byte[Size];
        int tail = gap < 0 ? 0 : count - gap;
        for (int i = 0; i < count; i++)
        {
            int slot = gap >= 0 && i >= gap ? 8 - tail + (i - gap) : i;
            BinaryPrimitives.WriteUInt16BigEndian(raw[(2 * slot)..], groups[i]);
        }
        result = new Gid(raw);
        error = null;
        return true;
    }

    private static bool TryParseDottedQuad(ReadOnlySpan<char> s, out uint value)
    {
        value = 0;
        int octets = 0;
        foreach (Range r in s.Split('.'))
        {
            ReadOnlySpan<char> o = s[r];
            if (o.IsEmpty || o.Length > 3 || !byte.TryParse(o, System.Globalization.NumberStyles.None, null, out byte b))
                return false;
            value = (value << 8) | b;
            octets++;
        }
        return octets == 4;
    }
}
