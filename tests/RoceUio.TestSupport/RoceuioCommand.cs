using System.Diagnostics;

namespace RoceUio.Testing;

/// <summary>
/// How the tests run the <c>roceuio</c> command: the executable named by <c>$ROCEUIO_BIN</c> (<c>./build.sh test</c> sets
/// it to the NativeAOT <c>bin/roceuio</c>, so the end-to-end tests exercise what users run), otherwise the JIT build that
/// sits next to the test assembly, through <c>dotnet roceuio.dll</c> (an IDE's or a bare <c>dotnet test</c>'s run).
/// </summary>
public static class RoceuioCommand
{
    /// <summary>The native executable the tests run, or null when they run the JIT build.</summary>
    public static string? NativeBinary
    {
        get
        {
            if (Environment.GetEnvironmentVariable("ROCEUIO_BIN") is not { Length: > 0 } bin)
                return null;
            string full = Path.GetFullPath(bin);
            if (!File.Exists(full))
                throw new InvalidOperationException($"ROCEUIO_BIN={bin} does not exist: run ./build.sh, or unset ROCEUIO_BIN to test the JIT build");
            return full;
        }
    }

    /// <summary>The JIT build of the CLI, copied next to every test assembly that references it.</summary>
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "roceuio.dll");

    /// <summary>The argv prefix that runs roceuio: <c>[bin/roceuio]</c> or <c>[dotnet, roceuio.dll]</c>.</summary>
    public static string[] Argv => NativeBinary is { } native ? [native] : [DotnetHost, Dll];

    /// <summary>A start-info for <c>roceuio ARGS</c> with stdout and stderr redirected.</summary>
    public static ProcessStartInfo StartInfo(params string[] args)
    {
        string[] argv = Argv;
        var psi = new ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in argv[1..])
            psi.ArgumentList.Add(a);
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        return psi;
    }

    private static string DotnetHost
        => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
}
