using System.Diagnostics;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>Starts <c>dotnet roceuio.dll ...</c> (the CLI sits next to this test assembly) as a separate process.</summary>
internal static class RoceuioProcess
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "roceuio.dll");

    /// <summary>
    /// Copies the CLI (this assembly's directory: roceuio.dll, its dependencies and runtimes/) to
    /// <paramref name="dir"/>/cli with modes 0755 (directories) and 0644 (files), and returns the copy's roceuio.dll: a
    /// user other than the clone's owner can run that wherever the clone lives (a 0700 mktemp -d folder, /root).
    /// <paramref name="dir"/> and every directory above it must be traversable by that user.
    /// </summary>
    public static string CopyForAnyUser(string dir)
    {
        const UnixFileMode Dir = (UnixFileMode)0b111_101_101, File644 = (UnixFileMode)0b110_100_100;
        string from = AppContext.BaseDirectory.TrimEnd('/'), to = Path.Combine(dir, "cli");
        foreach (string d in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories).Prepend(from))
            Directory.CreateDirectory(to + d[from.Length..], Dir);
        foreach (string f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = to + f[from.Length..];
            File.Copy(f, target, overwrite: true);
            File.SetUnixFileMode(target, File644);
        }
        return Path.Combine(to, "roceuio.dll");
    }

    /// <summary>Where daemons started by tests publish their shared-memory tables unless a test says --shm-dir: never
    /// the system's /dev/shm/roceuio.</summary>
    public static string TestShmDir { get; } = Path.Combine(Path.GetTempPath(), $"roceuio-test-shm-{Environment.ProcessId}");

    public static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["ROCEUIO_SHM_DIR"] = TestShmDir;
        psi.ArgumentList.Add(Dll);
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet");
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
