using NUnit.Framework;
using RoceUio.Gids;
using static RoceUio.Core.Tests.Gids.GidTableTestKit;

namespace RoceUio.Core.Tests.Gids;

/// <summary>Kernel policy: first free slot, exactly as Linux. Sticky: a GID that comes back gets its old index.</summary>
public class GidTableIndexPolicyTests
{
    private static readonly GidEntry A = V2("192.0.2.1"), B = V2("192.0.2.2"), C = V2("192.0.2.3"), D = V2("192.0.2.4");

    private static int[] AddAll(GidTable t, params GidEntry[] entries) => entries.Select(e => t.Add(e)).ToArray();

    [Test]
    public void StickyIsTheDefaultPolicy()
        => Assert.That(new GidTable(1, 16, GidTypes.Roce).Policy, Is.EqualTo(IndexPolicy.Sticky));

    [TestCase(IndexPolicy.Kernel, new[] { 2, 3, 4 })]
    [TestCase(IndexPolicy.Sticky, new[] { 4, 2, 3 })]
    public void LinkFlap_ReAddsInAnotherOrder(IndexPolicy policy, int[] expectedForCAB)
    {
        var t = RoceTable(policy: policy);
        Assert.That(AddAll(t, A, B, C), Is.EqualTo(new[] { 2, 3, 4 }));
        t.DeleteAllForNetdev(Eth0);          // admin down flushes the addresses
        Assert.That(AddAll(t, C, A, B), Is.EqualTo(expectedForCAB));
    }

    [TestCase(IndexPolicy.Kernel, new[] { 2, 4, 5, 6 })]
    [TestCase(IndexPolicy.Sticky, new[] { 2, 6, 4, 5 })]
    public void Failover_WithAHeldIndex_OnlyTheHeldGidMoves_UnderSticky(IndexPolicy policy, int[] expected)
    {
        // linux-rdma, Mar 2023 (hns LAG): a QP holding index 3 pushes the re-added GIDs to other indexes.
        var t = RoceTable(policy: policy);
        AddAll(t, A, B, C, D);
        Assert.That(t.TryHold(3, out _), Is.True);
        t.DeleteAllForNetdev(Eth0);
        Assert.That(AddAll(t, A, B, C, D), Is.EqualTo(expected));
    }

    [TestCase(IndexPolicy.Kernel, 3)]
    [TestCase(IndexPolicy.Sticky, 5)]
    public void NewGid_AvoidsSlotsRememberedByAbsentGids_UnderSticky(IndexPolicy policy, int expectedForNew)
    {
        var t = RoceTable(policy: policy);
        AddAll(t, A, B, C);
        t.Delete(B);
        Assert.That(t.Add(V2("198.51.100.7")), Is.EqualTo(expectedForNew));
        int bAgain = t.Add(B);
        Assert.That(bAgain, Is.EqualTo(policy == IndexPolicy.Sticky ? 3 : 5));
    }

    [Test]
    public void Sticky_WhenEveryFreeSlotIsRemembered_TakesTheFirstFree()
    {
        var t = new GidTable(1, 5, GidTypes.Roce);
        AddAll(t, A, B, C);                  // 2, 3, 4: the table is full
        t.Delete(A);
        t.Delete(C);
        Assert.That(t.Add(D), Is.EqualTo(2), "slots 2 and 4 are both remembered; first free wins");
        Assert.That(t.Add(C), Is.EqualTo(4), "C still finds its own slot");
    }

    [Test]
    public void Sticky_DaemonRestart_RestoresIndexesFromExportedAssignments()
    {
        var before = RoceTable(policy: IndexPolicy.Sticky);
        AddAll(before, A, B, C, D);
        before.Delete(B);                    // B was absent at shutdown: still remembered
        var saved = before.ExportAssignments();
        Assert.That(saved, Is.EqualTo(new[] { (A, 2), (B, 3), (C, 4), (D, 5) }));

        var after = RoceTable(policy: IndexPolicy.Sticky);
        after.ImportAssignments(saved);
        Assert.That(AddAll(after, D, C, B, A), Is.EqualTo(new[] { 5, 4, 3, 2 }));
        Assert.That(after.Add(V2("198.51.100.7")), Is.EqualTo(6));
    }

    [Test]
    public void Import_DoesNotMoveALiveEntry_AndRejectsBadIndexesWholesale()
    {
        var t = RoceTable(policy: IndexPolicy.Sticky);
        t.Add(A);                            // 2
        t.ImportAssignments([(A, 7), (B, 8)]);
        Assert.That((t.TryFind(A, out int i), i), Is.EqualTo((true, 2)), "an index never changes while its entry exists");
        Assert.That(t.Add(B), Is.EqualTo(8));

        var ex = Assert.Throws<ArgumentException>(() => t.ImportAssignments([(C, 9), (D, 1)]));
        Assert.That(ex!.Message, Does.Contain("index 1").And.Contain("non-default slots 2..15"));
        Assert.That(t.Add(C), Is.Not.EqualTo(9), "nothing of a rejected import was taken");
    }

    [Test]
    public void Sticky_BondFailoverAndBack_RestoresThePortsIndexes_EvenAfterAnotherGidArrived()
    {
        var port1 = new GidTable(1, 16, GidTypes.Roce);
        var port2 = new GidTable(2, 16, GidTypes.Roce);
        var bondA = V2("192.0.2.1", Bond0);
        var bondB = V1("192.0.2.1", Bond0);
        AddAll(port1, bondA, bondB);         // 2, 3 on the active slave's port
        port1.DeleteAllForNetdev(Bond0);      // failover to port 2
        AddAll(port2, bondA, bondB);
        port1.Add(V2("198.51.100.1", Eth0)); // meanwhile port 1's own netdev gets an address
        port2.DeleteAllForNetdev(Bond0);      // and back
        Assert.That(AddAll(port1, bondB, bondA), Is.EqualTo(new[] { 3, 2 }));
    }

    [Test]
    public void Sticky_RecreatedNetdev_WithANewIfindex_KeepsTheAddressIndex()
    {
        var t = RoceTable(policy: IndexPolicy.Sticky);
        AddAll(t, A, B, C);
        t.DeleteAllForNetdev(Eth0);
        const int recreated = 42;            // the pod's macvlan, deleted and created again
        Assert.That(t.Add(C with { NetdevIfindex = recreated }), Is.EqualTo(4));
        Assert.That(t.Add(A with { NetdevIfindex = recreated }), Is.EqualTo(2));
    }

    [Test]
    public void Sticky_MemoryIsBounded()
    {
        var t = new GidTable(1, 16, GidTypes.Roce);
        for (int i = 0; i < 1000; i++)
        {
            var e = V2($"2001:db8::{i:x}");
            t.Add(e);
            t.Delete(e);
        }
        Assert.That(t.ExportAssignments(), Has.Count.EqualTo(64));
        Assert.That(t.ExportAssignments().Select(a => a.Entry), Does.Contain(V2("2001:db8::3e7")), "the newest is kept");
        Assert.That(t.ExportAssignments().Select(a => a.Entry), Does.Not.Contain(V2("2001:db8::0")), "the oldest is forgotten");
    }
}
