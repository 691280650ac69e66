using System.Text.Json;
using System.Text.Json.Nodes;
using RoceUio.Cli.Config;
using RoceUio.Cli.Control;
using RoceUio.Cli.Daemon;
using RoceUio.Cli.Output;

namespace RoceUio.Cli;

/// <summary><c>roceuio show gids|devices|ports</c>: asks the running daemon over its control socket.</summary>
internal static class ShowCommand
{
    private const string Usage = """
        Usage: roceuio show gids [--dev D] [--port P] [--json] [--control PATH | --shm [--shm-dir DIR]]
               roceuio show devices [--json] [--control PATH]
               roceuio show ports [--json] [--control PATH]
        'show gids' prints what Mellanox's show_gids prints; --json gives ibv_gid_entry-shaped objects.
        --shm reads the daemon's shared-memory tables (default /dev/shm/roceuio) instead of asking its socket.
        """;

    public static int Run(string[] args)
    {
        var a = new ArgReader(args, ["--dev", "--port", "--control", "--shm-dir"], ["--json", "--shm"]);
        if (a.Help || a.Positional.Count == 0)
        {
            Console.WriteLine(Usage);
            return a.Help ? 0 : 2;
        }
        if (a.Positional.Count > 1)
            throw new UsageException($"unexpected '{a.Positional[1]}'");
        string control = a.Value("--control") ?? ControlClient.DefaultPath;
        bool json = a.Flag("--json");
        try
        {
            switch (a.Positional[0])
            {
                case "gids" when a.Flag("--shm") || a.Value("--shm-dir") is not null:
                {
                    if (a.Value("--control") is not null)
                        throw new UsageException("--shm reads shared memory, not the control socket: drop --control");
                    List<GidRow> rows = ShmGids.Rows(a.Value("--shm-dir") ?? DefaultPaths.ClientShmDir(), a.Value("--dev"), a.Int("--port"));
                    Console.Write(json ? ShowGidsFormat.Json(rows) : ShowGidsFormat.Text(rows));
                    return 0;
                }
                case "gids":
                {
                    var req = new JsonObject { ["dev"] = a.Value("--dev"), ["port"] = a.Int("--port") };
                    JsonNode? result = ControlClient.CallAsync(control, "show-gids", req).GetAwaiter().GetResult();
                    Console.Write(json ? ShowGidsFormat.Json(ControlHandlers.FromJson(result)) : ShowGidsFormat.Text(ControlHandlers.FromJson(result)));
                    return 0;
                }
                case "devices":
                case "ports":
                {
                    JsonNode? result = ControlClient.CallAsync(control, $"show-{a.Positional[0]}").GetAwaiter().GetResult();
                    Console.WriteLine(json ? result?.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) : Table(result as JsonArray ?? []));
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
