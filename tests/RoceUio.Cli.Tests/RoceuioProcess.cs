using System.Diagnostics;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>Starts <c>roceuio ...</c> as a separate process: the native bin/roceuio under ./build.sh test, else the JIT
/// build next to this test assembly (see <see cref="RoceuioCommand"/>).</summary>
internal static class RoceuioProcess
{
    /// <summary>
    /// Copies the CLI where a user other than the clone's owner can run it wherever the clone lives (a 0700 mktemp -d
    /// folder, /root), and returns the argv that runs the copy: the native binary as <paramref name="dir"/>/cli/roceuio
    /// (0755), or this assembly's directory (roceuio.dll, its dependencies and runtimes/) as <paramref name="dir"/>/cli
    /// with modes 0755 (directories) and 0644 (files), run through dotnet.
    /// <paramref name="dir"/> and every directory above it must be traversable by that user.
    /// </summary>
    public static string[] CopyForAnyUser(string dir)
    {
        const UnixFileMode Dir = (UnixFileMode)0b111_101_101, File644 = (UnixFileMode)0b110_100_100;
        string to = Path.Combine(dir, "cli");
        Directory.CreateDirectory(to, Dir);
        if (RoceuioCommand.NativeBinary is { } native)
        {
            string copy = Path.Combine(to, "roceuio");
            File.Copy(native, copy, overwrite: true);
            File.SetUnixFileMode(copy, Dir);
            return [copy];
        }
        string from = AppContext.BaseDirectory.TrimEnd('/');
        foreach (string d in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(to + d[from.Length..], Dir);
        foreach (string f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = to + f[from.Length..];
            File.Copy(f, target, overwrite: true);
            File.SetUnixFileMode(target, File644);
        }
        return ["dotnet", Path.Combine(to, "roceuio.dll")];
    }

    /// <summary>Where daemons started by tests publish their shared-memory tables unless a test says --shm-dir: never
    /// the system's /dev/shm/roceuio.</summary>
    public static string TestShmDir { get; } = Path.Combine(Path.GetTempPath(), $"roceuio-test-shm-{Environment.ProcessId}");

    public static Process Start(params string[] args)
    {
        var psi = RoceuioCommand.StartInfo(args);
        psi.Environment["ROCEUIO_SHM_DIR"] = TestShmDir;
        return Process.Start(psi) ?? throw new InvalidOperationException($"could not start {RoceuioCommand.Argv[0]}");
    }

    public static (int Exit, string Out, string Err) Run(params string[] args)
    {
        using Process p = Start(args);
        Task<string> err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(60_000))
        {
            p.Kill();
            throw new TimeoutException($"roceuio {string.Join(' ', args)} did not exit");
        }
        return (p.ExitCode, output, err.Result);
    }
}
