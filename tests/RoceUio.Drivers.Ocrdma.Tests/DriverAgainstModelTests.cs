using NUnit.Framework;
using RoceUio.Drivers.Ocrdma.Model;
using RoceUio.Gids;
using RoceUio.Hardware;
using RoceUio.Roce;

namespace RoceUio.Drivers.Ocrdma.Tests;

/// <summary>The driver against the device model running as `roceuio model ocrdma` in another process.</summary>
public class DriverAgainstModelTests
{
    private const ulong Dmac = 0x001122334455UL;
    private static readonly Gid Ll = Gid.Parse("fe80::268a:7ff:feaa:bbcc");
    private static readonly Gid V4 = Gid.Parse("::ffff:192.0.2.1");
    private static readonly Gid V6 = Gid.Parse("2001:db8::1");
    private static readonly Gid V4Vlan = Gid.Parse("::ffff:198.51.100.7");

    private static OcrdmaDeviceOptions Options(ISgidReferences? refs = null, int timeoutMs = 5000) => new()
    {
        CommandTimeout = TimeSpan.FromMilliseconds(timeoutMs),
        VlanOfNetdev = ifindex => ifindex == 10 ? (ushort)100 : (ushort)0, // ifindex 10 is eth0.100
        References = refs,
    };

    private static Gid DgidFor(Gid s) => s.IsIPv4Mapped ? Gid.Parse("::ffff:192.0.2.99") : Gid.Parse("2001:db8::99");

    [Test]
    public void QpsAndAhsFromEveryKindOfGid_AreAcceptedByTheModel()
    {
        using var f = new ModelFixture();
        using OcrdmaDevice dev = f.Open(Options());
        var entries = new (int Index, GidEntry Entry, int AvSgidOffset, int Length)[]
        {
            (0, new GidEntry(Ll, GidType.RoceV1, 2), 22, 16),
            (1, new GidEntry(Ll, GidType.RoceV2, 2), 22, 16),
            (2, new GidEntry(V4, GidType.RoceV1, 2), 22, 16),
            (3, new GidEntry(V4, GidType.RoceV2, 2), 14 + 12, 4),
            (4, new GidEntry(V6, GidType.RoceV2, 2), 22, 16),
            (5, new GidEntry(V4Vlan, GidType.RoceV2, 10), 18 + 12, 4),
            (6, new GidEntry(V6, GidType.RoceV1, 10), 26, 16),
        };
        foreach (var e in entries)
            dev.AddGid(1, e.Index, e.Entry);
        foreach (var e in entries)
        {
            dev.ModifyQpPath(100 + e.Index, 1, e.Index, new OcrdmaPath(DgidFor(e.Entry.Gid), Dmac));
            int ah = dev.CreateAddressHandle(1, e.Index, new OcrdmaAhAttr(DgidFor(e.Entry.Gid), Dmac));
            byte[] raw = e.Entry.Gid.ToByteArray();
            Assert.That(dev.AddressVector(ah).Slice(e.AvSgidOffset, e.Length).ToArray(), Is.EqualTo(raw[(16 - e.Length)..]),
                $"AV {ah} carries index {e.Index}'s source at AV+{e.AvSgidOffset}");
        }
        Thread.Sleep(50); // let the model look at the AVs
        Assert.That(f.Violations, Is.Empty);
        Assert.That(dev.Sgids.References.ReferencesOf(1, 5), Is.EqualTo(2), "the QP and the AH each hold index 5");
        Assert.That(dev.Sgids.References, Is.InstanceOf<SgidUseCounter>(), "opened without a core table: the device counts its users itself");
    }

