using NUnit.Framework;
using RoceUio.Hardware;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Hardware;

public class MmioTraceTests
{
    [Test]
    public void Trace_lines_show_the_value_before_the_byte_swap()
    {
        using var dir = new TempDirectory();
        using MappedFile bar = MappedFile.Open(dir["bar0"], 0x100000, create: true);
        var region = new MmioRegion(bar, 0, RegisterByteOrder.BigEndian);
        var sw = new StringWriter();
        using var trace = new MmioTraceWriter(sw);
        region.Tracer = trace;

        region.Write32(0x80698, 0x00a0100c);
        uint back = region.Read32(0x80698);
        region.Write64(0x10, 0x0102030405060708);
        var window = new MmioRegion(bar, 2, RegisterByteOrder.LittleEndian, offset: 0x1000, length: 0x100) { Tracer = trace };
        window.Read32(0x8);
        trace.Flush();

        Assert.That(back, Is.EqualTo(0x00a0100cu));
        Assert.That(bar.Span(0x80698, 4).ToArray(), Is.EqualTo(new byte[] { 0x00, 0xa0, 0x10, 0x0c }), "big-endian in memory");
        string[] lines = sw.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines.Select(l => l[(l.IndexOf(' ') + 1)..]), Is.EqualTo(new[]
        {
            "W32 bar0+0x80698 0x00a0100c",
            "R32 bar0+0x80698 0x00a0100c",
            "W64 bar0+0x10 0x0102030405060708",
            "R32 bar2+0x1008 0x00000000",   // offsets are the BAR's, not the window's
        }));
        long[] ns = lines.Select(l => long.Parse(l[..l.IndexOf(' ')], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.That(ns, Is.Ordered);
        Assert.That(ns[0], Is.GreaterThanOrEqualTo(0));
    }

    [Test]
    public void Trace_file_is_written_on_dispose()
    {
        using var dir = new TempDirectory();
        using MappedFile bar = MappedFile.Open(dir["bar0"], 4096, create: true);
        var region = new MmioRegion(bar, 0, RegisterByteOrder.LittleEndian);
        using (var trace = MmioTraceWriter.Open(dir["trace.txt"]))
        {
            region.Tracer = trace;
            region.Write32(0x40, 7);
        }
        Assert.That(File.ReadAllText(dir["trace.txt"]), Does.Match(@"^\d+ W32 bar0\+0x40 0x00000007\n$"));
    }

    [Test]
    public void Register_access_allocates_nothing_with_the_tracer_off()
    {
        using var dir = new TempDirectory();
        using MappedFile bar = MappedFile.Open(dir["bar0"], 4096, create: true);
        var be = new MmioRegion(bar, 0, RegisterByteOrder.BigEndian);
        var le = new MmioRegion(bar, 0, RegisterByteOrder.LittleEndian);
        ulong sum = 0;
        for (int i = 0; i < 1000; i++)
            sum += Access(be, le, i);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100_000; i++)
            sum += Access(be, le, i);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero);
        Assert.That(sum, Is.Not.Zero);
    }

    private static ulong Access(MmioRegion be, MmioRegion le, int i)
    {
        long off = (i & 63) * 8;
        be.Write32(off, (uint)i);
        le.Write64(off + 512, (ulong)i << 3);
        MmioRegion.WriteBarrier();
        return be.Read32(off) + le.Read64(off + 512);
    }
}
