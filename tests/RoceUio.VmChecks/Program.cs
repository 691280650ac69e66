using RoceUio.Hardware;
using RoceUio.Hardware.Dma;
using RoceUio.Hardware.Pci;
using RoceUio.Hardware.Vfio;
using RoceUio.VmChecks;

// roceuio-vmchecks CHECK ARGS...: one check of the project's hardware layer against a real kernel and QEMU's edu
// device, run inside the tests/vm guest. Prints what it saw; exit 0 = passed, 1 = failed, 77 = skipped (with why).
try
{
    return args switch
    {
        ["discover", var bdf] => Checks.Discover(Pci(bdf)),
        ["bar", var method, var bdf] => Checks.Bar(Pci(bdf), Method(method)),
        ["vfio-regions", var bdf] => Checks.VfioRegions(Pci(bdf)),
        ["dma", var method, var bdf] => Checks.DmaRoundTrip(Pci(bdf), Method(method)),
        ["dma-unmapped", var bdf] => Checks.DmaUnmapped(Pci(bdf)),
        ["hold", var method, var bdf, var readyFile] => Checks.Hold(Pci(bdf), Method(method), readyFile),
        _ => Usage(),
    };
}
catch (Exception e) when (e is HardwareAccessException or IOException or TimeoutException or FormatException or ArgumentException)
{
    Console.WriteLine($"error: {e.GetType().Name}: {e.Message}");
    return 1;
}

static int Usage()
{
    Console.Error.WriteLine("usage: roceuio-vmchecks discover BDF | bar sysfs|uio|vfio BDF | vfio-regions BDF | dma uio|vfio BDF | dma-unmapped BDF | hold uio|vfio BDF READY_FILE");
    return 2;
}

static PciAddress Pci(string bdf) => PciAddress.Parse(bdf);

static BarAccessMethod Method(string m) => m switch
{
    "sysfs" => BarAccessMethod.Sysfs,
    "uio" => BarAccessMethod.Uio,
    "vfio" => BarAccessMethod.Vfio,
    _ => throw new FormatException($"'{m}' is not an access method (sysfs, uio, vfio)"),
};

internal static class Checks
{
    private static readonly TimeSpan s_deviceTimeout = TimeSpan.FromSeconds(20);

    private static int Fail(string why)
    {
        Console.WriteLine($"FAIL: {why}");
        return 1;
    }

    private static PciFunction Function(PciAddress a) => new PciBus().Get(a);

    /// <summary>PciBus.Scan finds edu with its IDs and its 1 MiB memory BAR0.</summary>
    public static int Discover(PciAddress a)
    {
        IReadOnlyList<PciFunction> all = new PciBus().Scan();
        Console.WriteLine($"scan: {all.Count} functions");
        PciFunction? f = all.FirstOrDefault(x => x.Address == a);
        if (f == null)
            return Fail($"{a} not among {string.Join(", ", all.Select(x => x.Address))}");
        Console.WriteLine($"found: {f}; iommu group {f.IommuGroup?.ToString() ?? "none"}");
        if (f.VendorId != Edu.VendorId || f.DeviceId != Edu.DeviceId)
            return Fail($"IDs {f.VendorId:x4}:{f.DeviceId:x4}, expected {Edu.VendorId:x4}:{Edu.DeviceId:x4}");
        if (f.Bar(0) is not { IsMemory: true, Size: 1 << 20 } bar)
            return Fail($"BAR0 is {f.Bar(0)?.ToString() ?? "missing"}, expected a 1 MiB memory BAR");
        Console.WriteLine($"BAR0: 0x{bar.Start:x} size 0x{bar.Size:x}");
        return 0;
    }

    /// <summary>BAR0 through the method's mapping: identification, liveness (inverse read back), factorial.</summary>
    public static int Bar(PciAddress a, BarAccessMethod method)
    {
        using IPciDeviceAccess access = PciDeviceAccess.Open(Function(a), method);
        access.EnableBusMaster();
        using MappedBar bar = access.MapBar(0);
        Console.WriteLine($"method {access.Method}: BAR0 mapped, {bar.Size} bytes at offset {bar.Offset} of {bar.File.Path}"
            + (access is UioDeviceAccess u ? $" (UIO map for BAR0: {u.SourceOf(0)?.ToString() ?? "none, so resource0 as DPDK pci_uio does"})" : ""));
        if (bar.Size != 1 << 20)
            return Fail($"BAR0 mapping is {bar.Size} bytes, expected 1 MiB");
        var edu = new Edu(bar.Region(RegisterByteOrder.LittleEndian));
        uint id = edu.Id;
        Console.WriteLine($"identification 0x{id:x8}");
        if ((id & 0xff) != 0xed || id >> 24 != 1)
            return Fail($"identification 0x{id:x8}, expected 0x010000ed (edu 1.0)");
        foreach (uint v in new uint[] { 0x12345678, 0xdeadbeef, 0 })
        {
            uint back = edu.Live(v);
            Console.WriteLine($"liveness: wrote 0x{v:x8}, read 0x{back:x8}");
            if (back != ~v)
                return Fail($"liveness read 0x{back:x8} after writing 0x{v:x8}, expected 0x{~v:x8}");
        }
        uint f10 = edu.ComputeFactorial(10, s_deviceTimeout);
        Console.WriteLine($"factorial(10) = {f10}");
        return f10 == 3628800 ? 0 : Fail($"10! read {f10}, expected 3628800");
    }

