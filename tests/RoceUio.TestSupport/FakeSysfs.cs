namespace RoceUio.Testing;

/// <summary>
/// A sysfs tree of plain files for PCI tests, shaped like the real one: <c>bus/pci/devices/&lt;bdf&gt;/{vendor,device,
/// class,config,resource,resourceN,driver_override}</c>, <c>driver</c> and <c>iommu_group</c> symlinks,
/// <c>bus/pci/drivers/&lt;name&gt;/{bind,unbind}</c>, <c>bus/pci/drivers_probe</c>, and a <c>dev/</c> directory for
/// device nodes. Point <c>SysfsRoot</c> at <see cref="Root"/>/<see cref="Dev"/>; nothing here touches the real /sys.
/// </summary>
public sealed class FakeSysfs : IDisposable
{
    private readonly TempDirectory _dir = new("roceuio-sysfs");

    public FakeSysfs()
    {
        Directory.CreateDirectory(Path.Combine(Root, "bus/pci/devices"));
        Directory.CreateDirectory(Path.Combine(Root, "bus/pci/drivers"));
        Directory.CreateDirectory(Dev);
        File.WriteAllText(Path.Combine(Root, "bus/pci/drivers_probe"), "");
    }

    public string Root => Path.Combine(_dir.Path, "sys");
    public string Dev => Path.Combine(_dir.Path, "dev");

    public string DeviceDir(string bdf) => Path.Combine(Root, "bus/pci/devices", bdf);

    /// <summary>Adds a function with one memory BAR per entry of <paramref name="barSizes"/> (BAR i at 0xf000_0000 + i * 16 MiB).</summary>
    public string AddFunction(string bdf, ushort vendor, ushort device, uint classCode = 0x020000, string? driver = null,
                              int? iommuGroup = null, params long[] barSizes)
    {
        string d = DeviceDir(bdf);
        Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(d, "vendor"), $"0x{vendor:x4}\n");
        File.WriteAllText(Path.Combine(d, "device"), $"0x{device:x4}\n");
        File.WriteAllText(Path.Combine(d, "class"), $"0x{classCode:x6}\n");
        File.WriteAllText(Path.Combine(d, "driver_override"), "(null)\n");
        byte[] config = new byte[256];
        BitConverter.TryWriteBytes(config.AsSpan(0), vendor);
        BitConverter.TryWriteBytes(config.AsSpan(2), device);
        config[0x0b] = (byte)(classCode >> 16);
        File.WriteAllBytes(Path.Combine(d, "config"), config);
        var lines = new List<string>();
        for (int i = 0; i < 13; i++)
        {
            if (i < barSizes.Length && barSizes[i] > 0)
            {
                ulong start = 0xf000_0000UL + (ulong)i * 0x100_0000UL;
                lines.Add($"0x{start:x16} 0x{start + (ulong)barSizes[i] - 1:x16} 0x0000000000140204");
                using var fs = File.Create(Path.Combine(d, $"resource{i}"));
                fs.SetLength(barSizes[i]);
            }
            else
                lines.Add("0x0000000000000000 0x0000000000000000 0x0000000000000000");
        }
        File.WriteAllText(Path.Combine(d, "resource"), string.Join('\n', lines) + "\n");
        if (driver != null)
            BindDriver(bdf, driver);
        if (iommuGroup is int g)
        {
            string gd = Path.Combine(Root, "kernel/iommu_groups", g.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Directory.CreateDirectory(gd);
            File.CreateSymbolicLink(Path.Combine(d, "iommu_group"), gd);
        }
        return d;
    }

    /// <summary>Creates <c>bus/pci/drivers/&lt;name&gt;</c> with its bind/unbind files (a loaded driver).</summary>
    public string AddDriver(string name)
    {
        string dd = Path.Combine(Root, "bus/pci/drivers", name);
        Directory.CreateDirectory(dd);
        foreach (string f in new[] { "bind", "unbind", "new_id", "remove_id" })
            if (!File.Exists(Path.Combine(dd, f)))
                File.WriteAllText(Path.Combine(dd, f), "");
        return dd;
    }

    /// <summary>Points the function's <c>driver</c> link at <paramref name="driver"/> (creating the driver), as the kernel does on bind.</summary>
    public void BindDriver(string bdf, string driver)
    {
        string link = Path.Combine(DeviceDir(bdf), "driver");
        if (File.Exists(link) || Directory.Exists(link))
            File.Delete(link);
        File.CreateSymbolicLink(link, AddDriver(driver));
    }

    public string Read(string relative) => File.ReadAllText(Path.Combine(Root, relative));

    public void Dispose() => _dir.Dispose();
}
