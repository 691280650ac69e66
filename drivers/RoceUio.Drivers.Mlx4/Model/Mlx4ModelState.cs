using System.Globalization;
using System.Text;
using RoceUio.Gids;

namespace RoceUio.Drivers.Mlx4.Model;

/// <summary>One non-empty slot of a port's table as the model holds it (the bytes the device took from the mailbox).</summary>
public readonly record struct Mlx4ModelEntry(int Index, Gid Gid, byte Type, byte Version)
{
    /// <summary>RoCE v2 when the v1_v2 entry says version 2; everything else (GID_TABLE entries, version 0) is RoCE v1.</summary>
    public GidType GidType => Version == Mlx4Layout.V1V2VersionRoceV2 ? GidType.RoceV2 : GidType.RoceV1;
}

/// <summary>A port's table in the model: the format of the last SET_PORT it accepted (null: none yet) and its entries.</summary>
public sealed record Mlx4ModelPortTable(int Port, Mlx4GidFormat? Format, IReadOnlyList<Mlx4ModelEntry> Entries);

/// <summary>
/// A snapshot of the model: its config, command counters, the last rejection and every port's table. The side channel
/// to tests in another process: the model writes it to <c>DIR/mlx4-model.state</c> (text, atomically renamed) when it
/// starts and after every command, before it clears GO, so a driver that sees a command complete can read the state
/// that command produced. <see cref="Parse"/> reads it back.
/// </summary>
public sealed record Mlx4ModelState(
    int Ports, bool RoceV1V2, long Accepted, long Rejected, byte LastStatus, string LastError, IReadOnlyList<Mlx4ModelPortTable> Tables)
{
    public const string FileName = "mlx4-model.state";
    private const string Magic = "mlx4-model-state 1";

    public Mlx4ModelPortTable Table(int port) => Tables[port - 1];

    /// <summary>The firmware's phase (<see cref="Mlx4FirmwarePhase"/>'s name).</summary>
    public string Phase { get; init; } = nameof(Mlx4FirmwarePhase.Reset);
    /// <summary>The ports that are up (INIT_PORT), comma-separated, e.g. <c>1,2</c>; empty when none.</summary>
    public string PortsUp { get; init; } = "";
    /// <summary>How many chip resets the model has seen (writes to the reset register).</summary>
    public long Resets { get; init; }
    /// <summary>The firmware's port map (VIRT_PORT_MAP), e.g. <c>[1][2]</c>; <c>[1][1]</c> while bonded on port 1.</summary>
    public string PortMap { get; init; } = "[1][2]";
    /// <summary>CONFIG_DEV turned the receive port check off (the ports are bonded).</summary>
    public bool RxPortCheckDisabled { get; init; }

    /// <summary>
    /// The text form:
    /// <code>
    /// mlx4-model-state 1
    /// ports 2
    /// roce_v1_v2 1
    /// accepted 3
    /// rejected 1
    /// last_status 0x03
    /// last_error SET_PORT ...: entry 5 byte 27 (version) is 1; ...
    /// port 1 roce_addr
    /// entry 0 fe80:0000:0000:0000:0000:0000:0000:0001 0 0
    /// port 2 none
    /// </code>
    /// </summary>
    public string ToText()
    {
        var sb = new StringBuilder();
        sb.Append(Magic).Append('\n');
        sb.Append("ports ").Append(Ports).Append('\n');
        sb.Append("roce_v1_v2 ").Append(RoceV1V2 ? 1 : 0).Append('\n');
        sb.Append("accepted ").Append(Accepted).Append('\n');
        sb.Append("rejected ").Append(Rejected).Append('\n');
        sb.Append("last_status 0x").Append(LastStatus.ToString("x2", CultureInfo.InvariantCulture)).Append('\n');
        sb.Append("last_error ").Append(LastError.Length == 0 ? "-" : LastError.ReplaceLineEndings(" ")).Append('\n');
        sb.Append("phase ").Append(Phase).Append('\n');
        sb.Append("ports_up ").Append(PortsUp.Length == 0 ? "-" : PortsUp).Append('\n');
        sb.Append("resets ").Append(Resets).Append('\n');
        sb.Append("port_map ").Append(PortMap).Append('\n');
        sb.Append("rx_port_check ").Append(RxPortCheckDisabled ? "off" : "on").Append('\n');
        foreach (Mlx4ModelPortTable t in Tables)
        {
            sb.Append("port ").Append(t.Port).Append(' ').Append(FormatName(t.Format)).Append('\n');
            foreach (Mlx4ModelEntry e in t.Entries)
                sb.Append(CultureInfo.InvariantCulture, $"entry {e.Index} {e.Gid} {e.Type} {e.Version}\n");
        }
        return sb.ToString();
    }

    public static Mlx4ModelState Parse(string text, string where = FileName)
    {
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0 || lines[0] != Magic)
            throw new FormatException($"{where}: not an mlx4 model state (first line '{(lines.Length > 0 ? lines[0] : "")}')");
        int ports = 0;
        bool v1v2 = false;
        long accepted = 0, rejected = 0;
        byte lastStatus = 0;
        string lastError = "", phase = nameof(Mlx4FirmwarePhase.Reset), portsUp = "";
        long resets = 0;
        string portMap = "[1][2]";
        bool rxOff = false;
        var tables = new List<Mlx4ModelPortTable>();
        List<Mlx4ModelEntry>? entries = null;
        int port = 0;
        Mlx4GidFormat? format = null;
        void Flush()
        {
            if (entries != null)
                tables.Add(new Mlx4ModelPortTable(port, format, entries));
        }
        for (int i = 1; i < lines.Length; i++)
        {
            string line = lines[i];
            int sp = line.IndexOf(' ');
            string key = sp < 0 ? line : line[..sp], rest = sp < 0 ? "" : line[(sp + 1)..];
            try
            {
                switch (key)
                {
                    case "ports": ports = int.Parse(rest, CultureInfo.InvariantCulture); break;
                    case "roce_v1_v2": v1v2 = rest == "1"; break;
                    case "accepted": accepted = long.Parse(rest, CultureInfo.InvariantCulture); break;
                    case "rejected": rejected = long.Parse(rest, CultureInfo.InvariantCulture); break;
                    case "last_status": lastStatus = byte.Parse(rest.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture); break;
                    case "last_error": lastError = rest == "-" ? "" : rest; break;
                    case "phase": phase = rest; break;
                    case "ports_up": portsUp = rest == "-" ? "" : rest; break;
                    case "resets": resets = long.Parse(rest, CultureInfo.InvariantCulture); break;
                    case "port_map": portMap = rest; break;
                    case "rx_port_check": rxOff = rest == "off"; break;
                    case "port":
                        Flush();
                        string[] p = rest.Split(' ');
                        port = int.Parse(p[0], CultureInfo.InvariantCulture);
                        format = p[1] switch { "gid_table" => Mlx4GidFormat.GidTable, "roce_addr" => Mlx4GidFormat.RoceAddr, _ => null };
                        entries = new List<Mlx4ModelEntry>();
                        break;
                    case "entry":
                        string[] f = rest.Split(' ');
                        entries!.Add(new Mlx4ModelEntry(int.Parse(f[0], CultureInfo.InvariantCulture), Gid.Parse(f[1]),
                            byte.Parse(f[2], CultureInfo.InvariantCulture), byte.Parse(f[3], CultureInfo.InvariantCulture)));
                        break;
                    default: throw new FormatException($"unknown key '{key}'");
                }
            }
            catch (Exception e) when (e is FormatException or OverflowException or NullReferenceException or IndexOutOfRangeException)
            {
                throw new FormatException($"{where}:{i + 1}: cannot read '{line}': {e.Message}", e);
            }
        }
        Flush();
        return new Mlx4ModelState(ports, v1v2, accepted, rejected, lastStatus, lastError, tables) { Phase = phase, PortsUp = portsUp, Resets = resets, PortMap = portMap, RxPortCheckDisabled = rxOff };
    }

    private static string FormatName(Mlx4GidFormat? f) => f switch
    {
        Mlx4GidFormat.GidTable => "gid_table",
        Mlx4GidFormat.RoceAddr => "roce_addr",
        _ => "none",
    };
}

