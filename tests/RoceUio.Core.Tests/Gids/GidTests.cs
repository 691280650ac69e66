using System.Net;
using NUnit.Framework;
using RoceUio.Gids;

namespace RoceUio.Core.Tests.Gids;

public class GidTests
{
    [Test]
    public void DefaultGid_FromMac_FlipsUniversalLocalBit_AndInsertsFffe()
    {
        // kernel-gid.md section 2: MAC 24:8a:07:aa:bb:cc, dev_id 0.
        Gid g = Gid.DefaultFromMac([0x24, 0x8a, 0x07, 0xaa, 0xbb, 0xcc]);
        Assert.That(g.ToString(), Is.EqualTo("fe80:0000:0000:0000:268a:07ff:feaa:bbcc"));
    }

    [Test]
    public void DefaultGid_WithDevId_InsertsDevIdBytes_AndDoesNotFlip()
    {
        // mlx4 port 2: dev_id = port - 1 = 1 (mlx4_en_init_netdev).
        Gid g = Gid.DefaultFromMac([0x24, 0x8a, 0x07, 0xaa, 0xbb, 0xcc], devId: 1);
        Assert.That(g.ToString(), Is.EqualTo("fe80:0000:0000:0000:248a:0700:01aa:bbcc"));
    }

    [Test]
    public void DefaultGid_NonEthernetAddress_IsBareLinkLocalPrefix()
        => Assert.That(Gid.DefaultFromMac([1, 2, 3, 4]).ToString(), Is.EqualTo("fe80:0000:0000:0000:0000:0000:0000:0000"));

    [TestCase("fe80:0000:0000:0000:268a:07ff:feaa:bbcc", "fe80::268a:7ff:feaa:bbcc")]
    [TestCase("0000:0000:0000:0000:0000:ffff:c000:0201", "::ffff:192.0.2.1")]
    [TestCase("2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1")]
    [TestCase("2001:0db8:0000:0001:0001:0001:0001:0001", "2001:db8:0:1:1:1:1:1")]
    [TestCase("0000:0000:0000:0000:0000:0000:0000:0001", "::1")]
    [TestCase("fe80:0000:0000:0000:0000:0000:0000:0000", "fe80::")]
    public void FullAndCompressedForms_RoundTrip(string full, string compressed)
    {
        Gid a = Gid.Parse(full), b = Gid.Parse(compressed);
        Assert.That(a, Is.EqualTo(b));
        Assert.That(a.ToString(), Is.EqualTo(full));
        Assert.That(a.ToCompressedString(), Is.EqualTo(compressed));
        // The compressed form agrees with the BCL's RFC 5952 writer.
        if (!a.IsIPv4Mapped)
            Assert.That(compressed, Is.EqualTo(IPAddress.Parse(full).ToString()));
    }

    [Test]
    public void IPv4_IsMapped_AndBack()
    {
        Gid g = Gid.FromIPAddress(IPAddress.Parse("192.0.2.1"));
        Assert.That(g.ToString(), Is.EqualTo("0000:0000:0000:0000:0000:ffff:c000:0201"));
        Assert.That(g.IsIPv4Mapped, Is.True);
        Assert.That(g.ToIPAddress(), Is.EqualTo(IPAddress.Parse("192.0.2.1")));
    }

    [Test]
    public void IPv6_IsItsOwnGid_AndBack()
    {
        var ip = IPAddress.Parse("2001:db8::5");
        Gid g = Gid.FromIPAddress(ip);
        Assert.That(g.IsIPv4Mapped, Is.False);
        Assert.That(g.ToIPAddress(), Is.EqualTo(ip));
        Assert.That(g.ToByteArray(), Is.EqualTo(ip.GetAddressBytes()));
    }

    [TestCase("", "empty")]
    [TestCase("fe80::1::2", "more than one '::'")]
    [TestCase("fe80:0:0:0:0:0:0:0:1", "more than 8 groups")]
    [TestCase("fe80:0:0:0", "4 groups where 8 are needed")]
    [TestCase("fe80::12345", "more than 4 hex digits")]
    [TestCase("fe80::zz", "not hexadecimal")]
    [TestCase("::ffff:300.1.1.1", "not a dotted IPv4")]
    [TestCase(":1:2:3:4:5:6:7", "single leading ':'")]
    public void MalformedText_IsRejected_WithTheReason(string text, string reason)
    {
        var e = Assert.Throws<FormatException>(() => Gid.Parse(text));
        Assert.That(e!.Message, Does.Contain(reason).And.Contain($"'{text}'"));
        Assert.That(Gid.TryParse(text, out _), Is.False);
    }

    [Test]
    public void SysfsText_WithTrailingNewline_Parses()
        => Assert.That(Gid.Parse("fe80:0000:0000:0000:268a:07ff:feaa:bbcc\n").IsLinkLocal, Is.True);

    [Test]
    public void ZeroGid_IsZero() => Assert.That(Gid.Parse("::").IsZero && Gid.Zero.IsZero && !Gid.Parse("::1").IsZero);

    [TestCase(GidType.Ib, "IB/RoCE v1")]
    [TestCase(GidType.RoceV1, "IB/RoCE v1")]
    [TestCase(GidType.RoceV2, "RoCE v2")]
    public void GidType_SysfsStrings(GidType type, string text)
    {
        Assert.That(type.ToSysfsString(), Is.EqualTo(text));
        Assert.That(GidTypeText.TryParse(text + "\n", out GidType parsed), Is.True);
        Assert.That(parsed.ToSysfsString(), Is.EqualTo(text));
    }

    [Test]
    public void GidType_Values_AreThoseOfIbvGidEntry()
        => Assert.That(new[] { (int)GidType.Ib, (int)GidType.RoceV1, (int)GidType.RoceV2 }, Is.EqualTo(new[] { 0, 1, 2 }));
}
