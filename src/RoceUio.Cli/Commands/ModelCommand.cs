namespace RoceUio.Cli;

/// <summary>
/// <c>roceuio model KIND --dir DIR</c>: runs a device model over the emulated device files in DIR
/// (docs/emulated-devices.md) until SIGTERM or Ctrl-C. Tests start it as a second process; so can a user who wants
/// to drive it with <c>roceuio run --attach</c>.
/// </summary>
internal static class ModelCommand
{
    /// <summary>One entry per NIC family: its model's entry point (directory, stop token) → exit status.</summary>
    private static readonly Dictionary<string, Func<string, CancellationToken, int>> s_models = new()
    {
        ["mlx4"] = RoceUio.Drivers.Mlx4.Model.Mlx4DeviceModel.Serve,
        ["ocrdma"] = RoceUio.Drivers.Ocrdma.Model.OcrdmaDeviceModel.Main,
        ["echo"] = RoceUio.Hardware.Emulation.EchoModel.Run,   // the generic handshake model (docs/emulated-devices.md)
    };

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine("Usage: roceuio model KIND --dir DIR [--create [--ports N]]");
            Console.WriteLine($"KIND: {string.Join(", ", s_models.Keys.Order())}");
            Console.WriteLine("--create makes the device files first (mlx4: --ports 1 or 2, default 2); then drive them with");
            Console.WriteLine("roceuio run --attach KIND:DIR=NETDEV[,NETDEV]");
            return 0;
        }
        string kind = args[0];
        if (!s_models.TryGetValue(kind, out var model))
            throw new UsageException($"unknown device model '{kind}' (known: {string.Join(", ", s_models.Keys.Order())})");
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
        int p = Array.IndexOf(args, "--ports");
        int ports = p >= 0 && p + 1 < args.Length && int.TryParse(args[p + 1], out int n) ? n : 2;
        Directory.CreateDirectory(dir);
        IDisposable files = kind switch
        {
            "mlx4" => ports is 1 or 2 ? new RoceUio.Drivers.Mlx4.Model.Mlx4ModelConfig { Ports = ports }.CreateDevice(dir)
                                      : throw new UsageException($"--ports {ports}: mlx4 has 1 or 2 ports"),
            "ocrdma" => RoceUio.Drivers.Ocrdma.Model.OcrdmaDeviceModel.CreateDevice(dir),
            _ => throw new UsageException($"--create is not supported for '{kind}'"),
        };
        files.Dispose(); // the model maps them again
    }
}
