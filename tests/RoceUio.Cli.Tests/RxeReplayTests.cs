using System.Text.Json.Nodes;
using NUnit.Framework;
using RoceUio.Netlink;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// <c>--emulate rxe:NETDEV</c>: a software device with rdma_rxe's table shape (one port, RoCE v2 only, 1,024 slots,
/// one default slot). Replayed with <c>--index-policy kernel</c>, a capture gives the table a Linux 6.1 kernel with
/// rxe showed (facts seen on a real kernel: the default at 0; IPv4 then IPv6 global-before-link-local newest first in
/// a rebuild; the port netdev's own EUI-64 link-local never a second entry; macvlan addresses with ndev = the macvlan;
/// lowest free index; a full table loses the adds that do not fit, for good).
/// </summary>
public class RxeReplayTests
{
    private const int Eth0 = 2, Mv0 = 3;

    /// <summary>A dump message carries NLM_F_MULTI, as the kernel's dump replies (and so rtmon's first dump) do.</summary>
    private static byte[] Dumped(byte[] message)
    {
        message[NlMsgHdr.OffsetFlags] |= (byte)NlMsgFlags.NLM_F_MULTI;
        return message;
    }

    private static string Rows(string json)
        => string.Join('\n', ((JsonArray)JsonNode.Parse(json)!).Select(r => $"{r!["dev"]} {r["port"]} {r["index"]} {System.Net.IPAddress.Parse((string)r["gid"]!)} v{r["gid_type"]} {r["ndev"]}"));

    [Test]
    public void StartupDump_AndEvents_GiveTheKernelsRxeTable()
    {
        using var dir = new TempDirectory();
        using (var w = RtmonCaptureWriter.Create(dir["cap"]))
        {
            foreach (byte[] m in new[]
            {
                RtnlMessages.NewLink(new LinkSpec(1, "lo") { ArphrdType = Arphrd.ARPHRD_LOOPBACK, Mac = "00:00:00:00:00:00" }),
                RtnlMessages.NewLink(new LinkSpec(Eth0, "eth0") { Mac = "02:00:00:00:00:0a" }),
                RtnlMessages.NewLink(new LinkSpec(Mv0, "mv0") { Mac = "02:00:00:00:00:0b", Kind = "macvlan", Link = Eth0 }),
                // The kernel's list order: IPv4 as added; IPv6 global before link-local, newest first.
                RtnlMessages.NewAddress(Eth0, "10.0.0.1/24"),
                RtnlMessages.NewAddress(Eth0, "2001:db8::2/64"),
                RtnlMessages.NewAddress(Eth0, "2001:db8::1/64"),
                RtnlMessages.NewAddress(Eth0, "fe80::ff:fe00:a/64", scope: 253),
                RtnlMessages.NewAddress(Mv0, "10.0.1.1/24"),
            })
                w.WriteMessage(Dumped(m));
            w.WriteEvents(RtnlMessages.NewAddress(Eth0, "10.0.0.2/24"));
            w.WriteEvents(RtnlMessages.DelAddress(Eth0, "2001:db8::2/64"));
            w.WriteEvents(RtnlMessages.NewAddress(Eth0, "2001:db8::3/64"));
        }
        var r = RoceuioProcess.Run("replay", dir["cap"], "--emulate", "rxe:eth0", "--index-policy", "kernel", "--json");
        Assert.That(r.Exit, Is.EqualTo(0), r.Err);
        Assert.That(Rows(r.Out), Is.EqualTo(string.Join('\n',
            "rxe0 1 0 fe80::ff:fe00:a v2 eth0",          // the default; eth0's own EUI-64 link-local collapses onto it
            "rxe0 1 1 ::ffff:10.0.0.1 v2 eth0",
            "rxe0 1 2 2001:db8::3 v2 eth0",             // 2001:db8::2's slot, freed and reused at once
            "rxe0 1 3 2001:db8::1 v2 eth0",
            "rxe0 1 4 ::ffff:10.0.1.1 v2 mv0",
            "rxe0 1 5 ::ffff:10.0.0.2 v2 eth0")));
    }

    [Test]
    public void FullTable_LosesWhatDoesNotFit_ForGood_UnderTheKernelPolicy()
    {
        using var dir = new TempDirectory();
        using (var w = RtmonCaptureWriter.Create(dir["cap"]))
        {
            w.WriteMessage(Dumped(RtnlMessages.NewLink(new LinkSpec(Eth0, "eth0") { Mac = "02:00:00:00:00:0a" })));
            // 1,100 addresses: 1,023 fit beside the default, 77 get -ENOSPC.
            for (int i = 0; i < 1100; i++)
                w.WriteEvents(RtnlMessages.NewAddress(Eth0, $"10.{i / 250}.{i % 250}.1/32"));
            // Ten of the stored ones go; the lost ones are not retried; one new address takes the lowest free slot.
            for (int i = 0; i < 10; i++)
                w.WriteEvents(RtnlMessages.DelAddress(Eth0, $"10.0.{i}.1/32"));
            w.WriteEvents(RtnlMessages.NewAddress(Eth0, "192.0.2.1/32"));
        }
        var r = RoceuioProcess.Run("replay", dir["cap"], "--emulate", "rxe:eth0", "--index-policy", "kernel", "--json");
        Assert.That(r.Exit, Is.EqualTo(0), r.Err);
        var rows = (JsonArray)JsonNode.Parse(r.Out)!;
        Assert.That(rows, Has.Count.EqualTo(1 + 1023 - 10 + 1));
        Assert.That(rows.Any(x => (string?)x!["ipv4"] == "10.4.23.1"), Is.False, "address 1,024 (10.4.23.1) did not fit and never came back");
        Assert.That(rows.Single(x => (string?)x!["ipv4"] == "192.0.2.1")!["index"]!.GetValue<int>(), Is.EqualTo(1), "the lowest freed slot");
        Assert.That(rows.All(x => x!["gid_type"]!.GetValue<int>() == 2), "RoCE v2 only");
        Assert.That(r.Err, Does.Contain("full").And.Contain("rxe0"), "each loss is reported");
    }

    [Test]
    public void Rxe_CannotBeAttachedOrBound()
    {
        using var dir = new TempDirectory();
        var r = RoceuioProcess.Run("run", "--attach", $"rxe:{dir.Path}=eth0", "--control", dir["c.sock"], "--state-dir", dir.Path);
        Assert.That(r.Exit, Is.Not.EqualTo(0));
        Assert.That(r.Err, Does.Contain("rxe is a software device"));
    }
}
