using System.Globalization;

namespace RoceUio.Hardware;

/// <summary>
/// The files of an emulated PCI function, shared by the driver side and a device model (any process, any language).
/// The convention (docs/emulated-devices.md): a directory holding
/// <list type="bullet">
/// <item><c>device.conf</c>: <c>key=value</c> lines: <c>vendor</c>, <c>device</c> (hex with 0x), <c>barN</c> (size in bytes,
/// one line per BAR), <c>dma</c> (size of the DMA file), <c>dma_base</c> (device address of the DMA file's first byte);</item>
/// <item><c>barN</c>: a file of the BAR's size; register N at byte offset N, in the device's own byte order;</item>
/// <item><c>dma</c>: the device's DMA memory; device address A is at file offset A - dma_base.</item>
/// <item><c>doorbell</c> (optional): the write signal (<see cref="Emulation.EmulatedDoorbell"/>), rung by every
/// register write through the BARs mapped here, so that the other side can sleep instead of polling.</item>
/// </list>
/// </summary>
public sealed class EmulatedDevice : IDisposable
{
    private readonly Dictionary<int, MappedFile> _bars = new();

    public string Directory { get; }
    public ushort VendorId { get; }
    public ushort DeviceId { get; }
    public SharedDmaMemory Dma { get; }
    /// <summary>The device's write signal; null when its directory has no <c>doorbell</c> file.</summary>
    public Emulation.EmulatedDoorbell? Doorbell { get; }

    private EmulatedDevice(string dir, ushort vendor, ushort device, SharedDmaMemory dma, Emulation.EmulatedDoorbell? doorbell)
    {
        Directory = dir;
        VendorId = vendor;
        DeviceId = device;
        Dma = dma;
        Doorbell = doorbell;
    }

    private void AddBar(int bar, MappedFile file)
    {
        file.Doorbell = Doorbell;
        _bars[bar] = file;
    }

    /// <summary>Creates the files (zeroed) and maps them.</summary>
    public static EmulatedDevice Create(string dir, ushort vendorId, ushort deviceId, IReadOnlyDictionary<int, long> barSizes,
        long dmaSize, ulong dmaBase = SharedDmaMemory.DefaultBaseAddress)
    {
        System.IO.Directory.CreateDirectory(dir);
        foreach (string old in new[] { "dma", Emulation.EmulatedDoorbell.FileName }.Concat(barSizes.Keys.Select(b => $"bar{b}")))
            File.Delete(Path.Combine(dir, old));
        var lines = new List<string> { $"vendor=0x{vendorId:x4}", $"device=0x{deviceId:x4}" };
        lines.AddRange(barSizes.OrderBy(kv => kv.Key).Select(kv => $"bar{kv.Key}={kv.Value}"));
        lines.Add($"dma={dmaSize}");
        lines.Add($"dma_base=0x{dmaBase:x}");
        var dev = new EmulatedDevice(dir, vendorId, deviceId,
            new SharedDmaMemory(MappedFile.Open(Path.Combine(dir, "dma"), dmaSize, create: true), dmaBase),
            Emulation.EmulatedDoorbell.Create(dir));
        foreach (var (bar, size) in barSizes)
            dev.AddBar(bar, MappedFile.Open(Path.Combine(dir, $"bar{bar}"), size, create: true));
        // Written last and atomically: a model that sees device.conf sees complete files.
        string tmp = Path.Combine(dir, "device.conf.tmp");
        File.WriteAllLines(tmp, lines);
        File.Move(tmp, Path.Combine(dir, "device.conf"), overwrite: true);
        return dev;
    }

    /// <summary>Maps the files of a device that someone else created (the <c>--attach</c> path and device models).</summary>
    public static EmulatedDevice Open(string dir)
    {
        string conf = Path.Combine(dir, "device.conf");
        if (!File.Exists(conf))
            throw new FileNotFoundException($"{dir} is not an emulated device: {conf} is missing (see docs/emulated-devices.md)", conf);
        var kv = new Dictionary<string, string>();
        int lineNo = 0;
        foreach (string raw in File.ReadAllLines(conf))
        {
            lineNo++;
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            int eq = line.IndexOf('=');
            if (eq <= 0)
                throw new FormatException($"{conf}:{lineNo}: expected key=value, got '{raw}'");
            kv[line[..eq].Trim()] = line[(eq + 1)..].Trim();
        }
        long Num(string key)
        {
            if (!kv.TryGetValue(key, out string? v))
                throw new FormatException($"{conf}: '{key}' is missing");
            bool hex = v.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
            if (!long.TryParse(hex ? v[2..] : v, hex ? NumberStyles.HexNumber : NumberStyles.None, CultureInfo.InvariantCulture, out long n))
                throw new FormatException($"{conf}: '{key}={v}' is not a number");
            return n;
        }
        long dmaSize = Num("dma");
        var dev = new EmulatedDevice(dir, (ushort)Num("vendor"), (ushort)Num("device"),
            new SharedDmaMemory(MappedFile.Open(Path.Combine(dir, "dma"), dmaSize), (ulong)Num("dma_base")),
            Emulation.EmulatedDoorbell.TryOpen(dir));
        foreach (string key in kv.Keys.Where(k => k.StartsWith("bar", StringComparison.Ordinal)))
            if (int.TryParse(key.AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out int bar))
                dev.AddBar(bar, MappedFile.Open(Path.Combine(dir, key), Num(key)));
        return dev;
    }

    public MappedFile Bar(int bar)
        => _bars.TryGetValue(bar, out MappedFile? f) ? f
           : throw new ArgumentException($"{Directory}: the emulated device has no BAR{bar}", nameof(bar));

    public void Dispose()
    {
        foreach (MappedFile f in _bars.Values)
            f.Dispose();
        Dma.Dispose();
        Doorbell?.Dispose();
    }
}
