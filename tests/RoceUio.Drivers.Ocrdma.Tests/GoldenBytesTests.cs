using NUnit.Framework;
using RoceUio.Drivers.Ocrdma;
using RoceUio.Gids;

namespace RoceUio.Drivers.Ocrdma.Tests;

/// <summary>
/// MODIFY_QP MQEs and AVs byte for byte, worked out by hand from ocrdma_sli.h / ocrdma_hw.c ocrdma_set_av_params /
/// ocrdma_ah.c set_av_attr (hw-layouts.md 2.3, 2.4): the bytes a Skyhawk would DMA.
/// </summary>
public class GoldenBytesTests
{
    private const ulong Dmac = 0x001122334455UL, Smac = 0x0000c9a1b2c3UL;
    private static readonly Gid V4Sgid = Gid.Parse("::ffff:192.0.2.1"), V4Dgid = Gid.Parse("::ffff:192.0.2.2");
    private static readonly Gid V6Sgid = Gid.Parse("2001:db8::1"), V6Dgid = Gid.Parse("2001:db8::2");
    private static readonly Gid LlSgid = Gid.Parse("fe80::1"), LlDgid = Gid.Parse("fe80::2");

    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", "").Replace("\n", ""));

    private static byte[] ModifyQp(Gid sgid, GidType type, ushort vlan, Gid dgid)
    {
        var mqe = new byte[OcrdmaLayout.MqeSize];
        OcrdmaCommands.EncodeModifyQpPath(mqe, 5, new OcrdmaSgid(sgid, type, 3, vlan), new OcrdmaPath(dgid, Dmac, HopLimit: 64));
        return mqe;
    }

    private static byte[] Av(Gid sgid, GidType type, ushort vlan, Gid dgid)
    {
        var av = new byte[OcrdmaLayout.AvSize];
        OcrdmaCommands.EncodeAv(av, new OcrdmaSgid(sgid, type, 3, vlan), new OcrdmaAhAttr(dgid, Dmac, HopLimit: 64), Smac);
        return av;
    }

    [Test]
    public void ModifyQp_RoceV2_IPv4_WithVlan_WholeEntry()
    {
        byte[] expected = new byte[256];
        Hex(
            "01000000 74000000 00000000 00000000 00000000" +          // MQE hdr: embedded, pyld_len 116, tags
            "080a0000 14000000 64000000 00000000" +                   // mbx hdr: subsys 10 op 8, 20 s, cmd_len 100
            "05000000 00000000 00000000 40080000" +                   // id 5; +48: state RTR (2<<5) | L3 IPv4 (1<<11)
            "00000000 00000000 00000040 00000000" +                   // +60 hop limit 64 << 24
            "00000000 00000000 00000000" +                            // +68 .. +79
            "c0000201 00000000 0000ffff c0000201" +                   // +80 sgid: IPv4 in bytes 0..3, v4-mapped GID after
            "c0000202 00000000 0000ffff c0000202" +                   // +96 dgid likewise
            "00112233 44556400 00000000" +                            // +112 dmac 0..3, +116 dmac 4..5 | VLAN 100 << 16, qkey
            "01002004 00000000 00000000"                              // +124 flags QPS | FLOW_LBL | VLAN_EN
        ).CopyTo(expected, 0);
        Assert.That(Convert.ToHexString(ModifyQp(V4Sgid, GidType.RoceV2, 100, V4Dgid)), Is.EqualTo(Convert.ToHexString(expected)));
    }

    [TestCase("v1", 0, "40000000", "fe800000000000000000000000000001", "01002000")]
    [TestCase("v1", 7, "40000000", "fe800000000000000000000000000001", "01002004")]
    [TestCase("v4", 0, "40080000", "c00002010000000000000000ffffc0000201", "01002000")]
    [TestCase("v6", 0, "40100000", "20010db8000000000000000000000001", "01002000")]
    [TestCase("v6", 7, "40100000", "20010db8000000000000000000000001", "01002004")]
    public void ModifyQp_SgidL3TypeAndVlanFields(string kind, int vlan, string dword48, string sgidHex, string flags)
    {
        (Gid s, GidType t, Gid d) = kind switch
        {
            "v1" => (LlSgid, GidType.RoceV1, LlDgid),
            "v4" => (V4Sgid, GidType.RoceV2, V4Dgid),
            _ => (V6Sgid, GidType.RoceV2, V6Dgid),
        };
        byte[] m = ModifyQp(s, t, (ushort)vlan, d);
        Assert.That(Convert.ToHexString(m, 48, 4), Is.EqualTo(dword48.ToUpperInvariant()), "MQE+48: state and L3 type (bits 13:11)");
        string sg = sgidHex.Length == 36 ? sgidHex[..8] + sgidHex[12..] : sgidHex; // v4 case written with the overwrite visible
        Assert.That(Convert.ToHexString(m, 80, 16), Is.EqualTo(sg.ToUpperInvariant()), "MQE+80: sgid");
        Assert.That(Convert.ToHexString(m, 124, 4), Is.EqualTo(flags.ToUpperInvariant()), "MQE+124: flags");
        Assert.That(BitConverter.ToUInt32(m, 116) >> 16, Is.EqualTo((uint)vlan), "MQE+116 bits 31:16: VLAN");
    }

