using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace RoceUio.Cli.Daemon;

/// <summary>
/// The daemon's side of systemd's notify protocol (sd_notify(3)), spoken directly: one datagram of
/// <c>KEY=VALUE</c> lines to the AF_UNIX socket named by <c>$NOTIFY_SOCKET</c> (a path, or <c>@name</c> for the abstract
/// namespace). No libsystemd. <see cref="Follow"/> sends <c>READY=1</c> once the daemon's first full tables are in the
/// hardware, <c>STATUS=</c> with a one-line summary when it changes, <c>WATCHDOG=1</c> every half of
/// <c>$WATCHDOG_USEC</c> but only while the worker loop keeps turning (a stuck worker trips the watchdog and systemd
/// restarts the service), and <c>STOPPING=1</c> when the stop is requested.
/// </summary>
/// <remarks>Threading: <see cref="Follow"/> runs its own background thread; <see cref="Send"/> may be called from any
/// thread (one datagram per call). The daemon is read only through thread-safe members (Ready, LastLoopTick, Snapshot).</remarks>
public sealed class SystemdNotifier : IDisposable
{
    private readonly Socket _socket;
    private readonly UnixDomainSocketEndPoint _target;
    private readonly ManualResetEventSlim _finished = new();
    private Thread? _thread;

    private SystemdNotifier(string socketPath, TimeSpan? watchdog)
    {
        SocketPath = socketPath;
        WatchdogTimeout = watchdog;
        // "@name" is the abstract namespace: a leading NUL in the address.
        _target = new UnixDomainSocketEndPoint(socketPath.StartsWith('@') ? "\0" + socketPath[1..] : socketPath);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    }

    public string SocketPath { get; }

    /// <summary>systemd's WatchdogSec= for this process ($WATCHDOG_USEC, when $WATCHDOG_PID is unset or ours); null: no watchdog.</summary>
    public TimeSpan? WatchdogTimeout { get; }

    /// <summary>The notifier systemd asked for through the environment, or null when $NOTIFY_SOCKET is unset.</summary>
    public static SystemdNotifier? FromEnvironment()
    {
        if (Environment.GetEnvironmentVariable("NOTIFY_SOCKET") is not { Length: > 0 } path)
            return null;
        TimeSpan? watchdog = null;
        string? pid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        bool ours = string.IsNullOrEmpty(pid) || pid == Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        if (ours && ulong.TryParse(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), NumberStyles.None, CultureInfo.InvariantCulture, out ulong usec) && usec > 0)
            watchdog = TimeSpan.FromMicroseconds(usec);
        return new SystemdNotifier(path, watchdog);
    }

    /// <summary>Sends one notification (lines of KEY=VALUE). False when systemd's socket is gone (nothing to do then).</summary>
    public bool Send(string state)
    {
        try
        {
            _socket.SendTo(Encoding.UTF8.GetBytes(state), _target);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Follows <paramref name="daemon"/> on a background thread until <paramref name="stop"/> or <see cref="Dispose"/>.</summary>
    public void Follow(RoceDaemon daemon, CancellationToken stop)
        => Follow(daemon.Ready.WaitHandle, () => daemon.LastLoopTick, () => StatusOf(daemon), stop);

    /// <summary>
    /// Waits for <paramref name="ready"/>, says READY=1, then every half watchdog period (5 s without one) pings the
    /// watchdog if <paramref name="lastLoopTick"/> moved within that period and refreshes STATUS= when it changed. A
    /// stuck worker gets no ping, and STATUS says for how long it has been stuck.
    /// </summary>
    public void Follow(WaitHandle ready, Func<long> lastLoopTick, Func<string> status, CancellationToken stop)
    {
        stop.Register(() => Send("STOPPING=1\nSTATUS=stopping: saving the sticky state"));
        _thread = new Thread(() => Run(ready, lastLoopTick, status, stop)) { IsBackground = true, Name = "systemd-notify" };
        _thread.Start();
    }

    private void Run(WaitHandle ready, Func<long> lastLoopTick, Func<string> status, CancellationToken stop)
    {
        if (WaitHandle.WaitAny([ready, _finished.WaitHandle, stop.WaitHandle]) != 0)
            return;
        string said = status();
        Send($"READY=1\nSTATUS={said}");
        TimeSpan period = WatchdogTimeout is { } w ? w / 2 : TimeSpan.FromSeconds(5);
        while (!_finished.Wait(period) && !stop.IsCancellationRequested)
        {
            long stuckMs = Environment.TickCount64 - lastLoopTick();
            bool alive = stuckMs < (long)period.TotalMilliseconds; // the worker turns at least every 20 ms when idle
            string now = alive ? status() : $"worker stuck for {stuckMs} ms (no watchdog ping)";
            var message = new StringBuilder();
            if (alive && WatchdogTimeout is not null)
                message.Append("WATCHDOG=1\n");
            if (now != said)
                message.Append("STATUS=").Append(now).Append('\n');
            said = now;
            if (message.Length > 0)
                Send(message.ToString());
        }
    }

    /// <summary>One line for <c>systemctl status</c>: what is served, and the errors of late.</summary>
    public static string StatusOf(RoceDaemon daemon)
    {
        ControlSnapshot s = daemon.Snapshot;
        string errors = s.RecentErrors.Count == 0 ? "no recent errors" : $"{s.RecentErrors.Count} recent error(s), last: {s.RecentErrors[^1]}";
        return $"serving {s.Ports.Count} port(s), {s.Rows.Count} GID(s); {errors}".ReplaceLineEndings(" ");
    }

    public void Dispose()
    {
        _finished.Set();
        _thread?.Join(TimeSpan.FromSeconds(2));
        _socket.Dispose();
        _finished.Dispose();
    }
}
