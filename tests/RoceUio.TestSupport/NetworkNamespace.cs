using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using NUnit.Framework;

namespace RoceUio.Testing;

/// <summary>
/// A private network namespace for a test (<c>ip netns add roceuio-PID-RANDOM</c>), deleted on dispose (which also
/// destroys every device in it). Needs root; a test that uses it fails (never skips) without.
/// </summary>
/// <remarks>
/// Why this shape: unshare(CLONE_NEWNET)/setns switch only the calling thread, and a socket belongs for its whole
/// life to the namespace of the thread that created it. So <c>ip</c> commands run as <c>ip -n NAME ...</c>, and code
/// that must open sockets inside runs through <see cref="Run{T}"/> on a fresh dedicated thread that setns()es into
/// the namespace, opens what it needs and ends; the sockets it opened keep working from any thread afterwards.
/// No thread-pool thread ever changes namespace.
/// </remarks>
public sealed class NetworkNamespace : IDisposable
{
    private const int CLONE_NEWNET = 0x40000000;
    private bool _disposed;

    public string Name { get; }
    /// <summary>/run/netns/NAME: the bind mount that keeps the namespace alive.</summary>
    public string Path => "/run/netns/" + Name;

    private NetworkNamespace(string name) => Name = name;

    public static NetworkNamespace Create(string prefix = "roceuio")
    {
        RemoveStale(prefix);
        string name = $"{prefix}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
        RunTool("ip", ["netns", "add", name]);
        var ns = new NetworkNamespace(name);
        ns.Ip("link set lo up");
        return ns;
    }

    /// <summary>Runs <c>ip -n NAME ARGS</c> (args split on spaces); throws with ip's stderr on failure; returns stdout.</summary>
    public string Ip(string args) => RunTool("ip", ["-n", Name, .. args.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);

    /// <summary>Runs many ip commands in one process (<c>ip -n NAME -batch -</c>), one command per line.</summary>
    public void IpBatch(IEnumerable<string> commands)
        => RunTool("ip", ["-n", Name, "-batch", "-"], string.Join('\n', commands) + "\n");

    /// <summary>Runs <paramref name="body"/> on a dedicated thread inside the namespace and returns its result.</summary>
    public T Run<T>(Func<T> body)
    {
        T result = default!;
        ExceptionDispatchInfo? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using (var fd = File.OpenHandle(Path, FileMode.Open, FileAccess.Read))
                {
                    if (setns((int)fd.DangerousGetHandle(), CLONE_NEWNET) != 0)
                        throw new InvalidOperationException($"setns({Path}) failed: errno {Marshal.GetLastPInvokeError()}");
                }
                result = body();
            }
            catch (Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
            }
        }) { IsBackground = true, Name = "netns " + Name };
        thread.Start();
        thread.Join();
        error?.Throw();
        return result;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { RunTool("ip", ["netns", "del", Name]); }
        catch (AssertionException e) { TestContext.Progress.WriteLine($"could not delete netns {Name}: {e.Message}"); }
    }

    // Namespaces left by a crashed test run of a process that no longer exists.
    private static void RemoveStale(string prefix)
    {
        if (!Directory.Exists("/run/netns")) return;
        foreach (string path in Directory.GetFiles("/run/netns", prefix + "-*"))
        {
            string[] parts = System.IO.Path.GetFileName(path).Split('-');
            if (parts.Length == 3 && int.TryParse(parts[1], out int pid) && !Directory.Exists($"/proc/{pid}"))
            {
                try { RunTool("ip", ["netns", "del", System.IO.Path.GetFileName(path)]); }
                catch (AssertionException) { }
            }
        }
    }

    public static string RunTool(string exe, string[] args, string? stdin = null)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin != null };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new AssertionException($"cannot start {exe}");
        if (stdin != null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        Task<string> err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new AssertionException($"'{exe} {string.Join(' ', args)}' failed ({p.ExitCode}): {err.Result.Trim()}"
                                         + (Environment.UserName != "root" ? " (network namespace tests need root)" : ""));
        return output;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);
}
