using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// <see cref="GidOp.Compact"/>, which bounds the ops a device that does not answer lets pile up: the driver told the
/// compacted run ends with exactly the table it would hold after the whole run, with at most a delete and an add per
/// slot, the delete naming what the slot really held (a driver refuses a delete of something it does not hold).
/// </summary>
public class GidOpTests
{
    private static GidEntry E(int n, GidType type = GidType.RoceV2) => new(Gid.Parse($"2001:db8::{n:x}"), type, 2);
    private static GidOp Add(int port, int index, GidEntry e) => new(true, port, index, e);
    private static GidOp Del(int port, int index, GidEntry e) => new(false, port, index, e);

    /// <summary>What a driver holds after being told <paramref name="ops"/>: an add needs an empty slot, a delete the
    /// entry the slot holds, as the kernel's add_gid/del_gid callers guarantee.</summary>
    private static Dictionary<(int, int), GidEntry> Apply(Dictionary<(int, int), GidEntry> start, IEnumerable<GidOp> ops)
    {
        var held = new Dictionary<(int, int), GidEntry>(start);
        foreach (GidOp op in ops)
        {
            if (op.IsAdd)
            {
                Assert.That(held.ContainsKey((op.Port, op.Index)), Is.False, $"add into port {op.Port} index {op.Index}, which holds {op.Entry}");
                held[(op.Port, op.Index)] = op.Entry;
            }
            else
            {
                Assert.That(held.TryGetValue((op.Port, op.Index), out GidEntry h) ? h : (GidEntry?)null, Is.EqualTo(op.Entry),
                    $"delete at port {op.Port} index {op.Index} names what the slot holds");
                held.Remove((op.Port, op.Index));
            }
        }
        return held;
    }

    [Test]
    public void An_add_then_its_delete_leaves_nothing_to_tell_the_driver()
    {
        var ops = new List<GidOp> { Add(1, 3, E(1)), Del(1, 3, E(1)) };
        GidOp.Compact(ops);
        Assert.That(ops, Is.Empty);
    }

    [Test]
    public void A_delete_and_re_add_of_the_same_entry_leaves_nothing_but_a_replacement_keeps_the_delete_of_what_was_there()
    {
        var same = new List<GidOp> { Del(1, 0, E(1)), Add(1, 0, E(1)) };
        GidOp.Compact(same);
        Assert.That(same, Is.Empty, "the slot holds what it held before the run");

        var replaced = new List<GidOp> { Del(1, 0, E(1)), Add(1, 0, E(2)), Del(1, 0, E(2)), Add(1, 0, E(3)) };
        GidOp.Compact(replaced);
        Assert.That(replaced, Is.EqualTo(new[] { Del(1, 0, E(1)), Add(1, 0, E(3)) }));
    }

    [Test]
    public void Ops_come_out_by_port_then_index_a_delete_before_the_add_of_the_same_slot()
    {
        var ops = new List<GidOp> { Add(2, 1, E(5)), Add(1, 4, E(4)), Del(1, 2, E(2)), Add(1, 2, E(3)), Del(2, 0, E(6)) };
        GidOp.Compact(ops);
        Assert.That(ops, Is.EqualTo(new[] { Del(1, 2, E(2)), Add(1, 2, E(3)), Add(1, 4, E(4)), Del(2, 0, E(6)), Add(2, 1, E(5)) }));
    }

    [Test]
    public void A_random_run_compacts_to_at_most_two_ops_per_slot_and_the_same_end_table()
    {
        var rng = new Random(20261202);
        for (int run = 0; run < 200; run++)
        {
            // A driver's table (2 ports x 4 slots) and a valid run of ops on it, as a core table produces them.
            var start = new Dictionary<(int, int), GidEntry>();
            for (int port = 1; port <= 2; port++)
                for (int index = 0; index < 4; index++)
                    if (rng.Next(2) == 0)
                        start[(port, index)] = E(rng.Next(1, 10), rng.Next(2) == 0 ? GidType.RoceV1 : GidType.RoceV2);
            var state = new Dictionary<(int, int), GidEntry>(start);
            var ops = new List<GidOp>();
            for (int i = rng.Next(1, 40); i > 0; i--)
            {
                (int, int) slot = (rng.Next(1, 3), rng.Next(4));
                GidOp op = state.TryGetValue(slot, out GidEntry held) ? Del(slot.Item1, slot.Item2, held)
                                                                     : Add(slot.Item1, slot.Item2, E(rng.Next(1, 10)));
                ops.Add(op);
                state = Apply(state, [op]);
            }

            var compacted = new List<GidOp>(ops);
            GidOp.Compact(compacted);
            Assert.That(Apply(start, compacted), Is.EquivalentTo(Apply(start, ops)), $"run {run}: the same end table");
            Assert.That(compacted.GroupBy(o => (o.Port, o.Index)).Max(g => (int?)g.Count()) ?? 0, Is.LessThanOrEqualTo(2), $"run {run}");
        }
    }
}
