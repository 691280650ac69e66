using System.Globalization;
using System.Text.Json.Nodes;
using RoceUio.Cli.Control;

namespace RoceUio.Cli;

/// <summary>
/// <c>roceuio stat</c>: the running daemon's <c>RoceUio</c> meter, printed like <c>dotnet-counters monitor</c>.
/// It reads the values over the control socket (<c>metrics</c>). The daemon also serves EventPipe (the native binary is
/// built with EventSourceSupport), so dotnet-counters and other EventPipe clients read the same meter; stat itself does
/// not parse EventPipe's nettrace stream yet, and says so rather than pretend (README).
/// </summary>
internal static class StatCommand
{
    private const string Usage = """
        Usage: roceuio stat [--interval S] [--count N] [--json] [--control PATH]
        The daemon's counters (netlink messages, malformed, ENOBUFS, resyncs; per port: GIDs used, capacity, pending,
        pushes, failing pushes). Once, or every S seconds (N times; Ctrl-C stops). --json: one JSON array per sample.
        Read over the control socket. EventPipe clients (dotnet-counters monitor -p PID --counters RoceUio) can attach
        to the daemon too; stat --pid (stat over EventPipe) is not available in this version.
        """;

    public static int Run(string[] args)
    {
        var a = new ArgReader(args, ["--interval", "--count", "--control", "--pid"], ["--json"]);
        if (a.Help)
        {
            Console.WriteLine(Usage);
            return 0;
        }
        if (a.Positional.Count > 0)
            throw new UsageException($"unexpected '{a.Positional[0]}'");
        if (a.Value("--pid") is not null)
            throw new UsageException("--pid (an EventPipe session through the diagnostics IPC) is not available in this version: "
                + "stat reads the daemon's control socket (--control PATH); an EventPipe client such as dotnet-counters can attach "
                + "to the daemon's pid; see README, 'Live counters'");
        int? interval = a.Int("--interval");
        int count = a.Int("--count") ?? (interval is null ? 1 : int.MaxValue);
        string control = a.Value("--control") ?? ControlClient.DefaultPath;
        bool json = a.Flag("--json");
        if (!json)
            Console.Error.WriteLine("roceuio stat: counters from the control socket (not EventPipe: see README)");
        for (int i = 0; i < count; i++)
        {
            if (i > 0)
                Thread.Sleep(TimeSpan.FromSeconds(interval ?? 1));
            JsonNode? result;
            try
            {
                result = ControlClient.CallAsync(control, "metrics").GetAwaiter().GetResult();
            }
            catch (ControlException e)
            {
                Console.Error.WriteLine($"roceuio stat: {e.Message}");
                return 1;
            }
            Console.WriteLine(json ? result?.ToJsonString() : Table(result as JsonArray ?? []));
        }
        return 0;
    }

    private static string Table(JsonArray values)
    {
        var lines = new List<string> { $"[RoceUio] {DateTime.Now.ToString("HH:mm:ss", CultureInfo.InvariantCulture)}" };
        foreach (JsonNode? v in values)
        {
            string tags = string.Join(',', (v!["tags"] as JsonObject ?? []).Select(t => $"{t.Key}={t.Value}"));
            string name = tags.Length > 0 ? $"{v["name"]} [{tags}]" : $"{v["name"]}";
            lines.Add($"    {name,-52} {(long)v["value"]!,12}");
        }
        return string.Join('\n', lines);
    }
}
