using NUnit.Framework;
using RoceUio.Netlink;

namespace RoceUio.Core.Tests.Netlink;

/// <summary>
/// FindByName answers from the cache's name index (the daemon resolves every remembered sticky entry by name at start):
/// it must follow renames, removals and resyncs exactly as a scan of the links would.
/// </summary>
public class NetdevNameIndexTests
{
    private static NetdevCache Cache() => new() { Log = _ => { } };
    private static void Link(NetdevCache c, int ifindex, string name) => c.ApplyAll(RtnlMessages.NewLink(new LinkSpec(ifindex, name)));

    private static string? NameOf(NetdevCache c, string name) => c.FindByName(name) is { } l ? $"{l.Ifindex}:{l.Name}" : null;

    [Test]
    public void Names_follow_a_swap_through_a_temporary_name_and_a_removal()
    {
        NetdevCache c = Cache();
        Link(c, 2, "a");
        Link(c, 3, "b");
        Link(c, 2, "tmp");
        Link(c, 3, "a");
        Link(c, 2, "b");
        Assert.That(NameOf(c, "a"), Is.EqualTo("3:a"));
        Assert.That(NameOf(c, "b"), Is.EqualTo("2:b"));
        Assert.That(NameOf(c, "tmp"), Is.Null, "the temporary name went with the rename");

        c.ApplyAll(RtnlMessages.DelLink(new LinkSpec(3, "a")));
        Assert.That(NameOf(c, "a"), Is.Null);
        Assert.That(NameOf(c, "b"), Is.EqualTo("2:b"));
        Link(c, 7, "a");
        Assert.That(NameOf(c, "a"), Is.EqualTo("7:a"), "a new link under a freed name");
    }

    [Test]
    public void After_a_resync_that_missed_renames_every_name_is_found_where_the_dump_put_it()
    {
        NetdevCache c = Cache();
        Link(c, 2, "x");
        Link(c, 3, "y");
        // Missed while the socket overflowed: 2 became y and 3 became x. The dump brings 2 first (for a moment two
        // links are called y in the cache), then 3.
        c.BeginResync();
        Link(c, 2, "y");
        Link(c, 3, "x");
        c.EndResync();
        Assert.That(NameOf(c, "x"), Is.EqualTo("3:x"));
        Assert.That(NameOf(c, "y"), Is.EqualTo("2:y"));

        // Missed: 3 went away and 2 took its name; a link 4 took 2's old name.
        c.BeginResync();
        Link(c, 2, "x");
        Link(c, 4, "y");
        c.EndResync();
        Assert.That(NameOf(c, "x"), Is.EqualTo("2:x"));
        Assert.That(NameOf(c, "y"), Is.EqualTo("4:y"));
        Assert.That(c.Count, Is.EqualTo(2));
    }

    [Test]
    public void A_lookup_hits_and_misses_without_allocating_at_10_and_10000_netdevs()
    {
        foreach (int n in new[] { 10, 10_000 })
        {
            NetdevCache c = Cache();
            for (int i = 0; i < n; i++)
                Link(c, 100 + i, $"mv{i}");
            string hit = $"mv{n - 1}", miss = "nosuch";
            c.FindByName(hit);
            c.FindByName(miss);
            long before = GC.GetAllocatedBytesForCurrentThread();
            NetdevLink? found = c.FindByName(hit), missed = c.FindByName(miss);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.That(found?.Ifindex, Is.EqualTo(100 + n - 1));
            Assert.That(missed, Is.Null);
            Assert.That(allocated, Is.Zero, $"N={n}");
        }
    }
}
