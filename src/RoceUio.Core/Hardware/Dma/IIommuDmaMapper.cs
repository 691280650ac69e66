namespace RoceUio.Hardware.Dma;

/// <summary>
/// Makes process memory reachable by a device at an I/O virtual address: VFIO_IOMMU_MAP_DMA on a type1 container, or
/// IOMMU_IOAS_MAP on an iommufd IOAS.
/// </summary>
public interface IIommuDmaMapper
{
    /// <summary>Maps [<paramref name="virtualAddress"/>, +<paramref name="length"/>) at <paramref name="iova"/>, readable and writable by the device.</summary>
    void Map(nint virtualAddress, ulong iova, ulong length);

    void Unmap(ulong iova, ulong length);
}
