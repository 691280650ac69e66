using System.Buffers.Binary;
using NUnit.Framework;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Gids;
using static RoceUio.Drivers.Mlx4.Mlx4FirmwareLayout;

namespace RoceUio.Drivers.Mlx4.Tests;

/// <summary>
/// The model's firmware refuses what real firmware refuses, with the status the kernel would see: each case drives the
/// firmware with the driver's own steps (<see cref="Mlx4BringUp"/>) to the phase where the mistake can be made, then
/// sends the one wrong command by hand. Nothing the refused command asked for takes effect.
/// </summary>
[TestFixture]
public class FirmwareRefusalTests
{
    private static readonly TimeSpan T = TimeSpan.FromSeconds(10);

    private sealed class Stepper : IDisposable
    {
        public readonly ThreadRig Rig;
        public readonly Mlx4BringUp Up;

        public Stepper(Mlx4ModelConfig? config = null)
        {
            Rig = new ThreadRig(config);
            Up = new Mlx4BringUp("mlx4_0", Rig.Device.Bar(0), Rig.Device.Dma, new Mlx4DeviceOptions { CommandTimeout = T }, sharedMemory: true);
            Up.TakeOwnership();
            Up.Reset();
        }

        public Mlx4FirmwareModel Firmware => Rig.Model.Model.Firmware;
        public ulong Box => Up.Mailbox.DeviceAddress;
        public Span<byte> Mailbox => Up.Mailbox.Span;

        /// <summary>Sends a command by hand; returns its status and the model's reason.</summary>
        public (Mlx4Status Status, string Why) Send(ushort opcode, ulong inParam = 0, ulong outParam = 0, uint inMod = 0, byte opMod = 0)
        {
            byte st = Up.Hcr.ExecuteForStatus(inParam, outParam, inMod, opMod, opcode, T);
            return ((Mlx4Status)st, Rig.Model.Model.Snapshot().LastError);
        }

        /// <summary>One map entry in the mailbox.</summary>
        public void Entry(int n, ulong? virt, ulong addr, int lg)
        {
            if (n == 0)
                Mailbox.Clear();
            Mlx4BringUp.WriteMapEntry(Mailbox, n, virt, addr, lg);
        }

        public void ToRunning()
        {
            Up.StartFirmware();
            Up.QueryDevCap();
        }

        public void ToIcmMapped()
        {
            ToRunning();
            Up.MakeProfile();
            Up.SetIcmSize();
            Up.MapIcmAux();
            Up.MapIcmTables();
        }

        public void ToHcaUp()
        {
            ToIcmMapped();
            Up.InitHca();
            Up.QueryAdapter();
        }

        public void Dispose() => Rig.Dispose();
    }

    private static void AssertRefused((Mlx4Status Status, string Why) r, Mlx4Status status, string why)
    {
        Assert.That(r.Status, Is.EqualTo(status), r.Why);
        Assert.That(r.Why, Does.Contain(why));
    }

    // ---- phases ----

    [Test]
    public void QUERY_DEV_CAP_before_RUN_FW_is_BAD_SYS_STATE()
    {
        using var s = new Stepper();
        s.Up.QueryFirmware();
        AssertRefused(s.Send(Mlx4Layout.CmdQueryDevCap, outParam: s.Box), Mlx4Status.BadSysState, "needs a running firmware");
    }

    [Test]
    public void RUN_FW_without_a_firmware_area_is_BAD_SYS_STATE()
    {
        using var s = new Stepper();
        s.Up.QueryFirmware();
        AssertRefused(s.Send(CmdRunFw), Mlx4Status.BadSysState, "no firmware area was mapped");
        Assert.That(s.Firmware.Phase, Is.EqualTo(Mlx4FirmwarePhase.Reset));
    }

    [Test]
    public void RUN_FW_with_fewer_pages_than_QUERY_FW_asked_for_is_BAD_SYS_STATE()
    {
        using var s = new Stepper(new Mlx4ModelConfig { FwPages = 8 });
        s.Up.QueryFirmware();
        var area = s.Rig.Device.Dma.Allocate(4 * 4096, 4 * 4096);
        s.Entry(0, null, area.DeviceAddress, 14); // one 16 KiB entry: 4 of 8 pages
        Assert.That(s.Send(CmdMapFa, s.Box, inMod: 1).Status, Is.EqualTo(Mlx4Status.Ok));
        AssertRefused(s.Send(CmdRunFw), Mlx4Status.BadSysState, "MAP_FA gave 4 of the 8 pages");
    }

