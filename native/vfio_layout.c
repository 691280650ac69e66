/* VFIO numbers: linux/vfio.h, linux/pci_regs.h. Compared with src/RoceUio.Core/Hardware/Vfio/VfioAbi.cs by
 * tests/RoceUio.Core.Tests/Hardware/VfioLayoutTests.cs.
 * iommufd.h and the VFIO cdev ioctls (VFIO_DEVICE_BIND_IOMMUFD, ATTACH/DETACH_IOMMUFD_PT) are newer than Debian 12's
 * 6.1 headers: their values are pinned in that test from the upstream header instead, and printed here only when the
 * machine's headers have them. */
#include "layout.h"
#include <linux/vfio.h>
#include <linux/pci_regs.h>
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif
void print_vfio(void)
{
    P(VFIO_API_VERSION);
    P(VFIO_TYPE1_IOMMU);
    P(VFIO_TYPE1v2_IOMMU);
    P(VFIO_NOIOMMU_IOMMU);
    P(VFIO_GET_API_VERSION);
    P(VFIO_CHECK_EXTENSION);
    P(VFIO_SET_IOMMU);
    P(VFIO_GROUP_GET_STATUS);
    P(VFIO_GROUP_SET_CONTAINER);
    P(VFIO_GROUP_UNSET_CONTAINER);
    P(VFIO_GROUP_GET_DEVICE_FD);
    P(VFIO_DEVICE_GET_INFO);
    P(VFIO_DEVICE_GET_REGION_INFO);
    P(VFIO_DEVICE_GET_IRQ_INFO);
    P(VFIO_DEVICE_SET_IRQS);
    P(VFIO_DEVICE_RESET);
    P(VFIO_IOMMU_GET_INFO);
    P(VFIO_IOMMU_MAP_DMA);
    P(VFIO_IOMMU_UNMAP_DMA);
    P(VFIO_GROUP_FLAGS_VIABLE);
    P(VFIO_GROUP_FLAGS_CONTAINER_SET);
    P(VFIO_DEVICE_FLAGS_RESET);
    P(VFIO_DEVICE_FLAGS_PCI);
    P(VFIO_REGION_INFO_FLAG_READ);
    P(VFIO_REGION_INFO_FLAG_WRITE);
    P(VFIO_REGION_INFO_FLAG_MMAP);
    P(VFIO_REGION_INFO_FLAG_CAPS);
    P(VFIO_REGION_INFO_CAP_SPARSE_MMAP);
    P(VFIO_REGION_INFO_CAP_MSIX_MAPPABLE);
    P(VFIO_DMA_MAP_FLAG_READ);
    P(VFIO_DMA_MAP_FLAG_WRITE);
    P(VFIO_PCI_BAR0_REGION_INDEX);
    P(VFIO_PCI_BAR5_REGION_INDEX);
    P(VFIO_PCI_CONFIG_REGION_INDEX);
    P(PCI_COMMAND);
    P(PCI_COMMAND_MEMORY);
    P(PCI_COMMAND_MASTER);
    SZ(vfio_group_status);
    OFF(vfio_group_status, flags);
    SZ(vfio_device_info);
    OFF(vfio_device_info, flags);
    OFF(vfio_device_info, num_regions);
    OFF(vfio_device_info, num_irqs);
    OFF(vfio_device_info, cap_offset);
    SZ(vfio_region_info);
    OFF(vfio_region_info, flags);
    OFF(vfio_region_info, index);
    OFF(vfio_region_info, cap_offset);
    OFF(vfio_region_info, size);
    OFF(vfio_region_info, offset);
    SZ(vfio_info_cap_header);
    OFF(vfio_info_cap_header, version);
    OFF(vfio_info_cap_header, next);
    SZ(vfio_region_info_cap_sparse_mmap);
    OFF(vfio_region_info_cap_sparse_mmap, nr_areas);
    OFF(vfio_region_info_cap_sparse_mmap, areas);
    SZ(vfio_region_sparse_mmap_area);
    OFF(vfio_region_sparse_mmap_area, size);
    SZ(vfio_iommu_type1_info);
    OFF(vfio_iommu_type1_info, iova_pgsizes);
    SZ(vfio_iommu_type1_dma_map);
    OFF(vfio_iommu_type1_dma_map, flags);
    OFF(vfio_iommu_type1_dma_map, vaddr);
    OFF(vfio_iommu_type1_dma_map, iova);
    OFF(vfio_iommu_type1_dma_map, size);
    SZ(vfio_iommu_type1_dma_unmap);
    OFF(vfio_iommu_type1_dma_unmap, iova);
    OFF(vfio_iommu_type1_dma_unmap, size);
#ifdef VFIO_DEVICE_BIND_IOMMUFD
    P(VFIO_DEVICE_BIND_IOMMUFD);
    P(VFIO_DEVICE_ATTACH_IOMMUFD_PT);
    P(VFIO_DEVICE_DETACH_IOMMUFD_PT);
    SZ(vfio_device_bind_iommufd);
    OFF(vfio_device_bind_iommufd, iommufd);
    OFF(vfio_device_bind_iommufd, out_devid);
    SZ(vfio_device_attach_iommufd_pt);
    OFF(vfio_device_attach_iommufd_pt, pt_id);
#endif
#ifdef IOMMU_IOAS_ALLOC
    P(IOMMU_DESTROY);
    P(IOMMU_IOAS_ALLOC);
    P(IOMMU_IOAS_MAP);
    P(IOMMU_IOAS_UNMAP);
    P(IOMMU_IOAS_MAP_FIXED_IOVA);
    P(IOMMU_IOAS_MAP_WRITEABLE);
    P(IOMMU_IOAS_MAP_READABLE);
    SZ(iommu_ioas_alloc);
    OFF(iommu_ioas_alloc, out_ioas_id);
    SZ(iommu_ioas_map);
    OFF(iommu_ioas_map, ioas_id);
    OFF(iommu_ioas_map, user_va);
    OFF(iommu_ioas_map, length);
    OFF(iommu_ioas_map, iova);
    SZ(iommu_ioas_unmap);
    OFF(iommu_ioas_unmap, iova);
    OFF(iommu_ioas_unmap, length);
    SZ(iommu_destroy);
#endif
}
