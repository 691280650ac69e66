namespace RoceUio.Hardware;

/// <summary>
/// A pinned, zeroed buffer the device can reach, with the address the device must use for it
/// (an IOVA through VFIO, a physical address on sysfs/UIO, an offset plus base on an emulated device).
/// </summary>
public sealed class DmaBuffer
{
    private readonly MappedFile _memory;
    private readonly long _offset;

    internal DmaBuffer(MappedFile memory, long offset, int length, ulong deviceAddress)
    {
        _memory = memory;
        _offset = offset;
        Length = length;
        DeviceAddress = deviceAddress;
    }

    public ulong DeviceAddress { get; }
    public int Length { get; }
    public Span<byte> Span => _memory.Span(_offset, Length);
}

/// <summary>Hands out DMA buffers.</summary>
public interface IDmaAllocator
{
    /// <summary>A zeroed buffer of <paramref name="length"/> bytes aligned to <paramref name="alignment"/> (a power of two).</summary>
    DmaBuffer Allocate(int length, int alignment = 4096);
}

/// <summary>
/// DMA memory of an emulated device: one shared-memory file whose byte at offset X has device address
/// <see cref="BaseAddress"/> + X. A device model maps the same file and resolves device addresses with
/// <see cref="TryResolve"/>. A simple bump allocator: drivers allocate their rings and mailboxes once at bring-up.
/// </summary>
public sealed class SharedDmaMemory : IDmaAllocator, IDisposable
{
    /// <summary>Device address of the file's first byte: non-zero, so that a zero address is always a bug.</summary>
    public const ulong DefaultBaseAddress = 0x1_0000_0000UL;

    private readonly MappedFile _file;
    private readonly object _lock = new();
    private long _next;

    public SharedDmaMemory(MappedFile file, ulong baseAddress = DefaultBaseAddress)
    {
        _file = file;
        BaseAddress = baseAddress;
    }

    public ulong BaseAddress { get; }
    public long Length => _file.Length;
    public MappedFile File => _file;

    public DmaBuffer Allocate(int length, int alignment = 4096)
    {
        if (length <= 0 || alignment <= 0 || (alignment & (alignment - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(length), $"DMA allocation of {length} bytes aligned {alignment}: length must be positive and alignment a power of two");
        lock (_lock)
        {
            long start = (_next + alignment - 1) & ~(long)(alignment - 1);
            if (start + length > _file.Length)
                throw new InsufficientMemoryException($"{_file.Path}: DMA memory exhausted ({length} bytes wanted, {_file.Length - start} left of {_file.Length})");
            _next = start + length;
            var buf = new DmaBuffer(_file, start, length, BaseAddress + (ulong)start);
            buf.Span.Clear();
            return buf;
        }
    }

    /// <summary>The memory a device address range refers to, as the device would see it; false if any of it is outside.</summary>
    public bool TryResolve(ulong deviceAddress, int length, out Span<byte> memory)
    {
        memory = default;
        if (deviceAddress < BaseAddress || length < 0)
            return false;
        ulong off = deviceAddress - BaseAddress;
        if (off > (ulong)_file.Length || (ulong)length > (ulong)_file.Length - off)
            return false;
        memory = _file.Span((long)off, length);
        return true;
    }

    public void Dispose() => _file.Dispose();
}