    [Test]
    public void RUN_FW_over_a_firmware_area_the_host_wrote_over_is_BAD_NVMEM()
    {
        using var s = new Stepper(new Mlx4ModelConfig { FwPages = 4 });
        s.Up.QueryFirmware();
        s.Up.MapFirmwareArea();
        s.Up.FirmwareArea!.Span.Slice(2 * 4096, 8).Clear(); // a driver bug: the area is the firmware's from MAP_FA on
        AssertRefused(s.Send(CmdRunFw), Mlx4Status.BadNvmem, $"firmware area page 0x{s.Up.FirmwareArea.DeviceAddress + 2 * 4096:x} no longer holds");
        Assert.That(s.Firmware.Phase, Is.EqualTo(Mlx4FirmwarePhase.AreaMapped));
    }

    [Test]
    public void MAP_FA_after_RUN_FW_is_BAD_SYS_STATE()
    {
        using var s = new Stepper();
        s.Up.StartFirmware();
        var page = s.Rig.Device.Dma.Allocate(4096);
        s.Entry(0, null, page.DeviceAddress, 12);
        AssertRefused(s.Send(CmdMapFa, s.Box, inMod: 1), Mlx4Status.BadSysState, "before RUN_FW only");
    }

    [Test]
    public void MOD_STAT_CFG_with_another_page_size_is_BAD_PARAM()
    {
        using var s = new Stepper();
        s.Up.QueryFirmware();
        s.Up.MapFirmwareArea();
        s.Up.RunFirmware();
        s.Mailbox.Clear();
        s.Mailbox[ModStatCfgPgSzM] = 1;
        s.Mailbox[ModStatCfgPgSz] = 4;
        AssertRefused(s.Send(CmdModStatCfg, s.Box), Mlx4Status.BadParam, "log_pg_sz 4");
        Assert.That(s.Firmware.ModStatCfgSeen, Is.False);
    }

    // ---- page lists ----

    [Test]
    public void A_page_not_aligned_to_its_size_is_BAD_PARAM()
    {
        using var s = new Stepper();
        s.Up.QueryFirmware();
        var area = s.Rig.Device.Dma.Allocate(3 * 4096, 4096);
        // An odd page number claimed as an 8 KiB page: aligned to 4 KiB, not to its size.
        ulong odd = area.DeviceAddress / 4096 % 2 == 1 ? area.DeviceAddress : area.DeviceAddress + 4096;
        s.Entry(0, null, odd, 13);
        AssertRefused(s.Send(CmdMapFa, s.Box, inMod: 1), Mlx4Status.BadParam, "is not aligned to its size");
        Assert.That(s.Firmware.AreaPages, Is.Zero);
    }

    [Test]
    public void A_page_outside_the_DMA_memory_is_BAD_PARAM()
    {
        using var s = new Stepper();
        s.Up.QueryFirmware();
        s.Entry(0, null, s.Rig.Device.Dma.BaseAddress + (ulong)s.Rig.Device.Dma.Length, 12);
        AssertRefused(s.Send(CmdMapFa, s.Box, inMod: 1), Mlx4Status.BadParam, "outside the device's DMA memory");
    }

    [Test]
    public void A_page_list_of_more_than_256_entries_is_BAD_PARAM()
    {
        using var s = new Stepper();
        s.Up.QueryFirmware();
        AssertRefused(s.Send(CmdMapFa, s.Box, inMod: 257), Mlx4Status.BadParam, "1..256 entries");
    }

    // ---- ICM ----

    [Test]
    public void SET_ICM_SIZE_beyond_the_devices_ICM_is_BAD_PARAM()
    {
        using var s = new Stepper();
        s.ToRunning();
        AssertRefused(s.Send(CmdSetIcmSize, inParam: s.Up.DevCap.MaxIcmSize + 4096), Mlx4Status.BadParam, "max_icm_sz");
    }

