using NUnit.Framework;
using RoceUio.Drivers.Mlx4;
using RoceUio.Drivers.Mlx4.Model;
using static RoceUio.Drivers.Mlx4.Mlx4FirmwareLayout;

namespace RoceUio.Drivers.Mlx4.Tests;

/// <summary>
/// The bring-up mailboxes byte by byte against the kernel's layouts (fw.c, port.c, mlx4.h, profile.c): each expected
/// byte string is written out by hand from the field offsets the comments cite.
/// </summary>
[TestFixture]
public class FirmwareMailboxGoldenTests
{
    private static string Hex(ReadOnlySpan<byte> b) => Convert.ToHexString(b);

    [Test]
    public void A_MAP_FA_entry_is_a_zero_qword_then_be64_address_or_log2_size_minus_12()
    {
        var box = new byte[32];
        Mlx4BringUp.WriteMapEntry(box, 0, null, 0x1_2345_6000, 12);            // fw.c mlx4_map_cmd, MAP_FA: virt = -1
        Mlx4BringUp.WriteMapEntry(box, 1, 0x1_0001_0000, 0x1_2345_8000, 15);   // MAP_ICM: pages[2n] = virt, 32 KiB page
        Assert.That(Hex(box), Is.EqualTo(
            "0000000000000000" + "0000000123456000" +
            "0000000100010000" + "0000000123458003"));
    }

    [Test]
    public void MOD_STAT_CFG_sets_log_pg_sz_m_at_2_and_log_pg_sz_at_3()
    {
        var box = new byte[4];
        Mlx4BringUp.WriteModStatCfg(box);
        Assert.That(Hex(box), Is.EqualTo("00000100"));
    }

    [Test]
    public void SET_PORT_general_has_all_valid_flags_mtu_and_global_pause_and_with_v1_v2_the_RoCE_2_flag_and_mode()
    {
        // struct mlx4_set_port_general_context: reserved1[2], flags2, flags, roce_mode, reserved2, be16 mtu, pptx, pfctx,
        // reserved3[2], pprx, pfcrx, reserved4[2].
        var v1v2 = new byte[16];
        Mlx4BringUp.WriteSetPortGeneral(v1v2, 1526, roceV1V2: true);
        Assert.That(Hex(v1v2), Is.EqualTo("00000017" + "200005F6" + "80000000" + "80000000"));
        var v1 = new byte[16];
        Mlx4BringUp.WriteSetPortGeneral(v1, 1526, roceV1V2: false);
        Assert.That(Hex(v1), Is.EqualTo("00000007" + "000005F6" + "80000000" + "80000000"));
    }

    [Test]
    public void INIT_PORT_for_revision_2_carries_flags_mtu_max_gids_and_max_pkeys_as_mlx4_INIT_PORT_puts_them()
    {
        // fw.c mlx4_INIT_PORT (MLX4_FLAG_OLD_PORT_CMDS): be32 INIT_PORT_FLAGS_OFFSET 0x00 = vl_cap << INIT_PORT_VL_SHIFT (4)
        // | port_width_cap << INIT_PORT_PORT_WIDTH_SHIFT (8); be16 INIT_PORT_MTU_OFFSET 0x04 = 128 << ib_mtu_cap; be16
        // INIT_PORT_MAX_GID_OFFSET 0x06 = gid_table_len; be16 INIT_PORT_MAX_PKEY_OFFSET 0x0a = pkey_table_len.
        var box = new byte[InitPortInSize];
        Mlx4BringUp.WriteInitPort(box, new Mlx4PortCap { MaxVl = 4, PortWidth = 3, IbMtu = 5, MaxGids = 128, MaxPkeys = 64 });
        Assert.That(Hex(box.AsSpan(0, 12)), Is.EqualTo("00000340" + "1000" + "0080" + "0000" + "0040"));
        Assert.That(box.AsSpan(12).ToArray(), Is.All.Zero, "nothing else: INIT_PORT_GUID0/NODE_GUID/SI_GUID are not set");
        var other = new byte[16];
        Mlx4BringUp.WriteInitPort(other, new Mlx4PortCap { MaxVl = 2, PortWidth = 1, IbMtu = 3, MaxGids = 32, MaxPkeys = 1 });
        Assert.That(Hex(other.AsSpan(0, 12)), Is.EqualTo("00000120" + "0400" + "0020" + "0000" + "0001"));
    }

