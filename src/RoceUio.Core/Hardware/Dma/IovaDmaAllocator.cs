namespace RoceUio.Hardware.Dma;

/// <summary>
/// DMA memory behind an IOMMU (VFIO): pinned chunks from <see cref="HostMemory"/>, each mapped through
/// <see cref="IIommuDmaMapper"/> at an IOVA this allocator assigns, so any buffer is contiguous to the device whatever
/// its pages. IOVAs start at <see cref="IovaBase"/> (4 GiB) and grow: unlike ixy's iova = vaddr they stay within the
/// 39-bit address width of small IOMMUs, and never 0, so a zero address in a descriptor is always a bug.
/// Locking: Allocate takes the instance lock.
/// </summary>
public sealed class IovaDmaAllocator : IDmaAllocator, IDisposable
{
    public const ulong IovaBase = 0x1_0000_0000UL;

    private readonly object _lock = new();
    private readonly IIommuDmaMapper _iommu;
    private readonly bool _preferHuge;
    private readonly List<(HostMemory.Allocation Chunk, ulong Iova)> _chunks = new();
    private ulong _nextIova = IovaBase;
    private long _next;

    public IovaDmaAllocator(IIommuDmaMapper iommu, bool preferHuge = true)
    {
        _iommu = iommu;
        _preferHuge = preferHuge;
    }

    public string? FallbackReason { get; private set; }

    public DmaBuffer Allocate(int length, int alignment = 4096)
    {
        if (length <= 0 || alignment <= 0 || (alignment & (alignment - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(length), $"DMA allocation of {length} bytes aligned {alignment}: length must be positive and alignment a power of two");
        lock (_lock)
        {
            long start = (_next + alignment - 1) & ~(long)(alignment - 1);
            if (_chunks.Count == 0 || start + length > _chunks[^1].Chunk.Memory.Length)
            {
                var chunk = HostMemory.Allocate(Math.Max(length, HostMemory.HugePageSize), _preferHuge);
                ulong iova = _nextIova;
                try
                {
                    _iommu.Map(chunk.Memory.Address, iova, (ulong)chunk.Memory.Length);
                }
                catch
                {
                    chunk.Memory.Dispose();
                    throw;
                }
                _nextIova += ((ulong)chunk.Memory.Length + (ulong)HostMemory.HugePageSize - 1) & ~((ulong)HostMemory.HugePageSize - 1);
                _chunks.Add((chunk, iova));
                FallbackReason ??= chunk.FallbackReason;
                start = 0;
            }
            var (c, baseIova) = _chunks[^1];
            _next = start + length;
            var buf = new DmaBuffer(c.Memory, start, length, baseIova + (ulong)start);
            buf.Span.Clear();
            return buf;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var (c, iova) in _chunks)
            {
                try { _iommu.Unmap(iova, (ulong)c.Memory.Length); } catch (HardwareAccessException) { /* closing the container drops it anyway */ }
                c.Memory.Dispose();
            }
            _chunks.Clear();
        }
    }
}
