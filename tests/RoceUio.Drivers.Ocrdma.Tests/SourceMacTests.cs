using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Drivers.Ocrdma.Tests;

/// <summary>The source MAC of an address vector is the one the driver was given (its port's netdev's), never invented.</summary>
public class SourceMacTests
{
    private const ulong Dmac = 0x001122334455UL;
    private static readonly GidEntry Entry = new(Gid.Parse("::ffff:192.0.2.1"), GidType.RoceV2, 2);

    [Test]
    public void An_address_vector_carries_the_bound_netdevs_MAC_after_the_destination_MAC()
    {
        using var f = new ModelFixture(inProcess: true);
        using OcrdmaDevice dev = f.Open(new OcrdmaDeviceOptions { SourceMac = 0x02005eaabbccUL });
        dev.AddGid(1, 4, Entry);
        int ah = dev.CreateAddressHandle(1, 4, new OcrdmaAhAttr(Gid.Parse("::ffff:192.0.2.2"), Dmac));
        ReadOnlySpan<byte> av = dev.AddressVector(ah);
        Assert.That(Convert.ToHexString(av[OcrdmaLayout.EthSmac..(OcrdmaLayout.EthSmac + 6)]), Is.EqualTo("02005EAABBCC"));
        Assert.That(Convert.ToHexString(av[..6]), Is.EqualTo("001122334455"), "the destination MAC before it");
        dev.DestroyAddressHandle(ah);
        Assert.That(f.Violations, Is.Empty);
    }

    [Test]
    public void Without_a_MAC_create_ah_is_refused_and_holds_nothing()
    {
        using var f = new ModelFixture(inProcess: true);
        using OcrdmaDevice dev = OcrdmaDevice.Open(DeviceResources.Of(f.Device), new OcrdmaDeviceOptions { Name = "ocrdma3" });
        dev.AddGid(1, 4, Entry);
        var e = Assert.Throws<RoceDeviceException>(() => dev.CreateAddressHandle(1, 4, new OcrdmaAhAttr(Gid.Parse("::ffff:192.0.2.2"), Dmac)))!;
        Assert.That(e.Message, Is.EqualTo("ocrdma3: create_ah: no source MAC: the netdev of port 1 had no MAC address when the device was opened"));
        dev.DeleteGid(1, 4, Entry);
        Assert.That(dev.Sgids.StateOf(1, 4), Is.EqualTo(OcrdmaSgidState.Free), "nothing held the entry: the delete frees it at once");
    }
}
