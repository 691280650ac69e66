using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace RoceUio.Hardware;

/// <summary>Byte order of a device's registers: mlx4's are big-endian (<c>__raw_writel(cpu_to_be32(..))</c>), ocrdma's little-endian.</summary>
public enum RegisterByteOrder
{
    LittleEndian,
    BigEndian,
}

/// <summary>
/// A window of a mapped BAR with 32- and 64-bit register access in the device's byte order.
/// Accesses are volatile (never merged, reordered or elided by the JIT) and bounds checked against the window;
/// values are in the layout's own terms: <c>Write32(off, v)</c> on a big-endian device stores <c>cpu_to_be32(v)</c>.
/// Allocation-free. <see cref="WriteBarrier"/> stands where the kernel has <c>wmb()</c>.
/// </summary>
public sealed unsafe class MmioRegion
{
    private readonly MappedFile _file;
    private readonly byte* _base;
    private readonly bool _swap;
    private readonly Emulation.EmulatedDoorbell? _bell;

    /// <summary>The BAR number, for error messages and traces.</summary>
    public int Bar { get; }
    public long Offset { get; }
    public long Length { get; }
    public RegisterByteOrder ByteOrder { get; }

    /// <summary>Receives every access when set; null (the default) costs one branch per access.</summary>
    public IMmioTracer? Tracer { get; set; }

    public MmioRegion(MappedFile file, int bar, RegisterByteOrder order, long offset = 0, long length = -1)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (length < 0)
            length = file.Length - offset;
        if (offset < 0 || length <= 0 || offset + length > file.Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{file.Path}: region [0x{offset:x}, 0x{offset + length:x}) does not fit the 0x{file.Length:x}-byte BAR{bar}");
        _file = file;
        _base = file.Pointer + offset;
        _swap = (order == RegisterByteOrder.BigEndian) == BitConverter.IsLittleEndian;
        _bell = file.Doorbell;
        Bar = bar;
        Offset = offset;
        Length = length;
        ByteOrder = order;
    }

    public string Name => $"{_file.Path} bar{Bar}";

    /// <summary>The emulated device's doorbell (every write here rings it; a poller may sleep on it instead of
    /// spinning), or null on a real BAR (docs/emulated-devices.md "The doorbell file").</summary>
    public Emulation.EmulatedDoorbell? Doorbell => _bell;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* At(long offset, int width)
    {
        if ((ulong)offset > (ulong)(Length - width) || (offset & (width - 1)) != 0)
            ThrowOutOfRange(offset, width);
        return _base + offset;
    }

    private void ThrowOutOfRange(long offset, int width)
        => throw new ArgumentOutOfRangeException(nameof(offset),
            $"{Name}: a {width * 8}-bit access at +0x{offset:x} is outside the 0x{Length:x}-byte region or misaligned");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Read32(long offset)
    {
        uint raw = Volatile.Read(ref *(uint*)At(offset, 4));
        uint v = _swap ? BinaryPrimitives.ReverseEndianness(raw) : raw;
        Tracer?.Access(Bar, Offset + offset, 32, isWrite: false, v);
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write32(long offset, uint value)
    {
        uint* p = (uint*)At(offset, 4);
        Tracer?.Access(Bar, Offset + offset, 32, isWrite: true, value);
        Volatile.Write(ref *p, _swap ? BinaryPrimitives.ReverseEndianness(value) : value);
        _bell?.Ring();
    }

    /// <summary>
    /// A read that also sets the register, atomically: what a read-to-acquire hardware semaphore (mlx4's OWNER
    /// register, <c>mlx4_get_ownership</c>) does, for registers that are plain shared memory (an emulated device, where
    /// no device sees the read). Returns the old value. Traced as the read it stands for. Never use it on a real BAR:
    /// there the plain <see cref="Read32"/> is the semaphore.
    /// </summary>
    public uint Exchange32(long offset, uint value)
    {
        uint* p = (uint*)At(offset, 4);
        uint raw = Interlocked.Exchange(ref *p, _swap ? BinaryPrimitives.ReverseEndianness(value) : value);
        uint old = _swap ? BinaryPrimitives.ReverseEndianness(raw) : raw;
        Tracer?.Access(Bar, Offset + offset, 32, isWrite: false, old);
        _bell?.Ring();
        return old;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Read64(long offset)
    {
        ulong raw = Volatile.Read(ref *(ulong*)At(offset, 8));
        ulong v = _swap ? BinaryPrimitives.ReverseEndianness(raw) : raw;
        Tracer?.Access(Bar, Offset + offset, 64, isWrite: false, v);
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write64(long offset, ulong value)
    {
        ulong* p = (ulong*)At(offset, 8);
        Tracer?.Access(Bar, Offset + offset, 64, isWrite: true, value);
        Volatile.Write(ref *p, _swap ? BinaryPrimitives.ReverseEndianness(value) : value);
        _bell?.Ring();
    }

    /// <summary>Orders earlier stores before later ones, as the kernel's <c>wmb()</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteBarrier() => Interlocked.MemoryBarrier();
}

/// <summary>Sees every register access of a region (the MMIO trace).</summary>
public interface IMmioTracer
{
    void Access(int bar, long offset, int width, bool isWrite, ulong value);
}