    [Test]
    public void MAP_ICM_before_the_aux_memory_is_mapped_is_BAD_SYS_STATE()
    {
        using var s = new Stepper();
        s.ToRunning();
        s.Up.MakeProfile();
        s.Up.SetIcmSize();
        var chunk = s.Rig.Device.Dma.Allocate(4096);
        s.Entry(0, 0, chunk.DeviceAddress, 12);
        AssertRefused(s.Send(CmdMapIcm, s.Box, inMod: 1), Mlx4Status.BadSysState, "aux pages SET_ICM_SIZE asked for");
    }

    [Test]
    public void MAP_ICM_past_the_ICM_size_is_BAD_PARAM()
    {
        using var s = new Stepper();
        s.ToRunning();
        s.Up.MakeProfile();
        s.Up.SetIcmSize();
        s.Up.MapIcmAux();
        var chunk = s.Rig.Device.Dma.Allocate(4096);
        s.Entry(0, (s.Up.Profile.IcmSize + 4095) & ~4095UL, chunk.DeviceAddress, 12);
        AssertRefused(s.Send(CmdMapIcm, s.Box, inMod: 1), Mlx4Status.BadParam, "past the ICM size");
        Assert.That(s.Firmware.IcmPagesMapped, Is.Zero);
    }

    [Test]
    public void INIT_HCA_with_a_table_whose_reserved_entries_are_not_mapped_is_ICM_ERROR()
    {
        using var s = new Stepper();
        s.ToRunning();
        s.Up.MakeProfile();
        s.Up.SetIcmSize();
        s.Up.MapIcmAux();
        s.Up.MapIcmTables();
        Mlx4IcmTable qpc = s.Up.Profile.Tables.Single(t => t.Name == "QPC");
        Assert.That(s.Send(CmdUnmapIcm, qpc.Virt, inMod: 1).Status, Is.EqualTo(Mlx4Status.Ok), "take the QPC's first page away again");
        s.Mailbox.Clear();
        s.Up.Profile.InitHca.WriteTo(s.Mailbox);
        AssertRefused(s.Send(CmdInitHca, s.Box), Mlx4Status.IcmError, "QPC: its 64 reserved entries");
        Assert.That(s.Firmware.Phase, Is.EqualTo(Mlx4FirmwarePhase.Running));
    }

    [Test]
    public void INIT_HCA_with_another_version_is_BAD_PARAM()
    {
        using var s = new Stepper();
        s.ToIcmMapped();
        s.Mailbox.Clear();
        s.Up.Profile.InitHca.WriteTo(s.Mailbox);
        s.Mailbox[InitHcaVersionOffset] = 1;
        AssertRefused(s.Send(CmdInitHca, s.Box), Mlx4Status.BadParam, "version 1");
    }

    [Test]
    public void INIT_HCA_with_more_QPs_than_the_device_has_is_BAD_PARAM()
    {
        using var s = new Stepper();
        s.ToIcmMapped();
        s.Mailbox.Clear();
        (s.Up.Profile.InitHca with { LogNumQps = 18 }).WriteTo(s.Mailbox);
        AssertRefused(s.Send(CmdInitHca, s.Box), Mlx4Status.BadParam, "log_num_qps 18: QUERY_DEV_CAP allows 131072");
    }

    // ---- ports ----

    [Test]
    public void INIT_PORT_before_SET_PORT_general_is_BAD_SYS_STATE()
    {
        using var s = new Stepper();
        s.ToHcaUp();
        AssertRefused(s.Send(CmdInitPort, inMod: 1), Mlx4Status.BadSysState, "no SET_PORT general");
        Assert.That(s.Firmware.Ports[1].Up, Is.False);
    }

    // ---- command interface revision 2 (MLX4_FLAG_OLD_PORT_CMDS) ----

    private static readonly Mlx4ModelConfig Rev2 = new Mlx4ModelConfig { CmdIfRev = 2 }.Normalised();

    /// <summary>A revision-2 firmware with the HCA up and port 1's SET_PORT general given, and the mailbox holding the
    /// INIT_PORT the kernel would send, changed by <paramref name="change"/>.</summary>
    private static Stepper Rev2InitPort(Action<Span<byte>> change)
    {
        var s = new Stepper(Rev2);
        s.ToHcaUp();
        s.Up.SetPortGeneral(1);
        s.Mailbox.Clear();
        Mlx4BringUp.WriteInitPort(s.Mailbox, s.Up.PortCaps[1]);
        change(s.Mailbox);
        return s;
    }

