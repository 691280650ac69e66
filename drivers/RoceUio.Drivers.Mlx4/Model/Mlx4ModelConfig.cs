using System.Globalization;
using RoceUio.Hardware;
using RoceUio.Hardware.Emulation;

namespace RoceUio.Drivers.Mlx4.Model;

/// <summary>
/// What the emulated ConnectX-3 is. Read from <c>device.conf</c> keys next to the generic ones
/// (docs/driver-guide.md): <c>mlx4_ports</c> (1 or 2, default 2), <c>mlx4_roce_v1_v2</c> (0 or 1, default 1: QUERY_DEV_CAP
/// advertises bmme bit 19 and SET_PORT ROCE_ADDR is accepted), <c>mlx4_cmd_if_rev</c> (default 3),
/// <c>mlx4_fw_pages</c> (the firmware area QUERY_FW asks for, in 4 KiB pages; default 64), <c>mlx4_port_remap</c>
/// and <c>mlx4_config_dev</c> (0 or 1, default 1: QUERY_DEV_CAP advertises PORT_REMAP, bmme bit 24, and CONFIG_DEV),
/// <c>mlx4_port_caps</c> (VL cap, IB MTU, width mask, GIDs, P_Keys of every port; default <c>4,5,3,128,128</c>).
/// </summary>
public sealed record Mlx4ModelConfig
{
    public int Ports { get; init; } = 2;
    public bool RoceV1V2 { get; init; } = true;
    /// <summary>QUERY_DEV_CAP advertises PORT_REMAP (bmme bit 24: RoCE LAG, VIRT_PORT_MAP); key <c>mlx4_port_remap</c>.</summary>
    public bool PortRemap { get; init; } = true;
    /// <summary>QUERY_DEV_CAP advertises CONFIG_DEV (0x94 bit 5); key <c>mlx4_config_dev</c>.</summary>
    public bool ConfigDev { get; init; } = true;
    public ushort CmdIfRev { get; init; } = 3;
    /// <summary>The firmware area QUERY_FW asks for (4 KiB pages; a real ConnectX-3 asks for a few MiB).</summary>
    public ushort FwPages { get; init; } = 64;
    /// <summary>The firmware QUERY_FW reports (2.42.5000, a late ConnectX-3 release).</summary>
    public Mlx4FirmwareInfo Firmware { get; init; } = new(2, 42, 5000, 3, 4) { FwPages = 64 };
    /// <summary>QUERY_ADAPTER's board id (a ConnectX-3 Pro EN's).</summary>
    public string BoardId { get; init; } = "MT_1090111023";

    /// <summary>Every port's caps (QUERY_PORT from revision 3, QUERY_DEV_CAP's port bytes on revision 2), which a
    /// revision-2 INIT_PORT must stay within.</summary>
    public Mlx4PortCap PortCap { get; init; } = new();

    /// <summary>What QUERY_DEV_CAP reports: <see cref="Mlx4DevCap"/>'s defaults with these ports and v1_v2 bit.</summary>
    public Mlx4DevCap DevCap => new()
    {
        Ports = Ports,
        OldPortCap = PortCap,
        BmmeFlags = (RoceV1V2 ? Mlx4Layout.BmmeFlagRoceV1V2 : 0) | (PortRemap ? Mlx4FirmwareLayout.BmmeFlagPortRemap : 0)
                    | (ConfigDev ? Mlx4FirmwareLayout.BmmeFlagConfigDev : 0),
    };

    /// <summary>The aux pages SET_ICM_SIZE answers: one 4 KiB page per 128 MiB of ICM, at least one (the model's rule;
    /// real firmware's ratio is its own).</summary>
    public ulong AuxPagesFor(ulong icmSize) => Math.Max(1, (icmSize + (1UL << 27) - 1) >> 27);

