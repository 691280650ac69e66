using System.Diagnostics;
using NUnit.Framework;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// bin/roceuio as ./build.sh makes it: one NativeAOT executable that needs no .NET where it runs. The rest of the
/// suite runs the end-to-end tests against it through ROCEUIO_BIN (see <see cref="RoceuioCommand"/>); these check the
/// binary itself and the build script's face.
/// </summary>
public class NativeBinaryTests
{
    private static string Native
        => RoceuioCommand.NativeBinary ?? throw new IgnoreException("ROCEUIO_BIN is not set: ./build.sh test sets it to bin/roceuio");

    [Test]
    public void TheBinary_IsANativeExecutable_NotAScriptOrAnAssembly()
    {
        byte[] head = new byte[4];
        using (FileStream f = File.OpenRead(Native))
            f.ReadExactly(head);
        Assert.That(head, Is.EqualTo(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F' }), $"{Native} is an ELF executable");
        Assert.That(File.Exists(Path.Combine(Path.GetDirectoryName(Native)!, "roceuio.dll")), Is.False, "no assembly beside it");
    }

    [Test]
    public void TheBinary_RunsWithAnEmptyEnvironment_AndReportsTheBuildsVersion()
    {
        var (exit, output, err) = Run("env", "-i", Native, "--version");
        string version = typeof(Control.ControlClient).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .Cast<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion.Split('+')[0];
        Assert.That((exit, output), Is.EqualTo((0, $"roceuio {version}\n")), err);
    }

    [Test]
    public void BuildScriptHelp_EndsWithItsLastSubcommand_NotWithShellCode()
    {
        var (exit, output, err) = Run("bash", Path.Combine(NativeLayout.RepoRoot, "build.sh"), "--help");
        Assert.That(exit, Is.Zero, err);
        string[] lines = output.TrimEnd('\n').Split('\n');
        Assert.That(lines[^1], Does.StartWith("  ./build.sh bench"));
        Assert.That(output, Does.Not.Contain("set -euo pipefail"));
    }

    private static (int Exit, string Out, string Err) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        Assert.That(p.WaitForExit(30_000), $"{file} {string.Join(' ', args)} exited");
        return (p.ExitCode, output, err.Result);
    }
}