    [Test]
    public void Revision_2_INIT_PORT_without_a_mailbox_is_BAD_PARAM()
    {
        using var s = Rev2InitPort(_ => { });
        AssertRefused(s.Send(CmdInitPort, inMod: 1), Mlx4Status.BadParam, "revision 2 takes INIT_PORT with a mailbox");
        Assert.That(s.Firmware.Ports[1].Up, Is.False);
    }

    [Test]
    public void Revision_2_INIT_PORT_as_the_kernel_fills_it_is_taken()
    {
        using var s = Rev2InitPort(_ => { });
        Assert.That(s.Send(CmdInitPort, s.Box, inMod: 1).Status, Is.EqualTo(Mlx4Status.Ok));
        Assert.That((s.Firmware.Ports[1].Up, s.Firmware.Ports[1].InitMtu, s.Firmware.Ports[1].InitMaxGids), Is.EqualTo((true, (ushort)4096, (ushort)128)));
    }

    private static void Be16(Span<byte> b, int off, int v) => BinaryPrimitives.WriteUInt16BigEndian(b[off..], (ushort)v);
    private static void Be32(Span<byte> b, int off, uint v) => BinaryPrimitives.WriteUInt32BigEndian(b[off..], v);

    [TestCase(0x00000040u | 0x300 | InitPortFlagG0, "only the VL cap (bits 7:4) and the width cap (bits 11:8)", TestName = "Revision_2_INIT_PORT_with_the_G0_flag_is_BAD_PARAM")]
    [TestCase(0x00000300u, "VL cap 0", TestName = "Revision_2_INIT_PORT_with_VL_cap_0_is_BAD_PARAM")]
    [TestCase(0x00000350u, "VL cap 5: QUERY_DEV_CAP reported 1..4", TestName = "Revision_2_INIT_PORT_with_a_VL_cap_above_the_reported_one_is_BAD_PARAM")]
    [TestCase(0x00000040u, "width cap 0x0", TestName = "Revision_2_INIT_PORT_with_no_width_is_BAD_PARAM")]
    [TestCase(0x00000440u, "width cap 0x4: QUERY_DEV_CAP reported the mask 0x3", TestName = "Revision_2_INIT_PORT_with_a_width_the_port_lacks_is_BAD_PARAM")]
    public void Revision_2_INIT_PORT_flags_outside_the_reported_caps_are_BAD_PARAM(uint flags, string why)
    {
        using var s = Rev2InitPort(b => Be32(b, InitPortFlags, flags));
        AssertRefused(s.Send(CmdInitPort, s.Box, inMod: 1), Mlx4Status.BadParam, why);
        Assert.That(s.Firmware.Ports[1].Up, Is.False);
    }

    [TestCase(InitPortMtu, 8192, "mtu 8192: 128 << ib_mtu_cap, 256..4096", TestName = "Revision_2_INIT_PORT_with_an_MTU_above_the_reported_one_is_BAD_PARAM")]
    [TestCase(InitPortMtu, 1500, "mtu 1500", TestName = "Revision_2_INIT_PORT_with_an_MTU_that_is_no_IB_MTU_is_BAD_PARAM")]
    [TestCase(InitPortMtu, 0, "mtu 0", TestName = "Revision_2_INIT_PORT_without_an_MTU_is_BAD_PARAM")]
    [TestCase(InitPortMaxGid, 256, "max GIDs 256: QUERY_DEV_CAP reported 128", TestName = "Revision_2_INIT_PORT_with_more_GIDs_than_reported_is_BAD_PARAM")]
    [TestCase(InitPortMaxGid, 0, "max GIDs 0", TestName = "Revision_2_INIT_PORT_without_a_GID_table_is_BAD_PARAM")]
    [TestCase(InitPortMaxPkey, 129, "max P_Keys 129: QUERY_DEV_CAP reported 128", TestName = "Revision_2_INIT_PORT_with_more_P_Keys_than_reported_is_BAD_PARAM")]
    [TestCase(InitPortMaxPkey, 0, "max P_Keys 0", TestName = "Revision_2_INIT_PORT_without_a_P_Key_table_is_BAD_PARAM")]
    public void Revision_2_INIT_PORT_sizes_outside_the_reported_caps_are_BAD_PARAM(int offset, int value, string why)
    {
        using var s = Rev2InitPort(b => Be16(b, offset, value));
        AssertRefused(s.Send(CmdInitPort, s.Box, inMod: 1), Mlx4Status.BadParam, why);
        Assert.That(s.Firmware.Ports[1].Up, Is.False);
    }

