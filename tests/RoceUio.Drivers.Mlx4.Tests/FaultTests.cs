using System.Diagnostics;
using NUnit.Framework;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Gids;
using RoceUio.Hardware.Emulation;
using static RoceUio.Drivers.Mlx4.Tests.Tables;

namespace RoceUio.Drivers.Mlx4.Tests;

/// <summary>Every fault the model injects, with the model in another process: the driver reports it and stays usable.</summary>
[TestFixture]
[Parallelizable(ParallelScope.None)]
public class FaultTests
{
    private static readonly Mlx4DeviceOptions FastTimeout = new() { CommandTimeout = TimeSpan.FromMilliseconds(300), BusyTimeout = TimeSpan.FromSeconds(5) };

    [Test]
    public void A_stalled_command_times_out_naming_SET_PORT_keeps_the_shadow_and_the_next_push_delivers_it()
    {
        using var rig = ProcessRig.Start(options: FastTimeout);
        Mlx4Device d = rig.Driver;
        d.AddGid(1, 0, E("fe80::1", GidType.RoceV1));
        d.Commit(1);

        rig.Client.SetFaults(new Mlx4ModelFaults { GoStuck = true });
        d.AddGid(1, 1, E("2001:db8::1", GidType.RoceV2));
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<Mlx4CommandException>(() => d.Commit(1))!;
        sw.Stop();
        Assert.That(e.TimedOut, Is.True);
        Assert.That(e.Message, Does.Contain("mlx4_0: SET_PORT ROCE_ADDR port 1").And.Contain("timed out after 300 ms")
            .And.Contain("1 GID change(s) on port 1 are not in the hardware yet"));
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(3)));
        Assert.That(d.TryGetRealIndex(1, 1, out int real), Is.True, "no rollback: the shadow keeps what the hardware must hold");
        Assert.That(real, Is.EqualTo(1));
        Assert.That(d.Table(1).NeedsPush, Is.True, "the change still has to reach the hardware");

        // The device recovers (the held command is taken late, as the shared host's stall does); the next push waits
        // for it and delivers the shadow.
        rig.Client.SetFaults(Mlx4ModelFaults.None);
        d.Commit(1);
        AssertModelEqualsShadow(d, rig.State);
        Assert.That(rig.State.Table(1).Entries, Has.Count.EqualTo(2));
    }

    [Test]
    public void An_error_status_is_reported_by_its_kernel_name_the_model_keeps_its_table_and_the_retry_delivers_the_shadow()
    {
        using var rig = ProcessRig.Start();
        Mlx4Device d = rig.Driver;
        d.AddGid(2, 0, E("fe80::1", GidType.RoceV1));
        d.Commit(2);

        rig.Client.SetFaults(new Mlx4ModelFaults { Status = (byte)Mlx4Status.ExceedLim, StatusCount = 1 });
        d.AddGid(2, 1, E("2001:db8::1", GidType.RoceV2));
        d.DeleteGid(2, 0, E("fe80::1", GidType.RoceV1));
        var e = Assert.Throws<Mlx4CommandException>(() => d.Commit(2))!;
        Assert.That(e.Status, Is.EqualTo((byte)0x08));
        Assert.That(e.TimedOut, Is.False);
        Assert.That(e.Message, Does.Contain("SET_PORT ROCE_ADDR port 2").And.Contain("status 0x08 EXCEED_LIM (-ENOMEM)")
            .And.Contain("2 GID change(s) on port 2 are not in the hardware yet"));

        Assert.That(d.Table(2).NeedsPush, Is.True, "the device refused: the shadow still differs from the hardware");
        Assert.That(rig.State.Table(2).Entries.Select(x => x.Gid), Is.EqualTo(new[] { G("fe80::1") }), "the model kept its old table");
        Assert.That(d.TryGetRealIndex(2, 0, out _), Is.False, "the delete is not undone");

        d.Commit(2);   // the one injected refusal is spent: the retry reaches the hardware
        AssertModelEqualsShadow(d, rig.State);
        Assert.That(rig.State.Table(2).Entries.Select(x => x.Gid), Is.EqualTo(new[] { G("2001:db8::1") }));
    }

    [Test]
    public void A_slow_completion_within_the_timeout_succeeds()
    {
        using var rig = ProcessRig.Start(options: new Mlx4DeviceOptions { CommandTimeout = TimeSpan.FromSeconds(5) });
        Mlx4Device d = rig.Driver;
        rig.Client.SetFaults(new Mlx4ModelFaults { DelayMs = 250 });
        d.AddGid(1, 0, E("2001:db8::9", GidType.RoceV2));
        var sw = Stopwatch.StartNew();
        d.Commit(1);
        Assert.That(sw.ElapsedMilliseconds, Is.GreaterThanOrEqualTo(240), "the model held the command");
        AssertModelEqualsShadow(d, rig.State);
    }

    [Test]
    public void A_slow_completion_beyond_the_timeout_times_out_and_the_late_completion_does_not_break_the_next_command()
    {
        using var rig = ProcessRig.Start(options: new Mlx4DeviceOptions { CommandTimeout = TimeSpan.FromMilliseconds(100), BusyTimeout = TimeSpan.FromSeconds(5) });
        Mlx4Device d = rig.Driver;
        rig.Client.SetFaults(new Mlx4ModelFaults { DelayMs = 400 });
        d.AddGid(1, 0, E("2001:db8::9", GidType.RoceV2));
        Assert.That(() => d.Commit(1), Throws.TypeOf<Mlx4CommandException>().With.Property(nameof(Mlx4CommandException.TimedOut)).True);

        rig.Client.SetFaults(Mlx4ModelFaults.None);
        // The late completion may or may not have applied the table; the push again makes sure it did.
        d.Commit(1);
        AssertModelEqualsShadow(d, rig.State);
        Assert.That(rig.State.Table(1).Entries, Has.Count.EqualTo(1));
    }

    [Test]
    public void A_fault_file_with_error_opcode_fails_only_that_command_so_the_bring_up_stops_at_INIT_HCA()
    {
        using var rig = new ThreadRig();
        FaultInjection.Arm(rig.Dir.Path, "# the shared parser's syntax\nerror=0x0c\nerror_opcode=0x007\n");
        Assert.That(FaultInjection.WaitTaken(rig.Dir.Path, TimeSpan.FromSeconds(10)), Is.True, "the model takes DIR/faults");
        var e = Assert.Throws<Mlx4CommandException>(() => rig.OpenDriver())!;
        Assert.That(e.Message, Does.Contain("INIT_HCA").And.Contain("ICM_ERROR"), "QUERY_FW ... MAP_ICM before it were not failed");
        Assert.That(rig.Model.Model.Snapshot().LastError, Does.Contain("injected status 0x0c"));
        rig.OpenDriver().ShutDown();   // the one injected refusal is spent
    }

    [Test]
    public void A_bad_error_opcode_in_the_fault_file_ends_the_model_and_is_reported_naming_file_line_and_key()
    {
        using var rig = new ThreadRig();
        FaultInjection.Arm(rig.Dir.Path, "error=0x0c\nerror_opcode=0x1000\n");
        var deadline = Stopwatch.StartNew();
        while (rig.Model.Failure == null && deadline.Elapsed < TimeSpan.FromSeconds(10))
            Thread.Sleep(5);
        Assert.That(rig.Model.Failure, Does.Contain("faults:2").And.Contain("error_opcode=0x1000").And.Contain("not an opcode"));
    }
}
