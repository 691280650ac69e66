using NUnit.Framework;
using RoceUio.Gids;

namespace RoceUio.Core.Tests.Gids;

/// <summary>The striped hash index against a Dictionary model: growth of crowded stripes and backward-shift deletes.</summary>
public class GidHashIndexTests
{
    [Test]
    public void RandomSetsAndRemoves_AgreeWithADictionary()
    {
        const int capacity = 64;
        var index = new GidHashIndex(capacity);
        var model = new Dictionary<GidEntry, int>();
        var rng = new Random(12345);
        // Keys share most bits so that the hash has to do the spreading; a few stripes will be crowded past their
        // initial size and must grow.
        GidEntry Key(int k) => new(new Gid(0xfe80_0000_0000_0000UL, 0x0200_5eff_fe00_0000UL | (uint)(k >> 2)), (GidType)(1 + (k & 1)), 2 + ((k >> 1) & 1));
        for (int step = 0; step < 200_000; step++)
        {
            var key = Key(rng.Next(4 * capacity));
            if (model.Count < capacity && rng.Next(2) == 0)
            {
                int value = rng.Next(capacity);
                index.Set(key, value);
                model[key] = value;
            }
            else
            {
                Assert.That(index.Remove(key), Is.EqualTo(model.Remove(key)), $"remove at step {step}");
            }
            if (step % 1000 == 0)
            {
                for (int k = 0; k < 4 * capacity; k++)
                {
                    bool inModel = model.TryGetValue(Key(k), out int expected);
                    GidEntry e = Key(k);
                    Assert.That(index.TryFind(e.Gid.SubnetPrefix, e.Gid.InterfaceId, e.NetdevIfindex, e.Type, out int got), Is.EqualTo(inModel), $"key {k} at step {step}");
                    if (inModel)
                        Assert.That(got, Is.EqualTo(expected));
                }
            }
        }
    }
}
