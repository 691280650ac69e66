using NUnit.Framework;
using RoceUio.Roce;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// The push schedule of one port (<see cref="PortSync"/>, issue 17 "burst latency against pushes"), on an injected
/// clock: a simulated worker turns as the daemon's does (after each datagram, once the socket is drained, on the
/// pacing timer and when a push is answered), in 10 µs steps, with pushes answered at once (rxe, a recording device) or
/// after a few milliseconds (mlx4's SET_PORT through its model). What a user notices: a single change reaches the
/// hardware at once however close it follows the previous one, a burst of 1,000 costs a handful of pushes, and a
/// change after a quiet gap is not paced like the burst before it.
/// </summary>
public class PortSyncPacingTests
{
    private const int StepUs = 10;

    private sealed record Push(long StartUs, long DoneUs);

    /// <summary>Runs the schedule over <paramref name="eventsUs"/> (the times changes arrive, µs) with pushes answered
    /// <paramref name="answerUs"/> after they start; returns the pushes, each with when it was answered.</summary>
    private static List<Push> Simulate(IReadOnlyList<long> eventsUs, long answerUs)
    {
        var sync = new PortSync();
        var pushes = new List<Push>();
        IReadOnlyList<long> events = eventsUs;
        long answerAt = -1;
        int next = 0;
        long Ms(long us) => us / 1000;
        void StartPush(long t)
        {
            sync.Pushed(Ms(t));
            pushes.Add(new Push(t, -1));
            answerAt = t + answerUs;
            if (answerUs == 0)
                Answer(t);
        }
        void Answer(long t)
        {
            sync.PushSucceeded(Ms(t));
            pushes[^1] = pushes[^1] with { DoneUs = t };
            answerAt = -1;
        }
        long end = (events.Count > 0 ? events[^1] : 0) + 200_000;
        for (long t = 0; t <= end; t += StepUs)
        {
            if (answerAt >= 0 && t >= answerAt)
                Answer(t);
            bool any = false;
            while (next < events.Count && events[next] <= t)
            {
                sync.MarkChanged(Ms(t));
                next++;
                any = true;
                if (sync.IsPacedDue(Ms(t), drained: false))
                    StartPush(t);
            }
            // drained (after datagrams, on the pacing timer or on an answer: the daemon's loop checks after each wake)
            if (sync.IsPacedDue(Ms(t), drained: true))
                StartPush(t);
            if (!any && next >= events.Count && !sync.NeedsPush && answerAt < 0 && t > events[^1])
                break;
        }
        Assert.That(sync.NeedsPush, Is.False, "the hardware holds every change in the end");
        return pushes;
    }

    /// <summary>The push that carried the change made at <paramref name="eventUs"/>: the first one started at or after it.</summary>
    private static Push CarrierOf(List<Push> pushes, long eventUs) => pushes.First(p => p.StartUs >= eventUs);

    private static List<long> Burst(long startUs, int n, long gapUs)
        => Enumerable.Range(0, n).Select(i => startUs + i * gapUs).ToList();

    [TestCase(0)]
    [TestCase(3000)]
    public void IsolatedChanges_1To3MsApart_EachIsPushedAtOnce(long answerUs)
    {
        // 300 single changes 1-3 ms apart after the previous one was answered (the perf script's CLOSE=1 shape): the
        // old pacing kept such a port "in a burst" and made them wait up to 16 ms (p50 13.9 ms measured).
        var rnd = new Random(17);
        var times = new List<long>();
        long t = 1000;
        for (int i = 0; i < 300; i++)
        {
            times.Add(t);
            t += answerUs + rnd.Next(100, 301) * StepUs;
        }
        List<Push> pushes = Simulate(times, answerUs);
        Assert.That(pushes, Has.Count.EqualTo(300), "one push per change");
        foreach (long e in times)
            Assert.That(CarrierOf(pushes, e).StartUs, Is.EqualTo(e), $"the change at {e} µs is pushed when it arrives");
    }

    [TestCase(0)]
    [TestCase(3000)]
    public void AddThenDeleteRightAfterItsAnswer_ThenAGap_TheAddsArePushedAtOnce(long answerUs)
    {
        // The measurement's own shape: an add, its delete 0.2 ms after the add's push was answered, then 1-3 ms until
        // the next add. The delete may wait for the 1 ms spacing; it must not make the spacing climb for the adds.
        var rnd = new Random(3);
        var adds = new List<long>();
        long t = 1000;
        for (int i = 0; i < 200; i++)
        {
            adds.Add(t);
            t += answerUs + 200 + 1000 + answerUs + rnd.Next(100, 301) * StepUs + 200;
        }
        List<Push> pushes = Simulate(adds.Concat(adds.Select(a => a + answerUs + 200)).Order().ToList(), answerUs);
        foreach (long a in adds)
            Assert.That(CarrierOf(pushes, a).StartUs, Is.EqualTo(a), $"the add at {a} µs is pushed when it arrives");
    }

