using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using NUnit.Framework;
using RoceUio.Cli.Daemon;
using RoceUio.Drivers.Mlx4.Model;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// The daemon under systemd: the test plays systemd with its own notify socket (an AF_UNIX datagram socket named by
/// NOTIFY_SOCKET) and reads what the daemon says: READY=1 only once the first full table is in the hardware, STATUS=,
/// WATCHDOG=1 while the worker turns and not while it is stuck, STOPPING=1 on SIGTERM; and journal-style output.
/// </summary>
[NonParallelizable]
public class SystemdNotifyTests
{
    private const string Mac1 = "02:00:00:00:00:01";
    private TempDirectory _dir = null!;

    [SetUp] public void SetUp() => _dir = new TempDirectory("roceuio-notify");
    [TearDown] public void TearDown() => _dir.Dispose();

    [Test]
    public void Daemon_SaysReadyWithTheTableInHardware_PingsTheWatchdog_AndSaysStopping_WithJournalPriorities()
    {
        using var ns = NetworkNamespace.Create("roceuio-notify");
        ns.IpBatch([$"link add veth0 address {Mac1} type veth peer name veth1", "link set veth1 up", "link set veth0 up", "addr add 10.0.0.1/24 dev veth0"]);
        string dev = _dir["dev"];
        using var model = RoceuioProcess.Start("model", "mlx4", "--dir", dev, "--create", "--ports", "1");
        var client = new Mlx4ModelClient(dev);
        client.WaitUntilReady(TimeSpan.FromSeconds(20));
        using var systemd = new NotifySocket(_dir["notify.sock"]);

        var env = new Dictionary<string, string>
        {
            ["NOTIFY_SOCKET"] = systemd.Path, ["WATCHDOG_USEC"] = "400000", ["JOURNAL_STREAM"] = "8:12345",
        };
        using var d = DaemonProcess.Start(ns, _dir.Path, env, "--attach", $"mlx4:{dev}=veth0");
        string ready = systemd.Receive("READY=1");
        // At READY the hardware (the model's table of its last accepted SET_PORT) holds the whole first table.
        string[] hardware = client.ReadState().Table(1).Entries.Select(e => $"{e.Gid} {e.GidType}").Order().ToArray();
        Assert.That(hardware, Is.EqualTo(new[]
        {
            "0000:0000:0000:0000:0000:ffff:0a00:0001 RoceV1", "0000:0000:0000:0000:0000:ffff:0a00:0001 RoceV2",
            "fe80:0000:0000:0000:0000:00ff:fe00:0001 RoceV1", "fe80:0000:0000:0000:0000:00ff:fe00:0001 RoceV2",
        }));
        Assert.That(ready, Is.EqualTo("READY=1\nSTATUS=serving 1 port(s), 4 GID(s); no recent errors"));

        systemd.Receive("WATCHDOG=1");
        systemd.Receive("WATCHDOG=1");
        Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
        Assert.That(systemd.Receive("STOPPING=1"), Does.StartWith("STOPPING=1\nSTATUS=stopping"));

        // JOURNAL_STREAM set: every stdout line is a <6> (info) line and carries no timestamp of its own.
        string[] lines = d.Stdout.TrimEnd('\n').Split('\n');
        Assert.That(lines.Where(l => !l.StartsWith("<6>", StringComparison.Ordinal)), Is.Empty, d.Stdout);
        Assert.That(lines, Has.Some.StartsWith("<6>roceuio: mlx4_0 (mlx4, attached emulated:"));
        Assert.That(lines.Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"\d\d:\d\d:\d\d")), Is.Empty);
        Assert.That(model.HasExited, Is.False);
        model.Kill();
    }

    [Test]
    public void Watchdog_IsPingedOnlyWhileTheWorkerTurns_AndStatusSaysWhenItIsStuck()
    {
        using var systemd = new NotifySocket(_dir["notify.sock"]);
        using SystemdNotifier notifier = WithEnvironment(new() { ["NOTIFY_SOCKET"] = systemd.Path, ["WATCHDOG_USEC"] = "200000", ["WATCHDOG_PID"] = null },
            SystemdNotifier.FromEnvironment)!;
        Assert.That(notifier.WatchdogTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(200)));

        long tick = Environment.TickCount64;
        using var turning = new ManualResetEventSlim(true);
        using var stop = new CancellationTokenSource();
        var worker = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (turning.IsSet)
                    Volatile.Write(ref tick, Environment.TickCount64);
                Thread.Sleep(5);
            }
        }) { IsBackground = true };
        worker.Start();
        using var ready = new ManualResetEventSlim(true);
        notifier.Follow(ready.WaitHandle, () => Volatile.Read(ref tick), () => "serving 1 port(s)", stop.Token);

        Assert.That(systemd.Receive("READY=1"), Is.EqualTo("READY=1\nSTATUS=serving 1 port(s)"));
        Assert.That(systemd.Receive("WATCHDOG=1"), Is.EqualTo("WATCHDOG=1\n"), "a turning worker: pings, the status unchanged");

        turning.Reset(); // the worker is stuck (a device command that never completes)
        string stuck = systemd.Receive("worker stuck");
        Assert.That(stuck, Does.StartWith("STATUS=worker stuck for ").And.Not.Contain("WATCHDOG=1"));
        for (int i = 0; i < 3; i++)
            Assert.That(systemd.ReceiveAny(), Does.Not.Contain("WATCHDOG=1"), "no ping while stuck: systemd restarts the service");

        turning.Set();
        Assert.That(systemd.Receive("WATCHDOG=1"), Is.EqualTo("WATCHDOG=1\nSTATUS=serving 1 port(s)\n"), "pings again, and the status says so");
        stop.Cancel();
        Assert.That(systemd.Receive("STOPPING=1"), Does.StartWith("STOPPING=1\n"));
        worker.Join();
    }

    [Test]
    public void Watchdog_MeantForAnotherProcess_IsNotOurs_AndNoNotifySocket_MeansNoNotifier()
    {
        var other = WithEnvironment(new() { ["NOTIFY_SOCKET"] = _dir["n.sock"], ["WATCHDOG_USEC"] = "200000", ["WATCHDOG_PID"] = "1" },
            SystemdNotifier.FromEnvironment);
        Assert.That(other!.WatchdogTimeout, Is.Null);
        other.Dispose();
        Assert.That(WithEnvironment(new() { ["NOTIFY_SOCKET"] = null }, SystemdNotifier.FromEnvironment), Is.Null);
    }

    [Test]
    public void JournalLines_CarryTheirPriority_WholeLinesOnly()
    {
        var outText = new StringWriter();
        var errText = new StringWriter();
        using (var o = JournalLineWriter.ForOut(outText))
        using (var e = JournalLineWriter.ForErr(errText))
        {
            o.Write("DEV\tPORT\n");
            o.Write("mlx4_0 ");
            o.Write("1\nroceuio: serving");
            o.WriteLine();
            e.WriteLine("error: mlx4_0 port 1: SET_PORT failed");
            e.WriteLine("roceuio run: cannot open /dev/vfio/5");
            e.WriteLine("roceuio run: note: not root; the control socket is /tmp/x");
            e.WriteLine("netlink: ENOBUFS: resyncing");
        }
        Assert.That(outText.ToString(), Is.EqualTo("<6>DEV\tPORT\n<6>mlx4_0 1\n<6>roceuio: serving\n"));
        Assert.That(errText.ToString(), Is.EqualTo(
            "<3>error: mlx4_0 port 1: SET_PORT failed\n<3>roceuio run: cannot open /dev/vfio/5\n"
            + "<4>roceuio run: note: not root; the control socket is /tmp/x\n<4>netlink: ENOBUFS: resyncing\n"));
    }

    private static T WithEnvironment<T>(Dictionary<string, string?> vars, Func<T> f)
    {
        var saved = vars.Keys.ToDictionary(k => k, Environment.GetEnvironmentVariable);
        try
        {
            foreach (var (k, v) in vars)
                Environment.SetEnvironmentVariable(k, v);
            return f();
        }
        finally
        {
            foreach (var (k, v) in saved)
                Environment.SetEnvironmentVariable(k, v);
        }
    }

    /// <summary>systemd's end: a datagram socket the daemon's notifications arrive on.</summary>
    private sealed class NotifySocket : IDisposable
    {
        private readonly Socket _s = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        private readonly List<string> _seen = [];

        public NotifySocket(string path)
        {
            Path = path;
            _s.Bind(new UnixDomainSocketEndPoint(path));
        }

        public string Path { get; }

        /// <summary>The next datagram (at most 10 s).</summary>
        public string ReceiveAny()
        {
            if (!_s.Poll(TimeSpan.FromSeconds(10), SelectMode.SelectRead))
                Assert.Fail($"no notification within 10 s; seen so far: [{string.Join(" | ", _seen)}]");
            byte[] buf = new byte[4096];
            string m = Encoding.UTF8.GetString(buf, 0, _s.Receive(buf));
            _seen.Add(m);
            return m;
        }

        /// <summary>The first datagram from now on that contains <paramref name="text"/> (at most 10 s in all).</summary>
        public string Receive(string text)
        {
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < TimeSpan.FromSeconds(10))
            {
                string m = ReceiveAny();
                if (m.Contains(text, StringComparison.Ordinal))
                    return m;
            }
            Assert.Fail($"no notification with {text} within 10 s; seen: [{string.Join(" | ", _seen)}]");
            return "";
        }

        public void Dispose() => _s.Dispose();
    }
}
