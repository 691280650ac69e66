using System.Buffers.Binary;
using NUnit.Framework;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;
using RoceUio.Testing;
using static RoceUio.Drivers.Mlx4.Mlx4FirmwareLayout;

namespace RoceUio.Drivers.Mlx4.Tests;

/// <summary>
/// RoCE LAG (<see cref="Mlx4Lag"/>): the whole path a daemon runs (rtnetlink messages → netdev cache → GID manager →
/// the mlx4 driver → the model in this process) fed with the messages a kernel sends while two ports' netdevs are
/// enslaved to one bond, fail over and are released. This host has no bonding module, so the messages are built
/// (RtnlMessages, in the kernel's attribute layout); what is checked is what the model's firmware holds on both ports.
/// </summary>
[TestFixture]
public class LagTests
{
    private const int Eth0 = 2, Eth1 = 3, Bond0 = 10;
    private const string Mac0 = "02:00:00:00:00:01", Mac1 = "02:00:00:00:00:02", BondMac = "02:00:00:00:00:b0";
    private static readonly string BondLinkLocal = G("fe80::ff:fe00:b0"), Eth1LinkLocal = G("fe80::ff:fe00:2"), BondIp = G("::ffff:192.0.2.50");

    private static string G(string text) => Gid.Parse(text).ToString();

    private static int Valid(RocePort p)
    {
        int n = 0;
        foreach (var _ in p.Table.EnumerateValid())
            n++;
        return n;
    }

    private sealed class Lagged : IDisposable
    {
        public readonly ThreadRig Rig;
        public readonly Mlx4Device Driver;
        public readonly RocePipeline Pipeline;
        public readonly List<string> Errors = [];

        public Lagged(Mlx4ModelConfig? config = null)
        {
            Rig = new ThreadRig(config);
            Driver = Rig.OpenDriver();
            Pipeline = new RocePipelineBuilder().Errors(Errors.Add).Build();
            Feed(Link(Eth0, "eth0", Mac0), Link(Eth1, "eth1", Mac1));
            Pipeline.AddDevice(Driver, ["eth0", "eth1"]);
        }

        public Mlx4ModelState Model => Rig.Model.Model.Snapshot();
        public RocePort Port(int p) => Pipeline.Manager.Ports[p - 1];

        public void Feed(params byte[][] messages)
        {
            foreach (byte[] m in messages)
                Pipeline.Cache.ApplyAll(m);
            Pipeline.Manager.EndOfBurst();
        }

        /// <summary>bond0 (mode <paramref name="mode"/>) with 192.0.2.50, then eth0 and eth1 enslaved as bond_enslave
        /// does it: the slave takes the bond's MAC, then the bond as master; eth0 becomes the active slave.</summary>
        public void Enslave(byte mode = Mlx4Lag.BondModeActiveBackup)
        {
            Feed(RtnlMessages.NewLink(new LinkSpec(Bond0, "bond0") { Mac = BondMac, Kind = "bond", BondMode = mode }),
                 RtnlMessages.NewAddress(Bond0, "192.0.2.50/24"));
            Feed(Slave(Eth0, "eth0"),
                 RtnlMessages.NewLink(new LinkSpec(Bond0, "bond0") { Mac = BondMac, Kind = "bond", BondMode = mode, BondActiveSlave = mode == 1 ? Eth0 : 0 }));
            Feed(Slave(Eth1, "eth1"));
        }

        public void Dispose()
        {
            Pipeline.Dispose();
            Driver.Dispose();
            Rig.Dispose();
        }
    }

    private static byte[] Link(int ifindex, string name, string mac, uint? flags = null)
        => RtnlMessages.NewLink(flags is { } f ? new LinkSpec(ifindex, name) { Mac = mac, Kind = "veth", Flags = f } : new LinkSpec(ifindex, name) { Mac = mac, Kind = "veth" });

    private static byte[] Slave(int ifindex, string name, uint? flags = null)
    {
        var s = new LinkSpec(ifindex, name) { Mac = BondMac, Kind = "veth", Master = Bond0, SlaveKind = "bond" };
        return RtnlMessages.NewLink(flags is { } f ? s with { Flags = f } : s);
    }

