using RoceUio.Hardware;
using RoceUio.Hardware.Pci;

namespace RoceUio.Cli;

/// <summary>
/// <c>roceuio bind BDF (--vfio|--uio|--kernel) [--dry-run] [--sysfs ROOT]</c>: moves a PCI function to vfio-pci,
/// uio_pci_generic, or back to its kernel driver (<see cref="PciBinder"/>). A dry run prints the writes as shell
/// commands and changes nothing. Moving a function that no registered driver claims to vfio-pci or uio is allowed,
/// with a warning: <c>roceuio run</c> would not drive it.
/// </summary>
internal static class BindCommand
{
    public static int Run(string[] args)
    {
        if (args.Length == 0 || args.Contains("-h") || args.Contains("--help"))
        {
            Console.WriteLine("Usage: roceuio bind BDF (--vfio|--uio|--kernel) [--dry-run] [--sysfs ROOT]");
            Console.WriteLine("  --vfio      bind to vfio-pci (needs the IOMMU, or no-IOMMU mode)");
            Console.WriteLine("  --uio       bind to uio_pci_generic");
            Console.WriteLine("  --kernel    give it back to its kernel driver");
            Console.WriteLine("  --dry-run   print what would be written, write nothing");
            Console.WriteLine($"  --sysfs     sysfs root (default: ${SysfsRoot.EnvironmentVariable} or /sys)");
            return 0;
        }
        string? bdf = null, sysfs = null;
        BindTarget? target = null;
        bool dryRun = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--vfio": SetTarget(BindTarget.Vfio); break;
                case "--uio": SetTarget(BindTarget.Uio); break;
                case "--kernel": SetTarget(BindTarget.Kernel); break;
                case "--dry-run" or "-n": dryRun = true; break;
                case "--sysfs":
                    if (++i >= args.Length)
                        throw new UsageException("--sysfs needs a directory");
                    sysfs = args[i];
                    break;
                default:
                    if (args[i].StartsWith('-') || bdf != null)
                        throw new UsageException($"unexpected argument '{args[i]}'");
                    bdf = args[i];
                    break;
            }
        }
        void SetTarget(BindTarget t)
        {
            if (target != null && target != t)
                throw new UsageException("give only one of --vfio, --uio, --kernel");
            target = t;
        }
        if (bdf == null)
            throw new UsageException("which PCI function? (e.g. 0000:03:00.0, see lspci -D)");
        if (target == null)
            throw new UsageException("say where to bind it: --vfio, --uio or --kernel");
        if (!PciAddress.TryParse(bdf, out PciAddress address))
            throw new UsageException($"'{bdf}' is not a PCI address: expected DDDD:BB:DD.F such as 0000:03:00.0");

        try
        {
            var root = new SysfsRoot(sysfs);
            if (target != BindTarget.Kernel && Unclaimed(root, address) is { } warning)
                Console.Error.WriteLine($"roceuio bind: warning: {warning}");
            BindResult r = new PciBinder(root).Bind(address, target.Value, dryRun);
            foreach (string note in r.Notes)
                Console.Error.WriteLine(dryRun ? $"roceuio bind: note: {note}" : $"roceuio bind: {note}");
            foreach (SysfsWrite w in r.Writes)
                Console.WriteLine(dryRun ? w.ToString() : $"wrote: {w}");
            if (dryRun)
                return 0;
            if (!r.Succeeded)
            {
                Console.Error.WriteLine($"roceuio bind: {address} is bound to {r.DriverAfter ?? "no driver"} after drivers_probe, not "
                    + $"{r.TargetDriver ?? "a kernel driver"} (see dmesg; is the module loaded?)");
                return 1;
            }
            Console.WriteLine(r.DriverAfter != null ? $"{address}: bound to {r.DriverAfter}"
                : $"{address}: no kernel driver claims it; left unbound with driver_override cleared");
            return 0;
        }
        catch (Exception e) when (e is HardwareAccessException or FormatException)
        {
            Console.Error.WriteLine($"roceuio bind: {e.Message}");
            return 1;
        }
    }

    /// <summary>Why binding <paramref name="address"/> for user space does not help RoceUio, or null when a driver claims it.</summary>
    private static string? Unclaimed(SysfsRoot root, PciAddress address)
    {
        PciFunction f = new PciBus(root, BuiltinDrivers.Registry).Get(address);
        if (f.DriverModule is not null)
            return null;
        var claimed = BuiltinDrivers.Registry.Drivers.Where(d => d.PciIds.Count > 0).Select(d => d.Name);
        return $"{address} is {f.VendorId:x4}:{f.DeviceId:x4}, which no RoceUio driver claims ({string.Join(", ", claimed)}): roceuio run will not drive it";
    }
}
