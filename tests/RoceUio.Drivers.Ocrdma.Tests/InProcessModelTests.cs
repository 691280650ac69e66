using NUnit.Framework;
using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Drivers.Ocrdma.Tests;

/// <summary>The model on a thread: the VF doorbell BAR, the sgid check itself, an external reference holder.</summary>
public class InProcessModelTests
{
    private const ulong Dmac = 0x001122334455UL;

    [Test]
    public void AVirtualFunction_RingsBar0()
    {
        using var f = new ModelFixture(inProcess: true, vf: true);
        using OcrdmaDevice dev = f.Open();
        Assert.That(dev.DoorbellBar, Is.EqualTo(0));
        dev.AddGid(1, 0, new GidEntry(Gid.Parse("fe80::1"), GidType.RoceV1, 2));
        dev.ModifyQpPath(1, 1, 0, new OcrdmaPath(Gid.Parse("fe80::2"), Dmac));
        Assert.That(f.Violations, Is.Empty);
    }

    [Test]
    public void TheModel_RefusesAModifyQpWhoseSgidIsNotTheHostEntry()
    {
        using var f = new ModelFixture(inProcess: true);
        using OcrdmaDevice dev = f.Open();
        dev.AddGid(1, 0, new GidEntry(Gid.Parse("2001:db8::1"), GidType.RoceV2, 2));
        dev.ModifyQpPath(9, 1, 0, new OcrdmaPath(Gid.Parse("2001:db8::2"), Dmac));
        // A MODIFY_QP for QP 9 (bound to index 0) carrying another GID, as a buggy driver would send.
        byte[] mqe = new byte[OcrdmaLayout.MqeSize];
        var wrong = new OcrdmaSgid(Gid.Parse("2001:db8::bad"), GidType.RoceV2, 2, 0);
        OcrdmaCommands.EncodeModifyQpPath(mqe, 9, wrong, new OcrdmaPath(Gid.Parse("2001:db8::2"), Dmac));
        var e = Assert.Throws<OcrdmaCommandException>(() => dev.Mq.Execute(mqe, "MODIFY_QP"))!;
        Assert.That(e.MailboxStatus, Is.EqualTo(OcrdmaStatus.MbxIllegalField));
        Assert.That(f.Violations, Has.Some.Contains("qp 9 sgid bytes"));
    }

    [Test]
    public void ABadFaultFile_EndsTheModel_WithFileLineAndKey_AndTheThreadReportsIt()
    {
        using var f = new ModelFixture(inProcess: true);
        using OcrdmaDevice dev = f.Open();
        RoceUio.Hardware.Emulation.FaultInjection.Arm(f.Dir.Path, "stall=0\nmq=explode\n");
        long deadline = Environment.TickCount64 + 10_000;
        while (f.ModelFailure is null && Environment.TickCount64 < deadline)
            Thread.Sleep(2);
        string faults = Path.Combine(f.Dir.Path, "faults");
        Assert.That(f.ModelFailure, Is.EqualTo($"ocrdma-model died: FormatException: {faults}:2: bad value in 'mq=explode': not one of the MQ faults "
            + "(want mq=no-completion|wrong-tag|cqe-status STATUS EXT|mbx-status STATUS ADDITIONAL)"));
        Assert.That(f.Violations, Has.Some.StartsWith("model stopped: FormatException"));
    }

    [Test]
    public void AnExternalReferenceHolder_IsHeldAndReleased()
    {
        var refs = new FakeReferences();
        using var f = new ModelFixture(inProcess: true);
        using OcrdmaDevice dev = f.Open(new OcrdmaDeviceOptions { References = refs });
        var entry = new GidEntry(Gid.Parse("::ffff:192.0.2.1"), GidType.RoceV2, 2);
        refs.Valid[(1, 4)] = entry;
        dev.AddGid(1, 4, entry);
        int ah = dev.CreateAddressHandle(1, 4, new OcrdmaAhAttr(Gid.Parse("::ffff:192.0.2.2"), Dmac));
        Assert.That(refs.Held[(1, 4)], Is.EqualTo(1));
        refs.Valid.Remove((1, 4)); // the core deleted it: no new holders
        Assert.Throws<RoceDeviceException>(() => dev.CreateAddressHandle(1, 4, new OcrdmaAhAttr(Gid.Parse("::ffff:192.0.2.2"), Dmac)));
        dev.DestroyAddressHandle(ah);
        Assert.That(refs.Held[(1, 4)], Is.EqualTo(0));
    }

    private sealed class FakeReferences : ISgidReferences
    {
        public readonly Dictionary<(int, int), GidEntry> Valid = new();
        public readonly Dictionary<(int, int), int> Held = new();

        public bool TryHold(int port, int index, out GidEntry entry)
        {
            if (!Valid.TryGetValue((port, index), out entry))
                return false;
            Held[(port, index)] = Held.GetValueOrDefault((port, index)) + 1;
            return true;
        }

        public void Release(int port, int index) => Held[(port, index)]--;

        public int ReferencesOf(int port, int index) => Held.GetValueOrDefault((port, index));
    }
}
