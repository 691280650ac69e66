using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// A VLAN moved into a pod, from messages built in the kernel's layout (this kernel has no VLAN devices), fed to the
/// cache as the monitor would with their origin: the pod's messages tagged with the pod's id here, their
/// IFLA_LINK_NETNSID written from the pod's point of view. The kernel keeps vlan_dev_real_dev across the move, so the
/// VLAN stays an upper of eth0 (is_eth_port_of_netdev_filter) and rdma_read_gid_l2_fields still gives its VLAN id; a
/// pod netdev that is not over eth0 (the pod's own eth0, a VLAN over another namespace's device) gives no GID.
/// </summary>
public class ContainerBuiltMessageTests
{
    private const int Eth0 = 2, PodNsid = 5, OwnIdInPod = 0, ThirdNsIdInPod = 1;
    private const string Mac = "24:8a:07:aa:bb:cc";
    private static readonly NetlinkOrigin Pod = NetlinkOrigin.EventOf(PodNsid);

    private GidPipeline _p = null!;

    [SetUp]
    public void SetUp()
    {
        _p = new GidPipeline(new RecordingDevice("rxe0", 1, 16, GidTypes.RoceV2), IndexPolicy.Kernel, "eth0");
        // What the follower answers: in the pod, id 0 is this namespace; id 1, a third one, has no id here.
        _p.Cache.LinkNetNsHere = (origin, _, id) => origin.NetNsId == PodNsid && !origin.IdsAsSeenHere && id == OwnIdInPod ? -1 : null;
    }

    [TearDown]
    public void TearDown() => _p.Dispose();

    private void FeedFrom(NetlinkOrigin origin, params byte[][] messages)
    {
        foreach (byte[] datagram in messages)
        {
            var reader = new NetlinkMessageReader(datagram);
            while (reader.TryRead(out NetlinkMessage m))
                _p.Cache.Apply(m, origin);
        }
        _p.Manager.EndOfBurst();
    }


    [Test]
    public void VlanMovedIntoAPod_KeepsItsRealDevice_ItsPodAddressesAreGidsWithItsVlanId_UntilThePodGoes()
    {
        _p.Feed(RtnlMessages.NewLink(new LinkSpec(Eth0, "eth0") { Mac = Mac }),
                RtnlMessages.NewLink(new LinkSpec(10, "eth0.100") { Mac = Mac, Kind = "vlan", VlanId = 100, Link = Eth0 }),
                RtnlMessages.NewAddress(10, "192.0.2.10/24"));
        Assert.That(_p.Table(), Is.EqualTo(new[] { "0 fe80::268a:7ff:feaa:bbcc v2 eth0", "1 ::ffff:192.0.2.10 v2 eth0.100" }));

        // The move: RTM_DELLINK with IFLA_NEW_NETNSID here (its addresses were flushed first), then the pod's
        // RTM_NEWLINK for it under the pod's ifindex 3, its lower (eth0's ifindex 2) named with the pod's id for us.
        _p.Feed(RtnlMessages.DelAddress(10, "192.0.2.10/24"),
                RtnlMessages.DelLink(new LinkSpec(10, "eth0.100") { Mac = Mac, Kind = "vlan", VlanId = 100, Link = Eth0, NewNetNsId = PodNsid, NewIfindex = 3 }));
        Assert.That(_p.Table(), Is.EqualTo(new[] { "0 fe80::268a:7ff:feaa:bbcc v2 eth0" }));
        FeedFrom(Pod,
            RtnlMessages.NewLink(new LinkSpec(3, "eth0.100") { Mac = Mac, Kind = "vlan", VlanId = 100, Link = Eth0, LinkNetNsId = OwnIdInPod }),
            RtnlMessages.NewLink(new LinkSpec(2, "eth0") { Mac = "02:00:00:00:00:99", Kind = "veth" }),          // the pod's own eth0
            RtnlMessages.NewLink(new LinkSpec(4, "other.7") { Mac = Mac, Kind = "vlan", VlanId = 7, Link = Eth0, LinkNetNsId = ThirdNsIdInPod }),
            RtnlMessages.NewAddress(3, "10.0.0.5/24"),
            RtnlMessages.NewAddress(2, "10.9.0.2/24"),
            RtnlMessages.NewAddress(4, "10.7.0.4/24"));

        Assert.That(_p.Table(), Is.EqualTo(new[] { "0 fe80::268a:7ff:feaa:bbcc v2 eth0", "1 ::ffff:10.0.0.5 v2 eth0.100" }),
                    "only the VLAN over this eth0 counts; the pod's eth0 and a VLAN over a third namespace's device do not");
        Assert.That(_p.Cache.TryGetLink(PodNsid, 3, out NetdevLink vlan));
        Assert.That((vlan.IsInOwnNamespace, vlan.NetNsIfindex, vlan.LowerIfindex), Is.EqualTo((false, 3, Eth0)));
        Assert.That(GidL2Fields.VlanIdOf(_p.Graph, vlan.Ifindex), Is.EqualTo(100), "rdma_read_gid_l2_fields: the VLAN's id");
        Assert.That(_p.Cache.FindByName("eth0")!.Ifindex, Is.EqualTo(Eth0), "a name lookup sees this namespace only");
        Assert.That(_p.Port().NetdevIfindex, Is.EqualTo(Eth0));
        Assert.That(_p.Manager.NetNsIfindexOf(vlan.Ifindex), Is.EqualTo(3));

        // The pod's namespace is destroyed (RTM_DELNSID): all of its links go, with their GIDs.
        Assert.That(_p.Cache.RemoveNamespace(PodNsid), Is.EqualTo(3));
        _p.Manager.EndOfBurst();
        Assert.That(_p.Table(), Is.EqualTo(new[] { "0 fe80::268a:7ff:feaa:bbcc v2 eth0" }));
        Assert.That(_p.Cache.TryGetLink(PodNsid, 3, out _), Is.False);
        _p.AssertDriverMatches("pod gone");
        Assert.That(_p.Errors, Is.Empty);
    }
}
