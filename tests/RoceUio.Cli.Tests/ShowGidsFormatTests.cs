using NUnit.Framework;
using RoceUio.Cli.Output;
using RoceUio.Gids;

namespace RoceUio.Cli.Tests;

public class ShowGidsFormatTests
{
    private static GidRow Row(int index, string gid, GidType type, string ndev = "eth0", string dev = "mlx4_0", int port = 1)
        => new(dev, port, index, Gid.Parse(gid), type, ndev, 2);

    [Test]
    public void Text_IsByteForByteTheShowGidsScript()
    {
        var rows = new[]
        {
            Row(0, "fe80::268a:7ff:feaa:bbcc", GidType.RoceV1),
            Row(1, "fe80::268a:7ff:feaa:bbcc", GidType.RoceV2),
            Row(2, "::ffff:192.0.2.1", GidType.RoceV1),
            Row(10, "2001:db8::1", GidType.RoceV2, "eth0.7"),
        };
        string expected =
            "DEV\tPORT\tINDEX\tGID\t\t\t\t\tIPv4  \t\tVER\tDEV\n" +
            "---\t----\t-----\t---\t\t\t\t\t------------  \t---\t---\n" +
            "mlx4_0\t1\t0\tfe80:0000:0000:0000:268a:07ff:feaa:bbcc\t\t\tv1\teth0\n" +
            "mlx4_0\t1\t1\tfe80:0000:0000:0000:268a:07ff:feaa:bbcc\t\t\tv2\teth0\n" +
            // ls order: "10" sorts before "2".
            "mlx4_0\t1\t10\t2001:0db8:0000:0000:0000:0000:0000:0001\t\t\tv2\teth0.7\n" +
            "mlx4_0\t1\t2\t0000:0000:0000:0000:0000:ffff:c000:0201\t192.0.2.1  \tv1\teth0\n" +
            "n_gids_found=4\n";
        Assert.That(ShowGidsFormat.Text(rows), Is.EqualTo(expected));
    }

    [Test]
    public void Text_SkipsBareLinkLocal_AndCountsOnlyPrinted()
    {
        string text = ShowGidsFormat.Text([Row(0, "fe80::", GidType.RoceV1), Row(1, "::ffff:10.0.0.1", GidType.RoceV2)]);
        Assert.That(text, Does.Not.Contain("fe80:0000:0000:0000:0000:0000:0000:0000"));
        Assert.That(text, Does.EndWith("n_gids_found=1\n"));
    }

    [Test]
    public void Json_IsShapedLikeIbvGidEntry()
    {
        string json = ShowGidsFormat.Json([Row(2, "::ffff:192.0.2.1", GidType.RoceV2), Row(3, "2001:db8::1", GidType.RoceV1)]);
        var arr = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsArray();
        Assert.That((string)arr[0]!["gid"]!, Is.EqualTo("0000:0000:0000:0000:0000:ffff:c000:0201"));
        Assert.That((int)arr[0]!["gid_type"]!, Is.EqualTo(2));
        Assert.That((string)arr[0]!["ipv4"]!, Is.EqualTo("192.0.2.1"));
        Assert.That(arr[1]!.AsObject().ContainsKey("ipv4"), Is.False);
        Assert.That(arr[1]!.AsObject().Select(kv => kv.Key),
            Is.EqualTo(new[] { "dev", "port", "index", "gid", "gid_type", "ndev", "ndev_ifindex" }));
    }
}
