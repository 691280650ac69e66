using System.Diagnostics;
using NUnit.Framework;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>packaging/roceuio.socket as systemd runs it: systemd-socket-activate (systemd's own tool) binds the control
/// socket, then execs the daemon with it as fd 3 and LISTEN_PID/LISTEN_FDS set, as the service manager does.</summary>
public class SocketActivationTests
{
    [Test]
    public void TheDaemon_ServesTheSocketSystemdPassed_AndLeavesItsFileToSystemd()
    {
        using var dir = new TempDirectory("roceuio-sockact");
        using var ns = NetworkNamespace.Create("roceuio-sact");
        ns.IpBatch(["link add veth0 address 02:00:00:00:00:01 type veth peer name veth1", "link set veth0 up"]);
        string control = Path.Combine(dir.Path, "c.sock");
        using var d = DaemonProcess.StartUnder(["systemd-socket-activate", "-l", control], ns, dir.Path,
            new Dictionary<string, string>(), "--emulate", "mlx4:veth0");
        ns.Ip("addr add 10.0.0.1/24 dev veth0");
        var sw = Stopwatch.StartNew();
        while (d.Gids().Count != 4 && sw.Elapsed < TimeSpan.FromSeconds(10))
            Thread.Sleep(20);
        Assert.That(d.Gids(), Has.Count.EqualTo(4), "two defaults and the address's two GIDs, asked over the inherited socket");
        Assert.That(d.Stderr, Does.Not.Contain("error"));
        Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
        Assert.That(File.Exists(control), Is.True, "systemd's socket file is systemd's to remove (RemoveOnStop), not the daemon's");
    }

    [Test]
    public void ASocketForAnotherPath_StopsTheStart_NamingBoth()
    {
        using var dir = new TempDirectory("roceuio-sockbad");
        using var ns = NetworkNamespace.Create("roceuio-sbad");
        ns.IpBatch(["link add veth0 address 02:00:00:00:00:01 type veth peer name veth1", "link set veth0 up"]);
        string other = Path.Combine(dir.Path, "other.sock"), control = Path.Combine(dir.Path, "c.sock");
        var psi = new ProcessStartInfo("systemd-socket-activate") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in (string[])["-l", other, "ip", "netns", "exec", ns.Name, .. RoceuioCommand.Argv, "run", "--control", control,
                     "--state-dir", Path.Combine(dir.Path, "state"), "--emulate", "mlx4:veth0"])
            psi.ArgumentList.Add(a);
        psi.Environment["ROCEUIO_SHM_DIR"] = Path.Combine(dir.Path, "shm");
        using var p = Process.Start(psi)!;
        Task<string> err = p.StandardError.ReadToEndAsync(), outTask = p.StandardOutput.ReadToEndAsync();
        // systemd-socket-activate starts the program at the first connection, as a socket unit does.
        var sw = Stopwatch.StartNew();
        while (!File.Exists(other) && sw.Elapsed < TimeSpan.FromSeconds(20))
            Thread.Sleep(20);
        using (var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream,
                   System.Net.Sockets.ProtocolType.Unspecified))
            client.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(other));
        if (!p.WaitForExit(30_000))
            p.Kill(entireProcessTree: true);
        string output = outTask.Result;
        Assert.That(p.WaitForExit(30_000), Is.True, "the daemon stops");
        Assert.That(p.ExitCode, Is.Not.Zero, output);
        Assert.That(err.Result, Does.Contain($"none of the 1 descriptor(s) systemd passed is a listening Unix stream socket bound to the control socket {control}")
            .And.Contain($"listening on '{other}'"));
    }
}
