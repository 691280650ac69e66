using System.Reflection;

namespace RoceUio.Cli;

/// <summary>Dispatches <c>roceuio COMMAND ...</c> to the command's class, in the style of <c>ip</c> and <c>rdma</c>.</summary>
internal static class CommandLine
{
    private sealed record Command(string Name, string Summary, Func<string[], int> Run);

    private static readonly Command[] s_commands =
    [
        new("run", "the daemon: follow netlink, keep the GID tables and the NICs in step, serve the control socket", RunCommand.Run),
        new("show", "show gids, devices or ports of the running daemon", ShowCommand.Run),
        new("find", "find the GID index of a GID or IP address", FindCommand.Run),
        new("bind", "move a PCI function to vfio-pci, uio_pci_generic or back: bind BDF --vfio|--uio|--kernel", BindCommand.Run),
        new("mmio", "read or write a BAR register through the project's mapping code: mmio BDF read32|write32|dump OFFSET", MmioCommand.Run),
        new("replay", "replay an rtmon capture through the GID manager and print the tables: replay FILE --emulate KIND:NETDEV", ReplayCommand.Run),
        new("record", "record links, addresses and their changes to an rtmon file (first dump with addresses): record FILE", RecordCommand.Run),
        new("status", "the running daemon's counters and recent errors", SaveStateCommand.Status),
        new("stat", "the daemon's live counters (the RoceUio meter), once or every --interval S", StatCommand.Run),
        new("save-state", "make the running daemon write its sticky index state now (root)", SaveStateCommand.SaveState),
        new("model", "serve an emulated device's model: model KIND --dir DIR", ModelCommand.Run),
    ];

    public static int Dispatch(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintHelp(Console.Out);
            return args.Length == 0 ? 2 : 0;
        }
        if (args[0] is "-V" or "--version")
        {
            Console.WriteLine($"roceuio {Version}");
            return 0;
        }
        foreach (Command c in s_commands)
            if (c.Name == args[0])
            {
                try
                {
                    return c.Run(args[1..]);
                }
                catch (UsageException e)
                {
                    Console.Error.WriteLine($"roceuio {c.Name}: {e.Message}");
                    Console.Error.WriteLine($"Try 'roceuio {c.Name} --help'.");
                    return 2;
                }
            }
        Console.Error.WriteLine($"roceuio: unknown command '{args[0]}'. Try 'roceuio --help'.");
        return 2;
    }

    public static string Version
        => typeof(CommandLine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";

    private static void PrintHelp(TextWriter w)
    {
        w.WriteLine("Usage: roceuio COMMAND [OPTIONS]");
        w.WriteLine("       roceuio --version");
        w.WriteLine();
        w.WriteLine("Commands:");
        foreach (Command c in s_commands)
            w.WriteLine($"  {c.Name,-10} {c.Summary}");
        w.WriteLine();
        w.WriteLine("'roceuio COMMAND --help' describes a command.");
    }
}

/// <summary>Wrong arguments: printed with a pointer to --help, exit status 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
