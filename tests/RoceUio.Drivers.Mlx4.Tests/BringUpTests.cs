using NUnit.Framework;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Gids;
using RoceUio.Hardware;
using RoceUio.Roce;

namespace RoceUio.Drivers.Mlx4.Tests;

/// <summary>Every register access, reads included, with its offset in BAR0.</summary>
internal sealed class AccessTracer : IMmioTracer
{
    public readonly List<(bool Write, long Offset, uint Value)> Accesses = new();

    public void Access(int bar, long offset, int width, bool isWrite, ulong value)
    {
        lock (Accesses)
            Accesses.Add((isWrite, offset, (uint)value));
    }

    /// <summary>
    /// The trace as steps a reader checks against the kernel: "owner" (the OWNER semaphore read), "reset" (the reset
    /// register write), and one name per posted command (dw6 written with GO), SET_PORT with its sub-op and port.
    /// </summary>
    public List<string> Steps()
    {
        var steps = new List<string>();
        uint inMod = 0;
        lock (Accesses)
            foreach (var (write, off, value) in Accesses)
            {
                if (!write && off == Mlx4FirmwareLayout.OwnerOffset)
                    steps.Add("owner");
                else if (write && off == Mlx4FirmwareLayout.ResetOffset)
                    steps.Add("reset");
                else if (write && off == Mlx4Layout.HcrBase + Mlx4Layout.HcrInModifier)
                    inMod = value;
                else if (write && off == Mlx4Layout.HcrBase + Mlx4Layout.HcrStatus && (value & Mlx4Layout.HcrGo) != 0)
                {
                    ushort opcode = (ushort)(value & Mlx4Layout.HcrOpcodeMask);
                    string name = Mlx4Layout.OpcodeName(opcode);
                    if (opcode == Mlx4Layout.CmdSetPort)
                        name = Mlx4Hcr.Describe(opcode, (byte)((value >> 12) & 0xf), inMod).Split(" (")[0];
                    else if (opcode is Mlx4FirmwareLayout.CmdQueryPort or Mlx4FirmwareLayout.CmdInitPort or Mlx4FirmwareLayout.CmdClosePort)
                        name += $" {inMod}";
                    steps.Add(name);
                }
            }
        return steps;
    }
}

/// <summary>
/// The firmware start and stop sequence (<see cref="Mlx4BringUp"/>) against the model: the kernel's order, what the
/// firmware takes and gives back, ownership, and a bring-up that fails half-way.
/// </summary>
[TestFixture]
public class BringUpTests
{
    private static readonly string[] MapIcm14 = Enumerable.Repeat("MAP_ICM", 14).ToArray();

    /// <summary>mlx4_init_one → mlx4_load_one: mlx4_init_fw, mlx4_init_hca (with mlx4_init_icm), then mlx4_en_start_port per port.</summary>
    public static readonly string[] KernelStartOrder =
    [
        "owner", "reset", "QUERY_FW", "MAP_FA", "RUN_FW", "MOD_STAT_CFG", "QUERY_DEV_CAP", "QUERY_PORT 1", "QUERY_PORT 2",
        "SET_ICM_SIZE", "MAP_ICM_AUX", .. MapIcm14, "INIT_HCA", "QUERY_ADAPTER",
        "SET_PORT GENERAL port 1", "INIT_PORT 1", "SET_PORT GENERAL port 2", "INIT_PORT 2",
        "CONFIG_DEV",   // mlx4_ib_add: mlx4_config_roce_v2_port (the device has v1_v2)
    ];

    /// <summary>mlx4_unload_one: mlx4_en_stop_port per port, mlx4_close_hca (CLOSE_HCA, mlx4_free_icms), mlx4_close_fw.</summary>
    public static readonly string[] KernelStopOrder =
        ["CLOSE_PORT 1", "CLOSE_PORT 2", "CLOSE_HCA", .. Enumerable.Repeat("UNMAP_ICM", 14), "UNMAP_ICM_AUX", "UNMAP_FA"];

