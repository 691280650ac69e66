namespace RoceUio.Hardware.Pci;

/// <summary>Where <see cref="PciBinder"/> moves a function.</summary>
public enum BindTarget
{
    /// <summary>vfio-pci: user-space access through the IOMMU.</summary>
    Vfio,
    /// <summary>uio_pci_generic: user-space access without IOMMU (physical DMA addresses).</summary>
    Uio,
    /// <summary>Back to whichever kernel driver claims its IDs (mlx4_core, ocrdma...): clears driver_override.</summary>
    Kernel,
}

/// <summary>One sysfs attribute write of a binding plan.</summary>
public readonly record struct SysfsWrite(string Path, string Value)
{
    /// <summary>The shell equivalent, as a dry run prints it.</summary>
    public override string ToString() => $"echo '{Value.TrimEnd('\n')}' > {Path}";
}

/// <summary>The outcome of a bind: what was (or, in a dry run, would be) written and the driver found afterwards.</summary>
public sealed record BindResult(PciAddress Address, string? DriverBefore, string? TargetDriver, IReadOnlyList<SysfsWrite> Writes,
                                bool DryRun, string? DriverAfter, IReadOnlyList<string> Notes)
{
    /// <summary>
    /// True when the function ended with the driver asked for. For Kernel: any driver but vfio-pci and UIO ones, or
    /// none at all when no kernel driver claims its IDs (QEMU's edu, a card whose module is not loaded).
    /// </summary>
    public bool Succeeded => DryRun || (TargetDriver != null ? DriverAfter == TargetDriver
        : DriverAfter != BarAccessPolicy.VfioDriver && !BarAccessPolicy.IsUioDriver(DriverAfter));
}

/// <summary>
/// Moves a function between kernel drivers with the documented recipe (Documentation/ABI/testing/sysfs-bus-pci):
/// write the driver's name to <c>driver_override</c>, the address to the current driver's <c>unbind</c>, then the
/// address to <c>bus/pci/drivers_probe</c>. Back to the kernel: clear <c>driver_override</c> (a newline), unbind,
/// probe. Everything is checked before the first write, so a refused bind changes nothing; that includes a function
/// in use from user space (<see cref="DeviceUsers"/>), whose vfio-pci unbind would otherwise wait for it forever.
/// </summary>
public sealed class PciBinder(SysfsRoot? sysfs = null, string procRoot = "/proc")
{
    public SysfsRoot Sysfs { get; } = sysfs ?? SysfsRoot.Default;
    /// <summary>Where <see cref="DeviceUsers"/> looks for processes using the function.</summary>
    public string ProcRoot { get; } = procRoot;

    public static string? DriverName(BindTarget target) => target switch
    {
        BindTarget.Vfio => BarAccessPolicy.VfioDriver,
        BindTarget.Uio => BarAccessPolicy.UioDriver,
        _ => null,
    };

    /// <summary>The writes that would move <paramref name="address"/> to <paramref name="target"/>, plus notes; throws if it cannot work.</summary>
    public (IReadOnlyList<SysfsWrite> Writes, IReadOnlyList<string> Notes, PciFunction Function) Plan(PciAddress address, BindTarget target, bool dryRun)
    {
        PciFunction f = new PciBus(Sysfs).Get(address);
        string? want = DriverName(target);
        var notes = new List<string>();
        var writes = new List<SysfsWrite>();
        string overridePath = Path.Combine(f.SysfsPath, "driver_override");
        if (!File.Exists(overridePath))
            throw new HardwareAccessException($"{overridePath} is missing: binding needs driver_override (Linux 3.16 or later)");
        if (want != null)
        {
            if (!Directory.Exists(Sysfs.Driver(want)))
            {
                string module = want.Replace('-', '_');
                string msg = $"{want} is not loaded: run `modprobe {module}` first";
                if (!dryRun)
                    throw new HardwareAccessException($"cannot bind {address}: {msg}");
                notes.Add(msg);
            }
            if (target == BindTarget.Vfio && f.IommuGroup == null && !NoIommuModeEnabled())
            {
                const string msg = "no IOMMU group: VFIO needs the IOMMU enabled (intel_iommu=on or amd_iommu=on) or no-IOMMU mode "
                                   + "(echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode)";
                if (!dryRun)
                    throw new HardwareAccessException($"{address}: {msg}; or use --uio");
                notes.Add(msg);
            }
            if (f.KernelDriver == want && f.DriverOverride == want)
            {
                notes.Add($"{address} is already bound to {want}");
                return (writes, notes, f);
            }
            writes.Add(new SysfsWrite(overridePath, want));
        }
        else
        {
            if (f.KernelDriver != null && f.KernelDriver != BarAccessPolicy.VfioDriver && !BarAccessPolicy.IsUioDriver(f.KernelDriver) && f.DriverOverride == null)
            {
                notes.Add($"{address} is already bound to the kernel driver {f.KernelDriver}");
                return (writes, notes, f);
            }
            writes.Add(new SysfsWrite(overridePath, "\n"));   // an empty line clears driver_override
        }
        if (DeviceUsers.Find(Sysfs, f, ProcRoot) is { Count: > 0 } users)
        {
            string msg = $"{address} is in use: {string.Join("; ", users)}; stop {(users.Count == 1 ? "it" : "them")} first";
            if (!dryRun)
                throw new HardwareAccessException($"cannot bind {msg}");
            notes.Add(msg);
        }
        if (f.KernelDriver != null)
            writes.Add(new SysfsWrite(Path.Combine(Sysfs.Driver(f.KernelDriver), "unbind"), address.ToString()));
        writes.Add(new SysfsWrite(Sysfs.DriversProbe, address.ToString()));
        return (writes, notes, f);
    }

    /// <summary>Plans, then (unless <paramref name="dryRun"/>) writes, then reads back which driver holds the function.</summary>
    public BindResult Bind(PciAddress address, BindTarget target, bool dryRun = false)
    {
        var (writes, notes, f) = Plan(address, target, dryRun);
        if (dryRun)
            return new BindResult(address, f.KernelDriver, DriverName(target), writes, true, f.KernelDriver, notes);
        foreach (SysfsWrite w in writes)
            SysfsFile.Write(w.Path, w.Value);
        string? after = new PciBus(Sysfs).Get(address).KernelDriver;
        return new BindResult(address, f.KernelDriver, DriverName(target), writes, false, after, notes);
    }

    private bool NoIommuModeEnabled()
        => SysfsFile.TryReadText(Path.Combine(Sysfs.Root, "module/vfio/parameters/enable_unsafe_noiommu_mode")) is "Y" or "1";
}
