using RoceUio.Drivers;

namespace RoceUio.Cli;

/// <summary>
/// <c>roceuio model KIND --dir DIR</c>: runs a device model over the emulated device files in DIR
/// (docs/emulated-devices.md) until SIGTERM or Ctrl-C. Tests start it as a second process; so can a user who wants
/// to drive it with <c>roceuio run --attach</c>. KIND is a registered driver with a model (<see cref="RoceDriver.Model"/>)
/// or <c>echo</c>, the generic handshake model of docs/emulated-devices.md.
/// </summary>
internal static class ModelCommand
{
    private const string Echo = "echo";

    /// <summary>Every model this program can serve: the drivers' (the registry), then echo.</summary>
    private static IEnumerable<string> Kinds
        => BuiltinDrivers.Registry.Drivers.Where(d => d.Model is not null).Select(d => d.Name).Append(Echo);

    /// <summary>The entry point of the model KIND (directory, stop token → exit status), or null.</summary>
    private static Func<string, CancellationToken, int>? Serve(string kind)
        => kind == Echo ? RoceUio.Hardware.Emulation.EchoModel.Run
            : BuiltinDrivers.Registry.TryGet(kind, out RoceDriver d) ? d.Model?.Serve : null;

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine("Usage: roceuio model KIND --dir DIR [--create [--ports N]]");
            Console.WriteLine($"KIND: {string.Join(", ", Kinds.Order())}");
            Console.WriteLine("--create makes the device files first (--ports N: a count the model has, default its largest); then drive them with");
            Console.WriteLine("roceuio run --attach KIND:DIR=NETDEV[,NETDEV]");
            return 0;
        }
        string kind = args[0];
        if (Serve(kind) is not { } model)
            throw new UsageException($"unknown device model '{kind}' (known: {string.Join(", ", Kinds.Order())})");
        int i = Array.IndexOf(args, "--dir");
        if (i < 0 || i + 1 >= args.Length)
            throw new UsageException("--dir DIR is required");
        if (args.Contains("--create"))
            CreateFiles(kind, args[i + 1], args);
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        try
        {
            return model(args[i + 1], stop.Token);
        }
        catch (Exception e) when (e is IOException or FormatException or ArgumentException or UnauthorizedAccessException)
        {
            // A wrong directory or a damaged device.conf: say which, without a stack trace.
            Console.Error.WriteLine($"roceuio model {kind}: {e.Message}");
            return 1;
        }
    }

    /// <summary><c>--create</c>: the device files of a fresh device, so that a user can serve and attach without code.</summary>
    private static void CreateFiles(string kind, string dir, string[] args)
    {
        if (!BuiltinDrivers.Registry.TryGet(kind, out RoceDriver d) || d.Model is not { } model)
            throw new UsageException($"--create is not supported for '{kind}'");
        int p = Array.IndexOf(args, "--ports");
        int ports = p >= 0 && p + 1 < args.Length && int.TryParse(args[p + 1], out int n) ? n : model.PortCounts.Max();
        if (!model.PortCounts.Contains(ports))
            throw new UsageException($"--ports {ports}: {kind} has {string.Join(" or ", model.PortCounts)} port{(model.PortCounts.Max() > 1 ? "s" : "")}");
        Directory.CreateDirectory(dir);
        model.CreateFiles(dir, ports).Dispose(); // the model maps them again
    }
}
