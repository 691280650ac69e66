using NUnit.Framework;
using RoceUio.Gids;
using static RoceUio.Core.Tests.Gids.GidTableTestKit;

namespace RoceUio.Core.Tests.Gids;

/// <summary>The kernel's rules (drivers/infiniband/core/cache.c), case by case.</summary>
public class GidTableTests
{
    [Test]
    public void DefaultSlots_AreTheLowestIndices_OnePerTypeInAscendingOrder()
    {
        var both = new GidTable(1, 128, GidTypes.Roce);
        Assert.That(both.DefaultSlotCount, Is.EqualTo(2));
        // The kernel sets the types in ascending order, so v1 lands at 0 and v2 at 1 ...
        Assert.That(both.SetDefault(new GidEntry(DefaultGid, GidType.RoceV1, Eth0)), Is.EqualTo(0));
        Assert.That(both.SetDefault(new GidEntry(DefaultGid, GidType.RoceV2, Eth0)), Is.EqualTo(1));
        Assert.That((both.FindDefault(GidType.RoceV1, Eth0), both.FindDefault(GidType.RoceV2, Eth0)), Is.EqualTo((0, 1)));
        // ... but a slot is not tied to a type: a default takes the first free default slot (find_gid's empty).
        var v2First = new GidTable(1, 128, GidTypes.Roce);
        Assert.That(v2First.SetDefault(new GidEntry(DefaultGid, GidType.RoceV2, Eth0)), Is.EqualTo(0));

        // rxe: v2 only, one default slot at index 0 (kernel-gid.md 9.1).
        var v2Only = new GidTable(1, 1024, GidTypes.RoceV2);
        Assert.That(v2Only.DefaultSlotCount, Is.EqualTo(1));
        Assert.That(v2Only.SetDefault(new GidEntry(DefaultGid, GidType.RoceV2, Eth0)), Is.EqualTo(0));
        Assert.That(v2Only.Add(V2("192.0.2.1")), Is.EqualTo(1));
    }

    [Test]
    public void MacChange_WhileTheV1DefaultIsHeld_NewV1DefaultTakesSlot1_AndV2FindsNoSlot_AsInTheKernel()
    {
        // cache.c: ib_cache_gid_set_default_gid(DELETE) puts slot 0 in PENDING_DEL (a QP holds it) and frees slot 1;
        // SET then adds v1 into the first free default slot, 1, and v2 gets -ENOSPC. The kernel never retries it.
        var t = RoceTable();
        t.SetDefault(new GidEntry(DefaultGid, GidType.RoceV1, Eth0));
        t.SetDefault(new GidEntry(DefaultGid, GidType.RoceV2, Eth0));
        Assert.That(t.TryHold(0, out _), Is.True);
        Assert.That((t.DeleteDefault(GidType.RoceV1, Eth0), t.DeleteDefault(GidType.RoceV2, Eth0)), Is.EqualTo((true, true)), "(v1 deleted, v2 deleted)");
        Assert.That((t.StateOf(0), t.StateOf(1)), Is.EqualTo((GidEntryState.PendingDelete, GidEntryState.Free)));

        Gid newDefault = Gid.DefaultFromMac([0x24, 0x8a, 0x07, 0x11, 0x22, 0x33]);
        Assert.That(t.SetDefault(new GidEntry(newDefault, GidType.RoceV1, Eth0)), Is.EqualTo(1));
        var full = Assert.Throws<GidTableFullException>(() => t.SetDefault(new GidEntry(newDefault, GidType.RoceV2, Eth0)));
        Assert.That(full!.Message, Does.Contain("no free default slot").And.Contain("0: pending delete, 1 reference(s)"));
        Assert.That(t.TryGet(1, out GidEntry at1) ? (at1.Gid, at1.Type) : default, Is.EqualTo((newDefault, GidType.RoceV1)));
        Assert.That(t.FindDefault(GidType.RoceV2, Eth0), Is.EqualTo(-1));

        // Setting v1 again is a no-op at its slot; deleting it finds it at 1.
        Assert.That(t.SetDefault(new GidEntry(newDefault, GidType.RoceV1, Eth0)), Is.EqualTo(1));
        Assert.That(t.DeleteDefault(GidType.RoceV1, Eth0), Is.True);
        Assert.That(t.StateOf(1), Is.EqualTo(GidEntryState.Free));
    }

