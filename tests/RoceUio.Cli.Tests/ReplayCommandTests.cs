using System.Text.Json.Nodes;
using NUnit.Framework;
using RoceUio.Netlink;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// <c>roceuio replay</c>: an rtmon capture built from the kernel's message layouts (VLAN and bond events this kernel
/// cannot make) goes through cache → graph → manager → mlx4 driver → in-thread model, and the printed tables are
/// exactly what the kernel's rules give (kernel-gid.md 3: VLAN uppers count on the port of their real device; a bond's
/// default GID replaces its slaves' on every slave's port; its addresses live only on the active slave's port and move
/// with a failover).
/// </summary>
public class ReplayCommandTests
{
    private const int Eth0 = 2, Eth1 = 3, Eth2 = 4, Vlan = 5, Bond = 6;
    private const string BondMac = "02:00:00:00:00:b0";

    private static byte[] Capture()
    {
        using var ms = new MemoryStream();
        using (var w = new RtmonCaptureWriter(ms, ownsStream: false, clock: () => DateTimeOffset.FromUnixTimeSeconds(1_700_000_000)))
        {
            // The initial dump: three ports, a VLAN on eth0 with addresses, a bond with an address and no slave yet.
            foreach (byte[] m in new[]
            {
                RtnlMessages.NewLink(new LinkSpec(1, "lo") { ArphrdType = Arphrd.ARPHRD_LOOPBACK, Mac = "00:00:00:00:00:00" }),
                RtnlMessages.NewLink(new LinkSpec(Eth0, "eth0") { Mac = "02:00:00:00:00:0a" }),
                RtnlMessages.NewLink(new LinkSpec(Eth1, "eth1") { Mac = "02:00:00:00:00:0b" }),
                RtnlMessages.NewLink(new LinkSpec(Eth2, "eth2") { Mac = "02:00:00:00:00:0c" }),
                RtnlMessages.NewLink(new LinkSpec(Vlan, "eth0.100") { Mac = "02:00:00:00:00:0a", Kind = "vlan", Link = Eth0, VlanId = 100 }),
                RtnlMessages.NewLink(new LinkSpec(Bond, "bond0") { Mac = BondMac, Kind = "bond" }),
                RtnlMessages.NewAddress(Vlan, "192.168.100.1/24"),
                RtnlMessages.NewAddress(Vlan, "2001:db8:100::1/64"),
                RtnlMessages.NewAddress(Bond, "10.1.0.1/24"),
            })
                w.WriteMessage(m);
            // Events: enslave eth1 (takes the bond's MAC), it becomes active; enslave eth2; fail over to eth2.
            w.WriteEvents(RtnlMessages.NewLink(new LinkSpec(Eth1, "eth1") { Mac = BondMac, Master = Bond, SlaveKind = "bond" }));
            w.WriteEvents(RtnlMessages.NewLink(new LinkSpec(Bond, "bond0") { Mac = BondMac, Kind = "bond", BondActiveSlave = Eth1 }));
            w.WriteEvents(RtnlMessages.NewLink(new LinkSpec(Eth2, "eth2") { Mac = BondMac, Master = Bond, SlaveKind = "bond" }));
            w.WriteEvents(RtnlMessages.NewLink(new LinkSpec(Bond, "bond0") { Mac = BondMac, Kind = "bond", BondActiveSlave = Eth2 }));
            // A second VLAN address comes and goes; eth0's first one stays.
            w.WriteEvents(RtnlMessages.NewAddress(Vlan, "192.168.100.2/24"));
            w.WriteEvents(RtnlMessages.DelAddress(Vlan, "192.168.100.2/24"));
        }
        return ms.ToArray();
    }