    /// <summary>The VFIO device's regions as the kernel describes them, and which IOMMU model the container got.</summary>
    public static int VfioRegions(PciAddress a)
    {
        using var access = VfioDeviceAccess.Open(Function(a), SysfsRoot.Default);
        Console.WriteLine($"paths: {access.Paths}");
        VfioDevice d = access.Device;
        Console.WriteLine($"device {d.Name}: {d.NumRegions} regions, reset {(d.CanReset ? "yes" : "no")}");
        VfioRegion bar0 = d.GetRegion(VfioAbi.PciBar0RegionIndex);
        VfioRegion cfg = d.GetRegion(VfioAbi.PciConfigRegionIndex);
        Console.WriteLine($"BAR0 region: size 0x{bar0.Size:x} offset 0x{bar0.Offset:x} flags 0x{bar0.Flags:x} mmap {bar0.CanMmap}");
        Console.WriteLine($"config region: size 0x{cfg.Size:x} offset 0x{cfg.Offset:x}");
        if (bar0.Size != 1 << 20 || !bar0.CanMmap || !bar0.CanRead || !bar0.CanWrite)
            return Fail("BAR0 region should be 1 MiB, readable, writable and mmap-able");
        ushort vendor = access.Config.ReadUInt16(PciConfigSpace.VendorIdOffset), device = access.Config.ReadUInt16(PciConfigSpace.DeviceIdOffset);
        Console.WriteLine($"config through VFIO: {vendor:x4}:{device:x4}");
        return vendor == Edu.VendorId && device == Edu.DeviceId ? 0 : Fail($"config region reads {vendor:x4}:{device:x4}");
    }

