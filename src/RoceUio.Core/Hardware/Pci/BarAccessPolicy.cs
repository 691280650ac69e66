namespace RoceUio.Hardware.Pci;

/// <summary>
/// Decides how to reach a function's BARs from the kernel driver bound to it, or checks that a requested method can
/// work. A function held by a kernel network driver cannot be driven from user space at all: the answer then says
/// how to free it.
/// </summary>
public static class BarAccessPolicy
{
    public const string VfioDriver = "vfio-pci";
    public const string UioDriver = "uio_pci_generic";
    private static readonly string[] s_uioDrivers = [UioDriver, "igb_uio"];

    public static bool IsUioDriver(string? driver) => driver != null && s_uioDrivers.Contains(driver);

    /// <summary>The method to use for <paramref name="function"/>; throws with what to do when none can work.</summary>
    public static BarAccessMethod Choose(PciFunction function, BarAccessMethod requested = BarAccessMethod.Auto)
    {
        string? driver = function.KernelDriver;
        string bdf = function.Address.ToString();
        switch (requested)
        {
            case BarAccessMethod.Auto:
                if (driver == VfioDriver)
                    return BarAccessMethod.Vfio;
                if (IsUioDriver(driver))
                    return BarAccessMethod.Uio;
                if (driver == null)
                    return BarAccessMethod.Sysfs;
                throw BoundElsewhere(function, function.IommuGroup != null ? "--vfio" : "--uio");
            case BarAccessMethod.Vfio:
                if (driver != VfioDriver)
                    throw driver == null
                        ? new HardwareAccessException($"{bdf} is not bound to {VfioDriver}; run `roceuio bind {bdf} --vfio`")
                        : BoundElsewhere(function, "--vfio");
                return BarAccessMethod.Vfio;
            case BarAccessMethod.Uio:
                if (!IsUioDriver(driver))
                    throw driver == null
                        ? new HardwareAccessException($"{bdf} is not bound to {UioDriver}; run `roceuio bind {bdf} --uio`")
                        : BoundElsewhere(function, "--uio");
                return BarAccessMethod.Uio;
            case BarAccessMethod.Sysfs:
                // resourceN works while no driver claims the BARs (pci_mmap_resource refuses exclusive regions) or
                // under uio_pci_generic, which claims none (DPDK pci_uio.c maps resourceN with it bound).
                if (driver != null && !IsUioDriver(driver))
                    throw BoundElsewhere(function, "--uio");
                return BarAccessMethod.Sysfs;
            default:
                throw new ArgumentOutOfRangeException(nameof(requested), requested, "unknown BAR access method");
        }
    }

    private static HardwareAccessException BoundElsewhere(PciFunction f, string option)
        => new($"{f.Address} is bound to {f.KernelDriver}; unbind it or run `roceuio bind {f.Address} {option}`");
}
