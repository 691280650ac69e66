using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// A full table heals: under the sticky (default) policy a GID that did not fit is kept pending and added as soon as a
/// slot frees, lowest first in the kernel's enumeration order; under <c>--index-policy kernel</c> it is lost, as
/// Linux loses it (cache.c logs -ENOSPC and never retries; kernel-gid.md 9.12).
/// </summary>
public class GidPendingTests
{
    private const string Mac0 = "24:8a:07:aa:bb:cc";
    private const int Addresses = 2000;

    private static string Ip(int i) => $"10.{i / 250}.{i % 250}.1";

    private static (FakeNetdevs Net, GidManager Mgr, RecordingDevice Dev) Start(IndexPolicy policy)
    {
        var net = new FakeNetdevs();
        net.Add(2, "eth0", Mac0);
        var dev = new RecordingDevice("mlx4_0", 1, 128, GidTypes.Roce);
        var mgr = new GidManager(net, policy);
        net.Manager = mgr;
        mgr.AddDevice(dev, [new PortBinding("eth0")]);
        return (net, mgr, dev);
    }

    /// <summary>The addresses whose GIDs the table holds, in the order they were added.</summary>
    private static List<int> AddressesInTable(GidManager mgr)
    {
        var found = new SortedSet<int>();
        foreach (var (_, e) in mgr.Ports[0].Table.EnumerateValid())
            if (e.Gid.IsIPv4Mapped)
            {
                string ip = e.Gid.ToIPAddress().ToString();
                found.Add(Enumerable.Range(0, Addresses).First(i => Ip(i) == ip));
            }
        return found.ToList();
    }

    [Test]
    public void FullTable_128Slots_2000Addresses_DeletingThoseInTheTable_RefillsItFromThePendingInKernelOrder()
    {
        var (net, mgr, dev) = Start(IndexPolicy.Sticky);
        RocePort port = mgr.Ports[0];
        for (int i = 0; i < Addresses; i++)
            net.AddAddress("eth0", Ip(i));

        Assert.That(port.Table.Count, Is.EqualTo(128), "2 defaults and 63 addresses (v1 + v2)");
        Assert.That(AddressesInTable(mgr), Is.EqualTo(Enumerable.Range(0, 63)));
        Assert.That(port.PendingCount, Is.EqualTo((Addresses - 63) * 2));
        Assert.That(mgr.PendingKept, Is.EqualTo((Addresses - 63) * 2));
        Assert.That(mgr.PendingInKernelOrder(port).Take(3).Select(e => $"{e.Gid.ToIPAddress()} {e.Type.ToShortString()}"),
            Is.EqualTo(new[] { $"{Ip(63)} v1", $"{Ip(63)} v2", $"{Ip(64)} v1" }), "lowest first, as the kernel enumerates them");

        for (int i = 0; i < 63; i++)
            net.RemoveAddress("eth0", Ip(i));

        Assert.That(port.Table.Count, Is.EqualTo(128), "the freed slots were refilled");
        Assert.That(AddressesInTable(mgr), Is.EqualTo(Enumerable.Range(63, 63)), "the next addresses in the kernel's order");
        Assert.That(port.PendingCount, Is.EqualTo((Addresses - 126) * 2));
        Assert.That(mgr.PendingRestored, Is.EqualTo(126));
        var hw = dev.Committed.Where(kv => kv.Key.Port == 1).ToDictionary(kv => kv.Key.Index, kv => kv.Value);
        var core = new Dictionary<int, GidEntry>();
        foreach (var (i, e) in port.Table.EnumerateValid())
            core[i] = e;
        Assert.That(hw, Is.EquivalentTo(core), "the hardware holds the refilled table");

        // A pending address that goes away is forgotten, not added later.
        net.RemoveAddress("eth0", Ip(126));
        Assert.That(mgr.PendingInKernelOrder(port).First().Gid.ToIPAddress().ToString(), Is.EqualTo(Ip(127)));
        Assert.That(port.PendingCount, Is.EqualTo((Addresses - 127) * 2));
    }

    [Test]
    public void KernelPolicy_KeepsTheKernelsLoss_FreedSlotsStayEmpty()
    {
        var (net, mgr, _) = Start(IndexPolicy.Kernel);
        RocePort port = mgr.Ports[0];
        for (int i = 0; i < 200; i++)
            net.AddAddress("eth0", Ip(i));
        Assert.That(port.Table.Count, Is.EqualTo(128));
        Assert.That(port.PendingCount, Is.Zero);
        for (int i = 0; i < 63; i++)
            net.RemoveAddress("eth0", Ip(i));
        Assert.That(port.Table.Count, Is.EqualTo(2), "only the two defaults: the other 137 addresses are lost, as in Linux");
        Assert.That(mgr.PendingKept, Is.Zero);
    }

    [Test]
    public void A_netdev_that_goes_away_takes_its_pending_GIDs_with_it()
    {
        var (net, mgr, _) = Start(IndexPolicy.Sticky);
        net.Add(5, "mv0", "02:00:00:00:00:05", RoceUio.Netlink.NetdevKind.Macvlan, lower: 2);
        for (int i = 0; i < 63; i++)
            net.AddAddress("eth0", Ip(i));
        net.AddAddress("mv0", "192.0.2.5");
        RocePort port = mgr.Ports[0];
        Assert.That(port.PendingCount, Is.EqualTo(2));
        net.Remove("mv0");
        Assert.That(port.PendingCount, Is.Zero);
        net.RemoveAddress("eth0", Ip(0));
        Assert.That(port.Table.Count, Is.EqualTo(126), "nothing of mv0 came back");
    }
}
