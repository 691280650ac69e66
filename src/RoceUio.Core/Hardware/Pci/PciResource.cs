using System.Globalization;

namespace RoceUio.Hardware.Pci;

/// <summary>
/// One line of a function's sysfs <c>resource</c> file ("start end flags", hex): BAR <see cref="Index"/>'s bus
/// address range. Flags are the kernel's IORESOURCE_* bits (include/linux/ioport.h).
/// </summary>
public readonly record struct PciResource(int Index, ulong Start, ulong End, ulong Flags)
{
    public const ulong IoresourceIo = 0x100;        // IORESOURCE_IO
    public const ulong IoresourceMem = 0x200;       // IORESOURCE_MEM
    public const ulong IoresourcePrefetch = 0x2000; // IORESOURCE_PREFETCH

    public bool IsMemory => (Flags & IoresourceMem) != 0;
    public bool IsIo => (Flags & IoresourceIo) != 0;
    public bool IsPrefetchable => (Flags & IoresourcePrefetch) != 0;
    public ulong Size => End >= Start && End != 0 ? End - Start + 1 : 0;

    /// <summary>Parses the <c>resource</c> file's text: one line per BAR (0-5), then ROM and bridge windows; empty ones omitted.</summary>
    public static IReadOnlyList<PciResource> ParseAll(string text, string pathForErrors)
    {
        var list = new List<PciResource>();
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < lines.Length; i++)
        {
            string[] f = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 3 || !Hex(f[0], out ulong start) || !Hex(f[1], out ulong end) || !Hex(f[2], out ulong flags))
                throw new HardwareAccessException($"{pathForErrors}:{i + 1}: expected 'start end flags' in hex, got '{lines[i]}'");
            var r = new PciResource(i, start, end, flags);
            if (r.Size != 0)
                list.Add(r);
        }
        return list;
    }

    private static bool Hex(string s, out ulong v)
        => ulong.TryParse(s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? s[2..] : s,
                          NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v);
}