    /// <summary>
    /// Two buffers from the method's DMA allocator (IOVAs mapped into the IOMMU for VFIO, physical addresses for UIO):
    /// edu copies a pattern from the first into its buffer and back out into the second, twice with different patterns.
    /// </summary>
    public static int DmaRoundTrip(PciAddress a, BarAccessMethod method)
    {
        using IPciDeviceAccess access = PciDeviceAccess.Open(Function(a), method);
        access.EnableBusMaster();
        using MappedBar bar = access.MapBar(0);
        var edu = new Edu(bar.Region(RegisterByteOrder.LittleEndian));
        IDmaAllocator alloc = access.CreateDmaAllocator();
        try
        {
            Console.WriteLine($"allocator {alloc.GetType().Name}{FallbackNote(alloc)}");
            DmaBuffer from = alloc.Allocate(4096), to = alloc.Allocate(4096);
            Console.WriteLine($"buffers at device addresses 0x{from.DeviceAddress:x} and 0x{to.DeviceAddress:x}");
            for (int round = 0; round < 2; round++)
            {
                Fill(from.Span, (byte)(0x11 + round * 0x40));
                to.Span.Fill(0xee);
                edu.DmaFromRam(from.DeviceAddress, 0, Edu.MaxTransfer, s_deviceTimeout);
                edu.DmaToRam(0, to.DeviceAddress, Edu.MaxTransfer, s_deviceTimeout);
                int diff = FirstDifference(from.Span[..Edu.MaxTransfer], to.Span[..Edu.MaxTransfer]);
                if (diff >= 0)
                    return Fail($"round {round}: byte {diff} came back 0x{to.Span[diff]:x2}, sent 0x{from.Span[diff]:x2}");
                Console.WriteLine($"round {round}: {Edu.MaxTransfer} bytes RAM -> edu -> RAM intact (first bytes {Convert.ToHexString(to.Span[..8])})");
            }
            return 0;
        }
        finally
        {
            (alloc as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// DMA outside the IOMMU mappings. Our own buffers' physical addresses are not IOVAs of this VFIO container, so a
    /// DMA there must be blocked: edu reading from the physical address of a patterned buffer gets none of the
    /// pattern, edu writing to the physical address of another buffer leaves it unchanged, and the IOMMU reports each
    /// as a DMAR fault in the kernel log. Afterwards a mapped DMA still works (nothing crashed or wedged).
    /// </summary>
    public static int DmaUnmapped(PciAddress a)
    {
        using IPciDeviceAccess access = PciDeviceAccess.Open(Function(a), BarAccessMethod.Vfio);
        access.EnableBusMaster();
        using MappedBar bar = access.MapBar(0);
        var edu = new Edu(bar.Region(RegisterByteOrder.LittleEndian));
        using var alloc = (IovaDmaAllocator)access.CreateDmaAllocator();
        using var host = new PhysicalDmaAllocator(preferHuge: false);   // pinned memory with known physical addresses, never mapped into the IOMMU
        DmaBuffer mapped = alloc.Allocate(4096), back = alloc.Allocate(4096);
        DmaBuffer secret = host.Allocate(4096), target = host.Allocate(4096);
        Fill(secret.Span, 0x5a);
        target.Span.Fill(0xc3);
        using var log = new KernelLog();

        // Device buffer := a known pattern, through a mapped IOVA.
        Fill(mapped.Span, 0x01);
        edu.DmaFromRam(mapped.DeviceAddress, 0, Edu.MaxTransfer, s_deviceTimeout);

        Console.WriteLine($"edu reads {Edu.MaxTransfer} bytes at 0x{secret.DeviceAddress:x} (physical address of a patterned buffer; not an IOVA)");
        edu.DmaFromRam(secret.DeviceAddress, 0, Edu.MaxTransfer, s_deviceTimeout);
        edu.DmaToRam(0, back.DeviceAddress, Edu.MaxTransfer, s_deviceTimeout);
        if (FirstDifference(secret.Span[..Edu.MaxTransfer], back.Span[..Edu.MaxTransfer]) < 0)
            return Fail("the device read our buffer through its physical address: the IOMMU did not block it");
        Console.WriteLine($"device got none of it (buffer reads back {Convert.ToHexString(back.Span[..8])}...)");
        string? readFault = log.WaitFor(m => IsDmarFault(m, "Read", secret.DeviceAddress), TimeSpan.FromSeconds(10));
        if (readFault == null)
            return Fail($"no DMAR read fault for 0x{secret.DeviceAddress:x} in the kernel log");
        Console.WriteLine($"reported: {readFault}");

        Console.WriteLine($"edu writes {Edu.MaxTransfer} bytes to 0x{target.DeviceAddress:x} (physical address of another buffer)");
        edu.DmaToRam(0, target.DeviceAddress, Edu.MaxTransfer, s_deviceTimeout);
        int changed = target.Span.IndexOfAnyExcept((byte)0xc3);
        if (changed >= 0)
            return Fail($"the device wrote into our memory through its physical address (byte {changed} is 0x{target.Span[changed]:x2})");
        Console.WriteLine("buffer unchanged");
        string? writeFault = log.WaitFor(m => IsDmarFault(m, "Write", target.DeviceAddress), TimeSpan.FromSeconds(10));
        if (writeFault == null)
            return Fail($"no DMAR write fault for 0x{target.DeviceAddress:x} in the kernel log");
        Console.WriteLine($"reported: {writeFault}");

        Fill(mapped.Span, 0x77);
        edu.DmaFromRam(mapped.DeviceAddress, 0, Edu.MaxTransfer, s_deviceTimeout);
        edu.DmaToRam(0, back.DeviceAddress, Edu.MaxTransfer, s_deviceTimeout);
        if (FirstDifference(mapped.Span[..Edu.MaxTransfer], back.Span[..Edu.MaxTransfer]) is int d and >= 0)
            return Fail($"after the faults a mapped DMA came back wrong at byte {d}");
        Console.WriteLine("a mapped DMA still works after the faults");
        return 0;
    }

    /// <summary>Opens the function and maps BAR0, writes <paramref name="readyFile"/>, then holds it until killed.</summary>
    public static int Hold(PciAddress a, BarAccessMethod method, string readyFile)
    {
        using IPciDeviceAccess access = PciDeviceAccess.Open(Function(a), method);
        using MappedBar bar = access.MapBar(0);
        File.WriteAllText(readyFile, $"{Environment.ProcessId}\n");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    /// <summary>dmar.c: "[DMA Read NO_PASID] Request device [00:03.0] fault addr 0x1234000 [fault reason 0x06] ...".</summary>
    private static bool IsDmarFault(string message, string kind, ulong address)
    {
        if (!message.Contains($"DMA {kind}", StringComparison.Ordinal))
            return false;
        int at = message.IndexOf("fault addr 0x", StringComparison.Ordinal);
        if (at < 0)
            return false;
        string hex = new(message.AsSpan(at + 13).ToArray().TakeWhile(Uri.IsHexDigit).ToArray());
        return ulong.TryParse(hex, System.Globalization.NumberStyles.AllowHexSpecifier, null, out ulong addr) && addr >> 12 == address >> 12;
    }

    private static string FallbackNote(IDmaAllocator a) => a switch
    {
        IovaDmaAllocator i when i.FallbackReason != null => $" ({i.FallbackReason})",
        PhysicalDmaAllocator p when p.FallbackReason != null => $" ({p.FallbackReason})",
        _ => "",
    };

    private static void Fill(Span<byte> s, byte seed)
    {
        for (int i = 0; i < s.Length; i++)
            s[i] = (byte)(seed + i * 7 + (i >> 8));
    }

    private static int FirstDifference(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        int n = a.CommonPrefixLength(b);
        return n == a.Length ? -1 : n;
    }
}
