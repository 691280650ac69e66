using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// dev_id comes from sysfs (one file per netdev) and only a default GID needs it: a start on a host with many netdevs
/// reads it for the port's netdev only, and the default GID still carries it.
/// </summary>
public class DevIdReadTests
{
    private sealed class NullDevice : IRoceDevice
    {
        public string Name => "null0";
        public string DriverName => "null";
        public int PortCount => 1;
        public int GidTableSize(int port) => 1024;
        public GidTypes SupportedGidTypes(int port) => GidTypes.RoceV2;
        public void AddGid(int port, int index, in GidEntry entry) { }
        public void DeleteGid(int port, int index, in GidEntry entry) { }
        public void Commit(int port) { }
        public void Dispose() { }
    }

    private sealed class CountingDevIds(Dictionary<string, ushort> values)
    {
        public readonly List<string> Reads = [];
        public ushort Read(string name)
        {
            Reads.Add(name);
            return values.GetValueOrDefault(name);
        }
    }

    [Test]
    public void A_start_with_500_macvlans_reads_dev_id_for_the_port_netdev_only_and_its_default_gid_carries_it()
    {
        var devIds = new CountingDevIds(new() { ["eth0"] = 0x12 });
        using RocePipeline p = new RocePipelineBuilder().IndexPolicy(IndexPolicy.Kernel).NetlinkLog(_ => { })
            .DevIds(devIds.Read).Build();
        p.Feed(RtnlMessages.NewLink(new LinkSpec(2, "eth0") { Mac = "24:8a:07:aa:bb:cc" }));
        p.Feed(RtnlMessages.NewLink(new LinkSpec(5, "eth9") { Mac = "24:8a:07:aa:bb:c9" }));
        for (int i = 0; i < 500; i++)
        {
            p.Feed(RtnlMessages.NewLink(new LinkSpec(100 + i, $"mv{i}")
            {
                Mac = $"02:00:00:00:{i >> 8 & 0xff:x2}:{i & 0xff:x2}", Kind = "macvlan", Link = i % 2 == 0 ? 2 : 5,
            }));
            p.Feed(RtnlMessages.NewAddress(100 + i, $"10.{i / 250}.{i % 250}.1/16"));
        }
        Assert.That(devIds.Reads, Is.Empty, "the dump alone reads no dev_id");

        RocePort port = p.AddDevice(new NullDevice(), ["eth0"])[0];

        Assert.That(devIds.Reads, Is.EqualTo(new[] { "eth0" }), "only the port's netdev, once");
        Gid expected = Gid.DefaultFromMac([0x24, 0x8a, 0x07, 0xaa, 0xbb, 0xcc], 0x12);
        Assert.That(port.Table.Count, Is.EqualTo(1 + 250), "the default GID and the 250 macvlans over eth0");
        Assert.That(port.Table.TryGet(0, out GidEntry d) ? d.Gid : default, Is.EqualTo(expected), "slot 0: the default GID with dev_id 0x12");
    }

    [Test]
    public void A_renamed_netdev_reads_its_dev_id_again_under_the_new_name_when_next_asked()
    {
        var devIds = new CountingDevIds(new() { ["eth0"] = 1, ["lan0"] = 2 });
        var cache = new NetdevCache { Log = _ => { }, DevIdProvider = devIds.Read };
        cache.ApplyAll(RtnlMessages.NewLink(new LinkSpec(2, "eth0") { Mac = "24:8a:07:aa:bb:cc" }));
        Assert.That(cache.TryGetLink(2, out NetdevLink link), Is.True);
        Assert.That(devIds.Reads, Is.Empty);
        Assert.That(link.DevId, Is.EqualTo(1));
        Assert.That(link.DevId, Is.EqualTo(1));
        Assert.That(devIds.Reads, Is.EqualTo(new[] { "eth0" }), "kept once read");

        NetdevEvent? renamed = null;
        cache.Subscribe(new Observer(e => renamed = e));
        cache.ApplyAll(RtnlMessages.NewLink(new LinkSpec(2, "lan0") { Mac = "24:8a:07:aa:bb:cc" }));
        Assert.That(devIds.Reads, Is.EqualTo(new[] { "eth0" }), "a rename reads nothing by itself");
        Assert.That(renamed?.PreviousDevId, Is.EqualTo(1), "the event says the value before");
        Assert.That(link.DevId, Is.EqualTo(2));
        Assert.That(devIds.Reads, Is.EqualTo(new[] { "eth0", "lan0" }));
    }

    private sealed class Observer(Action<NetdevEvent> on) : INetdevObserver
    {
        public void OnNetdevEvent(in NetdevEvent e) => on(e);
    }
}
