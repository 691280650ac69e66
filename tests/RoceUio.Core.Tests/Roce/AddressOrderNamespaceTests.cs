using System.Net;
using System.Text.Json;
using NUnit.Framework;
using RoceUio.Netlink;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// The order in which a rescan enumerates a netdev's IPv6 addresses decides their indexes under the kernel index
/// policy. The kernel keeps in6_dev->addr_list global before link-local and newest first within a scope
/// (ipv6_link_dev_addr, net/ipv6/addrconf.c); its dump and enum_netdev_ipv6_ips (roce_gid_mgmt.c) both walk that
/// list. So the graph must give the list's order whether the addresses arrived in the start-up dump (already in list
/// order) or as events afterwards. `ip -6 addr show` prints the dump, that is the kernel's list order. Needs root.
/// </summary>
[NonParallelizable]
public class AddressOrderNamespaceTests
{
    private static List<IPAddress> KernelIpv6Order(NetworkNamespace ns, string dev)
    {
        using var doc = JsonDocument.Parse(ns.Ip($"-j -6 addr show dev {dev}"));
        return doc.RootElement.EnumerateArray()
            .SelectMany(l => l.GetProperty("addr_info").EnumerateArray())
            .Select(a => IPAddress.Parse(a.GetProperty("local").GetString()!)).ToList();
    }

    [Test]
    public void Ipv6Addresses_FromTheStartupDumpAndFromEvents_AreEnumeratedInTheKernelsListOrder()
    {
        using var ns = NetworkNamespace.Create();
        ns.Ip("link add va type veth peer name vb");
        ns.Ip("link set va up");
        // Before the monitor starts: these come in its first dump. nodad keeps them out of DAD (no state changes).
        foreach (string a in new[] { "fd00::1", "fd00::2", "fd00::3", "2001:db8::7" })
            ns.Ip($"addr add {a}/64 dev va nodad");
        var cache = new NetdevCache();
        using var monitor = new NetlinkMonitor(cache);
        ns.Run(() => { monitor.Start(); return 0; });
        var graph = new NetlinkNetdevGraph(cache);
        int va = cache.FindByName("va")!.Ifindex;

        List<IPAddress> kernel = KernelIpv6Order(ns, "va");
        Assert.That(kernel.Take(4).Select(a => a.ToString()), Is.EqualTo(new[] { "2001:db8::7", "fd00::3", "fd00::2", "fd00::1" }),
            "the kernel's own order (newest first) as ip prints it");
        Assert.That(graph.Addresses(va).Where(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6), Is.EqualTo(kernel),
            "after the start-up dump");

        // Events afterwards: each new address goes in front of its scope, as in the kernel.
        ns.Ip("addr add fd00::9/64 dev va nodad");
        ns.Ip("addr add fd00::8/64 dev va nodad");
        kernel = KernelIpv6Order(ns, "va");
        Assert.That(kernel.Take(2).Select(a => a.ToString()), Is.EqualTo(new[] { "fd00::8", "fd00::9" }));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (cache.FindByName("va")!.Addresses.Count(a => a.IsIPv6) < kernel.Count && DateTime.UtcNow < deadline)
            monitor.Poll(100);
        Assert.That(graph.Addresses(va).Where(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6), Is.EqualTo(kernel),
            "after events");
    }
}
