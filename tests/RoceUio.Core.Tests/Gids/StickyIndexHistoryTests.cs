using NUnit.Framework;
using RoceUio.Gids;

namespace RoceUio.Core.Tests.Gids;

/// <summary>
/// The sticky history's one dictionary (address → its newest node, one node per netdev) against the two memories
/// written out longhand (exact key → index; address → the index and netdev of its last remembering; the oldest key
/// forgotten past the limit, taking the address memory with it when that memory was its own).
/// </summary>
public class StickyIndexHistoryTests
{
    private sealed class Longhand
    {
        public readonly List<(GidEntry Entry, int Index)> ByAge = new();   // oldest first
        public readonly Dictionary<(Gid, GidType), (int Index, int Netdev)> ByAddress = new();
        private readonly int _limit;

        public Longhand(int limit) => _limit = limit;

        public void Remember(GidEntry e, int index)
        {
            ByAge.RemoveAll(a => a.Entry == e);
            ByAge.Add((e, index));
            ByAddress[(e.Gid, e.Type)] = (index, e.NetdevIfindex);
            if (ByAge.Count > _limit)
            {
                GidEntry old = ByAge[0].Entry;
                ByAge.RemoveAt(0);
                if (ByAddress.TryGetValue((old.Gid, old.Type), out var a) && a.Netdev == old.NetdevIfindex)
                    ByAddress.Remove((old.Gid, old.Type));
            }
        }

        public (int Exact, int Address) Recall(GidEntry e)
        {
            int exact = ByAge.FindIndex(a => a.Entry == e);
            return (exact < 0 ? -1 : ByAge[exact].Index, ByAddress.TryGetValue((e.Gid, e.Type), out var m) ? m.Index : -1);
        }
    }

    [TestCase(16), TestCase(40)]
    public void SharedAddressesOnManyNetdevs_RecallWhatTheTwoMemoriesWould(int capacity)
    {
        // Few addresses, several netdevs each (a pod's macvlans created again under new ifindexes, VLANs with the
        // same address): address lists longer than one, re-remembered from their middle, forgotten from their end.
        var slots = new FreeSlots(capacity, firstOrdinary: 2);
        var history = new StickyIndexHistory(capacity, slots);
        int limit = Math.Max(64, 4 * capacity);
        var model = new Longhand(limit);
        var rng = new Random(capacity);
        GidEntry Key(int address, int netdev)
            => new(new Gid(0xfe80_0000_0000_0000UL, 0x0200_5eff_fe00_0000UL | (uint)address), (address & 1) == 0 ? GidType.RoceV2 : GidType.RoceV1, 10 + netdev);
        int addresses = limit / 3, netdevs = 6, multi = 0;
        for (int step = 0; step < 20_000; step++)
        {
            GidEntry e = Key(rng.Next(addresses), rng.Next(netdevs));
            Assert.That(Recall(history, e), Is.EqualTo(model.Recall(e)), $"step {step}: recall of {e} before remembering");
            int index = 2 + rng.Next(capacity - 2);
            history.Remember(e, index);
            model.Remember(e, index);
            Assert.That(history.Count, Is.EqualTo(model.ByAge.Count), $"step {step}: count");
            if (model.ByAge.Count(a => a.Entry.Gid == e.Gid && a.Entry.Type == e.Type) > 1)
                multi++;
            if (step % 500 == 0)
            {
                for (int a = 0; a < addresses; a++)
                    for (int n = 0; n < netdevs; n++)
                        Assert.That(Recall(history, Key(a, n)), Is.EqualTo(model.Recall(Key(a, n))), $"step {step}: key {a}/{n}");
                for (int i = 2; i < capacity; i++)
                    Assert.That(slots.RememberedBy(i), Is.EqualTo(model.ByAge.Count(x => x.Index == i)), $"step {step}: keys remembering {i}");
                Assert.That(history.Export(), Is.EqualTo(model.ByAge.OrderBy(x => x.Index).ToList()), $"step {step}: export");
            }
        }
        Assert.That(multi, Is.GreaterThan(1000), "addresses were remembered on several netdevs at once");
    }

    private static (int, int) Recall(StickyIndexHistory h, GidEntry e)
    {
        h.Recall(e, out int exact, out int address);
        return (exact, address);
    }
}