    private static List<string> Gids(Mlx4ModelPortTable t) => t.Entries.Select(e => $"{e.Gid} v{(e.Version == 2 ? 2 : 1)}").ToList();

    [Test]
    public void Two_ports_enslaved_to_one_active_backup_bond_hold_port_1s_table_on_both_ports_with_the_bonds_GIDs()
    {
        using var lag = new Lagged();
        Assert.That(Gids(lag.Model.Table(2)), Does.Contain($"{Eth1LinkLocal} v1"), "before bonding each port has its own table");

        lag.Enslave();

        Mlx4ModelState m = lag.Model;
        Assert.That(lag.Driver.Lag.IsBonded, Is.True);
        Assert.That((m.RxPortCheckDisabled, m.PortMap), Is.EqualTo((true, "[1][1]")), "CONFIG_DEV DISABLE_RX_PORT, then VIRT_PORT_MAP to the active slave's port");
        List<string> port1 = Gids(m.Table(1));
        Assert.That(port1, Is.EquivalentTo(new[] { $"{BondLinkLocal} v1", $"{BondLinkLocal} v2", $"{BondIp} v1", $"{BondIp} v2" }),
            "the bond's default GID and address, as the kernel's one-port IB device shows them");
        Assert.That(Gids(m.Table(2)), Is.EqualTo(port1), "port 2's hardware table is port 1's (mlx4_ib_update_gids: SET_PORT to port 1 and 2)");
        Assert.That(m.Table(2).Entries.Select(e => e.Index), Is.EqualTo(m.Table(1).Entries.Select(e => e.Index)), "same slots");
        Assert.That((lag.Port(2).BondedIntoPort1, Valid(lag.Port(2))), Is.EqualTo((true, 0)),
            "the core shows one RoCE port: port 2 has no GIDs of its own (phys_port_cnt 1)");
        Assert.That(lag.Errors, Is.Empty);

        // A new address on the bond is pushed to both ports.
        lag.Feed(RtnlMessages.NewAddress(Bond0, "2001:db8::50/64"));
        m = lag.Model;
        Assert.That(Gids(m.Table(1)), Does.Contain($"{G("2001:db8::50")} v2"));
        Assert.That(Gids(m.Table(2)), Is.EqualTo(Gids(m.Table(1))));
    }

    [Test]
    public void A_failover_maps_both_virtual_ports_to_the_new_active_slave_and_the_table_follows_it()
    {
        using var lag = new Lagged();
        lag.Enslave();
        lag.Feed(RtnlMessages.NewLink(new LinkSpec(Bond0, "bond0") { Mac = BondMac, Kind = "bond", BondMode = 1, BondActiveSlave = Eth1 }));

        Mlx4ModelState m = lag.Model;
        Assert.That(m.PortMap, Is.EqualTo("[2][2]"));
        Assert.That(lag.Port(1).NetdevIfindex, Is.EqualTo(Eth1), "mlx4_ib_get_netdev answers the active slave");
        Assert.That(Gids(m.Table(1)), Does.Contain($"{BondIp} v2"), "the bond's address stays on the one RoCE port");
        Assert.That(Gids(m.Table(2)), Is.EqualTo(Gids(m.Table(1))));
    }

    [Test]
    public void Releasing_a_slave_unbonds_resets_the_port_map_and_gives_each_port_its_own_table_again()
    {
        using var lag = new Lagged();
        lag.Enslave();
        // bond_release: unlink first, then the slave's own MAC back.
        lag.Feed(RtnlMessages.NewLink(new LinkSpec(Eth1, "eth1") { Mac = Mac1, Kind = "veth" }));

        Mlx4ModelState m = lag.Model;
        Assert.That(lag.Driver.Lag.IsBonded, Is.False);
        Assert.That((m.RxPortCheckDisabled, m.PortMap), Is.EqualTo((false, "[1][2]")), "CONFIG_DEV with the check on, VIRT_PORT_MAP [1][2]");
        Assert.That(Gids(m.Table(2)), Is.EquivalentTo(new[] { $"{Eth1LinkLocal} v1", $"{Eth1LinkLocal} v2" }), "eth1's own default GID, nothing of the bond");
        Assert.That(Gids(m.Table(1)), Does.Contain($"{BondLinkLocal} v1").And.Contain($"{BondIp} v1"), "eth0 is still the bond's (only) slave");
        Assert.That(lag.Port(2).BondedIntoPort1, Is.False);
        Assert.That(Valid(lag.Port(2)), Is.EqualTo(2));
    }