    [Test]
    public void Bring_up_sends_the_kernels_commands_in_the_kernels_order_and_shut_down_goes_back_to_UNMAP_FA()
    {
        using var rig = new ThreadRig();
        var trace = new AccessTracer();
        Mlx4Device d = rig.OpenDriver(new Mlx4DeviceOptions { Tracer = trace, CommandTimeout = TimeSpan.FromSeconds(60) });
        Assert.That(trace.Steps(), Is.EqualTo(KernelStartOrder));
        Mlx4ModelState up = rig.Model.Model.Snapshot();
        Assert.That((up.Phase, up.PortsUp, up.Rejected), Is.EqualTo(("HcaUp", "1,2", 0L)));

        trace.Accesses.Clear();
        d.ShutDown();
        Assert.That(trace.Steps(), Is.EqualTo(KernelStopOrder));
        Mlx4ModelState down = rig.Model.Model.Snapshot();
        Assert.That((down.Phase, down.PortsUp, down.Rejected), Is.EqualTo(("Reset", "", 0L)), down.LastError);
        Assert.That(d.BringUp.MemoryHeldByFirmware, Is.Zero, "the firmware gave every page back");
        Assert.That(OwnerRegister(rig.Device), Is.Zero, "mlx4_free_ownership wrote 0");
    }

    [Test]
    public void On_revision_2_the_port_caps_come_from_QUERY_DEV_CAP_per_port_and_INIT_PORT_gives_them_back_in_its_mailbox()
    {
        // fw.c: MLX4_FLAG_OLD_PORT_CMDS below MLX4_COMMAND_INTERFACE_NEW_PORT_CMDS; mlx4_QUERY_PORT then sends
        // QUERY_DEV_CAP (in_mod 0) for each port, and mlx4_INIT_PORT sends the caps it read.
        var cap = new Mlx4PortCap { MaxVl = 3, IbMtu = 4, PortWidth = 1, MaxGids = 128, MaxPkeys = 64 };
        using var rig = new ThreadRig(new Mlx4ModelConfig { CmdIfRev = 2, PortCap = cap }.Normalised());
        var trace = new AccessTracer();
        Mlx4Device d = rig.OpenDriver(new Mlx4DeviceOptions { Tracer = trace, CommandTimeout = TimeSpan.FromSeconds(60) });
        string[] expected = KernelStartOrder.Select(x => x.StartsWith("QUERY_PORT", StringComparison.Ordinal) ? "QUERY_DEV_CAP" : x).ToArray();
        Assert.That(trace.Steps(), Is.EqualTo(expected));
        Assert.That(d.BringUp.PortCaps.Skip(1), Is.EqualTo(new[] { cap, cap }));
        Mlx4ModelPort p1 = rig.Model.Model.Firmware.Ports[1];
        Assert.That((p1.Up, p1.InitMtu, p1.InitMaxGids), Is.EqualTo((true, (ushort)2048, (ushort)128)), "the model took the mailbox and checked it");
        Assert.That(rig.Model.Model.Snapshot().Rejected, Is.Zero);
        d.AddGid(1, 0, new GidEntry(Gid.Parse("2001:db8::1"), GidType.RoceV2, 2));
        d.Commit(1);
        Assert.That(rig.Model.Model.Snapshot().Table(1).Entries, Has.Count.EqualTo(1), "the GID path works on revision 2 too");
        d.ShutDown();
    }

    [Test]
    public void The_model_reads_its_port_caps_from_device_conf_and_says_what_is_wrong_with_a_bad_line()
    {
        using var dir = new RoceUio.Testing.TempDirectory("roceuio-mlx4-conf");
        var cap = new Mlx4PortCap { MaxVl = 2, IbMtu = 3, PortWidth = 1, MaxGids = 32, MaxPkeys = 16 };
        using (new Mlx4ModelConfig { PortCap = cap }.CreateDevice(dir.Path))
            Assert.That(Mlx4ModelConfig.Read(dir.Path).PortCap, Is.EqualTo(cap));
        string conf = Path.Combine(dir.Path, "device.conf");
        File.AppendAllText(conf, "mlx4_port_caps=4,5,3,100,128\n");
        var e = Assert.Throws<FormatException>(() => Mlx4ModelConfig.Read(dir.Path))!;
        Assert.That(e.Message, Does.Contain(conf).And.Contain("mlx4_port_caps=4,5,3,100,128").And.Contain("powers of two"));
    }