    [Test]
    public void OrdinaryGids_NeverTakeADefaultSlot_EvenWhenTheyAreFree()
    {
        var t = RoceTable();
        Assert.That(t.Add(V1("192.0.2.1")), Is.EqualTo(2));
        Assert.That(t.Add(V2("192.0.2.1")), Is.EqualTo(3));
        Assert.That(t.StateOf(0), Is.EqualTo(GidEntryState.Free));
        Assert.That(t.StateOf(1), Is.EqualTo(GidEntryState.Free));
    }

    [Test]
    public void Add_SameGidTypeAndNetdev_ReturnsTheExistingIndex_AndChangesNothing()
    {
        var listener = new RecordingListener();
        var programmer = new RecordingProgrammer();
        var t = RoceTable(programmer: programmer, listener: listener);
        int first = t.Add(V2("192.0.2.1"));
        Assert.That(t.Add(V2("192.0.2.1")), Is.EqualTo(first));
        Assert.That(t.Count, Is.EqualTo(1));
        Assert.That(listener.Batches, Has.Count.EqualTo(1), "no event for a no-op add");
        Assert.That(programmer.Calls, Has.Count.EqualTo(1), "no hardware write for a no-op add");

        // Same value, other type or other netdev: distinct entries.
        Assert.That(t.Add(V1("192.0.2.1")), Is.Not.EqualTo(first));
        Assert.That(t.Add(V2("192.0.2.1", Vlan10)), Is.Not.EqualTo(first));
        Assert.That(t.Count, Is.EqualTo(3));
    }

    [Test]
    public void Add_OfTheDefaultGidOnTheSameNetdev_CollapsesOntoTheDefaultSlot()
    {
        // ib_cache_gid_add de-dups with default=false but without the DEFAULT mask bit, so the port's own EUI-64
        // link-local never gets a second entry (kernel-gid.md 9.4); on a VLAN it does.
        var t = RoceTable();
        var def = new GidEntry(DefaultGid, GidType.RoceV2, Eth0);
        Assert.That(t.SetDefault(def), Is.EqualTo(0), "the first free default slot");
        Assert.That(t.Add(def), Is.EqualTo(0));
        Assert.That(t.Count, Is.EqualTo(1));
        Assert.That(t.Add(def with { NetdevIfindex = Vlan10 }), Is.EqualTo(2));
    }

    [Test]
    public void ZeroGid_IsRejected_WithTheReason()
    {
        var t = RoceTable();
        var e = Assert.Throws<ArgumentException>(() => t.Add(new GidEntry(Gid.Zero, GidType.RoceV2, Eth0)));
        Assert.That(e!.Message, Does.Contain("zero GID").And.Contain("port 1"));
        Assert.Throws<ArgumentException>(() => t.SetDefault(new GidEntry(Gid.Zero, GidType.RoceV2, Eth0)));
        Assert.That(t.Count, Is.EqualTo(0));
    }

    [Test]
    public void UnsupportedType_AndMissingNetdev_AreRejected()
    {
        var t = new GidTable(1, 16, GidTypes.RoceV2);
        Assert.That(Assert.Throws<ArgumentException>(() => t.Add(V1("192.0.2.1")))!.Message, Does.Contain("does not support RoceV1"));
        Assert.That(Assert.Throws<ArgumentException>(() => t.Add(V2("192.0.2.1", 0)))!.Message, Does.Contain("ifindex"));
    }