    public const string PortsKey = "mlx4_ports", RoceV1V2Key = "mlx4_roce_v1_v2", CmdIfRevKey = "mlx4_cmd_if_rev", FwPagesKey = "mlx4_fw_pages",
        PortRemapKey = "mlx4_port_remap", ConfigDevKey = "mlx4_config_dev", PortCapsKey = "mlx4_port_caps";

    /// <summary>Reads the mlx4 keys of <c>DIR/device.conf</c>; absent keys keep their defaults.</summary>
    public static Mlx4ModelConfig Read(string dir)
    {
        string conf = Path.Combine(dir, "device.conf");
        var c = new Mlx4ModelConfig();
        foreach (string raw in File.ReadAllLines(conf))
        {
            string line = raw.Trim();
            int eq = line.IndexOf('=');
            if (line.StartsWith('#') || eq <= 0)
                continue;
            string key = line[..eq].Trim(), value = line[(eq + 1)..].Trim();
            int Int() => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v
                : throw new FormatException($"{conf}: '{key}={value}' is not a number");
            switch (key)
            {
                case PortsKey:
                    int ports = Int();
                    if (ports is < 1 or > Mlx4Layout.MaxPorts)
                        throw new FormatException($"{conf}: {key}={value}: mlx4 has 1 or 2 ports");
                    c = c with { Ports = ports };
                    break;
                case RoceV1V2Key:
                    c = c with { RoceV1V2 = Int() switch { 0 => false, 1 => true, _ => throw new FormatException($"{conf}: {key}={value}: use 0 or 1") } };
                    break;
                case PortRemapKey:
                    c = c with { PortRemap = Int() switch { 0 => false, 1 => true, _ => throw new FormatException($"{conf}: {key}={value}: use 0 or 1") } };
                    break;
                case ConfigDevKey:
                    c = c with { ConfigDev = Int() switch { 0 => false, 1 => true, _ => throw new FormatException($"{conf}: {key}={value}: use 0 or 1") } };
                    break;
                case CmdIfRevKey:
                    c = c with { CmdIfRev = (ushort)Int() };
                    break;
                case PortCapsKey:
                    c = c with { PortCap = ParsePortCaps(conf, key, value) };
                    break;
                case FwPagesKey:
                    int pages = Int();
                    if (pages is < 1 or > 0xffff)
                        throw new FormatException($"{conf}: {key}={value}: QUERY_FW's fw_pages is 1..65535");
                    c = c with { FwPages = (ushort)pages };
                    break;
            }
        }
        return c.Normalised();
    }

    /// <summary><c>mlx4_port_caps=VL,IB_MTU,WIDTH,GIDS,PKEYS</c>: the VL cap (1..5), the IB MTU (1..5 = 256..4096), the
    /// width mask (1..15), and the GID and P_Key table sizes (powers of two, 1..32768).</summary>
    private static Mlx4PortCap ParsePortCaps(string conf, string key, string value)
    {
        string[] f = value.Split(',');
        int[] v = new int[f.Length];
        for (int i = 0; i < f.Length; i++)
            if (!int.TryParse(f[i].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out v[i]))
                v = [];
        static bool Pow2(int x) => x is >= 1 and <= 1 << 15 && (x & (x - 1)) == 0;
        if (v.Length != 5 || v[0] is < 1 or > 5 || v[1] is < 1 or > 5 || v[2] is < 1 or > 15 || !Pow2(v[3]) || !Pow2(v[4]))
            throw new FormatException($"{conf}: '{key}={value}': use VL,IB_MTU,WIDTH,GIDS,PKEYS (VL cap 1..5, IB MTU 1..5, width mask 1..15, table sizes powers of two up to 32768), e.g. 4,5,3,128,128");
        return new Mlx4PortCap { MaxVl = v[0], IbMtu = v[1], PortWidth = v[2], MaxGids = v[3], MaxPkeys = v[4] };
    }

