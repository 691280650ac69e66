using NUnit.Framework;
using RoceUio.Gids;

namespace RoceUio.Core.Tests.Gids;

/// <summary>
/// The constant-time slot choice (free-slot bitmaps, the history's age list) against the policies written out
/// longhand over the public API, through random adds, deletes, holds, releases and netdev flushes; and the update
/// paths allocate nothing.
/// </summary>
public class GidTableSlotChoiceTests
{
    [TestCase(1), TestCase(63), TestCase(64), TestCase(65), TestCase(4096), TestCase(4097), TestCase(300_000)]
    public void LowestFirstBitSet_AgreesWithASortedSet(int capacity)
    {
        var set = new LowestFirstBitSet(capacity);
        var model = new SortedSet<int>();
        var rng = new Random(capacity);
        Assert.That(set.Lowest(), Is.EqualTo(-1));
        for (int step = 0; step < 20_000; step++)
        {
            // Mostly near the bottom, so that the lowest member changes often; sometimes anywhere.
            int i = rng.Next(4) == 0 ? rng.Next(capacity) : rng.Next(Math.Min(capacity, 200));
            if (rng.Next(2) == 0) { set.Add(i); model.Add(i); }
            else { set.Remove(i); model.Remove(i); }
            Assert.That(set.Contains(i), Is.EqualTo(model.Contains(i)), $"step {step}: contains {i}");
            Assert.That(set.Lowest(), Is.EqualTo(model.Count == 0 ? -1 : model.Min), $"step {step}: lowest");
        }
        Assert.That((set.Contains(-1), set.Contains(capacity)), Is.EqualTo((false, false)), "(holds -1, holds capacity)");
        Assert.Throws<ArgumentOutOfRangeException>(() => set.Add(capacity));
    }

    // Key k of the pool: its own address, one netdev per address (so the address memory says what the exact one
    // says, and the longhand model can read both from ExportAssignments).
    private static GidEntry Key(int k)
        => new(new Gid(0x2001_0db8_0000_0000UL | (uint)k, 0x0200_0000_0000_0001UL + (ulong)k * 0x9E37_79B9UL),
               (k & 1) == 0 ? GidType.RoceV2 : GidType.RoceV1, 2 + k % 3);

    /// <summary>The policy, longhand: what GidTable.ChooseSlot did with two walks over the table before.</summary>
    private static int ExpectedSlot(GidTable t, in GidEntry e)
    {
        bool Free(int i) => t.StateOf(i) == GidEntryState.Free;
        var remembered = t.ExportAssignments();
        if (t.Policy == IndexPolicy.Sticky)
        {
            foreach (var (entry, index) in remembered)
                if (entry == e && Free(index))
                    return index;
            var pointedAt = remembered.Select(a => a.Index).ToHashSet();
            for (int i = t.DefaultSlotCount; i < t.Capacity; i++)
                if (Free(i) && !pointedAt.Contains(i))
                    return i;
        }
        for (int i = t.DefaultSlotCount; i < t.Capacity; i++)
            if (Free(i))
                return i;
        return -1;
    }