    [Test]
    public void Find_ReturnsTheLowestMatch()
    {
        var t = RoceTable();
        var def = new GidEntry(DefaultGid, GidType.RoceV2, Eth0);
        // The same (gid, type, netdev) in a non-default slot first, then as the default: both exist.
        Assert.That(t.Add(def), Is.EqualTo(2));
        Assert.That(t.SetDefault(def), Is.EqualTo(0));
        Assert.That(t.TryFind(def, out int i), Is.True);
        Assert.That(i, Is.EqualTo(0));
        Assert.That(t.TryFind(def.Gid, def.Type, def.NetdevIfindex, GidFindMask.Gid | GidFindMask.GidType | GidFindMask.Netdev, false, out i), Is.True);
        Assert.That(i, Is.EqualTo(0));
        // With the DEFAULT bit, only the matching class of slot.
        Assert.That(t.TryFind(def.Gid, def.Type, def.NetdevIfindex, GidFindMask.Gid | GidFindMask.Default, false, out i), Is.True);
        Assert.That(i, Is.EqualTo(2));
        // Deleting the default leaves the ordinary entry findable, and vice versa.
        Assert.That(t.DeleteDefault(GidType.RoceV2, Eth0), Is.True);
        Assert.That(t.TryFind(def, out i) ? i : -1, Is.EqualTo(2));
        t.SetDefault(def);
        Assert.That(t.Delete(def), Is.True);
        Assert.That(t.TryFind(def, out i) ? i : -1, Is.EqualTo(0));
    }

    [Test]
    public void FindByMask_MatchesOnlyTheMaskedAttributes()
    {
        var t = RoceTable();
        t.Add(V1("192.0.2.1"));                 // 2
        t.Add(V2("192.0.2.1"));                 // 3
        t.Add(V2("192.0.2.1", Vlan10));         // 4
        Gid g = V2("192.0.2.1").Gid;
        Assert.That((t.TryFind(g, GidType.RoceV2, 0, GidFindMask.Gid, false, out int i), i), Is.EqualTo((true, 2)));
        Assert.That((t.TryFind(g, GidType.RoceV2, 0, GidFindMask.Gid | GidFindMask.GidType, false, out i), i), Is.EqualTo((true, 3)));
        Assert.That((t.TryFind(g, GidType.RoceV2, Vlan10, GidFindMask.Gid | GidFindMask.Netdev, false, out i), i), Is.EqualTo((true, 4)));
        Assert.That(t.TryFind(default, GidType.RoceV1, Vlan10, GidFindMask.GidType | GidFindMask.Netdev, false, out _), Is.False);
        Assert.That(t.TryFind(g, GidType.RoceV2, 0, GidFindMask.Gid | GidFindMask.Default, true, out _), Is.False, "no default slot holds it");
        Assert.That(t.TryFind(V2("192.0.2.9"), out _), Is.False);
    }

    [Test]
    public void QueryByIndex_AndEnumeration_ShowValidEntriesInIndexOrder()
    {
        var t = RoceTable();
        var def = new GidEntry(DefaultGid, GidType.RoceV2, Eth0);
        t.SetDefault(def);
        t.Add(V2("192.0.2.1"));
        t.Add(V2("192.0.2.2"));
        t.Add(V2("192.0.2.3"));
        t.Delete(V2("192.0.2.2"));
        Assert.That(Snapshot(t), Is.EqualTo(new[] { (0, def), (2, V2("192.0.2.1")), (4, V2("192.0.2.3")) }));
        Assert.That((t.TryGet(4, out var e), e), Is.EqualTo((true, V2("192.0.2.3"))));
        Assert.That(t.TryGet(3, out _), Is.False, "deleted slot: ENODATA");
        Assert.That(t.TryGet(1, out _), Is.False, "empty default slot");
        Assert.That(t.TryGet(-1, out _), Is.False);
        Assert.That(t.TryGet(16, out _), Is.False);
        Assert.That(t.Count, Is.EqualTo(3));
    }

    [Test]
    public void FullTable_IsAClearError_AndChangesNothing()
    {
        var programmer = new RecordingProgrammer();
        var listener = new RecordingListener();
        var t = new GidTable(3, 6, GidTypes.Roce, IndexPolicy.Kernel, programmer, listener);
        for (int i = 1; i <= 4; i++)
            t.Add(V2($"192.0.2.{i}"));
        var before = Snapshot(t);
        int calls = programmer.Calls.Count, events = listener.Batches.Count;

        var ex = Assert.Throws<GidTableFullException>(() => t.Add(V2("192.0.2.5")));
        Assert.That(ex!.Message, Does.Contain("port 3").And.Contain("capacity 6").And.Contain("full").And.Contain(V2("192.0.2.5").Gid.ToString()));
        Assert.That(ex.Port, Is.EqualTo(3));
        Assert.That(ex.Capacity, Is.EqualTo(6));
        Assert.That(t.TryAdd(V2("192.0.2.5"), out int idx, out string? error), Is.EqualTo(GidWriteResult.Full));
        Assert.That(error, Does.Contain("full"));
        Assert.That(Snapshot(t), Is.EqualTo(before));
        Assert.That(programmer.Calls, Has.Count.EqualTo(calls));
        Assert.That(listener.Batches, Has.Count.EqualTo(events));
        // The default slots are still available for defaults, and an existing GID still de-dups.
        Assert.That(t.SetDefault(new GidEntry(DefaultGid, GidType.RoceV1, Eth0)), Is.EqualTo(0));
        Assert.That(t.Add(V2("192.0.2.3")), Is.EqualTo(4));
    }

