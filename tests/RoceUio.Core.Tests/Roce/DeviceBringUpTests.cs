using NUnit.Framework;
using RoceUio.Hardware;
using RoceUio.Roce;

namespace RoceUio.Core.Tests.Roce;

/// <summary>The one bring-up/teardown error rule the drivers share.</summary>
public class DeviceBringUpTests
{
    [Test]
    public void A_failed_start_tears_down_and_rethrows_the_same_error()
    {
        var steps = new List<string>();
        var refused = new RoceDeviceException("dev0: CREATE_CQ: ILLEGAL_FIELD");
        var e = Assert.Throws<RoceDeviceException>(() => DeviceBringUp.StartOrTearDown(
            () => { steps.Add("start"); throw refused; }, () => steps.Add("down")));
        Assert.That(e, Is.SameAs(refused));
        Assert.That(steps, Is.EqualTo(new[] { "start", "down" }));
    }

    [Test]
    public void A_hardware_access_error_tears_down_too_and_a_failed_teardown_says_both()
    {
        var first = new HardwareAccessException("BAR4: device gone");
        var e = Assert.Throws<RoceDeviceException>(() => DeviceBringUp.StartOrTearDown(
            () => throw first, () => throw new RoceDeviceException("dev0: shutting down: DELETE_EQ timed out")));
        Assert.That(e!.Message, Is.EqualTo("BAR4: device gone; tearing down again failed too: dev0: shutting down: DELETE_EQ timed out"));
        Assert.That(e.InnerException, Is.SameAs(first));
    }

    [Test]
    public void A_bug_is_not_a_device_error_and_passes_without_a_teardown()
    {
        bool down = false;
        Assert.Throws<NullReferenceException>(() => DeviceBringUp.StartOrTearDown(() => throw new NullReferenceException(), () => down = true));
        Assert.That(down, Is.False);
        DeviceBringUp.StartOrTearDown(() => { }, () => down = true);
        Assert.That(down, Is.False, "a start that succeeds is not torn down");
    }

    [Test]
    public void Teardown_steps_go_on_after_a_failure_and_throw_the_failures_together()
    {
        var ran = new List<int>();
        var steps = new TearDownSteps("dev0");
        Assert.That(steps.Run(() => { ran.Add(1); throw new RoceDeviceException("DELETE_MQ: timed out"); }), Is.False);
        Assert.That(steps.Run(() => ran.Add(2)), Is.True);
        steps.Run(() => { ran.Add(3); throw new HardwareAccessException("BAR4 unmapped"); });
        Assert.That((ran, steps.Failed), Is.EqualTo((new List<int> { 1, 2, 3 }, true)));
        var e = Assert.Throws<RoceDeviceException>(() => steps.ThrowIfFailed("memory stays with the firmware"));
        Assert.That(e!.Message, Is.EqualTo("dev0: shutting down: DELETE_MQ: timed out; BAR4 unmapped; memory stays with the firmware"));

        var clean = new TearDownSteps("dev1");
        clean.Run(() => { });
        Assert.DoesNotThrow(() => clean.ThrowIfFailed());
        Assert.Throws<InvalidOperationException>(() => clean.Run(() => throw new InvalidOperationException("a bug")), "a bug is not kept");
    }
}