    [TestCase(IndexPolicy.Kernel, 24), TestCase(IndexPolicy.Sticky, 24), TestCase(IndexPolicy.Sticky, 70)]
    public void RandomChurn_EveryAddTakesTheSlotThePolicySays(IndexPolicy policy, int capacity)
    {
        var t = new GidTable(1, capacity, GidTypes.Roce, policy);
        t.SetDefault(new GidEntry(Gid.DefaultFromMac([2, 0, 0, 0, 0, 1]), GidType.RoceV1, 2));
        var rng = new Random(7 + capacity);
        int pool = 6 * capacity;           // more keys than the history keeps (4 x capacity, at least 64)
        var valid = new Dictionary<GidEntry, int>();
        var held = new List<int>();
        int adds = 0, fullAdds = 0, pendingSeen = 0;
        for (int step = 0; step < 4000; step++)
        {
            int op = rng.Next(100);
            if (op < 60)
            {
                GidEntry e = Key(rng.Next(pool));
                if (valid.ContainsKey(e))
                    continue;
                int expected = ExpectedSlot(t, e);
                bool added = t.TryAdd(e, out int index, out _) == GidWriteResult.Added;
                Assert.That(added ? index : -1, Is.EqualTo(expected), $"step {step}: add of {e}");
                if (added) { valid[e] = index; adds++; } else fullAdds++;
            }
            else if (op < 78 && valid.Count > 0)
            {
                GidEntry e = valid.Keys.ElementAt(rng.Next(valid.Count));
                Assert.That(t.Delete(e), Is.True);
                valid.Remove(e);
            }
            else if (op < 88 && valid.Count > 0)
            {
                int index = valid.Values.ElementAt(rng.Next(valid.Count));
                if (t.TryHold(index, out _))
                    held.Add(index);
            }
            else if (op < 99 && held.Count > 0)
            {
                int at = rng.Next(held.Count);
                if (t.StateOf(held[at]) == GidEntryState.PendingDelete)
                    pendingSeen++;
                t.Release(held[at]);
                held.RemoveAt(at);
            }
            else
            {
                int netdev = 2 + rng.Next(3);
                t.DeleteAllForNetdev(netdev);
                foreach (var e in valid.Keys.Where(k => k.NetdevIfindex == netdev).ToList())
                    valid.Remove(e);
            }
        }
        Assert.That(adds, Is.GreaterThan(500), "enough adds were checked");
        Assert.That(fullAdds, Is.GreaterThan(0), "the table was full at times");
        Assert.That(pendingSeen, Is.GreaterThan(0), "held slots were deleted and freed by their last release");
    }

    [Test]
    public void Sticky_RememberingAKeyAgain_MakesItTheNewest()
    {
        var t = new GidTable(1, 16, GidTypes.Roce);   // keeps 64 keys
        GidEntry Addr(int i) => new(new Gid(0x2001_0db8_0000_0000UL, (ulong)i + 1), GidType.RoceV2, 2);
        for (int i = 0; i < 64; i++)
        {
            t.Add(Addr(i));
            t.Delete(Addr(i));
        }
        t.Add(Addr(0));                               // the oldest comes back: now the newest
        t.Delete(Addr(0));
        t.Add(Addr(64));                              // one more than the memory holds
        t.Delete(Addr(64));
        var kept = t.ExportAssignments().Select(a => a.Entry).ToList();
        Assert.That(kept, Has.Count.EqualTo(64));
        Assert.That(kept, Does.Contain(Addr(0)), "the key remembered again is kept");
        Assert.That(kept, Does.Not.Contain(Addr(1)), "the longest-unused key is the one forgotten");
    }

    [TestCase(16), TestCase(1024)]
    public void Updates_AllocateNothing(int capacity)
    {
        var t = new GidTable(1, capacity, GidTypes.Roce);
        var live = new GidEntry[capacity];
        for (int i = 2; i < capacity; i++)
            t.Add(live[i] = Key(i));
        ulong fresh = 0;
        GidEntry Fresh() => new(new Gid(0x2001_0db8_0000_0001UL, ++fresh * 0x9E37_79B9_7F4A_7C15UL), GidType.RoceV2, 2);
        void Churn(int n)
        {
            for (int k = 0; k < n; k++)
            {
                int j = 2 + k % (capacity - 2);
                t.Delete(live[j]);                    // a GID that goes away for good
                t.Add(live[j] = Fresh());             // and one the table has never seen (IPv6 privacy address)
                t.Delete(live[j]);                    // a GID that comes back (link flap)
                t.Add(live[j]);
            }
        }
        Churn(8 * capacity);                         // warm up: the history full, tiering done
        long before = GC.GetAllocatedBytesForCurrentThread();
        Churn(20_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.EqualTo(0), "bytes allocated by 40,000 deletes and 40,000 adds");
        Assert.That(t.Count, Is.EqualTo(capacity - 2));
    }
}
