using System.Diagnostics;
using NUnit.Framework;

namespace RoceUio.Testing;

/// <summary>
/// The numbers printed by native/layout (built by ./build.sh from the machine's kernel headers), so tests can compare
/// them with the C# definitions.
/// </summary>
public static class NativeLayout
{
    private static readonly Lazy<IReadOnlyDictionary<string, long>> s_values = new(Load);

    public static IReadOnlyDictionary<string, long> Values => s_values.Value;

    public static long Get(string name)
        => Values.TryGetValue(name, out long v) ? v
           : throw new AssertionException($"native/layout does not print '{name}': add it to native/*.c");

    public static string RepoRoot
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir != null && !File.Exists(Path.Combine(dir, "RoceUio.sln")))
                dir = Path.GetDirectoryName(dir);
            return dir ?? throw new InvalidOperationException($"no RoceUio.sln above {AppContext.BaseDirectory}");
        }
    }

    private static IReadOnlyDictionary<string, long> Load()
    {
        string exe = Path.Combine(RepoRoot, "artifacts", "native", "layout");
        if (!File.Exists(exe))
            throw new AssertionException($"{exe} is missing: run ./build.sh, which compiles native/ with cc");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var d = new Dictionary<string, long>();
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = line.Split(' ');
            d[parts[0]] = long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        return d;
    }
}
