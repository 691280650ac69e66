using NUnit.Framework;
using RoceUio.Cli.Daemon;
using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Cli.Tests;

/// <summary>The sticky state is written because the change stream said the tables changed (not from inside the log
/// delegate): a subscriber of <see cref="GidChangeBroadcaster"/> marks it dirty.</summary>
public class StickyStateSaverTests
{
    [Test]
    public void A_published_change_makes_the_state_due_and_TakeForSave_clears_it_until_the_next_change()
    {
        var changes = new GidChangeBroadcaster();
        using var saver = new StickyStateSaver(changes);
        Assert.That(saver.IsDue(TimeSpan.Zero), Is.False, "nothing changed yet");

        var entry = new GidEntry(Gid.Parse("::ffff:192.0.2.1"), GidType.RoceV2, 2);
        changes.Publish(new GidChangeEvent("mlx4_0", 1, 2, null, entry));
        Assert.That(WaitUntil(() => saver.IsDue(TimeSpan.Zero)), Is.True, "the subscriber marked the state dirty");
        Assert.That(saver.IsDue(TimeSpan.FromHours(1)), Is.False, "but not before the save delay");

        saver.TakeForSave();
        Assert.That(saver.IsDue(TimeSpan.Zero), Is.False);
        changes.Publish(new GidChangeEvent("mlx4_0", 1, 2, entry, null));
        Assert.That(WaitUntil(() => saver.IsDue(TimeSpan.Zero)), Is.True, "a later change is saved next time");
    }

    private static bool WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                return false;
            Thread.Sleep(1);
        }
        return true;
    }
}