    [Test]
    public void QUERY_PORT_on_revision_2_is_BAD_OP()
    {
        using var s = new Stepper(Rev2);
        s.ToRunning();
        AssertRefused(s.Send(CmdQueryPort, outParam: s.Box, inMod: 1), Mlx4Status.BadOp, "revision 2 has no QUERY_PORT");
    }

    [Test]
    public void SET_PORT_general_without_all_valid_flags_is_BAD_PARAM()
    {
        using var s = new Stepper();
        s.ToHcaUp();
        s.Mailbox.Clear();
        Mlx4BringUp.WriteSetPortGeneral(s.Mailbox, 1526, roceV1V2: true);
        s.Mailbox[GeneralFlags] = GeneralRoce2Flags | 0x01;
        AssertRefused(s.Send(Mlx4Layout.CmdSetPort, s.Box, inMod: 0x001, opMod: 1), Mlx4Status.BadParam, "flags 0x11");
    }

    [Test]
    public void A_GID_table_before_INIT_PORT_is_BAD_SYS_STATE()
    {
        using var s = new Stepper();
        s.ToHcaUp();
        s.Up.SetPortGeneral(1);
        s.Mailbox.Clear();
        AssertRefused(s.Send(Mlx4Layout.CmdSetPort, s.Box, inMod: 0xD01, opMod: 1), Mlx4Status.BadSysState, "port 1 is not up (INIT_PORT)");
    }

    [Test]
    public void A_RoCE_v2_entry_on_a_port_whose_SET_PORT_general_did_not_enable_v1_v2_is_BAD_PARAM()
    {
        using var s = new Stepper();
        s.ToHcaUp();
        s.Mailbox.Clear();
        Mlx4BringUp.WriteSetPortGeneral(s.Mailbox, 1526, roceV1V2: false); // what a driver without the v1_v2 step sends
        Assert.That(s.Send(Mlx4Layout.CmdSetPort, s.Box, inMod: 0x001, opMod: 1).Status, Is.EqualTo(Mlx4Status.Ok));
        s.Up.InitPort(1);
        s.Mailbox.Clear();
        Mlx4GidTable.WriteEntry(Mlx4GidFormat.RoceAddr, s.Mailbox[..32], Gid.Parse("2001:db8::1"), GidType.RoceV2);
        AssertRefused(s.Send(Mlx4Layout.CmdSetPort, s.Box, inMod: 0xD01, opMod: 1), Mlx4Status.BadParam, "RoCE v2 is not enabled on port 1");
        Assert.That(s.Rig.Model.Model.Snapshot().Table(1).Entries, Is.Empty);
    }

    // ---- teardown out of order ----

    [Test]
    public void CLOSE_HCA_with_a_port_up_is_BAD_SYS_STATE()
    {
        using var s = new Stepper();
        s.ToHcaUp();
        s.Up.StartPort(1);
        AssertRefused(s.Send(CmdCloseHca), Mlx4Status.BadSysState, "port 1 is still up: CLOSE_PORT comes first");
        Assert.That(s.Firmware.Phase, Is.EqualTo(Mlx4FirmwarePhase.HcaUp));
    }

    [Test]
    public void UNMAP_FA_while_the_HCA_is_up_is_BAD_SYS_STATE()
    {
        using var s = new Stepper();
        s.ToHcaUp();
        AssertRefused(s.Send(CmdUnmapFa), Mlx4Status.BadSysState, "CLOSE_HCA comes first");
    }

    [Test]
    public void UNMAP_ICM_while_the_HCA_is_up_is_BAD_SYS_STATE()
    {
        using var s = new Stepper();
        s.ToHcaUp();
        AssertRefused(s.Send(CmdUnmapIcm, s.Up.Profile.Tables[0].Virt, inMod: 64), Mlx4Status.BadSysState, "until CLOSE_HCA");
    }

