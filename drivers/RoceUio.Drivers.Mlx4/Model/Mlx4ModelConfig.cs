using System.Globalization;
using RoceUio.Hardware;
using RoceUio.Hardware.Emulation;

namespace RoceUio.Drivers.Mlx4.Model;

/// <summary>
/// What the emulated ConnectX-3 is. Read from <c>device.conf</c> keys next to the generic ones
/// (docs/driver-guide.md): <c>mlx4_ports</c> (1 or 2, default 2), <c>mlx4_roce_v1_v2</c> (0 or 1, default 1: QUERY_DEV_CAP
/// advertises bmme bit 19 and SET_PORT ROCE_ADDR is accepted), <c>mlx4_cmd_if_rev</c> (default 3).
/// </summary>
public sealed record Mlx4ModelConfig
{
    public int Ports { get; init; } = 2;
    public bool RoceV1V2 { get; init; } = true;
    public ushort CmdIfRev { get; init; } = 3;
    /// <summary>The firmware QUERY_FW reports (2.42.5000, a late ConnectX-3 release).</summary>
    public Mlx4FirmwareInfo Firmware { get; init; } = new(2, 42, 5000, 3, 4);

    public const string PortsKey = "mlx4_ports", RoceV1V2Key = "mlx4_roce_v1_v2", CmdIfRevKey = "mlx4_cmd_if_rev";

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
                case CmdIfRevKey:
                    c = c with { CmdIfRev = (ushort)Int() };
                    break;
            }
        }
        return c with { Firmware = c.Firmware with { CmdIfRev = c.CmdIfRev } };
    }

    /// <summary>
    /// Creates the files of an emulated ConnectX-3 (Pro) in <paramref name="dir"/>: BAR0 1 MiB (the HCR), BAR2 1 MiB (UAR,
    /// unused), 1 MiB of DMA memory, and this config's keys in device.conf.
    /// </summary>
    public EmulatedDevice CreateDevice(string dir, ushort deviceId = Mlx4PciIds.ConnectX3Pro, long dmaSize = 1 << 20,
        ulong dmaBase = SharedDmaMemory.DefaultBaseAddress)
    {
        var dev = EmulatedDevice.Create(dir, Mlx4PciIds.VendorMellanox, deviceId,
            new Dictionary<int, long> { [Mlx4Layout.DcsBar] = Mlx4Layout.Bar0Size, [Mlx4Layout.UarBar] = 1 << 20 }, dmaSize, dmaBase);
        string conf = Path.Combine(dir, "device.conf");
        var lines = File.ReadAllLines(conf).ToList();
        lines.Add($"{PortsKey}={Ports}");
        lines.Add($"{RoceV1V2Key}={(RoceV1V2 ? 1 : 0)}");
        lines.Add($"{CmdIfRevKey}={CmdIfRev}");
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
/// <c>error_count=N</c>, <c>delay_ms=N</c> (<see cref="Mlx4ModelClient.SetFaults"/>).
/// </summary>
public sealed record Mlx4ModelFaults
{
    /// <summary>GO never clears: the model leaves every command it sees pending. When this is cleared again, the held
    /// command completes with INTERNAL_ERR and is not applied (our choice: a firmware that recovers fails what it hung on).</summary>
    public bool GoStuck { get; init; }
    /// <summary>A non-zero status the next <see cref="StatusCount"/> commands complete with, without taking effect.</summary>
    public byte Status { get; init; }
    public int StatusCount { get; init; }
    /// <summary>Every command completes this many milliseconds late.</summary>
    public int DelayMs { get; init; }

    public static Mlx4ModelFaults None { get; } = new();

    public string ToFileText()
        => $"stall={(GoStuck ? 1 : 0)}\nerror=0x{Status:x2}\nerror_count={StatusCount}\ndelay_ms={DelayMs}\n";

    public static Mlx4ModelFaults Parse(string text, string where)
    {
        var f = new Mlx4ModelFaults();
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            int eq = line.IndexOf('=');
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            if (eq <= 0)
                throw new FormatException($"{where}: expected key=value, got '{raw}'");
            string key = line[..eq].Trim(), v = line[(eq + 1)..].Trim();
            bool hex = v.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
            if (!int.TryParse(hex ? v[2..] : v, hex ? NumberStyles.HexNumber : NumberStyles.None, CultureInfo.InvariantCulture, out int n))
                throw new FormatException($"{where}: '{key}={v}' is not a number");
            f = key switch
            {
                "stall" => f with { GoStuck = n != 0 },
                "error" => f with { Status = (byte)n },
                "error_count" => f with { StatusCount = n },
                "delay_ms" => f with { DelayMs = n },
                _ => throw new FormatException($"{where}: unknown key '{key}' (stall, error, error_count, delay_ms)"),
            };
        }
        return f;
    }
}
