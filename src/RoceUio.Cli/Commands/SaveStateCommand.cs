using RoceUio.Cli.Control;

namespace RoceUio.Cli;

/// <summary>
/// <c>roceuio save-state</c> and <c>roceuio status</c>: small client commands. save-state asks the daemon to write its
/// sticky index state now (a change: root only); status prints the daemon's counters and recent errors (open to all).
/// </summary>
internal static class SaveStateCommand
{
    public static int SaveState(string[] args) => Call(args, "save-state", "Usage: roceuio save-state [--control PATH]\nWrites the sticky GID index state now (needs root).");

    public static int Status(string[] args) => Call(args, "status", "Usage: roceuio status [--control PATH]\nThe daemon's version, device/port/GID counts and recent errors, as JSON.");

    private static int Call(string[] args, string command, string usage)
    {
        var a = new ArgReader(args, ["--control"], []);
        if (a.Help)
        {
            Console.WriteLine(usage);
            return 0;
        }
        if (a.Positional.Count > 0)
            throw new UsageException($"unexpected '{a.Positional[0]}'");
        try
        {
            var result = ControlClient.CallAsync(a.Value("--control") ?? ControlClient.DefaultPath, command).GetAwaiter().GetResult();
            // A plain word ("saved") prints as a word; an object as indented JSON.
            Console.WriteLine(result is System.Text.Json.Nodes.JsonValue v && v.TryGetValue(out string? word)
                ? word : result?.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        catch (ControlException e)
        {
            Console.Error.WriteLine($"roceuio {command}: {e.Message}");
            return 1;
        }
    }
}
