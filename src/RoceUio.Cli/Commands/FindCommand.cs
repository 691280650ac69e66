using System.Text.Json.Nodes;
using RoceUio.Cli.Control;
using RoceUio.Cli.Daemon;
using RoceUio.Cli.Output;
using RoceUio.Gids;

namespace RoceUio.Cli;

/// <summary><c>roceuio find</c>: the GID index an application would use. Exit status 1 when there is none.</summary>
internal static class FindCommand
{
    private const string Usage = """
        Usage: roceuio find (--gid G | --ip ADDR) [--type v1|v2] [--ndev NAME] [--dev D] [--port P] [--json] [--control PATH]
        Prints DEV PORT INDEX GID VER NDEV for the lowest matching index of each port (and type); exit status 1 if none.
        """;

    public static int Run(string[] args)
    {
        var a = new ArgReader(args, ["--gid", "--ip", "--type", "--ndev", "--dev", "--port", "--control"], ["--json"]);
        if (a.Help)
        {
            Console.WriteLine(Usage);
            return 0;
        }
        if ((a.Value("--gid") is null) == (a.Value("--ip") is null))
            throw new UsageException("give exactly one of --gid and --ip");
        if (a.Positional.Count > 0)
            throw new UsageException($"unexpected '{a.Positional[0]}'");
        // Checked here, so that a typo gets one clear line without a daemon (and not the daemon's "find: " again).
        if (a.Value("--gid") is { } g && !Gid.TryParse(g, out _))
            throw new UsageException($"--gid '{g}' is not a GID (write it as fe80::1 or fe80:0000:0000:0000:0000:0000:0000:0001)");
        if (a.Value("--ip") is { } ip && !System.Net.IPAddress.TryParse(ip, out _))
            throw new UsageException($"--ip '{ip}' is not an IPv4 or IPv6 address");
        if (a.Value("--type") is { } t && !GidTypeText.TryParse(t, out _))
            throw new UsageException($"--type '{t}' is not a GID type: use v1 or v2");
        var req = new JsonObject
        {
            ["gid"] = a.Value("--gid"), ["ip"] = a.Value("--ip"), ["type"] = a.Value("--type"),
            ["ndev"] = a.Value("--ndev"), ["dev"] = a.Value("--dev"), ["port"] = a.Int("--port"),
        };
        try
        {
            var rows = ControlHandlers.FromJson(ControlClient.CallAsync(a.Value("--control") ?? ControlClient.DefaultPath, "find", req).GetAwaiter().GetResult()).ToList();
            if (a.Flag("--json"))
                Console.Write(ShowGidsFormat.Json(rows));
            else
                foreach (GidRow r in rows)
                    Console.WriteLine($"{r.Dev}\t{r.Port}\t{r.Index}\t{r.Gid}\t{r.Type.ToShortString()}\t{r.Ndev}");
            return rows.Count > 0 ? 0 : 1;
        }
        catch (ControlException e)
        {
            Console.Error.WriteLine($"roceuio find: {e.Message}");
            return 2;
        }
    }
}
