using System.Globalization;

namespace RoceUio.Hardware.Pci;

/// <summary>
/// PCI discovery over sysfs: lists the functions under <c>&lt;root&gt;/bus/pci/devices</c>, reads their IDs, class,
/// driver and IOMMU group, and names the RoceUio driver that claims each (<see cref="IPciDriverMatch"/>). The same code reads the real
/// <c>/sys</c> and a test's tree of plain files.
/// </summary>
public sealed class PciBus
{
    /// <param name="sysfs">The sysfs tree (default: /sys or ROCEUIO_SYSFS).</param>
    /// <param name="drivers">Who claims which ids (the driver registry); default: nobody, so every function's
    /// <see cref="PciFunction.DriverModule"/> is null.</param>
    public PciBus(SysfsRoot? sysfs = null, IPciDriverMatch? drivers = null)
    {
        Sysfs = sysfs ?? SysfsRoot.Default;
        Drivers = drivers ?? IPciDriverMatch.None;
    }

    public SysfsRoot Sysfs { get; }
    public IPciDriverMatch Drivers { get; }

    /// <summary>Every function, in address order. An unreadable function is reported, not skipped silently.</summary>
    public IReadOnlyList<PciFunction> Scan()
    {
        string dir = Sysfs.PciDevices;
        if (!Directory.Exists(dir))
            throw new HardwareAccessException($"{dir} does not exist: is sysfs mounted (or {SysfsRoot.EnvironmentVariable} pointing at the wrong place)?");
        var list = new List<PciFunction>();
        foreach (string entry in Directory.EnumerateFileSystemEntries(dir))
            if (PciAddress.TryParse(Path.GetFileName(entry), out PciAddress a))
                list.Add(Get(a));
        list.Sort((x, y) => string.CompareOrdinal(x.Address.ToString(), y.Address.ToString()));
        return list;
    }

    /// <summary>Functions that a registered driver claims.</summary>
    public IReadOnlyList<PciFunction> ScanSupported() => Scan().Where(f => f.DriverModule != null).ToList();

    /// <summary>Reads one function; throws if it does not exist.</summary>
    public PciFunction Get(PciAddress address)
    {
        string path = Sysfs.Device(address);
        if (!Directory.Exists(path))
            throw new HardwareAccessException($"{address}: no such PCI function under {Sysfs.PciDevices} (see lspci -D)");
        ushort vendor = (ushort)SysfsFile.ReadHex(Path.Combine(path, "vendor"));
        ushort device = (ushort)SysfsFile.ReadHex(Path.Combine(path, "device"));
        uint cls = SysfsFile.ReadHex(Path.Combine(path, "class"));
        string? resText = SysfsFile.TryReadText(Path.Combine(path, "resource"));
        string? group = SysfsFile.LinkName(Path.Combine(path, "iommu_group"));
        string? ovr = SysfsFile.TryReadText(Path.Combine(path, "driver_override"));
        return new PciFunction
        {
            Address = address,
            SysfsPath = path,
            VendorId = vendor,
            DeviceId = device,
            ClassCode = cls,
            KernelDriver = SysfsFile.LinkName(Path.Combine(path, "driver")),
            IommuGroup = group != null && int.TryParse(group, NumberStyles.None, CultureInfo.InvariantCulture, out int g) ? g : null,
            DriverOverride = string.IsNullOrEmpty(ovr) || ovr == "(null)" ? null : ovr,
            DriverModule = Drivers.TryMatch(vendor, device, out string m) ? m : null,
            Resources = resText != null ? PciResource.ParseAll(resText, Path.Combine(path, "resource")) : [],
        };
    }
}