    [Test]
    public void Revision_2_port_caps_are_read_from_QUERY_DEV_CAP_bytes_0x36_0x37_0x3b_0x3f_and_revision_3_from_QUERY_PORT()
    {
        // fw.c mlx4_QUERY_PORT, old port commands: QUERY_DEV_CAP_MTU_WIDTH_OFFSET 0x36 (ib_mtu << 4 | width),
        // QUERY_DEV_CAP_VL_PORT_OFFSET 0x37 (max_vl << 4 | num_ports), MAX_GID 0x3b and MAX_PKEY 0x3f (log2, low nibble).
        var devCap = new byte[0x100];
        devCap[0x36] = 0x43; devCap[0x37] = 0x32; devCap[0x3b] = 0x05; devCap[0x3f] = 0x06;
        Assert.That(Mlx4PortCap.ParseDevCap(devCap), Is.EqualTo(new Mlx4PortCap { IbMtu = 4, PortWidth = 3, MaxVl = 3, MaxGids = 32, MaxPkeys = 64 }));
        Assert.That(Mlx4DevCap.Parse(devCap).Ports, Is.EqualTo(2), "the low nibble of 0x37 stays the port count");
        // New port commands: QUERY_PORT_MTU_OFFSET 0x01, QUERY_PORT_WIDTH_OFFSET 0x06, QUERY_PORT_MAX_GID_PKEY_OFFSET 0x07
        // (log2 GIDs << 4 | log2 P_Keys), QUERY_PORT_MAX_VL_OFFSET 0x0b (low nibble).
        var port = new byte[0x100];
        port[0x01] = 0x05; port[0x06] = 0x03; port[0x07] = 0x77; port[0x0b] = 0x84;
        Assert.That(Mlx4PortCap.ParseQueryPort(port), Is.EqualTo(new Mlx4PortCap()), "the model's defaults: VL0-7, 4096, 1x|4x, 128, 128");
        var written = new byte[0x100];
        new Mlx4DevCap { Ports = 2 }.WriteTo(written);
        Assert.That(Hex(new[] { written[0x36], written[0x37], written[0x3b], written[0x3f] }), Is.EqualTo("53420707"));
    }

    [Test]
    public void QUERY_FW_fw_pages_share_the_first_qword_with_the_version()
    {
        var box = new byte[0x100];
        Convert.FromHexString("0040" + "0002" + "1388" + "002A").CopyTo(box, 0);
        var fw = Mlx4FirmwareInfo.Parse(box);
        Assert.That((fw.FwPages, fw.Version), Is.EqualTo(((ushort)0x40, "2.42.5000")));
        var back = new byte[0x100];
        new Mlx4ModelConfig().Firmware.WriteTo(back);
        Assert.That(Hex(back.AsSpan(0, 8)), Is.EqualTo("004000021388002A"));
    }

    [Test]
    public void The_board_id_comes_word_swapped_and_is_swapped_back()
    {
        var box = new byte[0x100 + 0x20 + 0xe0];
        Convert.FromHexString("315F544D" + "31303930" + "32303131" + "00000033").CopyTo(box, 0x20 + 0xd0);
        Assert.That(Mlx4BringUp.ReadBoardId(box), Is.EqualTo("MT_1090111023"));
        var model = new byte[box.Length];
        Mlx4FirmwareModel.WriteBoardId(model, "MT_1090111023");
        Assert.That(Hex(model.AsSpan(0xf0, 16)), Is.EqualTo(Hex(box.AsSpan(0xf0, 16))));
    }

    [Test]
    public void The_profile_sorts_tables_by_size_and_packs_them_as_mlx4_make_profile_does()
    {
        Mlx4IcmProfile p = Mlx4IcmProfile.Make(new Mlx4DevCap());
        // Sizes: cMPT 64 B x 2^26, MCG 1 KiB x 64, QPC 256 B x 128, CQC 64 B x 256, ALTC/AUXC 64 B x 128, then the
        // 4 KiB ones in request order (RDMARC, SRQ, EQ, dMPT, MTT): the bubble sort keeps equal sizes in order.
        Mlx4InitHcaParams h = p.InitHca;
        Assert.That(new[] { h.CmptBase, h.McBase, h.QpcBase, h.CqcBase, h.AltcBase, h.AuxcBase, h.RdmarcBase, h.SrqcBase, h.EqcBase, h.DmptBase, h.MttBase },
            Is.EqualTo(new ulong[] { 0, 0x1_0000_0000, 0x1_0001_0000, 0x1_0001_8000, 0x1_0001_c000, 0x1_0001_e000,
                0x1_0002_0000, 0x1_0002_1000, 0x1_0002_2000, 0x1_0002_3000, 0x1_0002_4000 }));
        Assert.That(p.IcmSize, Is.EqualTo(0x1_0002_5000UL));
        Assert.That((h.LogNumQps, h.LogNumSrqs, h.LogNumCqs, h.LogNumEqs, h.LogMptSize, h.LogRdPerQp), Is.EqualTo(((byte)7, (byte)7, (byte)8, (byte)5, (byte)5, (byte)0)));
        Assert.That((h.LogMcEntrySize, h.LogMcHashSize, h.LogMcTableSize, h.LogUarSize), Is.EqualTo(((byte)10, (byte)5, (byte)6, (byte)8)));
        // mlx4_init_icm maps each table's reserved chunk: all of these tables are smaller than a 256 KiB chunk.
        Assert.That(p.Tables.Select(t => (t.Name, t.MappedChunks().Single().Bytes)), Is.EqualTo(new[]
        {
            ("QP cMPT", 8192), ("SRQ cMPT", 8192), ("CQ cMPT", 16384), ("EQ cMPT", 4096), ("EQC", 4096), ("MTT", 4096),
            ("dMPT", 4096), ("QPC", 32768), ("AUXC", 8192), ("ALTC", 8192), ("RDMARC", 4096), ("CQC", 16384), ("SRQC", 4096), ("MCG", 65536),
        }));
        Assert.That(p.Tables[2].Virt, Is.EqualTo(2UL * 64 << 24), "the CQ region of cMPT: cmpt_base + (MLX4_CMPT_TYPE_CQ * entry) << MLX4_CMPT_SHIFT");
    }

