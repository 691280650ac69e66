using System.Diagnostics;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>Starts <c>roceuio ...</c> as a separate process: the native bin/roceuio under ./build.sh test, else the JIT
/// build next to this test assembly (see <see cref="RoceuioCommand"/>).</summary>
internal static class RoceuioProcess
{
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