    [Test]
    public void UNMAP_ICM_AUX_while_context_memory_is_mapped_is_BAD_SYS_STATE()
    {
        using var s = new Stepper();
        s.ToIcmMapped();
        AssertRefused(s.Send(CmdUnmapIcmAux), Mlx4Status.BadSysState, "UNMAP_ICM comes first");
        Assert.That(s.Firmware.AuxPages, Is.GreaterThan(0));
    }

    [Test]
    public void CLOSE_PORT_of_a_port_that_is_down_is_taken_as_mlx4_unload_one_sends_it()
    {
        // mlx4_unload_one: for every port mlx4_CLOSE_PORT, after mlx4_en_stop_port closed the ports it had opened.
        using var s = new Stepper();
        s.ToHcaUp();
        s.Up.StartPort(1);
        Assert.That(s.Send(CmdClosePort, inMod: 1).Status, Is.EqualTo(Mlx4Status.Ok), "mlx4_en_stop_port");
        Assert.That(s.Send(CmdClosePort, inMod: 1).Status, Is.EqualTo(Mlx4Status.Ok), "mlx4_unload_one, port 1 again");
        Assert.That(s.Send(CmdClosePort, inMod: 2).Status, Is.EqualTo(Mlx4Status.Ok), "mlx4_unload_one, port 2 never opened");
        Assert.That(s.Firmware.Ports[1].Up || s.Firmware.Ports[2].Up, Is.False);
        Assert.That(s.Send(CmdCloseHca).Status, Is.EqualTo(Mlx4Status.Ok));
    }
    // ---- every other phase and mailbox refusal of the firmware model ----

    public enum At { Reset, Running, IcmMapped, HcaUp }

    private static Stepper StepTo(At at, Mlx4ModelConfig? config = null)
    {
        var s = new Stepper(config);
        switch (at)
        {
            case At.Running: s.ToRunning(); break;
            case At.IcmMapped: s.ToIcmMapped(); break;
            case At.HcaUp: s.ToHcaUp(); break;
        }
        return s;
    }

    [TestCase(At.Reset, CmdModStatCfg, "MOD_STAT_CFG comes after RUN_FW and before INIT_HCA", TestName = "MOD_STAT_CFG_before_RUN_FW_is_BAD_SYS_STATE")]
    [TestCase(At.HcaUp, CmdModStatCfg, "MOD_STAT_CFG comes after RUN_FW and before INIT_HCA", TestName = "MOD_STAT_CFG_after_INIT_HCA_is_BAD_SYS_STATE")]
    [TestCase(At.Reset, CmdSetIcmSize, "SET_ICM_SIZE comes after RUN_FW and before INIT_HCA", TestName = "SET_ICM_SIZE_before_RUN_FW_is_BAD_SYS_STATE")]
    [TestCase(At.Running, CmdMapIcmAux, "MAP_ICM_AUX needs SET_ICM_SIZE first", TestName = "MAP_ICM_AUX_before_SET_ICM_SIZE_is_BAD_SYS_STATE")]
    [TestCase(At.Running, CmdQueryAdapter, "QUERY_ADAPTER comes after INIT_HCA", TestName = "QUERY_ADAPTER_before_INIT_HCA_is_BAD_SYS_STATE")]
    [TestCase(At.IcmMapped, CmdInitPort, "INIT_PORT comes after INIT_HCA", TestName = "INIT_PORT_before_INIT_HCA_is_BAD_SYS_STATE")]
    [TestCase(At.IcmMapped, CmdClosePort, "CLOSE_PORT needs an initialised HCA", TestName = "CLOSE_PORT_before_INIT_HCA_is_BAD_SYS_STATE")]
    [TestCase(At.IcmMapped, CmdCloseHca, "the HCA is not initialised", TestName = "CLOSE_HCA_before_INIT_HCA_is_BAD_SYS_STATE")]
    [TestCase(At.Reset, CmdUnmapFa, "no firmware area is mapped", TestName = "UNMAP_FA_after_a_reset_is_BAD_SYS_STATE")]
    [TestCase(At.IcmMapped, CmdUnmapFa, "or aux", TestName = "UNMAP_FA_with_ICM_and_aux_still_mapped_is_BAD_SYS_STATE")]
    [TestCase(At.IcmMapped, CmdConfigDev, "CONFIG_DEV configures an initialised HCA", TestName = "CONFIG_DEV_before_INIT_HCA_is_BAD_SYS_STATE")]
    [TestCase(At.IcmMapped, CmdVirtPortMap, "the port map is set on an initialised HCA", TestName = "VIRT_PORT_MAP_before_INIT_HCA_is_BAD_SYS_STATE")]
    public void A_command_out_of_its_phase_is_BAD_SYS_STATE(At at, ushort opcode, string why)
    {
        using var s = StepTo(at);
        if (at == At.Reset)
            s.Up.QueryFirmware();
        s.Mailbox.Clear();
        Mlx4FirmwarePhase before = s.Firmware.Phase;
        byte opMod = opcode == CmdVirtPortMap ? SetPortVirt2Phy : (byte)0;
        AssertRefused(s.Send(opcode, s.Box, inMod: opcode is CmdInitPort or CmdClosePort ? 1u : 0u, opMod: opMod), Mlx4Status.BadSysState, why);
        Assert.That(s.Firmware.Phase, Is.EqualTo(before), "nothing changed");
    }

