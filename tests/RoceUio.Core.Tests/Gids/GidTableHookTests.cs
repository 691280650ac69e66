using NUnit.Framework;
using RoceUio.Gids;
using static RoceUio.Core.Tests.Gids.GidTableTestKit;

namespace RoceUio.Core.Tests.Gids;

/// <summary>The hardware programmer and the change listener (IB_EVENT_GID_CHANGE).</summary>
public class GidTableHookTests
{
    [Test]
    public void Programmer_AddFailure_LeavesTheTableUnchanged_AndTheExceptionReachesTheCaller()
    {
        var programmer = new RecordingProgrammer { FailAdd = (_, e) => e == V2("192.0.2.2") };
        var listener = new RecordingListener();
        var t = RoceTable(programmer: programmer, listener: listener);
        t.Add(V2("192.0.2.1"));
        var before = Snapshot(t);

        var ex = Assert.Throws<InvalidOperationException>(() => t.Add(V2("192.0.2.2")));
        Assert.That(ex!.Message, Does.Contain("device refused add at 3"));
        Assert.That(Snapshot(t), Is.EqualTo(before));
        Assert.That(t.StateOf(3), Is.EqualTo(GidEntryState.Free));
        Assert.That(t.TryFind(V2("192.0.2.2"), out _), Is.False);
        Assert.That(t.Count, Is.EqualTo(1));
        Assert.That(listener.Batches, Has.Count.EqualTo(1), "no event for the failed add");
        Assert.Throws<InvalidOperationException>(() => t.SetDefault(new GidEntry(V2("192.0.2.2").Gid, GidType.RoceV2, Eth0)));
        Assert.That(t.StateOf(1), Is.EqualTo(GidEntryState.Free));

        programmer.FailAdd = null;
        Assert.That(t.Add(V2("192.0.2.2")), Is.EqualTo(3));
    }

    [Test]
    public void Programmer_DeleteFailure_KeepsTheEntry()
    {
        var programmer = new RecordingProgrammer { FailDelete = (_, _) => true };
        var listener = new RecordingListener();
        var t = RoceTable(programmer: programmer, listener: listener);
        t.Add(V2("192.0.2.1"));
        Assert.Throws<InvalidOperationException>(() => t.Delete(V2("192.0.2.1")));
        Assert.That((t.TryFind(V2("192.0.2.1"), out int i), i), Is.EqualTo((true, 2)));
        Assert.That(t.StateOf(2), Is.EqualTo(GidEntryState.Valid));
        Assert.That(listener.Batches, Has.Count.EqualTo(1));
        // The writers' side kept it too: once the device accepts, the same delete goes through.
        programmer.FailDelete = (_, _) => false;
        Assert.That(t.Delete(V2("192.0.2.1")), Is.True);
        Assert.That(t.TryFind(V2("192.0.2.1"), out _), Is.False);
        Assert.That(t.StateOf(2), Is.EqualTo(GidEntryState.Free));
    }

    [Test]
    public void Programmer_AddRunsBeforePublish_DeleteAtDeleteTime()
    {
        GidTable? table = null;
        var seenBeforePublish = new List<(bool Found, GidEntryState State)>();
        var programmer = new RecordingProgrammer();
        programmer.OnCall = () => seenBeforePublish.Add((table!.TryFind(V2("192.0.2.1"), out _), table.StateOf(2)));
        table = RoceTable(programmer: programmer);
        table.Add(V2("192.0.2.1"));
        table.TryHold(2, out _);
        table.Delete(V2("192.0.2.1"));
        Assert.That(seenBeforePublish, Is.EqualTo(new[] { (false, GidEntryState.Free), (true, GidEntryState.Valid) }));
        Assert.That(programmer.Calls, Is.EqualTo(new[] { $"add 1/2 {V2("192.0.2.1")}", $"del 1/2 {V2("192.0.2.1")}" }));
    }

    [Test]
    public void DeleteAll_PartialProgrammerFailure_KeepsWhatTheHardwareStillHas_AndReportsWhatWasDone()
    {
        var programmer = new RecordingProgrammer();
        var listener = new RecordingListener();
        var t = RoceTable(programmer: programmer, listener: listener);
        t.Add(V2("192.0.2.1"));
        t.Add(V2("192.0.2.2"));
        t.Add(V2("192.0.2.3"));
        listener.Batches.Clear();
        programmer.FailDelete = (index, _) => index == 3;
        Assert.Throws<InvalidOperationException>(() => t.DeleteAllForNetdev(Eth0));
        Assert.That(Snapshot(t).Select(x => x.Index), Is.EqualTo(new[] { 3, 4 }));
        Assert.That(listener.Batches, Has.Count.EqualTo(1));
        Assert.That(listener.Batches[0].Select(c => c.Index), Is.EqualTo(new[] { 2 }));
    }

    [Test]
    public void Listener_OneCallPerAddAndDelete_NoneForNoOps_WithTheChange()
    {
        var listener = new RecordingListener();
        var t = RoceTable(listener: listener);
        var def = new GidEntry(DefaultGid, GidType.RoceV2, Eth0);
        t.SetDefault(def);
        t.SetDefault(def);                        // no-op
        t.Add(V2("192.0.2.1"));
        t.Add(V2("192.0.2.1"));                   // no-op
        t.Add(def);                               // de-dups onto the default: no-op
        t.Delete(V2("192.0.2.9"));                // not there
        t.Delete(V2("192.0.2.1"));
        t.DeleteDefault(GidType.RoceV2, Eth0);

        Assert.That(listener.Batches.Select(b => b.Length), Is.EqualTo(new[] { 1, 1, 1, 1 }));
        Assert.That(listener.Batches.Select(b => b[0]), Is.EqualTo(new[]
        {
            new GidChange(1, 0, null, def),
            new GidChange(1, 2, null, V2("192.0.2.1")),
            new GidChange(1, 2, V2("192.0.2.1"), null),
            new GidChange(1, 0, def, null),
        }));
    }

    [Test]
    public void Listener_SeesTheChangePublished_AndMayNotCallAWriter()
    {
        var listener = new RecordingListener();
        var seen = new List<string>();
        listener.OnEvent = table =>
        {
            seen.Add(table.TryFind(V2("192.0.2.1"), out int i) ? $"found {i}" : "missing");
            try { table.Add(V2("192.0.2.99")); seen.Add("writer allowed"); }
            catch (InvalidOperationException e) { seen.Add(e.Message.Contains("queue the change") ? "writer refused" : e.Message); }
        };
        var t = RoceTable(listener: listener);
        t.Add(V2("192.0.2.1"));
        Assert.That(seen, Is.EqualTo(new[] { "found 2", "writer refused" }));
        Assert.That(t.Count, Is.EqualTo(1));
        Assert.That(t.Add(V2("192.0.2.2")), Is.EqualTo(3), "the table is usable after the refused call");
    }
}
