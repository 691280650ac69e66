namespace RoceUio.Hardware.Dma;

/// <summary>
/// DMA memory for sysfs and UIO access, where the device sees physical addresses (no IOMMU): pinned chunks from
/// <see cref="HostMemory"/>, carved by a bump allocator, each buffer's address from <see cref="Pagemap"/>.
/// A buffer must be physically contiguous: within a 2 MiB hugepage it always is; with 4 KiB pages a buffer larger
/// than a page is accepted only if pagemap shows its pages contiguous, otherwise the error says to reserve hugepages.
/// Needs root (pagemap PFNs). Locking: Allocate takes the instance lock.
/// </summary>
public sealed class PhysicalDmaAllocator : IDmaAllocator, IDisposable
{
    private readonly object _lock = new();
    private readonly List<HostMemory.Allocation> _chunks = new();
    private readonly bool _preferHuge;
    private HostMemory.Allocation? _current;
    private long _next;

    public PhysicalDmaAllocator(bool preferHuge = true) => _preferHuge = preferHuge;

    /// <summary>Why hugepages were not used, once a chunk fell back to 4 KiB pages; null otherwise.</summary>
    public string? FallbackReason { get; private set; }

    public DmaBuffer Allocate(int length, int alignment = 4096)
    {
        if (length <= 0 || alignment <= 0 || (alignment & (alignment - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(length), $"DMA allocation of {length} bytes aligned {alignment}: length must be positive and alignment a power of two");
        lock (_lock)
        {
            if (_current == null || !Fits(_current, length, alignment, out long start))
            {
                _current = HostMemory.Allocate(Math.Max(length, HostMemory.HugePageSize), _preferHuge);
                _chunks.Add(_current);
                FallbackReason ??= _current.FallbackReason;
                _next = 0;
                if (!Fits(_current, length, alignment, out start))
                    throw new HardwareAccessException($"a {length}-byte DMA buffer does not fit a {_current.Memory.Length}-byte chunk of {_current.PageSize}-byte pages");
            }
            ulong phys = CheckContiguous(_current, start, length);
            _next = start + length;
            var buf = new DmaBuffer(_current.Memory, start, length, phys);
            buf.Span.Clear();
            return buf;
        }
    }

    private bool Fits(HostMemory.Allocation chunk, int length, int alignment, out long start)
    {
        start = (_next + alignment - 1) & ~(long)(alignment - 1);
        long page = chunk.PageSize;
        // Keep a buffer inside one page when it can be: that page is contiguous by definition.
        if (length <= page && start / page != (start + length - 1) / page)
            start = (start + page - 1) & ~(page - 1);
        return start + length <= chunk.Memory.Length;
    }

    private static ulong CheckContiguous(HostMemory.Allocation chunk, long start, int length)
    {
        nint va = chunk.Memory.Address + (nint)start;
        ulong phys = Pagemap.VirtualToPhysical(va);
        long page = chunk.PageSize;
        for (long off = page - (start % page); off < length; off += page)
            if (Pagemap.VirtualToPhysical(va + (nint)off) != phys + (ulong)off)
                throw new HardwareAccessException($"a {length}-byte DMA buffer needs physically contiguous memory, but its {page}-byte pages are scattered: "
                    + (chunk.FallbackReason ?? "use smaller buffers") + ", or use VFIO (the IOMMU makes any pages contiguous)");
        return phys;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var c in _chunks)
                c.Memory.Dispose();
            _chunks.Clear();
            _current = null;
        }
    }
}
