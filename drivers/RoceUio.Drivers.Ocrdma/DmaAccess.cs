using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RoceUio.Drivers.Ocrdma;

/// <summary>
/// Little-endian dword access to DMA memory shared with the device (rings, mailboxes, the AV table).
/// Volatile where the other side polls a word (a valid bit): never cached in a register, never reordered.
/// Bounds are checked by the span indexer.
/// </summary>
internal static class DmaAccess
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ReadVolatile32(Span<byte> memory, int offset)
    {
        uint raw = Volatile.Read(ref Unsafe.As<byte, uint>(ref memory.Slice(offset, 4)[0]));
        return BitConverter.IsLittleEndian ? raw : BinaryPrimitives.ReverseEndianness(raw);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteVolatile32(Span<byte> memory, int offset, uint value)
    {
        uint raw = BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);
        Volatile.Write(ref Unsafe.As<byte, uint>(ref memory.Slice(offset, 4)[0]), raw);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Read32(ReadOnlySpan<byte> memory, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(memory[offset..]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write32(Span<byte> memory, int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(memory[offset..], value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Or32(Span<byte> memory, int offset, uint value) => Write32(memory, offset, Read32(memory, offset) | value);

    /// <summary>Low and high dwords of a 64-bit device address (struct ocrdma_pa { lo; hi }).</summary>
    public static void WritePa(Span<byte> memory, int offset, ulong address)
    {
        Write32(memory, offset, (uint)address);
        Write32(memory, offset + 4, (uint)(address >> 32));
    }

    public static ulong ReadPa(ReadOnlySpan<byte> memory, int offset)
        => Read32(memory, offset) | (ulong)Read32(memory, offset + 4) << 32;
}
