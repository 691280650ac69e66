using System.Globalization;

namespace RoceUio.Hardware.Pci;

/// <summary>
/// A PCI function's address, domain:bus:device.function, written as sysfs and lspci write it: <c>0000:03:00.0</c>.
/// </summary>
public readonly record struct PciAddress(ushort Domain, byte Bus, byte Device, byte Function)
{
    /// <summary>Parses <c>DDDD:BB:DD.F</c> or, with domain 0, <c>BB:DD.F</c> (hex, as lspci prints them).</summary>
    public static bool TryParse(string? text, out PciAddress address)
    {
        address = default;
        if (string.IsNullOrWhiteSpace(text))
            return false;
        string[] parts = text.Trim().Split(':');
        if (parts.Length is < 2 or > 3)
            return false;
        string domain = parts.Length == 3 ? parts[0] : "0";
        string bus = parts[^2];
        string[] df = parts[^1].Split('.');
        if (df.Length != 2)
            return false;
        if (!Hex(domain, 4, out uint d) || !Hex(bus, 2, out uint b) || !Hex(df[0], 2, out uint dev) || !Hex(df[1], 1, out uint fn)
            || dev > 0x1f || fn > 7)
            return false;
        address = new PciAddress((ushort)d, (byte)b, (byte)dev, (byte)fn);
        return true;
    }

    /// <summary>Parses like <see cref="TryParse"/>; throws with the expected form on bad input.</summary>
    public static PciAddress Parse(string text)
        => TryParse(text, out PciAddress a) ? a
           : throw new FormatException($"'{text}' is not a PCI address: expected DDDD:BB:DD.F such as 0000:03:00.0 (see lspci -D)");

    private static bool Hex(string s, int maxDigits, out uint value)
    {
        value = 0;
        return s.Length > 0 && s.Length <= maxDigits && uint.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    public override string ToString() => $"{Domain:x4}:{Bus:x2}:{Device:x2}.{Function:x1}";
}