    [TestCase(0)]
    [TestCase(3000)]
    public void SteadyAddDeletePairs_TheSpacingDoesNotRatchet(long answerUs)
    {
        // The shape the push trace caught (ROCEUIO_PUSH_TRACE, 1-3 ms apart): each delete arrives 0.4 ms after the
        // previous push was answered and waits for the spacing; each add follows 1-3 ms after the delete's push. When
        // every push that waited doubled the spacing, it climbed to 16 ms and the adds waited 13-14 ms (p99 15 ms).
        var rnd = new Random(11);
        var events = new List<long>();
        var adds = new List<long>();
        long t = 1000;
        for (int i = 0; i < 200; i++)
        {
            adds.Add(t);
            events.Add(t);
            long del = t + answerUs + 400;
            events.Add(del);
            t = del + answerUs + rnd.Next(100, 301) * StepUs;
        }
        List<Push> pushes = Simulate(events, answerUs);
        foreach (long a in adds.Skip(1))
            Assert.That(CarrierOf(pushes, a).StartUs - a, Is.LessThanOrEqualTo(1000),
                        $"the add at {a} µs reaches the hardware within 1 ms, not after a ratcheted spacing");
    }

    [TestCase(0, 20)]      // the recording device: 1,000 changes over 20 ms
    [TestCase(0, 26)]
    [TestCase(3000, 20)]   // mlx4: each SET_PORT answered 3 ms later
    [TestCase(3000, 26)]
    public void BurstOf1000_FirstWriteSoon_FewPushes_ConvergedSoonAfterTheLast(long answerUs, int burstMs)
    {
        List<long> burst = Burst(5000, 1000, burstMs) /* 1,000 over burstMs ms: burstMs µs apart */;
        List<Push> pushes = Simulate(burst, answerUs);
        Assert.That(pushes[0].StartUs - burst[0], Is.LessThanOrEqualTo(5000), "first hardware write ≤ 5 ms after the first event");
        Assert.That(pushes, Has.Count.LessThanOrEqualTo(10), "≤ 10 SET_PORTs per port for the burst");
        Assert.That(pushes, Has.Count.GreaterThan(2), "pushed during the burst, not only at its start and end");
        Assert.That(pushes[^1].DoneUs - burst[^1], Is.LessThanOrEqualTo(20_000), "converged ≤ 20 ms after the last event");
    }

    [TestCase(0, 30_000)]
    [TestCase(0, 5_000)]
    [TestCase(3000, 30_000)]
    [TestCase(3000, 5_000)]
    public void AChangeAfterAQuietGap_FollowingABurst_IsPushedAtOnce(long answerUs, long gapUs)
    {
        List<long> burst = Burst(5000, 1000, 20);
        List<Push> first = Simulate(burst, answerUs);
        long clean = first[^1].DoneUs;
        long change = clean + gapUs;
        List<Push> pushes = Simulate(burst.Append(change).ToList(), answerUs);
        Assert.That(CarrierOf(pushes, change).StartUs, Is.EqualTo(change),
                    $"a change {gapUs / 1000} ms after the burst's last push was answered is pushed at once");
    }

    [Test]
    public void ALongBurst_KeepsOnePushPerMaxPace_AndConvergesWithinIt()
    {
        // 200 ms of changes (one per 50 µs): the spacing tops at 16 ms, so the hardware is never more than ~16 ms behind.
        List<long> burst = Burst(1000, 4000, 50);
        List<Push> pushes = Simulate(burst, 0);
        for (int i = 1; i < pushes.Count; i++)
            Assert.That(pushes[i].StartUs - pushes[i - 1].StartUs, Is.LessThanOrEqualTo((PortSync.MaxPaceMs + 1) * 1000L));
        Assert.That(pushes[^1].DoneUs - burst[^1], Is.LessThanOrEqualTo(20_000));
        Assert.That(pushes, Has.Count.LessThanOrEqualTo(6 + 200 / PortSync.MaxPaceMs + 1), "paced, not one push per change");
    }
}
