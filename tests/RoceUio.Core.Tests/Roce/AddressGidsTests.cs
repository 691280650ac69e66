using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;

namespace RoceUio.Core.Tests.Roce;

/// <summary>The GIDs a netdev's addresses give, made from the cache's bytes, come in the kernel's order: the same list
/// as going through IPAddress (IPv4 in list order, then IPv6 global before link-local, newest first).</summary>
public class AddressGidsTests
{
    [Test]
    public void Address_gids_from_the_cached_bytes_are_the_addresses_in_the_kernels_order()
    {
        var cache = new NetdevCache { Log = _ => { } };
        var graph = new NetlinkNetdevGraph(cache);
        cache.ApplyAll(RtnlMessages.NewLink(new LinkSpec(2, "eth0") { Mac = "24:8a:07:aa:bb:cc" }));
        cache.ApplyAll(RtnlMessages.NewAddress(2, "fe80::1/64", scope: 253));
        cache.ApplyAll(RtnlMessages.NewAddress(2, "192.0.2.1/24"));
        cache.ApplyAll(RtnlMessages.NewAddress(2, "2001:db8::1/64"));
        cache.ApplyAll(RtnlMessages.NewAddress(2, "192.0.2.2/24"));
        cache.ApplyAll(RtnlMessages.NewAddress(2, "fe80::2/64", scope: 253));
        cache.ApplyAll(RtnlMessages.NewAddress(2, "2001:db8::2/64"));

        var gids = new List<Gid>();
        graph.AddressGids(2, gids);

        Assert.That(gids.Select(g => g.ToIPAddress().ToString()), Is.EqualTo(new[]
        {
            "192.0.2.1", "192.0.2.2", "2001:db8::2", "2001:db8::1", "fe80::2", "fe80::1",
        }));
        Assert.That(gids, Is.EqualTo(graph.Addresses(2).Select(Gid.FromIPAddress)), "the same as through IPAddress");
        gids.Clear();
        graph.AddressGids(99, gids);
        Assert.That(gids, Is.Empty, "an unknown ifindex has none");
    }
}