    [Test]
    public void INIT_HCA_puts_each_base_and_its_log_size_in_one_qword_and_the_model_reads_them_back()
    {
        Mlx4IcmProfile p = Mlx4IcmProfile.Make(new Mlx4DevCap());
        var box = new byte[0x200];
        p.InitHca.WriteTo(box);
        string At(int off, int n = 8) => Hex(box.AsSpan(off, n));
        Assert.That(box[0x00], Is.EqualTo(2), "INIT_HCA_VERSION");
        Assert.That(box[0x0e], Is.EqualTo(0x50), "(ilog2(64) - 4) << 5 | 1 << 4");
        Assert.That(At(0x14, 4), Is.EqualTo("00000001"), "flags: UD address vector port check; little-endian host");
        Assert.That(At(0x30), Is.EqualTo("0000000100010007"), "QPC base, log_num_qps 7 in its last byte");
        Assert.That(At(0x48), Is.EqualTo("0000000100021007"), "SRQC base, log_num_srqs 7");
        Assert.That(At(0x50), Is.EqualTo("0000000100018008"), "CQC base, log_num_cqs 8");
        Assert.That(At(0x60), Is.EqualTo("000000010001C000"), "ALTC base");
        Assert.That(At(0x70), Is.EqualTo("000000010001E000"), "AUXC base");
        Assert.That(At(0x80), Is.EqualTo("0000000100022005"), "EQC base, log_num_eqs 5");
        Assert.That(At(0x90), Is.EqualTo("0000000100020000"), "RDMARC base, log_rd_per_qp 0");
        Assert.That(At(0xc0), Is.EqualTo("0000000100000000"), "MC base");
        Assert.That((box[0xd3], box[0xd7], box[0xdb]), Is.EqualTo(((byte)10, (byte)5, (byte)6)), "log MC entry, hash, table sizes");
        Assert.That(At(0xf0), Is.EqualTo("0000000100023000"), "dMPT base");
        Assert.That(box[0xfb], Is.EqualTo(5), "log_mpt_sz");
        Assert.That(At(0x100), Is.EqualTo("0000000100024000"), "MTT base");
        Assert.That(At(0x108), Is.EqualTo("0000000000000000"), "cMPT base");
        Assert.That((box[0x12a], box[0x12b]), Is.EqualTo(((byte)8, (byte)0)), "log_uar_sz (256 UARs of 4 KiB), uar_page_sz");
        Assert.That(Mlx4InitHcaParams.Parse(box), Is.EqualTo(p.InitHca), "masked as mlx4_QUERY_HCA does, the model reads what was meant");
    }

    [Test]
    public void SET_ICM_SIZE_posts_the_ICM_size_as_in_param_and_reads_the_aux_pages_from_out_param()
    {
        using var rig = new ThreadRig();
        var trace = new RecordingTracer();
        Mlx4Device d = rig.OpenDriver(new Mlx4DeviceOptions { Tracer = trace, CommandTimeout = TimeSpan.FromSeconds(60) });
        int dw6 = trace.Writes.FindIndex(w => w.Offset == 0x80698 && (w.Value & 0xfff) == Mlx4FirmwareLayout.CmdSetIcmSize);
        Assert.That(trace.Writes.Skip(dw6 - 6).Take(6).Select(w => w.Value), Is.EqualTo(new uint[] { 0x1, 0x00025000, 0, 0, 0, 0xFFFF0000 }));
        Assert.That(trace.Writes[dw6].Value & 0xFFDFFFFF, Is.EqualTo(0x00800FFDu), "GO | op_mod 0 | 0xffd (T either way)");
        Assert.That(d.BringUp.AuxPages, Is.EqualTo(33UL), "the model's one page per 128 MiB of 0x1_0002_5000 bytes");
        Assert.That(rig.Model.Model.Firmware.AuxPages, Is.EqualTo(33));
    }
}