/// <summary>
/// The test's (or a user's) side of a model running in another process over <c>DIR</c>: waits for it to be up, reads
/// its state file, arms faults through the fault file <c>DIR/faults</c>.
/// </summary>
public sealed class Mlx4ModelClient
{
    public Mlx4ModelClient(string dir) => Directory = dir;

    public string Directory { get; }

    public string StatePath => Path.Combine(Directory, Mlx4ModelState.FileName);

    /// <summary>The model's state as of its last completed command.</summary>
    public Mlx4ModelState ReadState() => Mlx4ModelState.Parse(File.ReadAllText(StatePath), StatePath);

    /// <summary>Waits until the model has written its first state (it is polling the HCR from then on).</summary>
    public void WaitUntilReady(TimeSpan timeout, Func<string>? diagnostics = null)
    {
        DateTime end = DateTime.UtcNow + timeout;
        while (!File.Exists(StatePath))
        {
            if (DateTime.UtcNow > end)
                throw new TimeoutException($"the mlx4 model over {Directory} did not write {Mlx4ModelState.FileName} within {timeout.TotalSeconds:0.#} s{(diagnostics != null ? ": " + diagnostics() : "")}");
            Thread.Sleep(10);
        }
    }

    /// <summary>Writes the fault file and waits until the model has taken it (deleted it).</summary>
    public void SetFaults(Mlx4ModelFaults faults, TimeSpan? timeout = null)
    {
        RoceUio.Hardware.Emulation.FaultInjection.Arm(Directory, faults.ToFileText());
        if (!RoceUio.Hardware.Emulation.FaultInjection.WaitTaken(Directory, timeout ?? TimeSpan.FromSeconds(10)))
            throw new TimeoutException($"the mlx4 model over {Directory} did not take {Path.Combine(Directory, RoceUio.Hardware.Emulation.FaultInjection.FileName)}");
    }
}
