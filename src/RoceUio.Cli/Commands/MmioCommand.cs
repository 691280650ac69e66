using System.Globalization;
using System.Text;
using RoceUio.Hardware;
using RoceUio.Hardware.Pci;

namespace RoceUio.Cli;

/// <summary>
/// <c>roceuio mmio BDF [--bar N] [--vfio|--uio|--sysfs] [--big-endian] read32|write32|dump OFFSET [VALUE|LENGTH]</c>:
/// one register access (or a dump) on a BAR, like pcimem or devmem2, but through the project's own mapping code
/// (<see cref="PciDeviceAccess"/>, <see cref="MappedBar"/>) and with <see cref="MmioRegion"/>'s access width, alignment
/// check and byte order, so a driver author sees what the driver would see. The access method is picked from the
/// bound driver unless given.
/// </summary>
internal static class MmioCommand
{
    private const int DefaultDumpLength = 0x40;
    private const int MaxDumpLength = 1 << 20;

    private static void PrintUsage()
    {
        Console.WriteLine("Usage: roceuio mmio BDF [--bar N] [--vfio|--uio|--sysfs] [--big-endian] read32|write32|dump OFFSET [VALUE|LENGTH]");
        Console.WriteLine("  read32 OFFSET         print the 32-bit register at OFFSET (hex with 0x, or decimal)");
        Console.WriteLine("  write32 OFFSET VALUE  write VALUE to the 32-bit register at OFFSET (nothing is read back)");
        Console.WriteLine($"  dump OFFSET [LENGTH]  32-bit reads from OFFSET on, four per line (default 0x{DefaultDumpLength:x} bytes)");
        Console.WriteLine("  --bar N               the BAR (default 0)");
        Console.WriteLine("  --vfio|--uio|--sysfs  how to map it (default: from the bound driver: vfio-pci, uio_pci_generic, none)");
        Console.WriteLine("  --big-endian          the device's registers are big-endian (mlx4); default little-endian");
        Console.WriteLine($"  --sysfs-root DIR      sysfs root (default: ${SysfsRoot.EnvironmentVariable} or /sys)");
    }

    public static int Run(string[] args)
    {
        var a = new ArgReader(args, valued: ["--bar", "--sysfs-root"], flags: ["--vfio", "--uio", "--sysfs", "--big-endian"]);
        if (a.Help || args.Length == 0)
        {
            PrintUsage();
            return 0;
        }
        string[] methods = new[] { "--vfio", "--uio", "--sysfs" }.Where(a.Flag).ToArray();
        if (methods.Length > 1)
            throw new UsageException("give only one of --vfio, --uio, --sysfs");
        BarAccessMethod method = methods.FirstOrDefault() switch
        {
            "--vfio" => BarAccessMethod.Vfio,
            "--uio" => BarAccessMethod.Uio,
            "--sysfs" => BarAccessMethod.Sysfs,
            _ => BarAccessMethod.Auto,
        };
        int bar = a.Value("--bar") is string b ? ParseBar(b) : 0;
        var order = a.Flag("--big-endian") ? RegisterByteOrder.BigEndian : RegisterByteOrder.LittleEndian;
        List<string> p = a.Positional;
        if (p.Count < 3)
            throw new UsageException(p.Count == 0 ? "which PCI function? (e.g. 0000:03:00.0, see lspci -D)" : "say read32, write32 or dump, and an OFFSET");
        if (!PciAddress.TryParse(p[0], out PciAddress address))
            throw new UsageException($"'{p[0]}' is not a PCI address: expected DDDD:BB:DD.F such as 0000:03:00.0");
        string op = p[1];
        long offset = (long)ParseNumber(p[2], "OFFSET");
        (int expected, string shape) = op switch
        {
            "read32" => (3, "read32 OFFSET"),
            "write32" => (4, "write32 OFFSET VALUE"),
            "dump" => (p.Count == 3 ? 3 : 4, "dump OFFSET [LENGTH]"),
            _ => throw new UsageException($"unknown operation '{op}': use read32, write32 or dump"),
        };
        if (p.Count != expected)
            throw new UsageException($"expected {shape}, got {p.Count - 1} words after the address");

        try
        {
            var sysfs = new SysfsRoot(a.Value("--sysfs-root"));
            PciFunction f = new PciBus(sysfs).Get(address);
            using IPciDeviceAccess access = PciDeviceAccess.Open(f, method, sysfs);
            using MappedBar mapped = access.MapBar(bar);
            MmioRegion region = mapped.Region(order);
            switch (op)
            {
                case "read32":
                    Console.WriteLine($"0x{region.Read32(offset):x8}");
                    break;
                case "write32":
                    ulong v = ParseNumber(p[3], "VALUE");
                    if (v > uint.MaxValue)
                        throw new UsageException($"VALUE {p[3]} does not fit 32 bits");
                    region.Write32(offset, (uint)v);
                    Console.WriteLine($"bar{bar}+0x{offset:x}: wrote 0x{v:x8}");
                    break;
                default:
                    ulong len = p.Count == 4 ? ParseNumber(p[3], "LENGTH") : DefaultDumpLength;
                    if (len == 0 || len > MaxDumpLength || len % 4 != 0)
                        throw new UsageException($"LENGTH {len} must be a positive multiple of 4, at most 0x{MaxDumpLength:x}");
                    Console.Write(Dump(region, offset, (long)len));
                    break;
            }
            return 0;
        }
        catch (Exception e) when (e is HardwareAccessException or ArgumentOutOfRangeException or FormatException or IOException)
        {
            string msg = e is ArgumentOutOfRangeException ao ? ao.Message.Split(" (Parameter")[0] : e.Message;
            Console.Error.WriteLine($"roceuio mmio: {msg}");
            return 1;
        }
    }

    /// <summary>"0x000010: 00000000 ffffffff ..." lines of four 32-bit reads; every read is range checked by the region.</summary>
    internal static string Dump(MmioRegion region, long offset, long length)
    {
        var sb = new StringBuilder();
        for (long o = offset; o < offset + length; o += 4)
        {
            if ((o - offset) % 16 == 0)
                sb.Append(o == offset ? "" : "\n").Append(CultureInfo.InvariantCulture, $"0x{o:x6}:");
            sb.Append(CultureInfo.InvariantCulture, $" {region.Read32(o):x8}");
        }
        return sb.Append('\n').ToString();
    }

    private static int ParseBar(string s)
        => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is >= 0 and <= 5 ? n
           : throw new UsageException($"--bar {s}: a BAR is 0 to 5");

    /// <summary>0x-prefixed hex or decimal, as pcimem and devmem2 take them.</summary>
    private static ulong ParseNumber(string s, string what)
    {
        bool hex = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        return ulong.TryParse(hex ? s[2..] : s, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) ? v
            : throw new UsageException($"{what} '{s}' is not a number (0x-prefixed hex or decimal)");
    }
}
