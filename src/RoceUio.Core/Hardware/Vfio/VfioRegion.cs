using System.Runtime.InteropServices;

namespace RoceUio.Hardware.Vfio;

/// <summary>
/// A device region as VFIO_DEVICE_GET_REGION_INFO describes it: where it lies in the device fd (<see cref="Offset"/>,
/// never computed by us), its size and flags, and from the capability chain the mmap-able areas (SPARSE_MMAP: the
/// MSI-X table's page is usually left out) and whether the MSI-X table may be mapped anyway.
/// </summary>
public sealed record VfioRegion(int Index, uint Flags, ulong Size, ulong Offset,
                                IReadOnlyList<VfioRegionSparseMmapArea>? SparseAreas, bool MsixMappable)
{
    public bool CanMmap => (Flags & VfioAbi.RegionFlagMmap) != 0;
    public bool CanRead => (Flags & VfioAbi.RegionFlagRead) != 0;
    public bool CanWrite => (Flags & VfioAbi.RegionFlagWrite) != 0;

    /// <summary>
    /// Parses a filled <c>vfio_region_info</c> and its capability chain (offsets in the chain count from the info's
    /// first byte; 0 ends it). Every header and area is bounds checked against <paramref name="info"/>.
    /// </summary>
    public static VfioRegion Parse(ReadOnlySpan<byte> info)
    {
        if (info.Length < Marshal.SizeOf<VfioRegionInfo>())
            throw new HardwareAccessException($"vfio_region_info: {info.Length} bytes, need {Marshal.SizeOf<VfioRegionInfo>()}");
        VfioRegionInfo ri = MemoryMarshal.Read<VfioRegionInfo>(info);
        List<VfioRegionSparseMmapArea>? areas = null;
        bool msix = false;
        if ((ri.Flags & VfioAbi.RegionFlagCaps) != 0)
        {
            int hdrSize = Marshal.SizeOf<VfioInfoCapHeader>();
            uint next = ri.CapOffset;
            for (int guard = 0; next != 0; guard++)
            {
                if (guard > 64 || next + (ulong)hdrSize > (ulong)info.Length)
                    throw new HardwareAccessException($"vfio_region_info of region {ri.Index}: capability at {next} is outside the {info.Length}-byte reply");
                VfioInfoCapHeader h = MemoryMarshal.Read<VfioInfoCapHeader>(info[(int)next..]);
                if (h.Id == VfioAbi.RegionCapSparseMmap)
                {
                    int sz = Marshal.SizeOf<VfioRegionInfoCapSparseMmap>();
                    if (next + (ulong)sz > (ulong)info.Length)
                        throw new HardwareAccessException($"vfio_region_info of region {ri.Index}: truncated sparse-mmap capability");
                    var cap = MemoryMarshal.Read<VfioRegionInfoCapSparseMmap>(info[(int)next..]);
                    int areaSize = Marshal.SizeOf<VfioRegionSparseMmapArea>();
                    ulong end = next + (ulong)sz + (ulong)cap.NrAreas * (ulong)areaSize;
                    if (end > (ulong)info.Length)
                        throw new HardwareAccessException($"vfio_region_info of region {ri.Index}: {cap.NrAreas} sparse areas do not fit the reply");
                    areas = new List<VfioRegionSparseMmapArea>((int)cap.NrAreas);
                    for (int i = 0; i < cap.NrAreas; i++)
                        areas.Add(MemoryMarshal.Read<VfioRegionSparseMmapArea>(info[((int)next + sz + i * areaSize)..]));
                }
                else if (h.Id == VfioAbi.RegionCapMsixMappable)
                    msix = true;
                next = h.Next;
            }
        }
        return new VfioRegion((int)ri.Index, ri.Flags, ri.Size, ri.Offset, areas, msix);
    }
}
