namespace RoceUio.Hardware.Pci;

/// <summary>
/// A BAR mapped into the process: the mapping, where in it the BAR starts (UIO maps and VFIO regions may begin inside
/// a page) and the BAR's size. <see cref="Region"/> gives the register view a driver uses.
/// </summary>
public sealed class MappedBar(int index, MappedFile file, long offset, long size) : IDisposable
{
    public int Index { get; } = index;
    public MappedFile File { get; } = file;
    /// <summary>Offset of the BAR's first byte in <see cref="File"/>.</summary>
    public long Offset { get; } = offset;
    public long Size { get; } = size;

    /// <summary>Registers of the whole BAR in the device's byte order.</summary>
    public MmioRegion Region(RegisterByteOrder order) => new(File, Index, order, Offset, Size);

    public void Dispose() => File.Dispose();
}
