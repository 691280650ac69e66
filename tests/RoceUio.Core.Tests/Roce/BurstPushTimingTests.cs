using System.Diagnostics;
using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// Burst latency against pushes, on real kernel events: 1,000 <c>ip addr add</c> in one batch, the worker turning as
/// the daemon's does (<see cref="RocePipeline.PollPaced"/>). A port is pushed mid-burst once its oldest unpushed
/// change is 1 ms old, with the spacing of pushes doubling within the burst (1, 1, 2, 4, 8, then 16 ms), so the first
/// hardware write comes about 1 ms after the first event, the last within ~16 ms of the last event, and a burst of D ms
/// costs about 2 + log2(D) pushes (then one per 16 ms). Prints the figures (perf/RESULTS.md records them). Needs root.
/// </summary>
[NonParallelizable]
public class BurstPushTimingTests
{
    private sealed class FirstAndLast : INetdevObserver
    {
        public long First = -1, Last = -1;
        public int Added;
        public void OnNetdevEvent(in NetdevEvent e)
        {
            if (e.Type != NetdevEventType.AddressAdded || !e.Address.IsIPv4)
                return;
            long now = Stopwatch.GetTimestamp();
            if (First < 0)
                First = now;
            Last = now;
            Added++;
        }
    }

    [Test]
    public void Burst_of_1000_addresses_FirstWriteSoon_FewPushes_AllInTheHardware()
    {
        const int N = 1000;
        using var ns = NetworkNamespace.Create();
        ns.Ip("link add va type veth peer name vb");
        ns.Ip("link set va up");
        var dev = new RecordingDevice("mlx4_0", 1, 2048, GidTypes.RoceV2);
        using RocePipeline p = new RocePipelineBuilder().IndexPolicy(IndexPolicy.Kernel).Build();
        p.AddDevice(dev, ["va"]);
        ns.Run(() => { p.StartMonitor(); return 0; });
        var events = new FirstAndLast();
        p.Cache.Subscribe(events);
        var commits = new List<long>();
        dev.OnCommit = _ => commits.Add(Stopwatch.GetTimestamp());
        while (p.PollPaced(50) > 0) { }   // settle what the start made
        commits.Clear();

        Task batch = Task.Run(() => ns.IpBatch(Enumerable.Range(0, N).Select(i => $"addr add 10.1.{i / 250}.{i % 250 + 1}/32 dev va")));
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (p.Manager.Ports[0].Table.Count < N + 1 && DateTime.UtcNow < deadline)
            p.PollPaced(20);
        batch.Wait(TimeSpan.FromSeconds(30));
        Assert.That(p.Manager.Ports[0].Table.Count, Is.EqualTo(N + 1), "the default and 1,000 GIDs");
        Assert.That(events.Added, Is.EqualTo(N));

        double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;
        double burstMs = Ms(events.First, events.Last);
        double firstWriteMs = Ms(events.First, commits[0]);
        double convergedMs = Ms(events.Last, commits[^1]);
        TestContext.Out.WriteLine($"burst of {N}: events over {burstMs:F1} ms; {commits.Count} pushes; first write {firstWriteMs:F2} ms "
                                  + $"after the first event; last write {convergedMs:F2} ms after the last event");
        // Spacing 1, 1, 2, 4, 8, then 16 ms (PortSync.MaxPaceMs): 6 pushes cover the first 16 ms, then one per 16 ms,
        // and one more once the socket is drained; two more for a sender that stalls a millisecond or two while the
        // port is clean (each quiet millisecond halves the spacing). A 20 ms burst: ≤ 10 (issue 17's target).
        int bound = 9 + (int)Math.Ceiling(Math.Max(0, burstMs - 16) / PortSync.MaxPaceMs);
        Assert.That(commits, Has.Count.LessThanOrEqualTo(bound), $"paced pushes over a {burstMs:F0} ms burst, not one per datagram");
        Assert.That(commits, Has.Count.GreaterThan(1), "pushed during the burst, not only after the whole backlog");
        var hw = dev.Committed.Where(kv => kv.Key.Port == 1).ToDictionary(kv => kv.Key.Index, kv => kv.Value);
        var core = new Dictionary<int, GidEntry>();
        foreach (var (i, e) in p.Manager.Ports[0].Table.EnumerateValid())
            core[i] = e;
        Assert.That(hw, Is.EquivalentTo(core), "the hardware holds the whole table after the burst");
    }
}