    /// <summary>The config with <see cref="Firmware"/> saying what the other keys say (revision, firmware pages).</summary>
    public Mlx4ModelConfig Normalised() => this with { Firmware = Firmware with { CmdIfRev = CmdIfRev, FwPages = FwPages } };

    /// <summary>
    /// Creates the files of an emulated ConnectX-3 (Pro) in <paramref name="dir"/>: BAR0 1 MiB (HCR, ownership, reset
    /// block), BAR2 1 MiB (UAR, unused), 4 MiB of DMA memory (firmware area, aux and context memory, the mailbox), and
    /// this config's keys in device.conf.
    /// </summary>
    public EmulatedDevice CreateDevice(string dir, ushort deviceId = Mlx4PciIds.ConnectX3Pro, long dmaSize = 4 << 20,
        ulong dmaBase = SharedDmaMemory.DefaultBaseAddress)
    {
        var dev = EmulatedDevice.Create(dir, Mlx4PciIds.VendorMellanox, deviceId,
            new Dictionary<int, long> { [Mlx4Layout.DcsBar] = Mlx4Layout.Bar0Size, [Mlx4Layout.UarBar] = 1 << 20 }, dmaSize, dmaBase);
        string conf = Path.Combine(dir, "device.conf");
        var lines = File.ReadAllLines(conf).ToList();
        lines.Add($"{PortsKey}={Ports}");
        lines.Add($"{RoceV1V2Key}={(RoceV1V2 ? 1 : 0)}");
        lines.Add($"{CmdIfRevKey}={CmdIfRev}");
        lines.Add($"{FwPagesKey}={FwPages}");
        lines.Add($"{PortRemapKey}={(PortRemap ? 1 : 0)}");
        lines.Add($"{ConfigDevKey}={(ConfigDev ? 1 : 0)}");
        lines.Add($"{PortCapsKey}={PortCap.MaxVl},{PortCap.IbMtu},{PortCap.PortWidth},{PortCap.MaxGids},{PortCap.MaxPkeys}");
        string tmp = conf + ".tmp";
        File.WriteAllLines(tmp, lines);
        File.Move(tmp, conf, overwrite: true);
        return dev;
    }
}

/// <summary>
/// Faults the model injects. Set in-process with <see cref="Mlx4DeviceModel.SetFaults"/>, or from another process through
/// the fault file every model takes (<see cref="FaultInjection"/>: <c>DIR/faults</c>, written whole, taken by the model)
/// with the common keys: <c>stall=0|1</c> (GO never clears), <c>error=0xNN</c> (a command status),
/// <c>error_count=N</c>, <c>delay_ms=N</c> (<see cref="Mlx4ModelClient.SetFaults"/>), and mlx4's own
/// <c>error_opcode=0xNNN</c> (only that command fails with the error), all parsed by <see cref="FaultInjection"/>.
/// </summary>
public sealed record Mlx4ModelFaults
{
    /// <summary>GO never clears: the model (the shared host's <c>stall</c>) sees no command. When this is cleared again,
    /// the command left in the HCR is taken and runs as if it had just been posted.</summary>
    public bool GoStuck { get; init; }
    /// <summary>A non-zero status the next <see cref="StatusCount"/> commands complete with, without taking effect.</summary>
    public byte Status { get; init; }
    public int StatusCount { get; init; }
    /// <summary>With <see cref="Status"/>: only commands with this opcode fail (e.g. 0x007 makes INIT_HCA fail, so that a
    /// bring-up fails half-way); 0: any command.</summary>
    public ushort StatusOpcode { get; init; }
    /// <summary>Every command completes this many milliseconds late.</summary>
    public int DelayMs { get; init; }

    public static Mlx4ModelFaults None { get; } = new();

    public string ToFileText()
        => $"stall={(GoStuck ? 1 : 0)}\nerror=0x{Status:x2}\nerror_count={StatusCount}\nerror_opcode=0x{StatusOpcode:x3}\ndelay_ms={DelayMs}\n";
}
