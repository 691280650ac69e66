using NUnit.Framework;
using RoceUio.Cli.Daemon;
using RoceUio.Drivers;
using RoceUio.Drivers.Ocrdma;
using RoceUio.Netlink;

namespace RoceUio.Cli.Tests;

/// <summary>ocrdma's address vectors carry the MAC of the netdev the port is bound to (ocrdma_add copies be2net's
/// netdev address), not an invented one.</summary>
public class SourceMacTests
{
    [Test]
    public void The_daemon_gives_drivers_the_MAC_of_each_netdev_from_the_cache()
    {
        var cache = new NetdevCache();
        cache.ApplyAll(RtnlMessages.NewLink(new LinkSpec(4, "eth4") { Mac = "02:00:5e:aa:bb:cc" }));
        Func<string, ulong?> macs = DeviceFactory.NetdevMacs(cache);
        Assert.That((macs("eth4"), macs("eth9")), Is.EqualTo(((ulong?)0x02005eaabbccUL, (ulong?)null)));
    }

    [Test]
    public void The_ocrdma_descriptor_takes_the_port_netdevs_MAC()
    {
        var ctx = new DriverOpenContext
        {
            Name = "ocrdma0",
            Netdevs = ["eth4"],
            MacOfNetdev = n => n == "eth4" ? 0x02005eaabbccUL : null,
        };
        Assert.That(OcrdmaDriver.Options(ctx).SourceMac, Is.EqualTo(0x02005eaabbccUL));
        Assert.That(OcrdmaDriver.Options(ctx with { Netdevs = ["eth9"] }).SourceMac, Is.Null, "an unknown netdev: no MAC invented");
    }
}
