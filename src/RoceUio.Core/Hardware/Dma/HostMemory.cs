using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace RoceUio.Hardware.Dma;

/// <summary>
/// Pinned memory for DMA on real hardware: anonymous, zeroed, every page faulted in and mlock'ed so that it stays at
/// one physical address (ixy memory.c memory_allocate_dma). 2 MiB hugepages when the system has free ones
/// (<c>/proc/sys/vm/nr_hugepages</c>), otherwise 4 KiB pages, and <see cref="FallbackReason"/> says why.
/// </summary>
public static unsafe class HostMemory
{
    public const long HugePageSize = 2 << 20;

    /// <summary>The outcome of an allocation: the mapping (owned) and its page size.</summary>
    public sealed record Allocation(MappedFile Memory, long PageSize, string? FallbackReason)
    {
        public bool IsHuge => PageSize == HugePageSize;
    }

    /// <summary>
    /// Allocates at least <paramref name="length"/> bytes. With <paramref name="preferHuge"/> it tries 2 MiB
    /// hugepages first; a failure there falls back to normal pages with the reason recorded, a failure to pin is an error.
    /// </summary>
    public static Allocation Allocate(long length, bool preferHuge = true)
    {
        if (length <= 0)
            throw new ArgumentOutOfRangeException(nameof(length), $"cannot allocate {length} bytes of DMA memory");
        string? reason = null;
        if (preferHuge)
        {
            long hugeLen = (length + HugePageSize - 1) & ~(HugePageSize - 1);
            void* h = mmap(null, (size_t)(nuint)hugeLen, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
            if (h != MAP_FAILED)
                return new Allocation(Pin(h, hugeLen, HugePageSize, "hugepage DMA memory"), HugePageSize, null);
            reason = $"no free 2 MiB hugepages ({Errno.Describe(errno)}; HugePages_Free={MeminfoValue("HugePages_Free") ?? "?"}): "
                     + "using 4 KiB pages, so only 4096 bytes are physically contiguous; reserve some with "
                     + "`echo 64 > /proc/sys/vm/nr_hugepages`";
        }
        long page = Environment.SystemPageSize;
        long len = (length + page - 1) & ~(page - 1);
        void* m = mmap(null, (size_t)(nuint)len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            throw new HardwareAccessException($"cannot allocate {len} bytes of DMA memory: {Errno.Describe(errno)}");
        return new Allocation(Pin(m, len, page, "DMA memory"), page, reason);
    }

    private static MappedFile Pin(void* p, long length, long pageSize, string name)
    {
        if (mlock(p, (size_t)(nuint)length) != 0)
        {
            int e = errno;
            munmap(p, (size_t)(nuint)length);
            throw new HardwareAccessException($"cannot pin {length} bytes of {name} (mlock): {Errno.Describe(e)}; "
                + "raise the locked-memory limit (ulimit -l, LimitMEMLOCK=) or run as root");
        }
        // Fault every page in (mlock already does; the write makes it explicit and survives MCL_ONFAULT-style limits).
        byte* b = (byte*)p;
        for (long off = 0; off < length; off += pageSize)
            Volatile.Write(ref b[off], 0);
        return MappedFile.Adopt($"[{name} {length} bytes]", b, length);
    }

    private static string? MeminfoValue(string key)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith(key + ":", StringComparison.Ordinal))
                    return line[(key.Length + 1)..].Trim();
        }
        catch (IOException) { }
        return null;
    }
}
