namespace RoceUio.Hardware.Pci;

/// <summary>
/// Where sysfs is: <c>/sys</c> unless told otherwise, the way pciutils takes <c>PCI_SYSFS</c>/<c>-A</c>. The root comes
/// from the constructor, else the <c>ROCEUIO_SYSFS</c> environment variable, else <c>/sys</c>. Tests point it at a tree of
/// plain files; every path the PCI code touches goes through here, so they exercise the same code as real hardware.
/// Device nodes (<c>/dev/uioN</c>, <c>/dev/vfio</c>) live under <see cref="DevRoot"/> (<c>ROCEUIO_DEVFS</c>, default <c>/dev</c>).
/// </summary>
public sealed class SysfsRoot
{
    public const string EnvironmentVariable = "ROCEUIO_SYSFS";
    public const string DevEnvironmentVariable = "ROCEUIO_DEVFS";

    public SysfsRoot(string? root = null, string? devRoot = null)
    {
        Root = Pick(root, EnvironmentVariable, "/sys");
        DevRoot = Pick(devRoot, DevEnvironmentVariable, "/dev");
    }

    private static string Pick(string? given, string variable, string fallback)
    {
        string? r = !string.IsNullOrEmpty(given) ? given : Environment.GetEnvironmentVariable(variable);
        return string.IsNullOrEmpty(r) ? fallback : Path.TrimEndingDirectorySeparator(r);
    }

    /// <summary>The default: <c>ROCEUIO_SYSFS</c> or <c>/sys</c>.</summary>
    public static SysfsRoot Default => new();

    public string Root { get; }
    public string DevRoot { get; }

    /// <summary>True when this is the machine's real sysfs (binding then really moves devices).</summary>
    public bool IsReal => Root == "/sys";

    public string PciDevices => Path.Combine(Root, "bus/pci/devices");
    public string PciDrivers => Path.Combine(Root, "bus/pci/drivers");
    public string DriversProbe => Path.Combine(Root, "bus/pci/drivers_probe");
    public string UioClass => Path.Combine(Root, "class/uio");
    public string Device(PciAddress a) => Path.Combine(PciDevices, a.ToString());
    public string Driver(string name) => Path.Combine(PciDrivers, name);
    public string Dev(string relative) => Path.Combine(DevRoot, relative);

    public override string ToString() => Root;
}
