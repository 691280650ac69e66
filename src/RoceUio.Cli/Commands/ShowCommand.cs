using System.Text.Json;
using System.Text.Json.Nodes;
using RoceUio.Cli.Config;
using RoceUio.Cli.Control;
using RoceUio.Cli.Daemon;
using RoceUio.Cli.Output;
using RoceUio.Gids;

namespace RoceUio.Cli;

/// <summary><c>roceuio show gids|devices|ports</c>: asks the running daemon over its control socket.</summary>
internal static class ShowCommand
{
    private const string Usage = """
        Usage: roceuio show gids [DEV [PORT]] [--dev D] [--port P] [-j|--json [-p|--pretty]] [--control PATH | --shm [--shm-dir DIR]]
               roceuio show gids --pending [DEV [PORT]] [-j|--json [-p|--pretty]] [--control PATH]
               roceuio show devices [-j|--json [-p|--pretty]] [--control PATH]
               roceuio show ports [-j|--json [-p|--pretty]] [--control PATH]
        'show gids' prints what Mellanox's show_gids prints (and takes DEV and PORT the same way); -j gives
        ibv_gid_entry-shaped objects on one line, -jp the same indented, as ip and rdma do.
        --shm reads the daemon's shared-memory tables (default /dev/shm/roceuio) instead of asking its socket.
        --pending lists the GIDs that did not fit a full table and wait for a slot, in the order they will be added
        (the first 1,000; 'roceuio status' counts them all).
        """;

    public static int Run(string[] args)
    {
        var a = new ArgReader(ExpandShortFlags(args), ["--dev", "--port", "--control", "--shm-dir"], ["--json", "--pretty", "--shm", "--pending"]);
        if (a.Help || a.Positional.Count == 0)
        {
            Console.WriteLine(Usage);
            return a.Help ? 0 : 2;
        }
        int maxPositional = a.Positional[0] == "gids" ? 3 : 1;
        if (a.Positional.Count > maxPositional)
            throw new UsageException($"unexpected '{a.Positional[maxPositional]}'");
        string control = a.Value("--control") ?? ControlClient.DefaultPath;
        bool json = a.Flag("--json");
        bool pretty = a.Flag("--pretty");
        if (pretty && !json)
            throw new UsageException("-p (--pretty) goes with -j (--json)");
        try
        {
            switch (a.Positional[0])
            {
                case "gids" when a.Flag("--shm") || a.Value("--shm-dir") is not null:
                {
                    if (a.Value("--control") is not null)
                        throw new UsageException("--shm reads shared memory, not the control socket: drop --control");
                    var (shmDev, shmPort) = GidsTarget(a);
                    List<GidRow> rows = ShmGids.Rows(a.Value("--shm-dir") ?? DefaultPaths.ClientShmDir(), shmDev, shmPort);
                    Console.Write(json ? ShowGidsFormat.Json(rows, pretty) : ShowGidsFormat.Text(rows));
                    return 0;
                }
                case "gids" when a.Flag("--pending"):
                {
                    var (dev, port) = GidsTarget(a);
                    var req = new JsonObject { ["dev"] = dev, ["port"] = port, ["pending"] = true };
                    JsonNode? result = ControlClient.CallAsync(control, "show-gids", req).GetAwaiter().GetResult();
                    List<GidRow> rows = ControlHandlers.FromJson(result).ToList();
                    if (json)
                        Console.Write(ShowGidsFormat.Json(rows, pretty));
                    else
                        Console.Write(PendingText(rows));
                    return 0;
                }
                case "gids":
                {
                    var (dev, port) = GidsTarget(a);
                    var req = new JsonObject { ["dev"] = dev, ["port"] = port };
                    JsonNode? result = ControlClient.CallAsync(control, "show-gids", req).GetAwaiter().GetResult();
                    Console.Write(json ? ShowGidsFormat.Json(ControlHandlers.FromJson(result), pretty) : ShowGidsFormat.Text(ControlHandlers.FromJson(result)));
                    return 0;
                }
                case "devices":
                case "ports":
                {
                    JsonNode? result = ControlClient.CallAsync(control, $"show-{a.Positional[0]}").GetAwaiter().GetResult();
                    Console.WriteLine(json ? result?.ToJsonString(new JsonSerializerOptions { WriteIndented = pretty }) : Table(result as JsonArray ?? []));
                    return 0;
                }
                default:
                    throw new UsageException($"unknown object '{a.Positional[0]}': use gids, devices or ports");
            }
        }
        catch (Exception e) when (e is ControlException or IOException or UnauthorizedAccessException or TimeoutException)
        {
            Console.Error.WriteLine($"roceuio show: {e.Message}");
            return 1;
        }
    }

    /// <summary>Pending GIDs: DEV PORT GID VER NDEV, one per line in the order they will be added.</summary>
    private static string PendingText(List<GidRow> rows)
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine("DEV\tPORT\tGID\t\t\t\t\tVER\tDEV (pending: waiting for a free slot)");
        foreach (GidRow r in rows)
            sb.AppendLine($"{r.Dev}\t{r.Port}\t{r.Gid}\t{r.Type.ToShortString()}\t{r.Ndev}");
        sb.AppendLine($"n_pending: {rows.Count}");
        return sb.ToString();
    }

    /// <summary><c>-j</c>, <c>-p</c> and <c>-jp</c>/<c>-pj</c> as ip and rdma spell them.</summary>
    private static string[] ExpandShortFlags(string[] args)
        => args.SelectMany(x => x switch
        {
            "-j" => ["--json"],
            "-p" => ["--pretty"],
            "-jp" or "-pj" => new[] { "--json", "--pretty" },
            _ => [x],
        }).ToArray();

    /// <summary>DEV and PORT given as show_gids takes them (<c>show gids mlx4_0 1</c>) or as --dev/--port, not both.</summary>
    private static (string? Dev, int? Port) GidsTarget(ArgReader a)
    {
        string? dev = a.Value("--dev");
        int? port = a.Int("--port");
        if (a.Positional.Count > 1)
        {
            if (dev is not null)
                throw new UsageException($"the device is given twice: '{a.Positional[1]}' and --dev {dev}");
            dev = a.Positional[1];
        }
        if (a.Positional.Count > 2)
        {
            if (port is not null)
                throw new UsageException($"the port is given twice: '{a.Positional[2]}' and --port {port}");
            port = int.TryParse(a.Positional[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int p)
                ? p : throw new UsageException($"port '{a.Positional[2]}' is not a number");
        }
        return (dev, port);
    }

    /// <summary>A plain table: the objects' keys as the header, one line per object.</summary>
    private static string Table(JsonArray rows)
    {
        if (rows.Count == 0)
            return "(none)";
        string[] keys = ((JsonObject)rows[0]!).Select(kv => kv.Key).ToArray();
        var lines = new List<string[]> { keys.Select(k => k.ToUpperInvariant()).ToArray() };
        lines.AddRange(rows.Select(r => keys.Select(k => r![k]?.ToString() ?? "-").ToArray()));
        int[] width = keys.Select((_, i) => lines.Max(l => l[i].Length)).ToArray();
        return string.Join('\n', lines.Select(l => string.Join("  ", l.Select((c, i) => c.PadRight(width[i]))).TrimEnd()));
    }
}