    [Test]
    public void DeletingAGidInUse_KeepsItsIndexUntilTheQpAndAhAreGone()
    {
        using var f = new ModelFixture();
        using OcrdmaDevice dev = f.Open(Options());
        var entry = new GidEntry(V6, GidType.RoceV2, 2);
        dev.AddGid(1, 3, entry);
        dev.ModifyQpPath(7, 1, 3, new OcrdmaPath(DgidFor(V6), Dmac));
        int ah = dev.CreateAddressHandle(1, 3, new OcrdmaAhAttr(DgidFor(V6), Dmac));

        dev.DeleteGid(1, 3, entry);
        Assert.That(dev.Sgids.StateOf(1, 3), Is.EqualTo(OcrdmaSgidState.PendingDelete));
        var other = new GidEntry(V4, GidType.RoceV2, 2);
        var e1 = Assert.Throws<RoceDeviceException>(() => dev.AddGid(1, 3, other))!;
        Assert.That(e1.Message, Does.Contain("pending delete").And.Contain("index 3"));
        var e2 = Assert.Throws<RoceDeviceException>(() => dev.ModifyQpPath(8, 1, 3, new OcrdmaPath(DgidFor(V6), Dmac)))!;
        Assert.That(e2.Message, Does.Contain("sgid index 3 is not a valid GID"));
        Thread.Sleep(20);
        Assert.That(f.Violations, Is.Empty, "the pending entry still carries its GID for the QP and the AV");

        dev.ReleaseQpPath(7);
        Assert.That(dev.Sgids.StateOf(1, 3), Is.EqualTo(OcrdmaSgidState.PendingDelete), "the AH still holds it");
        dev.DestroyAddressHandle(ah);
        Assert.That(dev.Sgids.StateOf(1, 3), Is.EqualTo(OcrdmaSgidState.Free));
        dev.AddGid(1, 3, other);
        dev.ModifyQpPath(8, 1, 3, new OcrdmaPath(DgidFor(V4), Dmac));
        Assert.That(f.Violations, Is.Empty);
    }

    [Test]
    public void AFullSixteenEntryTable_IsUsableAndTheSeventeenthIndexIsRefused()
    {
        using var f = new ModelFixture();
        using OcrdmaDevice dev = f.Open(Options());
        for (int i = 0; i < 16; i++)
            dev.AddGid(1, i, new GidEntry(Gid.Parse($"2001:db8::{i + 1:x}"), i % 2 == 0 ? GidType.RoceV1 : GidType.RoceV2, 2));
        var e = Assert.Throws<RoceDeviceException>(() => dev.AddGid(1, 16, new GidEntry(V6, GidType.RoceV2, 2)))!;
        Assert.That(e.Message, Does.Contain("index 16").And.Contain("16 entries"));
        var dup = Assert.Throws<RoceDeviceException>(() => dev.AddGid(1, 15, new GidEntry(V6, GidType.RoceV2, 2)))!;
        Assert.That(dup.Message, Does.Contain("index 15 is in use"));
        for (int i = 0; i < 16; i++)
        {
            dev.ModifyQpPath(i, 1, i, new OcrdmaPath(DgidFor(V6), Dmac));
            dev.CreateAddressHandle(1, i, new OcrdmaAhAttr(DgidFor(V6), Dmac));
        }
        Thread.Sleep(30);
        Assert.That(f.Violations, Is.Empty);
    }

    [TestCase("no-completion", "was not completed within 300 ms")]
    [TestCase("wrong-tag", "but the device completed tag")]
    [TestCase("cqe-status 2 7", "OCRDMA_MBX_CQE_STATUS_INVALID_PARAMETER (2), extended status 7 (-EINVAL)")]
    [TestCase("mbx-status 104 0", "OCRDMA_MBX_STATUS_INVALID_QP (104)")]
    public void EveryFault_GivesAClearError_AndLeavesTheDriverUsable(string fault, string message)
    {
        using var f = new ModelFixture();
        using OcrdmaDevice dev = f.Open(Options(timeoutMs: 300));
        dev.AddGid(1, 0, new GidEntry(V6, GidType.RoceV2, 2));
        var entry = new GidEntry(V6, GidType.RoceV2, 2);
        dev.AddGid(1, 1, entry);
        dev.ModifyQpPath(1, 1, 0, new OcrdmaPath(DgidFor(V6), Dmac));
        dev.ModifyQpPath(3, 1, 1, new OcrdmaPath(DgidFor(V6), Dmac));

        OcrdmaDeviceModel.InjectFault(f.Dir.Path, fault);
        var e = Assert.Throws<OcrdmaCommandException>(() => dev.ModifyQpPath(2, 1, 1, new OcrdmaPath(DgidFor(V6), Dmac)))!;
        Assert.That(e.Message, Does.Contain("MODIFY_QP (qp 2, sgid index 1)").And.Contain(message));
        // The failed QP took no reference: once QP 3 lets go, the deleted GID at index 1 leaves the host table.
        dev.DeleteGid(1, 1, entry);
        Assert.That(dev.Sgids.StateOf(1, 1), Is.EqualTo(OcrdmaSgidState.PendingDelete), "QP 3 still holds index 1");
        dev.ReleaseQpPath(3);
        Assert.That(dev.Sgids.StateOf(1, 1), Is.EqualTo(OcrdmaSgidState.Free), "nobody else held it: the failed MODIFY_QP left nothing behind");
        Assert.Throws<RoceDeviceException>(() => dev.ReleaseQpPath(2), "the failed QP has no path");

        for (int i = 0; i < 3; i++)
            dev.ModifyQpPath(2, 1, 0, new OcrdmaPath(DgidFor(V6), Dmac, HopLimit: (byte)(10 + i)));
        Assert.That(dev.Sgids.References.ReferencesOf(1, 0), Is.EqualTo(2), "QP 1 and QP 2 (its path set three times, held once)");
        Assert.That(f.Violations, Is.Empty);
    }