    [Test]
    public void Delete_MatchesOnlyOutsideTheDefaultSlots()
    {
        var t = RoceTable();
        var def = new GidEntry(DefaultGid, GidType.RoceV2, Eth0);
        t.SetDefault(def);
        Assert.That(t.Delete(def), Is.False, "ib_cache_gid_del never deletes a default GID");
        Assert.That(t.StateOf(0), Is.EqualTo(GidEntryState.Valid));
        Assert.That(t.Delete(V2("192.0.2.1")), Is.False, "not there: false");
        t.Add(V2("192.0.2.1"));
        Assert.That(t.Delete(V2("192.0.2.1", Vlan10)), Is.False, "other netdev");
        Assert.That(t.Delete(V1("192.0.2.1")), Is.False, "other type");
        Assert.That(t.Delete(V2("192.0.2.1")), Is.True);
        Assert.That(t.TryFind(V2("192.0.2.1"), out _), Is.False);
        Assert.That(t.StateOf(2), Is.EqualTo(GidEntryState.Free));
    }

    [Test]
    public void SetDefault_DoesNotCompareTheValue_ADefaultIsReplacedByDeleteThenSet()
    {
        var t = RoceTable();
        var oldDef = new GidEntry(DefaultGid, GidType.RoceV2, Eth0);
        var newDef = new GidEntry(Gid.DefaultFromMac([0x24, 0x8a, 0x07, 0x00, 0x00, 0x01]), GidType.RoceV2, Eth0);
        t.SetDefault(oldDef);
        Assert.That(t.SetDefault(newDef), Is.EqualTo(0));
        Assert.That(t.TryGet(0, out var e) ? e : default, Is.EqualTo(oldDef), "same (type, netdev): kept as it was");
        Assert.That(t.DeleteDefault(GidType.RoceV2, Vlan10), Is.False, "another netdev's default is not deleted");
        Assert.That(t.DeleteDefault(GidType.RoceV2, Eth0), Is.True);
        Assert.That(t.SetDefault(newDef), Is.EqualTo(0));
        Assert.That(t.TryGet(0, out e) ? e : default, Is.EqualTo(newDef));
        // Another netdev's default takes the other free default slot; with both taken a third finds none.
        Assert.That(t.SetDefault(newDef with { NetdevIfindex = Bond0 }), Is.EqualTo(1));
        var ex = Assert.Throws<GidTableFullException>(() => t.SetDefault(newDef with { NetdevIfindex = Vlan10 }));
        Assert.That(ex!.Message, Does.Contain("no free default slot").And.Contain("1: " + (newDef with { NetdevIfindex = Bond0 })));
    }

    [Test]
    public void DeleteAllForNetdev_DeletesDefaultsToo_InOneBatch()
    {
        var listener = new RecordingListener();
        var t = RoceTable(listener: listener);
        t.SetDefault(new GidEntry(DefaultGid, GidType.RoceV1, Eth0));
        t.SetDefault(new GidEntry(DefaultGid, GidType.RoceV2, Eth0));
        t.Add(V2("192.0.2.1"));
        t.Add(V2("192.0.2.1", Vlan10));
        t.Add(V1("198.51.100.1"));
        listener.Batches.Clear();

        Assert.That(t.DeleteAllForNetdev(Eth0), Is.EqualTo(4));
        Assert.That(Snapshot(t), Is.EqualTo(new[] { (3, V2("192.0.2.1", Vlan10)) }));
        Assert.That(listener.Batches, Has.Count.EqualTo(1));
        Assert.That(listener.Batches[0].Select(c => c.Index), Is.EqualTo(new[] { 0, 1, 2, 4 }));
        Assert.That(listener.Batches[0].Select(c => (c.New, c.Old!.Value.NetdevIfindex)), Has.All.EqualTo(((GidEntry?)null, Eth0)), "every change a delete of an Eth0 entry");

        Assert.That(t.DeleteAllForNetdev(Eth0), Is.EqualTo(0));
        Assert.That(listener.Batches, Has.Count.EqualTo(1), "nothing deleted, no event");
    }

