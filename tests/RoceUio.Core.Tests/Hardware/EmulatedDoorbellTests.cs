using NUnit.Framework;
using RoceUio.Hardware;
using RoceUio.Hardware.Emulation;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Hardware;

/// <summary>The doorbell of an emulated device: a register write through one mapping wakes a sleeper on another.</summary>
public class EmulatedDoorbellTests
{
    [Test]
    public void A_register_write_through_the_driver_mapping_wakes_a_sleeper_on_the_model_mapping()
    {
        using var dir = new TempDirectory();
        using EmulatedDevice driverSide = EchoModel.Create(dir.Path);
        using EmulatedDevice modelSide = EmulatedDevice.Open(dir.Path);
        EmulatedDoorbell bell = modelSide.Doorbell!;
        var regs = new MmioRegion(driverSide.Bar(0), 0, RegisterByteOrder.LittleEndian);
        for (int i = 0; i < 10; i++)
        {
            uint seen = bell.Count;
            bool woke = false;
            var waiter = new Thread(() => woke = bell.Wait(seen, 60_000)) { IsBackground = true };
            var sw = System.Diagnostics.Stopwatch.StartNew();
            waiter.Start();
            if (i % 2 == 1)   // odd rounds: the write comes once the waiter sleeps; even rounds: whenever (both must end it)
                WaitUntil(() => bell.HasSleeper || !waiter.IsAlive);
            regs.Write32(EchoModel.RegDmaLen, (uint)i + 1);
            Assert.That(waiter.Join(TimeSpan.FromSeconds(20)), Is.True, $"round {i}: the write did not wake the sleeper");
            Assert.That((woke, bell.Count != seen), Is.EqualTo((true, true)), $"round {i}, {sw.ElapsedMilliseconds} ms");
        }
    }

    private static void WaitUntil(Func<bool> condition)
    {
        long deadline = Environment.TickCount64 + 20_000;
        while (!condition() && Environment.TickCount64 < deadline)
            Thread.Yield();
    }

    [Test]
    public void A_wait_with_no_write_ends_at_its_timeout_and_says_so()
    {
        using var dir = new TempDirectory();
        using EmulatedDevice dev = EchoModel.Create(dir.Path);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.That(dev.Doorbell!.Wait(dev.Doorbell.Count, 20), Is.False);
        Assert.That(sw.ElapsedMilliseconds, Is.GreaterThanOrEqualTo(15));
    }
    [Test]
    public void A_ring_racing_a_sleeper_never_leaves_the_next_write_unheard()
    {
        // Each round: a first ring races the sleeper's read of the count and its announcement, then a second ring
        // comes. Whatever order the first one took, the second must end the sleeper's wait at once; a wake lost
        // to the race leaves the sleeper in its 30 s wait and the round fails its 10 s limit.
        using var dir = new TempDirectory();
        using EmulatedDevice a = EchoModel.Create(dir.Path);
        using EmulatedDevice b = EmulatedDevice.Open(dir.Path);
        EmulatedDoorbell writer = a.Doorbell!, sleeper = b.Doorbell!;
        int go = -1, done = -1;
        var thread = new Thread(() =>
        {
            for (int r = 0; ; r++)
            {
                while (Volatile.Read(ref go) < r)
                    Thread.SpinWait(1);
                if (Volatile.Read(ref go) == int.MaxValue)
                    return;
                uint seen = sleeper.Count;
                sleeper.Wait(seen, 30_000);
                Volatile.Write(ref done, r);
            }
        }) { IsBackground = true };
        thread.Start();
        var rounds = System.Diagnostics.Stopwatch.StartNew();
        int round = 0;
        for (; round < 20_000 && rounds.ElapsedMilliseconds < 4_000; round++)
        {
            Volatile.Write(ref go, round);
            Thread.SpinWait(round % 64);
            writer.Ring();                                   // races the sleeper's read and announcement
            long deadline = Environment.TickCount64 + 10_000;
            while (Volatile.Read(ref done) < round && !sleeper.HasSleeper && Environment.TickCount64 < deadline)
                Thread.SpinWait(1);
            writer.Ring();                                   // the write the sleeper must hear
            while (Volatile.Read(ref done) < round && Environment.TickCount64 < deadline)
                Thread.Yield();
            Assert.That(Volatile.Read(ref done), Is.EqualTo(round), $"round {round}: the second ring did not end the wait");
        }
        Volatile.Write(ref go, int.MaxValue);
        Assert.That(round, Is.GreaterThan(100), "rounds run");
    }
}
