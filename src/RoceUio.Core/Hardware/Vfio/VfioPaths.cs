using System.Globalization;
using RoceUio.Hardware.Pci;

namespace RoceUio.Hardware.Vfio;

/// <summary>The two ways into VFIO.</summary>
public enum VfioMode
{
    /// <summary>The cdev when the kernel offers it (Linux ≥ 6.6 with iommufd), the group otherwise.</summary>
    Auto,
    /// <summary>Container (<c>/dev/vfio/vfio</c>) + group (<c>/dev/vfio/N</c>, or <c>noiommu-N</c>): Documentation/driver-api/vfio.rst.</summary>
    Group,
    /// <summary>Device cdev (<c>/dev/vfio/devices/vfioX</c>) bound to <c>/dev/iommu</c>.</summary>
    Iommufd,
}

/// <summary>Which device nodes open a function through VFIO, decided from sysfs and /dev alone (no ioctl).</summary>
public sealed record VfioPaths(VfioMode Mode, bool NoIommu, string? ContainerPath, string? GroupPath, int? Group,
                               string? DevicePath, string? IommufdPath)
{
    /// <summary>
    /// Decides how to open <paramref name="function"/> and checks that the nodes exist; throws saying what is missing
    /// and how to get it. The function must already be bound to vfio-pci (<see cref="BarAccessPolicy"/>).
    /// </summary>
    public static VfioPaths Choose(SysfsRoot sysfs, PciFunction function, VfioMode mode = VfioMode.Auto)
    {
        string bdf = function.Address.ToString();
        if (mode != VfioMode.Group && CdevName(function) is string cdev)
        {
            string dev = sysfs.Dev($"vfio/devices/{cdev}");
            string iommu = sysfs.Dev("iommu");
            if (File.Exists(dev) && File.Exists(iommu))
                return new VfioPaths(VfioMode.Iommufd, false, null, null, function.IommuGroup, dev, iommu);
            if (mode == VfioMode.Iommufd)
                throw new HardwareAccessException(!File.Exists(iommu)
                    ? $"{iommu} is missing: the iommufd path needs CONFIG_IOMMUFD (modprobe iommufd), or use the group path"
                    : $"{dev} is missing: no device node for {bdf}'s VFIO cdev");
        }
        else if (mode == VfioMode.Iommufd)
            throw new HardwareAccessException($"{bdf} has no vfio-dev/ directory: the VFIO cdev needs Linux 6.6 or later with CONFIG_VFIO_DEVICE_CDEV; use the group path");

        if (function.IommuGroup is not int group)
            throw new HardwareAccessException($"{bdf}: no IOMMU group: VFIO needs the IOMMU enabled (intel_iommu=on or amd_iommu=on on the kernel command line) "
                + "or no-IOMMU mode (echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode, then rebind)");
        string vfioDir = sysfs.Dev("vfio");
        if (!Directory.Exists(vfioDir))
            throw new HardwareAccessException($"{vfioDir} is missing: this kernel has no VFIO loaded (modprobe vfio-pci; CONFIG_VFIO)");
        string container = Path.Combine(vfioDir, "vfio");
        if (!File.Exists(container))
            throw new HardwareAccessException($"{container} is missing: the VFIO container device is not there (modprobe vfio)");
        string groupPath = Path.Combine(vfioDir, group.ToString(CultureInfo.InvariantCulture));
        if (File.Exists(groupPath))
            return new VfioPaths(VfioMode.Group, false, container, groupPath, group, null, null);
        string noiommu = Path.Combine(vfioDir, $"noiommu-{group}");
        if (File.Exists(noiommu))
            return new VfioPaths(VfioMode.Group, true, container, noiommu, group, null, null);
        throw new HardwareAccessException($"{groupPath} is missing: IOMMU group {group} has no VFIO node; is {bdf} bound to vfio-pci? (roceuio bind {bdf} --vfio)");
    }

    /// <summary>The <c>vfioX</c> under the function's <c>vfio-dev/</c>, or null (no cdev support).</summary>
    private static string? CdevName(PciFunction function)
    {
        string dir = Path.Combine(function.SysfsPath, "vfio-dev");
        return Directory.Exists(dir) ? Directory.EnumerateFileSystemEntries(dir, "vfio*").Select(Path.GetFileName).FirstOrDefault() : null;
    }
}