    [Test]
    public void HeldEntry_StaysPendingDelete_AndItsSlotIsNotReusedUntilReleased()
    {
        var programmer = new RecordingProgrammer();
        var t = RoceTable(programmer: programmer);
        int a = t.Add(V2("192.0.2.1"));                 // 2
        t.Add(V2("192.0.2.2"));                         // 3
        Assert.That(t.TryHold(a, out var held), Is.True);
        Assert.That(held, Is.EqualTo(V2("192.0.2.1")));
        Assert.That(t.TryHold(a, out _), Is.True, "a second holder");

        Assert.That(t.Delete(V2("192.0.2.1")), Is.True);
        Assert.That(programmer.Calls.Last(), Does.StartWith($"del 1/{a}"), "hardware delete at delete time, not at release");
        Assert.That(t.StateOf(a), Is.EqualTo(GidEntryState.PendingDelete));
        Assert.That(t.TryGet(a, out _), Is.False, "pending delete is invisible");
        Assert.That(t.TryFind(V2("192.0.2.1"), out _), Is.False);
        Assert.That(t.TryHold(a, out _), Is.False, "no new references to a deleted entry");
        Assert.That(t.Count, Is.EqualTo(1));

        // The same GID coming back goes elsewhere; so does a new one.
        Assert.That(t.Add(V2("192.0.2.1")), Is.EqualTo(4));
        Assert.That(t.Add(V2("192.0.2.9")), Is.EqualTo(5));

        t.Release(a);
        Assert.That(t.StateOf(a), Is.EqualTo(GidEntryState.PendingDelete), "one holder left");
        t.Release(a);
        Assert.That(t.StateOf(a), Is.EqualTo(GidEntryState.Free));
        // Kernel policy: first free slot, so the released hole is reused at once (kernel-gid.md 9.5).
        Assert.That(t.Add(V2("192.0.2.10")), Is.EqualTo(a));
        Assert.Throws<InvalidOperationException>(() => t.Release(3), "release without hold");
    }

    [Test]
    public void PendingDeleteSlots_CountTowardsAFullTable()
    {
        var t = new GidTable(1, 4, GidTypes.Roce, IndexPolicy.Kernel);
        t.Add(V2("192.0.2.1"));
        t.Add(V2("192.0.2.2"));
        t.TryHold(2, out _);
        t.Delete(V2("192.0.2.1"));
        var ex = Assert.Throws<GidTableFullException>(() => t.Add(V2("192.0.2.3")));
        Assert.That(ex!.Message, Does.Contain("1 pending delete"));
        t.Release(2);
        Assert.That(t.Add(V2("192.0.2.3")), Is.EqualTo(2));
    }

    [Test]
    public void HeldDefault_BlocksSettingANewDefaultUntilReleased()
    {
        var t = RoceTable();
        var def1 = new GidEntry(DefaultGid, GidType.RoceV1, Eth0);
        var def = new GidEntry(DefaultGid, GidType.RoceV2, Eth0);
        t.SetDefault(def1);
        t.SetDefault(def);
        t.TryHold(0, out _);
        t.TryHold(1, out _);
        t.DeleteDefault(GidType.RoceV1, Eth0);
        t.DeleteDefault(GidType.RoceV2, Eth0);
        Assert.That(Assert.Throws<GidTableFullException>(() => t.SetDefault(def))!.Message, Does.Contain("pending delete"));
        t.Release(1);
        Assert.That(t.SetDefault(def), Is.EqualTo(1));
    }

    [Test]
    public void Constructor_RejectsImpossibleTables()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new GidTable(0, 16, GidTypes.Roce));
        Assert.Throws<ArgumentException>(() => new GidTable(1, 16, GidTypes.None));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new GidTable(1, 1, GidTypes.Roce))!.Message, Does.Contain("2 default slots"));
    }
}
