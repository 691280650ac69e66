using System.Net;
using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Roce;

/// <summary>rdma_read_gid_l2_fields: a VLAN's own id, the first-level lower VLAN's id for an upper, none otherwise.</summary>
public class GidL2FieldsTests
{
    [Test]
    public void VlanId_IsTheNetdevsOwn_OrItsFirstLowerVlans_OrZero()
    {
        var net = new FakeNetdevs();
        net.Add(2, "eth0", "24:8a:07:aa:bb:cc");
        net.Add(5, "eth0.100", "24:8a:07:aa:bb:cc", NetdevKind.Vlan, lower: 2);
        net.Change("eth0.100", n => n with { VlanId = 100 });
        net.Add(6, "eth0.100.7", "24:8a:07:aa:bb:cc", NetdevKind.Vlan, lower: 5);
        net.Change("eth0.100.7", n => n with { VlanId = 7 });
        net.Add(7, "mv0", "02:00:00:00:00:07", NetdevKind.Macvlan, lower: 5);
        net.Add(8, "mv1", "02:00:00:00:00:08", NetdevKind.Macvlan, lower: 2);
        net.Add(9, "mv2", "02:00:00:00:00:09", NetdevKind.Macvlan, lower: 7);

        Assert.That(GidL2Fields.VlanIdOf(net, 2), Is.EqualTo(0), "the physical netdev");
        Assert.That(GidL2Fields.VlanIdOf(net, 5), Is.EqualTo(100), "a VLAN: its own id");
        Assert.That(GidL2Fields.VlanIdOf(net, 6), Is.EqualTo(7), "a nested VLAN: its own id, not the outer one");
        Assert.That(GidL2Fields.VlanIdOf(net, 7), Is.EqualTo(100), "a macvlan over a VLAN: the lower VLAN's id");
        Assert.That(GidL2Fields.VlanIdOf(net, 8), Is.EqualTo(0), "a macvlan over the physical netdev");
        Assert.That(GidL2Fields.VlanIdOf(net, 9), Is.EqualTo(0), "only the first level counts (get_lower_dev_vlan)");
        Assert.That(GidL2Fields.VlanIdOf(net, 99), Is.EqualTo(0), "unknown netdev");
        Assert.That(GidL2Fields.MacOf(net, 7).ToArray(), Is.EqualTo(FakeNetdevs.Mac("02:00:00:00:00:07")));

        // A master's first lower is its first slave (lowest ifindex): a bond over two VLANs carries the first one's id.
        net.Add(10, "eth0.200", "24:8a:07:aa:bb:cc", NetdevKind.Vlan, lower: 2);
        net.Change("eth0.200", n => n with { VlanId = 200 });
        net.Add(11, "bond0", "24:8a:07:aa:bb:cc", NetdevKind.Bond);
        net.Change("eth0.200", n => n with { MasterIfindex = 11 });
        Assert.That(GidL2Fields.VlanIdOf(net, 11), Is.EqualTo(200), "a bond whose only slave is a VLAN: that VLAN's id");
        net.Change("eth0.100", n => n with { MasterIfindex = 11 });
        Assert.That(GidL2Fields.VlanIdOf(net, 11), Is.EqualTo(100), "two VLAN slaves: the lowest ifindex stands for the first enslaved");
    }

    [Test]
    public void Read_OfAHeldEntry_GivesItsNetdevsVlanAndMac_AndNoDeviceOnceTheEntryIsDeleted()
    {
        var net = new FakeNetdevs();
        net.Add(2, "eth0", "24:8a:07:aa:bb:cc");
        net.Add(5, "eth0.100", "24:8a:07:aa:bb:cc", NetdevKind.Vlan, lower: 2);
        net.Change("eth0.100", n => n with { VlanId = 100 });
        net.Add(7, "mv0", "02:00:00:00:00:07", NetdevKind.Macvlan, lower: 5);
        var t = new GidTable(1, 16, GidTypes.RoceV2, IndexPolicy.Kernel);
        GidEntry Entry(string ip, int ndev) => new(Gid.FromIPAddress(IPAddress.Parse(ip)), GidType.RoceV2, ndev);
        int onEth0 = t.Add(Entry("192.0.2.1", 2)), onMv0 = t.Add(Entry("192.0.2.7", 7)), onVlan = t.Add(Entry("192.0.2.5", 5));
        Span<byte> mac = stackalloc byte[6];

        Assert.That(GidL2Fields.Read(t, onEth0, net, out ushort vlan, mac), Is.EqualTo(GidQueryError.None));
        Assert.That((vlan, mac.ToArray()), Is.EqualTo((GidL2Fields.NoVlan, FakeNetdevs.Mac("24:8a:07:aa:bb:cc"))), "untagged: 0xffff");
        Assert.That(GidL2Fields.Read(t, onVlan, net, out vlan, mac), Is.EqualTo(GidQueryError.None));
        Assert.That(vlan, Is.EqualTo(100));
        Assert.That(GidL2Fields.Read(t, onMv0, net, out vlan, mac), Is.EqualTo(GidQueryError.None));
        Assert.That((vlan, mac.ToArray()), Is.EqualTo(((ushort)100, FakeNetdevs.Mac("02:00:00:00:00:07"))),
                    "a macvlan over a VLAN: the lower's id, its own MAC");

        // A QP holds mv0's entry; mv0 goes away: del_gid detached the netdev, rdma_read_gid_l2_fields says -ENODEV.
        Assert.That(t.TryHold(onMv0, out _), Is.True);
        t.DeleteAllForNetdev(7);
        net.Remove("mv0");
        Assert.That(GidL2Fields.Read(t, onMv0, net, out vlan, mac), Is.EqualTo(GidQueryError.NoDevice));
        Assert.That(vlan, Is.EqualTo(GidL2Fields.NoVlan));
        t.Release(onMv0);
        Assert.That(GidL2Fields.Read(t, onMv0, net, out _, mac), Is.EqualTo(GidQueryError.InvalidArgument), "nothing left to hold");
        Assert.That(GidL2Fields.Read(t, 16, net, out _, mac), Is.EqualTo(GidQueryError.InvalidArgument), "outside the table");
    }
}
