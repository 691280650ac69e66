using NUnit.Framework;
using RoceUio.Gids;

namespace RoceUio.Drivers.Ocrdma.Tests;

/// <summary>The hot path (lookup by sgid index, building the MQE and the AV) allocates nothing.</summary>
public class AllocationTests
{
    [Test]
    public void LookupByIndexAndEncoding_AllocateNothing()
    {
        var table = new OcrdmaSgidTable();
        for (int i = 0; i < OcrdmaSgidTable.Capacity; i++)
            table.Add(1, i, new OcrdmaSgid(Gid.Parse($"::ffff:10.0.0.{i + 1}"), GidType.RoceV2, 2, (ushort)i));
        var path = new OcrdmaPath(Gid.Parse("::ffff:10.0.1.1"), 0x001122334455UL);
        var attr = new OcrdmaAhAttr(Gid.Parse("::ffff:10.0.1.1"), 0x001122334455UL);
        Span<byte> mqe = stackalloc byte[OcrdmaLayout.MqeSize];
        Span<byte> av = stackalloc byte[OcrdmaLayout.AvSize];
        int found = 0;
        for (int i = 0; i < 1000; i++) // warm up
            if (table.TryGet(1, i & 15, out OcrdmaSgid s)) { OcrdmaCommands.EncodeModifyQpPath(mqe, i, s, path); OcrdmaCommands.EncodeAv(av, s, attr, 1); found++; }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100_000; i++)
            if (table.TryGet(1, i & 15, out OcrdmaSgid s)) { OcrdmaCommands.EncodeModifyQpPath(mqe, i, s, path); OcrdmaCommands.EncodeAv(av, s, attr, 1); found++; }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(found, Is.EqualTo(101_000));
        Assert.That(allocated, Is.EqualTo(0));
    }
}
