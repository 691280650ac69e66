using System.Diagnostics;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>Starts <c>dotnet roceuio.dll ...</c> (the CLI sits next to this test assembly) as a separate process.</summary>
internal static class RoceuioProcess
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "roceuio.dll");

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
