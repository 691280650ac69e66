using NUnit.Framework;
using RoceUio.Drivers.Mlx4;
using RoceUio.Gids;

namespace RoceUio.Drivers.Mlx4.Tests;

/// <summary>The hot paths allocate nothing: the real-index lookup, an HCR command, and a GID push.</summary>
[TestFixture]
public class AllocationTests
{
    [Test]
    public void Real_index_lookup_HCR_commands_and_commits_allocate_nothing()
    {
        using var rig = new ThreadRig();
        Mlx4Device d = rig.OpenDriver();
        long bringUp = rig.Model.Model.Snapshot().Accepted;
        var entry = new GidEntry(Gid.Parse("2001:db8::1"), GidType.RoceV2, 2);
        ulong box = d.MailboxAddress;

        void Work()
        {
            for (int i = 0; i < 1000; i++)
                d.TryGetRealIndex(1, i & 127, out _);
            d.AddGid(1, 3, entry);
            d.Commit(1);
            d.Hcr.Execute(0, box, 0, 0, Mlx4Layout.CmdQueryDevCap, TimeSpan.FromSeconds(5));
            d.DeleteGid(1, 3, entry);
            d.Commit(1);
        }

        for (int i = 0; i < 5; i++)
            Work();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++)
            Work();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero);
        Assert.That(rig.Model.Model.Snapshot().Accepted, Is.EqualTo(bringUp + 25 * 3), "the commands did run");
    }
}