    [TestCase(Mlx4Lag.BondModeXor)]
    [TestCase(Mlx4Lag.BondMode8023ad)]
    public void An_active_active_bond_follows_port_1_and_maps_a_port_whose_link_is_down_to_the_other(byte mode)
    {
        using var lag = new Lagged();
        lag.Enslave(mode);
        Mlx4ModelState m = lag.Model;
        Assert.That((lag.Driver.Lag.IsBonded, m.PortMap), Is.EqualTo((true, "[1][2]")), "both links up: each virtual port on its own (no VIRT_PORT_MAP needed)");
        Assert.That(lag.Port(1).NetdevIfindex, Is.EqualTo(Eth0));
        Assert.That(Gids(m.Table(2)), Is.EqualTo(Gids(m.Table(1))));

        const uint upNoCarrier = Iff.IFF_UP | Iff.IFF_BROADCAST | Iff.IFF_MULTICAST;
        lag.Feed(Slave(Eth1, "eth1", upNoCarrier));
        Assert.That(lag.Model.PortMap, Is.EqualTo("[1][1]"), "port 2's link is down: its virtual port goes to port 1");
        lag.Feed(Slave(Eth0, "eth0", upNoCarrier));
        Assert.That(lag.Model.PortMap, Is.EqualTo("[1][1]"), "both down: the cross map [2][1] is never sent (the kernel refuses it)");
    }

    [TestCase(0, 2, "bond mode 0")]
    [TestCase(1, 3, "has 3 slaves")]
    public void A_bond_the_kernel_does_not_accept_leaves_the_ports_separate(byte mode, int slaves, string why)
    {
        using var lag = new Lagged();
        if (slaves == 3)
            lag.Feed(Link(4, "eth9", "02:00:00:00:00:09"));
        lag.Enslave(mode);
        if (slaves == 3)
            lag.Feed(RtnlMessages.NewLink(new LinkSpec(4, "eth9") { Mac = BondMac, Kind = "veth", Master = Bond0, SlaveKind = "bond" }));
        Mlx4ModelState m = lag.Model;
        Assert.That((lag.Driver.Lag.IsBonded, m.RxPortCheckDisabled, m.PortMap), Is.EqualTo((false, false, "[1][2]")));
        Assert.That(Mlx4Lag.Decide(lag.Pipeline.Graph, [Eth0, Eth1]).Why, Does.Contain(why));
        Assert.That(lag.Port(2).BondedIntoPort1, Is.False);
    }

    [Test]
    public void Without_PORT_REMAP_the_bond_is_reported_once_and_the_ports_stay_separate()
    {
        using var lag = new Lagged(new Mlx4ModelConfig { PortRemap = false });
        lag.Enslave();
        lag.Feed(RtnlMessages.NewAddress(Bond0, "2001:db8::50/64"));
        Assert.That(lag.Driver.Lag.IsBonded, Is.False);
        Assert.That(lag.Errors.Count(e => e.Contains("no PORT_REMAP capability")), Is.EqualTo(1), string.Join("\n", lag.Errors));
        Assert.That(lag.Model.PortMap, Is.EqualTo("[1][2]"));
        Assert.That(lag.Port(2).BondedIntoPort1, Is.False);
    }

    [Test]
    public void The_LAG_mailboxes_are_the_kernels_structs()
    {
        Span<byte> box = stackalloc byte[ConfigDevSize];
        box.Clear();
        Mlx4Lag.WriteRxPortCheck(box, disable: true);
        // struct mlx4_config_dev: update_flags (be32 @0x00) = MLX4_DISABLE_RX_PORT (BIT(18)), roce_flags (be32 @0x18) =
        // CONFIG_DISABLE_RX_PORT (BIT(15)); everything else zero.
        Assert.That(Convert.ToHexString(box[..0x1c]), Is.EqualTo("00040000" + new string('0', 40) + "00008000"));
        Assert.That(box[0x1c..].IndexOfAnyExcept((byte)0), Is.EqualTo(-1));
        Mlx4Lag.WriteRxPortCheck(box, disable: false);
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(box[0x18..]), Is.Zero, "enabling again: roce_flags 0");

