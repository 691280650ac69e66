using System.Buffers.Binary;
using NUnit.Framework;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using static RoceUio.Drivers.Mlx4.Mlx4FirmwareLayout;

namespace RoceUio.Drivers.Mlx4.Tests;

/// <summary>CONFIG_DEV with the RoCE v2 UDP port, which mlx4_ib_add sends on a v1_v2 device (mlx4_config_roce_v2_port).</summary>
[TestFixture]
public class ConfigDevTests
{
    [Test]
    public void The_RoCE_v2_port_mailbox_is_struct_mlx4_config_dev()
    {
        Span<byte> box = stackalloc byte[ConfigDevSize];
        box.Clear();
        Mlx4BringUp.WriteRoceV2Port(box, Mlx4BringUp.RoceV2UdpPort);
        // update_flags (be32 @0x00) = MLX4_ROCE_V2_UDP_DPORT (BIT(3)); roce_v2_udp_dport (be16 @0x16) = 4791 (0x12b7).
        Assert.That(Convert.ToHexString(box[..0x18]), Is.EqualTo("00000008" + new string('0', 36) + "12b7".ToUpperInvariant()));
        Assert.That(box[0x18..].IndexOfAnyExcept((byte)0), Is.EqualTo(-1), "roce_flags and the rest stay 0");
    }

    [Test]
    public void A_v1_v2_bring_up_sets_the_RoCE_v2_port_and_a_v1_only_one_does_not()
    {
        using (var rig = new ThreadRig())
        {
            Mlx4Device d = rig.OpenDriver();
            Assert.That(rig.Model.Model.Firmware.RoceV2UdpPort, Is.EqualTo(4791));
            d.ShutDown();
            Assert.That(rig.Model.Model.Firmware.RoceV2UdpPort, Is.Zero, "CLOSE_HCA forgets it");
            d.Dispose();
        }
        using (var rig = new ThreadRig(new Mlx4ModelConfig { RoceV1V2 = false }))
        {
            Mlx4Device d = rig.OpenDriver();
            Assert.That(rig.Model.Model.Firmware.RoceV2UdpPort, Is.Zero, "no v1_v2: mlx4_ib_add sends no CONFIG_DEV");
            d.ShutDown();
            d.Dispose();
        }
    }

    [Test]
    public void Firmware_without_CONFIG_DEV_fails_the_v1_v2_bring_up_with_BAD_OP_and_it_is_taken_down()
    {
        using var rig = new ThreadRig(new Mlx4ModelConfig { ConfigDev = false });
        var e = Assert.Throws<Mlx4CommandException>(() => rig.OpenDriver())!;
        Assert.That((e.Status, e.Message.Contains("CONFIG_DEV")), Is.EqualTo(((byte?)Mlx4Status.BadOp, true)), e.Message);
        Assert.That(rig.Model.Model.Snapshot().Phase, Is.EqualTo("Reset"), "CLOSE_PORT ... UNMAP_FA ran");
    }

    [Test]
    public void The_model_refuses_CONFIG_DEV_with_a_zero_port_and_before_INIT_HCA()
    {
        using var rig = new ThreadRig();
        Mlx4Device d = rig.OpenDriver();
        Span<byte> box = d.BringUp.Mailbox.Span;
        box.Clear();
        Mlx4BringUp.WriteRoceV2Port(box, 0);
        byte st = d.Hcr.ExecuteForStatus(d.MailboxAddress, 0, 0, ConfigDevSet, CmdConfigDev, TimeSpan.FromSeconds(10));
        Assert.That((Mlx4Status)st, Is.EqualTo(Mlx4Status.BadParam), rig.Model.Model.Snapshot().LastError);
        Assert.That(rig.Model.Model.Firmware.RoceV2UdpPort, Is.EqualTo(4791), "the refused command changed nothing");
        d.ShutDown();
        box.Clear();
        Mlx4BringUp.WriteRoceV2Port(box, 4791);
        st = d.Hcr.ExecuteForStatus(d.MailboxAddress, 0, 0, ConfigDevSet, CmdConfigDev, TimeSpan.FromSeconds(10));
        Assert.That((Mlx4Status)st, Is.EqualTo(Mlx4Status.BadSysState), rig.Model.Model.Snapshot().LastError);
        d.Dispose();
    }
}