    [Test]
    public void TheCommonErrorKey_FailsTheNextMqCommandWithThatStatus_AndOnlyIt()
    {
        using var f = new ModelFixture();
        using OcrdmaDevice dev = f.Open(Options());
        dev.AddGid(1, 0, new GidEntry(V6, GidType.RoceV2, 2));
        // struct ocrdma_mbx_rsp status: bits 7:0 status (0x68 = OCRDMA_MBX_STATUS_INVALID_QP), 15:8 additional status.
        RoceUio.Hardware.Emulation.FaultInjection.Arm(f.Dir.Path, "# one MQ command refused\nerror=0x68\n");
        var e = Assert.Throws<OcrdmaCommandException>(() => dev.ModifyQpPath(2, 1, 0, new OcrdmaPath(DgidFor(V6), Dmac)))!;
        Assert.That(e.MailboxStatus, Is.EqualTo(0x68));
        Assert.That(e.Message, Does.Contain("OCRDMA_MBX_STATUS_INVALID_QP (104)"));
        dev.ModifyQpPath(2, 1, 0, new OcrdmaPath(DgidFor(V6), Dmac));
        Assert.That(dev.Sgids.References.ReferencesOf(1, 0), Is.EqualTo(1), "only the second MODIFY_QP holds index 0");
        Assert.That(f.Violations, Is.Empty);
    }

    [Test]
    public void GidAddAndDelete_DoNoDeviceIo()
    {
        using var f = new ModelFixture();
        using OcrdmaDevice dev = f.Open(Options());
        var tracer = new CountingTracer();
        dev.Doorbells.Tracer = tracer;
        long posted = dev.Mq.Posted;
        for (int i = 0; i < 16; i++)
            dev.AddGid(1, i, new GidEntry(Gid.Parse($"::ffff:10.0.0.{i + 1}"), GidType.RoceV2, 2));
        for (int i = 0; i < 16; i++)
            dev.DeleteGid(1, i, new GidEntry(Gid.Parse($"::ffff:10.0.0.{i + 1}"), GidType.RoceV2, 2));
        dev.Commit(1);
        Assert.That(tracer.Writes, Is.EqualTo(0), "no register write");
        Assert.That(dev.Mq.Posted, Is.EqualTo(posted), "no MQE");
        Thread.Sleep(20);
        Assert.That(f.Violations, Is.Empty);
    }

    [Test]
    public void TheModel_FlagsAStrayBarWrite()
    {
        using var f = new ModelFixture();
        using OcrdmaDevice dev = f.Open(Options());
        dev.Doorbells.Write32(0x200, 0xdead);
        for (int i = 0; i < 200 && f.Violations.Length == 0; i++)
            Thread.Sleep(5);
        Assert.That(f.Violations, Has.Some.Contains("BAR4+0x200 was written"));
    }

    private sealed class CountingTracer : IMmioTracer
    {
        public int Writes;
        public void Access(int bar, long offset, int width, bool isWrite, ulong value) { if (isWrite) Writes++; }
    }
}