    [Test]
    public void The_firmware_area_is_the_size_QUERY_FW_asked_for_and_the_firmware_really_wrote_to_it_through_DMA()
    {
        using var rig = new ThreadRig(new Mlx4ModelConfig { FwPages = 24 });
        Mlx4Device d = rig.OpenDriver();
        DmaBuffer fa = d.BringUp.FirmwareArea!;
        Assert.That(d.Firmware.FwPages, Is.EqualTo(24));
        Assert.That(fa.Length, Is.EqualTo(24 * 4096));
        for (int page = 0; page < 24; page++)
            Assert.That(fa.Span.Slice(page * 4096, 8).ToArray(), Is.EqualTo(Mlx4FirmwareModel.AreaSignature.ToArray()), $"page {page}");
        Assert.That(rig.Model.Model.Firmware.AreaPages, Is.EqualTo(24));
    }

    [Test]
    public void RoCE_v2_is_enabled_per_port_only_with_v1_v2_and_the_GID_push_works_after_bring_up()
    {
        using var rig = new ThreadRig();
        Mlx4Device d = rig.OpenDriver();
        Assert.That((rig.Model.Model.Firmware.Ports[1].RoceV1V2, rig.Model.Model.Firmware.Ports[2].RoceV1V2), Is.EqualTo((true, true)),
            "SET_PORT general carried MLX4_SET_PORT_ROCE_V1_V2 on both ports");
        Assert.That(rig.Model.Model.Firmware.Ports[1].Mtu, Is.EqualTo(1526));
        d.AddGid(1, 0, new GidEntry(Gid.Parse("2001:db8::1"), GidType.RoceV2, 2));
        d.Commit(1);
        Assert.That(rig.Model.Model.Snapshot().Table(1).Entries.Single().Version, Is.EqualTo(2));

        using var v1 = new ThreadRig(new Mlx4ModelConfig { RoceV1V2 = false });
        v1.OpenDriver();
        Assert.That(v1.Model.Model.Firmware.Ports[1].RoceV1V2, Is.False, "no v1_v2 capability, no ROCE_2 flags");
    }

    [Test]
    public void A_second_driver_is_refused_while_one_owns_the_function_and_takes_it_once_the_first_let_go()
    {
        using var rig = new ThreadRig();
        Mlx4Device first = rig.OpenDriver();
        var e = Assert.Throws<RoceDeviceException>(() => rig.OpenDriver())!;
        Assert.That(e.Message, Does.Contain("owned by another driver").And.Contain("0x8069c"));
        Assert.That(rig.Model.Model.Snapshot().Resets, Is.EqualTo(1), "the refused driver touched nothing");

        first.Dispose(); // an emulated device keeps running; the semaphore is free again
        Assert.That(OwnerRegister(rig.Device), Is.Zero);
        Mlx4Device second = rig.OpenDriver();
        Mlx4ModelState s = rig.Model.Model.Snapshot();
        Assert.That((s.Resets, s.Phase, s.PortsUp), Is.EqualTo((2L, "HcaUp", "1,2")), "the second driver reset the running firmware and started it again");
        second.ShutDown();
    }

