using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using NUnit.Framework;
using RoceUio.Cli.Control;
using RoceUio.Cli.Daemon;
using RoceUio.Cli.Output;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// A <c>roceuio run</c> process inside a test's network namespace (<c>ip netns exec NS dotnet roceuio.dll run ...</c>;
/// ip execs, so the process id is the daemon's), with its own control socket and state directory. Dispose kills it if
/// it still runs. Waits are bounded polls of the control socket, never blind sleeps.
/// </summary>
internal sealed class DaemonProcess : IDisposable
{
    private readonly Process _p;
    private readonly StringBuilder _out = new(), _err = new();

    public string Control { get; }
    public string StateDir { get; }

    private DaemonProcess(Process p, string control, string stateDir)
    {
        _p = p;
        Control = control;
        StateDir = stateDir;
        p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_out) _out.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_err) _err.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
    }

    /// <summary>The daemon's process id (ip netns exec execs it).</summary>
    public int Pid => _p.Id;
    public bool HasExited => _p.HasExited;

    public string Stdout { get { lock (_out) return _out.ToString(); } }
    public string Stderr { get { lock (_err) return _err.ToString(); } }

    public static DaemonProcess Start(NetworkNamespace ns, string dir, params string[] runArgs)
        => Start(ns, dir, new Dictionary<string, string>(), runArgs);

    /// <summary>As <see cref="Start(NetworkNamespace, string, string[])"/>, with extra environment variables (NOTIFY_SOCKET...).</summary>
    public static DaemonProcess Start(NetworkNamespace ns, string dir, IReadOnlyDictionary<string, string> env, params string[] runArgs)
        => StartUnder([], ns, dir, env, runArgs);

    /// <summary>
    /// As <see cref="Start(NetworkNamespace, string, IReadOnlyDictionary{string, string}, string[])"/>, run under a
    /// program that execs the rest of its arguments (e.g. <c>prlimit --nofile=80:80</c>), so that the pid is still the daemon's.
    /// </summary>
    public static DaemonProcess StartUnder(string[] prefix, NetworkNamespace ns, string dir, IReadOnlyDictionary<string, string> env, params string[] runArgs)
    {
        string control = Path.Combine(dir, "c.sock"), state = Path.Combine(dir, "state");
        var psi = new ProcessStartInfo(prefix.Length > 0 ? prefix[0] : "ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in prefix.Skip(1))
            psi.ArgumentList.Add(a);
        if (prefix.Length > 0)
            psi.ArgumentList.Add("ip");
        foreach (var (k, v) in env)
            psi.Environment[k] = v;
        psi.Environment["ROCEUIO_SHM_DIR"] = Path.Combine(dir, "shm");
        foreach (string a in (string[])["netns", "exec", ns.Name, .. RoceuioCommand.Argv, "run", "--control", control, "--state-dir", state])
            psi.ArgumentList.Add(a);
        foreach (string a in runArgs)
            psi.ArgumentList.Add(a);
        var d = new DaemonProcess(Process.Start(psi) ?? throw new InvalidOperationException("cannot start ip netns exec"), control, state);
        d.WaitReady();
        return d;
    }

    private void WaitReady()
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            if (_p.HasExited)
                Assert.Fail($"the daemon exited ({_p.ExitCode}) before serving: {Stderr}{Stdout}");
            if (File.Exists(Control))
            {
                try
                {
                    Call("status");
                    return;
                }
                catch (ControlException) { }
            }
            if (sw.Elapsed > TimeSpan.FromSeconds(20))
                Assert.Fail($"the daemon did not serve {Control} within 20 s: {Stderr}{Stdout}");
            Thread.Sleep(20);
        }
    }

    public JsonNode? Call(string command, JsonObject? args = null)
        => ControlClient.CallAsync(Control, command, args).WaitAsync(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();

    public List<GidRow> Gids() => ControlHandlers.FromJson(Call("show-gids")).ToList();

    /// <summary>Polls show-gids until its show_gids text equals <paramref name="expected"/> (at most 5 s), then asserts it.</summary>
    public List<GidRow> WaitForGids(string expected, string step)
    {
        var sw = Stopwatch.StartNew();
        string text;
        List<GidRow> rows;
        do
        {
            rows = Gids();
            text = ShowGidsFormat.Text(rows);
            if (text == expected)
                return rows;
            Thread.Sleep(20);
        } while (sw.Elapsed < TimeSpan.FromSeconds(5));
        Assert.That(text, Is.EqualTo(expected), $"after {step} (daemon log:\n{Stdout}{Stderr})");
        return rows;
    }

    /// <summary>SIGTERM, then waits for the exit (10 s) and returns the exit status.</summary>
    public int Terminate()
    {
        Assert.That(kill(_p.Id, 15), Is.EqualTo(0), "kill(SIGTERM)");
        if (!_p.WaitForExit(10_000))
            Assert.Fail($"the daemon did not stop within 10 s of SIGTERM: {Stderr}");
        _p.WaitForExit(); // drains the output readers
        return _p.ExitCode;
    }

    public void Dispose()
    {
        try
        {
            if (!_p.HasExited)
            {
                _p.Kill(entireProcessTree: true);
                _p.WaitForExit(5_000);
            }
        }
        catch (InvalidOperationException) { }
        _p.Dispose();
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
