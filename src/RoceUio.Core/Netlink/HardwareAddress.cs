using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace RoceUio.Netlink;

/// <summary>
/// A link-layer address as IFLA_ADDRESS carries it (MAX_ADDR_LEN = 32 in include/linux/netdevice.h; 6 for Ethernet).
/// A value type so that change events can carry the previous MAC without allocating.
/// </summary>
public readonly struct HardwareAddress : IEquatable<HardwareAddress>
{
    public const int MaxLength = 32;

    [InlineArray(MaxLength)]
    private struct Buffer { private byte _b; }

    private readonly Buffer _bytes;
    private readonly byte _length;

    public HardwareAddress(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > MaxLength)
            throw new ArgumentException($"a hardware address is at most {MaxLength} bytes, got {bytes.Length}", nameof(bytes));
        bytes.CopyTo(_bytes);
        _length = (byte)bytes.Length;
    }

    public int Length => _length;
    public bool IsEmpty => _length == 0;

    /// <summary>The address bytes (use on a variable, not on a temporary).</summary>
    [UnscopedRef]
    public ReadOnlySpan<byte> Bytes => ((ReadOnlySpan<byte>)_bytes)[.._length];

    public void CopyTo(Span<byte> destination) => Bytes.CopyTo(destination);
    public byte[] ToArray() => Bytes.ToArray();

    public bool Equals(ReadOnlySpan<byte> other) => Bytes.SequenceEqual(other);
    public bool Equals(HardwareAddress other) => Bytes.SequenceEqual(other.Bytes);
    public override bool Equals(object? obj) => obj is HardwareAddress h && Equals(h);
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.AddBytes(Bytes);
        return h.ToHashCode();
    }

    public static bool operator ==(HardwareAddress a, HardwareAddress b) => a.Equals(b);
    public static bool operator !=(HardwareAddress a, HardwareAddress b) => !a.Equals(b);

    /// <summary>"aa:bb:cc:dd:ee:ff", as ip link prints it.</summary>
    public override string ToString() => Convert.ToHexStringLower(Bytes) is var hex && hex.Length > 0
        ? string.Join(':', Enumerable.Range(0, _length).Select(i => hex.Substring(i * 2, 2)))
        : "";

    /// <summary>Parses "aa:bb:cc:dd:ee:ff".</summary>
    public static HardwareAddress Parse(string text)
        => new(text.Split(':').Select(s => Convert.ToByte(s, 16)).ToArray());
}