    private const string Expected =
        "DEV\tPORT\tINDEX\tGID\t\t\t\t\tIPv4  \t\tVER\tDEV\n"
        + "---\t----\t-----\t---\t\t\t\t\t------------  \t---\t---\n"
        // mlx4_0 port 1 = eth0: its own defaults, the VLAN's addresses (ndev eth0.100).
        + "mlx4_0\t1\t0\tfe80:0000:0000:0000:0000:00ff:fe00:000a\t\t\tv1\teth0\n"
        + "mlx4_0\t1\t1\tfe80:0000:0000:0000:0000:00ff:fe00:000a\t\t\tv2\teth0\n"
        + "mlx4_0\t1\t2\t0000:0000:0000:0000:0000:ffff:c0a8:6401\t192.168.100.1  \tv1\teth0.100\n"
        + "mlx4_0\t1\t3\t0000:0000:0000:0000:0000:ffff:c0a8:6401\t192.168.100.1  \tv2\teth0.100\n"
        + "mlx4_0\t1\t4\t2001:0db8:0100:0000:0000:0000:0000:0001\t\t\tv1\teth0.100\n"
        + "mlx4_0\t1\t5\t2001:0db8:0100:0000:0000:0000:0000:0001\t\t\tv2\teth0.100\n"
        // mlx4_0 port 2 = eth1, now an inactive slave: the bond's defaults only.
        + "mlx4_0\t2\t0\tfe80:0000:0000:0000:0000:00ff:fe00:00b0\t\t\tv1\tbond0\n"
        + "mlx4_0\t2\t1\tfe80:0000:0000:0000:0000:00ff:fe00:00b0\t\t\tv2\tbond0\n"
        // mlx4_1 port 1 = eth2, the active slave after the failover: the bond's defaults and its address.
        + "mlx4_1\t1\t0\tfe80:0000:0000:0000:0000:00ff:fe00:00b0\t\t\tv1\tbond0\n"
        + "mlx4_1\t1\t1\tfe80:0000:0000:0000:0000:00ff:fe00:00b0\t\t\tv2\tbond0\n"
        + "mlx4_1\t1\t2\t0000:0000:0000:0000:0000:ffff:0a01:0001\t10.1.0.1  \tv1\tbond0\n"
        + "mlx4_1\t1\t3\t0000:0000:0000:0000:0000:ffff:0a01:0001\t10.1.0.1  \tv2\tbond0\n"
        + "n_gids_found=12\n";