    [Test]
    public void INIT_PORT_of_a_port_that_is_already_up_is_BAD_SYS_STATE()
    {
        using var s = StepTo(At.HcaUp);
        s.Up.StartPort(1);
        AssertRefused(s.Send(CmdInitPort, inMod: 1), Mlx4Status.BadSysState, "port 1 is already up");
    }

    [Test]
    public void SET_ICM_SIZE_of_zero_is_BAD_PARAM()
    {
        using var s = StepTo(At.Running);
        AssertRefused(s.Send(CmdSetIcmSize, inParam: 0), Mlx4Status.BadParam, "ICM size 0x0 is not in 1..");
    }

    [Test]
    public void A_MAP_FA_entry_whose_size_field_has_bits_beyond_5_0_is_BAD_PARAM()
    {
        using var s = new Stepper();
        s.Up.QueryFirmware();
        var area = s.Rig.Device.Dma.Allocate(4096, 4096);
        s.Entry(0, null, area.DeviceAddress, 12);
        s.Mailbox[15] |= 0x40; // log2 size - 12 lives in bits 5:0 of the second qword
        AssertRefused(s.Send(CmdMapFa, s.Box, inMod: 1), Mlx4Status.BadParam, "entry 0: size field 0x040");
        Assert.That(s.Firmware.AreaPages, Is.Zero);
    }

    [Test]
    public void INIT_HCA_with_a_table_past_the_ICM_size_is_BAD_PARAM()
    {
        using var s = StepTo(At.IcmMapped);
        s.Mailbox.Clear();
        (s.Up.Profile.InitHca with { DmptBase = s.Up.Profile.IcmSize }).WriteTo(s.Mailbox);
        AssertRefused(s.Send(CmdInitHca, s.Box), Mlx4Status.BadParam, $"passes the ICM size 0x{s.Up.Profile.IcmSize:x} (SET_ICM_SIZE)");
        Assert.That(s.Firmware.Phase, Is.EqualTo(Mlx4FirmwarePhase.Running));
    }

    [Test]
    public void CONFIG_DEV_get_is_not_emulated_and_is_BAD_PARAM()
    {
        using var s = StepTo(At.HcaUp);
        s.Mailbox.Clear();
        Mlx4BringUp.WriteRoceV2Port(s.Mailbox, 4791);
        AssertRefused(s.Send(CmdConfigDev, s.Box, opMod: 1), Mlx4Status.BadParam, "op_mod 1 in_mod 0: only the set");
        Assert.That(s.Firmware.RoceV2UdpPort, Is.Zero);
    }

    [Test]
    public void VIRT_PORT_MAP_on_a_one_port_device_is_BAD_PARAM()
    {
        using var s = StepTo(At.HcaUp, new Mlx4ModelConfig { Ports = 1 });
        s.Mailbox.Clear();
        Mlx4Lag.WritePortMap(s.Mailbox, Mlx4PortMap.Identity);
        AssertRefused(s.Send(CmdVirtPortMap, s.Box, opMod: SetPortVirt2Phy), Mlx4Status.BadParam, "a one-port device has no port map");
    }
}
