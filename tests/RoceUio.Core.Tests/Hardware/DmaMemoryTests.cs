using NUnit.Framework;
using RoceUio.Hardware;
using RoceUio.Hardware.Dma;

namespace RoceUio.Core.Tests.Hardware;

public class DmaMemoryTests
{
    [Test]
    public void Pagemap_gives_a_locked_page_a_physical_address()
    {
        // CI runs as root (the guide): without CAP_SYS_ADMIN pagemap hides PFNs, and the allocator must say so.
        using var alloc = new PhysicalDmaAllocator();
        if (Environment.UserName != "root")
        {
            var e = Assert.Throws<HardwareAccessException>(() => alloc.Allocate(4096));
            Assert.That(e!.Message, Does.Contain("CAP_SYS_ADMIN"));
            return;
        }
        DmaBuffer a = alloc.Allocate(4096);
        DmaBuffer b = alloc.Allocate(64, 64);
        Assert.That(a.DeviceAddress, Is.Not.Zero);
        Assert.That(a.DeviceAddress % 4096, Is.Zero, "page-aligned buffer, page-aligned physical address");
        Assert.That(a.DeviceAddress >> 12, Is.Not.Zero, "non-zero PFN");
        Assert.That(b.DeviceAddress, Is.Not.Zero);
        Assert.That(a.Span.ToArray(), Is.All.EqualTo((byte)0));
        a.Span[0] = 0x5a;
        Assert.That(a.Span[0], Is.EqualTo(0x5a));
        if (alloc.FallbackReason != null)
            Assert.That(alloc.FallbackReason, Does.Contain("nr_hugepages"), "the fallback says how to get hugepages");
    }

    [Test]
    public void Without_hugepages_a_multi_page_buffer_is_refused_unless_contiguous()
    {
        if (Environment.UserName != "root")
            return;   // covered by the test above
        using var alloc = new PhysicalDmaAllocator(preferHuge: false);
        try
        {
            DmaBuffer big = alloc.Allocate(64 * 1024);
            // Accepted: then pagemap really shows the pages contiguous.
            Assert.That(Pagemap.VirtualToPhysical(AddressOf(big) + 60 * 1024), Is.EqualTo(big.DeviceAddress + 60 * 1024));
        }
        catch (HardwareAccessException e)
        {
            Assert.That(e.Message, Does.Contain("physically contiguous").And.Contain("VFIO"));
        }
    }

    private static unsafe nint AddressOf(DmaBuffer b)
    {
        fixed (byte* p = b.Span)
            return (nint)p;
    }

    private sealed class RecordingIommu : IIommuDmaMapper
    {
        public readonly List<(nint Va, ulong Iova, ulong Len)> Maps = new();
        public readonly List<ulong> Unmaps = new();
        public bool Fail;
        public void Map(nint va, ulong iova, ulong len)
        {
            if (Fail)
                throw new HardwareAccessException("VFIO_IOMMU_MAP_DMA failed: No space left on device (errno 28)");
            Maps.Add((va, iova, len));
        }
        public void Unmap(ulong iova, ulong len) => Unmaps.Add(iova);
    }

    [Test]
    public void Iova_allocator_maps_chunks_through_the_iommu_and_hands_out_their_iovas()
    {
        var iommu = new RecordingIommu();
        var alloc = new IovaDmaAllocator(iommu, preferHuge: false);
        DmaBuffer a = alloc.Allocate(4096);
        DmaBuffer b = alloc.Allocate(100, 128);
        DmaBuffer big = alloc.Allocate(3 << 20);   // larger than a chunk: its own mapping

        Assert.That(iommu.Maps, Has.Count.EqualTo(2));
        Assert.That(iommu.Maps[0].Iova, Is.EqualTo(IovaDmaAllocator.IovaBase));
        Assert.That(a.DeviceAddress, Is.EqualTo(IovaDmaAllocator.IovaBase));
        Assert.That(b.DeviceAddress, Is.EqualTo(IovaDmaAllocator.IovaBase + 4096));
        Assert.That(big.DeviceAddress, Is.EqualTo(iommu.Maps[1].Iova));
        Assert.That(iommu.Maps[1].Iova, Is.GreaterThanOrEqualTo(iommu.Maps[0].Iova + iommu.Maps[0].Len), "IOVA ranges do not overlap");
        Assert.That(AddressOf(a), Is.EqualTo(iommu.Maps[0].Va), "the IOVA maps the buffer's own memory");
        alloc.Dispose();
        Assert.That(iommu.Unmaps, Is.EqualTo(iommu.Maps.Select(m => m.Iova)));

        iommu.Fail = true;
        var e = Assert.Throws<HardwareAccessException>(() => new IovaDmaAllocator(iommu).Allocate(64));
        Assert.That(e!.Message, Does.Contain("VFIO_IOMMU_MAP_DMA failed"));
    }
}