        Span<byte> map = stackalloc byte[8];
        Mlx4Lag.WritePortMap(map, new Mlx4PortMap(2, 2));
        Assert.That(Convert.ToHexString(map), Is.EqualTo("0000000200000002"), "be32 v_port1, be32 v_port2 (mlx4_virt2phy_port_map)");
    }

    [Test]
    public void The_model_refuses_LAG_commands_out_of_order_or_malformed_with_the_firmwares_status()
    {
        using var rig = new ThreadRig();
        Mlx4Device d = rig.OpenDriver();
        Span<byte> box = d.BringUp.Mailbox.Span;
        (Mlx4Status, string) Send(ushort op, byte opMod)
        {
            byte st = d.Hcr.ExecuteForStatus(d.MailboxAddress, 0, 0, opMod, op, TimeSpan.FromSeconds(10));
            return ((Mlx4Status)st, rig.Model.Model.Snapshot().LastError);
        }

        box.Clear();
        Mlx4Lag.WritePortMap(box, new Mlx4PortMap(1, 1));
        var (st, why) = Send(CmdVirtPortMap, SetPortVirt2Phy);
        Assert.That(st, Is.EqualTo(Mlx4Status.BadSysState), why);
        Assert.That(why, Does.Contain("receive port check is on"));

        box.Clear();
        Mlx4Lag.WriteRxPortCheck(box, disable: true);
        Assert.That(Send(CmdConfigDev, ConfigDevSet).Item1, Is.EqualTo(Mlx4Status.Ok), "the control case");

        box.Clear();
        Mlx4Lag.WritePortMap(box, new Mlx4PortMap(2, 1));
        (st, why) = Send(CmdVirtPortMap, SetPortVirt2Phy);
        Assert.That((st, why.Contains("cross map")), Is.EqualTo((Mlx4Status.BadParam, true)), why);
        box.Clear();
        Mlx4Lag.WritePortMap(box, new Mlx4PortMap(1, 3));
        Assert.That(Send(CmdVirtPortMap, SetPortVirt2Phy).Item1, Is.EqualTo(Mlx4Status.BadParam));
        Mlx4Lag.WritePortMap(box, new Mlx4PortMap(2, 2));
        Assert.That(Send(CmdVirtPortMap, 0).Item1, Is.EqualTo(Mlx4Status.BadParam), "op_mod 0 is GET, not emulated");
        Assert.That(rig.Model.Model.Firmware.PortMap, Is.EqualTo(Mlx4PortMap.Identity), "nothing refused took effect");

        box.Clear();
        BinaryPrimitives.WriteUInt32BigEndian(box, 1u << 5);
        (st, why) = Send(CmdConfigDev, ConfigDevSet);
        Assert.That((st, why.Contains("update_flags 0x00000020")), Is.EqualTo((Mlx4Status.BadParam, true)), why);

        d.ShutDown();
        box.Clear();
        Mlx4Lag.WriteRxPortCheck(box, disable: true);
        // After CLOSE_HCA (and UNMAP_FA) the HCR is still there but the firmware is back at reset.
        Assert.That(Send(CmdConfigDev, ConfigDevSet).Item1, Is.EqualTo(Mlx4Status.BadSysState));
        d.Dispose();
    }

    [Test]
    public void Without_PORT_REMAP_the_model_does_not_know_VIRT_PORT_MAP()
    {
        using var rig = new ThreadRig(new Mlx4ModelConfig { PortRemap = false });
        Mlx4Device d = rig.OpenDriver();
        Mlx4Lag.WritePortMap(d.BringUp.Mailbox.Span, Mlx4PortMap.Identity);
        byte st = d.Hcr.ExecuteForStatus(d.MailboxAddress, 0, 0, SetPortVirt2Phy, CmdVirtPortMap, TimeSpan.FromSeconds(10));
        Assert.That((Mlx4Status)st, Is.EqualTo(Mlx4Status.BadOp));
        Assert.That(d.Lag.PortRemap, Is.False, "the driver read bmme bit 24 clear");
        d.ShutDown();
        d.Dispose();
    }
}
