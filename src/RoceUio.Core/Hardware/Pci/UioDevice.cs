using System.Globalization;

namespace RoceUio.Hardware.Pci;

/// <summary>One memory map of a UIO device: <c>/sys/class/uio/uioN/maps/mapM/{name,addr,size,offset}</c>.</summary>
public sealed record UioMap(int Index, string? Name, ulong Address, ulong Size, ulong Offset);

/// <summary>
/// A UIO device (Documentation/driver-api/uio-howto.rst): <c>/dev/uioN</c> and its maps under
/// <c>/sys/class/uio/uioN/maps</c>. Map M is mmap'ed from <c>/dev/uioN</c> at offset M × page size, and the
/// map's <c>offset</c> is added to the returned pointer.
/// </summary>
public sealed class UioDevice
{
    public required int Number { get; init; }
    public required string Name { get; init; }
    public required string SysfsPath { get; init; }
    public required string DevicePath { get; init; }
    public required IReadOnlyList<UioMap> Maps { get; init; }

    /// <summary>Reads <c>uioN</c> from the class directory.</summary>
    public static UioDevice Read(SysfsRoot sysfs, int number)
    {
        string dir = Path.Combine(sysfs.UioClass, $"uio{number}");
        if (!Directory.Exists(dir))
            throw new HardwareAccessException($"{dir} does not exist: the UIO device is gone (was the driver unbound?)");
        var maps = new List<UioMap>();
        string mapsDir = Path.Combine(dir, "maps");
        if (Directory.Exists(mapsDir))
            foreach (string m in Directory.EnumerateDirectories(mapsDir, "map*"))
            {
                if (!int.TryParse(Path.GetFileName(m).AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out int idx))
                    continue;
                maps.Add(new UioMap(idx, SysfsFile.TryReadText(Path.Combine(m, "name")),
                    Hex(Path.Combine(m, "addr")), Hex(Path.Combine(m, "size")),
                    File.Exists(Path.Combine(m, "offset")) ? Hex(Path.Combine(m, "offset")) : 0));
            }
        maps.Sort((a, b) => a.Index.CompareTo(b.Index));
        return new UioDevice
        {
            Number = number,
            Name = SysfsFile.TryReadText(Path.Combine(dir, "name")) ?? "",
            SysfsPath = dir,
            DevicePath = sysfs.Dev($"uio{number}"),
            Maps = maps,
        };
    }

    /// <summary>The UIO device of a PCI function (its <c>uio/uioN</c> subdirectory), or null if it has none.</summary>
    public static UioDevice? Find(SysfsRoot sysfs, PciFunction function)
    {
        string dir = Path.Combine(function.SysfsPath, "uio");
        if (!Directory.Exists(dir))
            return null;
        foreach (string e in Directory.EnumerateFileSystemEntries(dir, "uio*"))
            if (int.TryParse(Path.GetFileName(e).AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
                return Read(sysfs, n);
        return null;
    }

    /// <summary>The map whose bus address is <paramref name="busAddress"/> (a BAR's start), or null.</summary>
    public UioMap? MapAt(ulong busAddress) => Maps.FirstOrDefault(m => m.Address == busAddress);

    /// <summary>Maps map <paramref name="map"/> of <c>/dev/uioN</c>: mmap offset = index × page size.</summary>
    public MappedBar MapBar(int barIndex, UioMap map)
    {
        long page = Environment.SystemPageSize;
        long length = (long)(map.Offset + map.Size);
        try
        {
            return new MappedBar(barIndex, MappedFile.Open(DevicePath, length, map.Index * page), (long)map.Offset, (long)map.Size);
        }
        catch (MappedFileException e)
        {
            throw new HardwareAccessException(e.ErrorNumber == 2
                ? $"{DevicePath} is missing: no device node for uio{Number} (is devtmpfs mounted?)"
                : $"{DevicePath}: map{map.Index} could not be mapped: {Errno.Describe(e.ErrorNumber)}", e);
        }
    }

    private static ulong Hex(string path) => SysfsFile.ReadHexLong(path);
}