    [Test]
    public void A_bring_up_that_fails_at_INIT_HCA_tears_down_what_it_started_and_the_next_one_succeeds()
    {
        using var rig = new ThreadRig();
        rig.Model.Model.SetFaults(new Mlx4ModelFaults { Status = (byte)Mlx4Status.IcmError, StatusCount = 1, StatusOpcode = Mlx4FirmwareLayout.CmdInitHca });
        var trace = new AccessTracer();
        var e = Assert.Throws<Mlx4CommandException>(() => rig.OpenDriver(new Mlx4DeviceOptions { Tracer = trace, CommandTimeout = TimeSpan.FromSeconds(60) }))!;
        Assert.That(e.Message, Does.Contain("INIT_HCA").And.Contain("ICM_ERROR"));
        List<string> steps = trace.Steps();
        int failed = steps.IndexOf("INIT_HCA");
        Assert.That(steps.Skip(failed + 1), Is.EqualTo(Enumerable.Repeat("UNMAP_ICM", 14).Append("UNMAP_ICM_AUX").Append("UNMAP_FA")),
            "no CLOSE_HCA (INIT_HCA never succeeded), everything mapped unmapped in reverse");
        Mlx4ModelState s = rig.Model.Model.Snapshot();
        Assert.That((s.Phase, rig.Model.Model.Firmware.IcmPagesMapped, rig.Model.Model.Firmware.AuxPages), Is.EqualTo(("Reset", 0L, 0L)));
        Assert.That(OwnerRegister(rig.Device), Is.Zero, "ownership freed after the failed bring-up");

        Mlx4Device d = rig.OpenDriver();
        Assert.That(rig.Model.Model.Snapshot().Phase, Is.EqualTo("HcaUp"));
        d.ShutDown();
    }

    [Test]
    public void ShutDown_is_idempotent_and_a_shut_down_device_is_taken_again_by_the_next_run()
    {
        using var rig = new ThreadRig();
        Mlx4Device d = rig.OpenDriver();
        d.ShutDown();
        long accepted = rig.Model.Model.Snapshot().Accepted;
        d.ShutDown();
        d.Dispose();
        Assert.That(rig.Model.Model.Snapshot().Accepted, Is.EqualTo(accepted), "the second ShutDown and Dispose sent nothing");
        rig.OpenDriver().ShutDown();
    }

    [Test]
    public void A_refused_CLOSE_PORT_does_not_stop_the_teardown_the_error_names_it_and_a_second_teardown_finishes()
    {
        using var rig = new ThreadRig();
        var trace = new AccessTracer();
        Mlx4Device d = rig.OpenDriver(new Mlx4DeviceOptions { Tracer = trace, CommandTimeout = TimeSpan.FromSeconds(60) });
        rig.Model.Model.SetFaults(new Mlx4ModelFaults { Status = (byte)Mlx4Status.InternalErr, StatusCount = 1, StatusOpcode = Mlx4FirmwareLayout.CmdClosePort });
        trace.Accesses.Clear();

        var e = Assert.Throws<RoceDeviceException>(() => d.ShutDown())!;
        Assert.That(trace.Steps().Take(3), Is.EqualTo(new[] { "CLOSE_PORT 1", "CLOSE_PORT 2", "CLOSE_HCA" }),
            "the teardown went on after the refused CLOSE_PORT 1");
        Assert.That(e.Message, Does.StartWith("mlx4_0: shutting down: ").And.Contain("CLOSE_PORT").And.Contain("CLOSE_HCA")
            .And.EndWith("the firmware still holds memory, so the function stays owned (a later start resets it)"));
        Assert.That(OwnerRegister(rig.Device), Is.Not.Zero, "the function stays owned while the firmware holds memory");

        trace.Accesses.Clear();
        d.BringUp.ShutDown();   // the bring-up's teardown may run again: it sends only what is still up
        Assert.That(trace.Steps(), Is.EqualTo(KernelStopOrder.Where(s => s != "CLOSE_PORT 2")), "only what was still up: port 1, the HCA, every chunk");
        Assert.That((rig.Model.Model.Snapshot().Phase, d.BringUp.MemoryHeldByFirmware, OwnerRegister(rig.Device)), Is.EqualTo(("Reset", 0L, 0u)));
    }

    private static uint OwnerRegister(EmulatedDevice dev)
        => new MmioRegion(dev.Bar(0), 0, RegisterByteOrder.LittleEndian).Read32(Mlx4FirmwareLayout.OwnerOffset);
}