    [Test]
    public void VlanAndBondFailover_PrintTheKernelsTables_InBothForms()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir["capture.rtmon"], Capture());

        var text = RoceuioProcess.Run("replay", dir["capture.rtmon"], "--emulate", "mlx4:eth0,eth1,eth2", "--mmio-trace", dir["mmio.trace"]);
        Assert.That((text.Exit, text.Out), Is.EqualTo((0, Expected)), text.Err);
        Assert.That(text.Err, Is.Empty);
        // Both devices were brought up and programmed through the HCR (bar0 writes), traced from bring-up on.
        string[] trace = File.ReadAllLines(dir["mmio.trace"]);
        Assert.That(trace.Count(l => l.Contains(" W32 bar0+0x80698 ")), Is.GreaterThanOrEqualTo(4), "HCR go/opcode writes: QUERY_FW, QUERY_DEV_CAP per device and SET_PORTs");

        var json = RoceuioProcess.Run("replay", dir["capture.rtmon"], "--emulate", "mlx4:eth0,eth1,eth2", "--json");
        Assert.That(json.Exit, Is.EqualTo(0), json.Err);
        var rows = (JsonArray)JsonNode.Parse(json.Out)!;
        Assert.That(rows.Select(r => $"{r!["dev"]} {r["port"]} {r["index"]} {r["gid_type"]} {r["ndev"]} {r["ndev_ifindex"]} {(string?)r["ipv4"] ?? "-"}"), Is.EqualTo(new[]
        {
            "mlx4_0 1 0 1 eth0 2 -", "mlx4_0 1 1 2 eth0 2 -",
            "mlx4_0 1 2 1 eth0.100 5 192.168.100.1", "mlx4_0 1 3 2 eth0.100 5 192.168.100.1",
            "mlx4_0 1 4 1 eth0.100 5 -", "mlx4_0 1 5 2 eth0.100 5 -",
            "mlx4_0 2 0 1 bond0 6 -", "mlx4_0 2 1 2 bond0 6 -",
            "mlx4_1 1 0 1 bond0 6 -", "mlx4_1 1 1 2 bond0 6 -",
            "mlx4_1 1 2 1 bond0 6 10.1.0.1", "mlx4_1 1 3 2 bond0 6 10.1.0.1",
        }));
    }

    [Test]
    public void BurstWindow_CommitsOncePerGroupOfTimestamps_AndEndsWithTheSameTables()
    {
        // The initial dump at T, five addresses at T+1 s, five more at T+2 s.
        var t = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
        using var ms = new MemoryStream();
        using (var w = new RtmonCaptureWriter(ms, ownsStream: false, clock: () => t))
        {
            w.WriteMessage(RtnlMessages.NewLink(new LinkSpec(1, "lo") { ArphrdType = Arphrd.ARPHRD_LOOPBACK, Mac = "00:00:00:00:00:00" }));
            w.WriteMessage(RtnlMessages.NewLink(new LinkSpec(Eth0, "eth0") { Mac = "02:00:00:00:00:0a" }));
            for (int group = 1; group <= 2; group++)
            {
                t = t.AddSeconds(1);
                for (int i = 1; i <= 5; i++)
                    w.WriteEvents(RtnlMessages.NewAddress(Eth0, $"10.0.{group}.{i}/24"));
            }
        }
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir["cap"], ms.ToArray());

        var each = RoceuioProcess.Run("replay", dir["cap"], "--emulate", "mlx4:eth0", "--mmio-trace", dir["each.trace"]);
        var grouped = RoceuioProcess.Run("replay", dir["cap"], "--emulate", "mlx4:eth0", "--mmio-trace", dir["grouped.trace"], "--burst-window", "10");
        Assert.That(each.Exit, Is.Zero, each.Err);
        Assert.That(grouped.Exit, Is.Zero, grouped.Err);
        Assert.That(grouped.Out, Is.EqualTo(each.Out), "the same tables either way");
        Assert.That(grouped.Out, Does.Contain("n_gids_found=22"));
        // SET_PORT (opcode 0x00c) posts in the HCR's dw6 (bar0+0x80698): one per commit that changed the table.
        Assert.That((SetPorts(dir["each.trace"]), SetPorts(dir["grouped.trace"])), Is.EqualTo((11, 3)),
            "per message: the port's defaults, then one per address; grouped: the dump, then one per second");
    }

    /// <summary>The GID table pushes in a trace: SET_PORT (0x00c) whose in_modifier (dw2, written before dw6) is not the
    /// bring-up's SET_PORT general (sub-op 0).</summary>
    private static int SetPorts(string trace)
    {
        int n = 0;
        uint inMod = 0;
        foreach (string l in File.ReadLines(trace))
        {
            if (l.Contains(" W32 bar0+0x80688 "))
                inMod = Convert.ToUInt32(l.Split(' ')[^1], 16);
            else if (l.Contains(" W32 bar0+0x80698 ") && (Convert.ToUInt32(l.Split(' ')[^1], 16) & 0xfff) == 0x00c && (inMod >> 8 & 0xff) != 0)
                n++;
        }
        return n;
    }

    [Test]
    public void EmulateAuto_BindsToTheCapturesEthernetNetdevs_NotTheNameAuto()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir["capture.rtmon"], Capture());
        var r = RoceuioProcess.Run("replay", dir["capture.rtmon"], "--emulate", "mlx4:auto");
        Assert.That((r.Exit, r.Out), Is.EqualTo((0, Expected)), r.Err);
        Assert.That(r.Err, Is.EqualTo("roceuio replay: auto binds to the capture's eth0, eth1, eth2\n"), "lo, the VLAN and the bond are not ports");
    }

    [Test]
    public void APortWhoseNetdevIsNotInTheCapture_IsReported_AndABadCaptureFails()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir["capture.rtmon"], Capture());
        var r = RoceuioProcess.Run("replay", dir["capture.rtmon"], "--emulate", "ocrdma:eth9");
        Assert.That((r.Exit, r.Out), Is.EqualTo((0, "DEV\tPORT\tINDEX\tGID\t\t\t\t\tIPv4  \t\tVER\tDEV\n---\t----\t-----\t---\t\t\t\t\t------------  \t---\t---\nn_gids_found=0\n")));
        Assert.That(r.Err, Does.Contain("ocrdma0 port 1 never bound: the capture has no netdev named eth9"));

        byte[] truncated = Capture()[..^7];
        File.WriteAllBytes(dir["bad.rtmon"], truncated);
        var bad = RoceuioProcess.Run("replay", dir["bad.rtmon"], "--emulate", "mlx4:eth0");
        Assert.That(bad.Exit, Is.EqualTo(1), "a malformed capture is an error");
        Assert.That(bad.Err, Does.Contain("bad.rtmon"));

        var traced = RoceuioProcess.Run("replay", dir["capture.rtmon"], "--emulate", "ocrdma:eth0", "--mmio-trace", dir["ocrdma.trace"]);
        Assert.That(traced.Exit, Is.EqualTo(0), traced.Err);
        Assert.That(File.ReadAllLines(dir["ocrdma.trace"]).Count(l => l.Contains(" W32 bar4+")), Is.GreaterThan(0), "ocrdma's bring-up rings its doorbells (BAR4) in the trace");

        var usage = RoceuioProcess.Run("replay", dir["capture.rtmon"]);
        Assert.That((usage.Exit, usage.Err), Is.EqualTo((2, "roceuio replay: --emulate KIND:NETDEV[,NETDEV...] is required (the devices the capture's netdevs feed)\nTry 'roceuio replay --help'.\n")));
    }
}
