using static Tmds.Linux.LibC;

namespace RoceUio.Hardware.Dma;

/// <summary>
/// Virtual to physical translation through <c>/proc/self/pagemap</c> (Documentation/admin-guide/mm/pagemap.rst): one
/// u64 per virtual page at offset (vaddr / pagesize) * 8; bit 63 = present, bits 0-54 = PFN. Since Linux 4.2 the PFN
/// reads as 0 without CAP_SYS_ADMIN, and a page that was never faulted in has none: pin and touch it first
/// (<see cref="HostMemory"/>).
/// </summary>
public static unsafe class Pagemap
{
    private const ulong Present = 1UL << 63;
    private const ulong PfnMask = (1UL << 55) - 1;

    /// <summary>The physical address of the byte at <paramref name="virtualAddress"/>; throws saying why there is none.</summary>
    public static ulong VirtualToPhysical(nint virtualAddress, string pagemapPath = "/proc/self/pagemap")
    {
        long page = Environment.SystemPageSize;
        ulong va = (ulong)virtualAddress;
        ulong entry = ReadEntry(pagemapPath, (long)(va / (ulong)page) * 8);
        if ((entry & Present) == 0)
            throw new HardwareAccessException($"{pagemapPath}: page at 0x{va:x} is not present: fault it in and mlock it before asking its physical address");
        ulong pfn = entry & PfnMask;
        if (pfn == 0)
            throw new HardwareAccessException($"{pagemapPath}: the PFN of 0x{va:x} reads as 0: physical addresses need CAP_SYS_ADMIN (run as root) or VFIO");
        return pfn * (ulong)page + va % (ulong)page;
    }

    private static ulong ReadEntry(string path, long offset)
    {
        byte[] p = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        int fd;
        fixed (byte* pp = p)
            fd = open(pp, O_RDONLY | O_CLOEXEC, 0);
        if (fd < 0)
            throw new HardwareAccessException($"{path}: cannot open: {Errno.Describe(errno)}");
        try
        {
            ulong entry;
            long n = pread(fd, &entry, 8, offset);   // reads must be 8-byte aligned: offset is a multiple of 8
            if (n != 8)
                throw new HardwareAccessException($"{path}: reading the entry at 0x{offset:x} failed: {(n < 0 ? Errno.Describe(errno) : $"{n} bytes")}");
            return entry;
        }
        finally
        {
            close(fd);
        }
    }
}