    [Test]
    public void Av_RoceV1_NoVlan_SgidAtAv22()
    {
        string expected =
            "001122334455" + "0000c9a1b2c3" + "8915" +                // eth: dmac, smac, ETH_P_IBOE
            "60000000" + "00001b40" +                                 // GRH: 6<<28; pdid 0, nxthdr 0x1b, hop 64
            "fe800000000000000000000000000001" +                      // AV+22 sgid
            "fe800000000000000000000000000002" +                      // AV+38 dgid
            "000000000000" + "80000000";                              // pad to AV+60, valid = OCRDMA_AV_VALID
        Assert.That(Convert.ToHexString(Av(LlSgid, GidType.RoceV1, 0, LlDgid)), Is.EqualTo(expected.ToUpperInvariant()));
    }

    [Test]
    public void Av_RoceV1_Vlan_SgidAtAv26()
    {
        string expected =
            "001122334455" + "0000c9a1b2c3" + "8100" + "0064" + "8915" +
            "60000000" + "00001b40" +
            "fe800000000000000000000000000001" +                      // AV+26 sgid
            "fe800000000000000000000000000002" +
            "0000" + "82000000";                                      // valid | OCRDMA_AV_VLAN_VALID
        Assert.That(Convert.ToHexString(Av(LlSgid, GidType.RoceV1, 100, LlDgid)), Is.EqualTo(expected.ToUpperInvariant()));
    }

    [Test]
    public void Av_RoceV2_IPv6_NoVlan_And_Vlan()
    {
        string noVlan =
            "001122334455" + "0000c9a1b2c3" + "86dd" +
            "60000000" + "00001140" +                                 // nxthdr UDP
            "20010db8000000000000000000000001" + "20010db8000000000000000000000002" +
            "000000000000" + "80000000";
        string vlan =
            "001122334455" + "0000c9a1b2c3" + "8100" + "0064" + "86dd" +
            "60000000" + "00001140" +
            "20010db8000000000000000000000001" + "20010db8000000000000000000000002" +
            "0000" + "82000000";
        Assert.That(Convert.ToHexString(Av(V6Sgid, GidType.RoceV2, 0, V6Dgid)), Is.EqualTo(noVlan.ToUpperInvariant()));
        Assert.That(Convert.ToHexString(Av(V6Sgid, GidType.RoceV2, 100, V6Dgid)), Is.EqualTo(vlan.ToUpperInvariant()));
    }

    [Test]
    public void Av_RoceV2_IPv4_NoVlan_And_Vlan()
    {
        string ip = "4500" + "0000" + "0000" + "4000" + "40" + "11" + "0000" + "c0000201" + "c0000202"; // iphdr, saddr at +12
        string noVlan = "001122334455" + "0000c9a1b2c3" + "0800" + ip + new string('0', 2 * (60 - 34)) + "80000000";
        string vlan = "001122334455" + "0000c9a1b2c3" + "8100" + "0064" + "0800" + ip + new string('0', 2 * (60 - 38)) + "82000000";
        Assert.That(Convert.ToHexString(Av(V4Sgid, GidType.RoceV2, 0, V4Dgid)), Is.EqualTo(noVlan.ToUpperInvariant()));
        Assert.That(Convert.ToHexString(Av(V4Sgid, GidType.RoceV2, 100, V4Dgid)), Is.EqualTo(vlan.ToUpperInvariant()));
    }

    [Test]
    public void Doorbells_And_MailboxWords()
    {
        Assert.That(OcrdmaLayout.MqDoorbell(3), Is.EqualTo(0x0001_0003u));
        Assert.That(OcrdmaLayout.MqDoorbell(0x1803), Is.EqualTo(0x0001_0003u), "mq_id & 0x7FF");
        ulong addr = 0x1_0000_2000UL;
        uint hi = OcrdmaLayout.MailboxHiWord(addr), lo = OcrdmaLayout.MailboxLoWord(addr);
        Assert.That(hi, Is.EqualTo(0x2u), "HI bit, address bits 34..63 are zero");
        Assert.That(lo, Is.EqualTo((uint)(0x1_0000_2000UL >> 4) << 2), "address bits 4..33 at 2..31 (bit 32 lands in bit 30)");
        Assert.That(OcrdmaLayout.MailboxAddress(hi, lo), Is.EqualTo(addr));
        Assert.That(OcrdmaLayout.EncodedQueueLength(128), Is.EqualTo(8u));
    }
}
