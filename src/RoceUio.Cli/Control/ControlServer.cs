using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RoceUio.Cli.Control;

/// <summary>The peer of a control connection, from SO_PEERCRED (<c>struct ucred { pid_t pid; uid_t uid; gid_t gid; }</c>, socket(7)).</summary>
public readonly record struct PeerCredentials(int Pid, uint Uid, uint Gid)
{
    public bool IsRoot => Uid == 0;
}

/// <summary>
/// A control command: read-only ones are open to anyone who can connect (the socket's group); the others only to root.
/// <see cref="ReadsSnapshot"/> commands run on the control thread and may read only thread-safe, published state (the
/// daemon's snapshot); every other command runs through <see cref="ControlServer.Dispatch"/> (the daemon's worker).
/// </summary>
public sealed record ControlCommand(string Name, bool ChangesState, Func<JsonObject, JsonNode?> Handle)
{
    public bool ReadsSnapshot { get; init; }
}

/// <summary>A request the daemon refuses; its message goes back to the client.</summary>
public sealed class ControlException(string message) : Exception(message);

/// <summary>Limits of a <see cref="ControlServer"/> (config keys control_max_connections, control_idle_timeout_s).</summary>
public sealed record ControlServerOptions
{
    public const int DefaultMaxConnections = 64;
    public static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Connections served at once; one more is answered with an error and closed.</summary>
    public int MaxConnections { get; init; } = DefaultMaxConnections;
    /// <summary>A connection with no complete request for this long is closed (not while its request runs).</summary>
    public TimeSpan IdleTimeout { get; init; } = DefaultIdleTimeout;
    public Action<string> Log { get; init; } = static m => Console.Error.WriteLine(m);
    /// <summary>A listening socket systemd passed (socket activation): served instead of binding the path, and its file
    /// is left to systemd at the end.</summary>
    public int? InheritedListenFd { get; init; }
}

/// <summary>
/// Serves the daemon's control socket: a Unix stream socket, mode 0660, on one thread of its own that polls the
/// listener, every connection and a wake-up eventfd (poll(2)); requests on a connection are answered in order.
/// </summary>
/// <remarks>
/// <para>Threading: the control thread owns every connection. <see cref="ControlCommand.ReadsSnapshot"/> commands are
/// answered on it at once (so a worker blocked on a stuck device delays no read); the others go to
/// <see cref="Dispatch"/>, and their answers come back through a queue and the eventfd. While a connection's request
/// runs, or its answer is not yet sent, nothing more is read from it.</para>
/// <para>Limits (nothing a client does can exhaust the daemon): at most <see cref="ControlServerOptions.MaxConnections"/>
/// connections (one over is told so and closed); idle connections close after
/// <see cref="ControlServerOptions.IdleTimeout"/>; a frame over <see cref="ControlFraming.MaxRequestFrame"/> is refused at
/// its length prefix, before any of it is buffered; accept failing with EMFILE/ENFILE (out of descriptors) pauses
/// accepting for 50 ms, doubling to 1 s, instead of failing. A malformed request (not UTF-8, not JSON, no command, an
/// unknown one) gets an error answer and the connection stays open; a bad frame gets an error and the connection closes.</para>
/// </remarks>
public sealed unsafe class ControlServer : IDisposable, IAsyncDisposable
{
    private const int InitialBackoffMs = 50, MaxBackoffMs = 1000;

    private readonly Dictionary<string, ControlCommand> _commands;
    private readonly ControlServerOptions _options;
    private readonly List<Connection> _connections = [];
    private readonly ConcurrentQueue<(Connection Conn, byte[] Frame)> _answered = new();
    private readonly Thread _thread;
    private readonly int _listenFd;
    private readonly bool _inherited; // systemd's socket (socket activation): its file is systemd's to remove
    private readonly Lock _wakeLock = new();
    private int _wakeFd;
    private int _reserveFd; // /dev/null, given up when descriptors run out so that logging (which may load code) works
    private volatile bool _stopping;
    private int _disposed;
    private int _backoffMs = InitialBackoffMs;
    private int _cap; // MaxConnections, lowered for good when the process runs out of descriptors
    private long _acceptPausedUntil;

    public string Path { get; }

    /// <summary>Runs a state-changing command's handler (the daemon: on its worker); null runs it on the control thread.</summary>
    public Func<Func<JsonNode?>, Task<JsonNode?>>? Dispatch { get; init; }

    /// <summary>Connections open now (for tests and status).</summary>
    public int ConnectionCount => Volatile.Read(ref _connectionCount);
    private int _connectionCount;

    /// <summary>Times accept ran out of descriptors (EMFILE/ENFILE) and accepting paused.</summary>
    public long AcceptPauses => Interlocked.Read(ref _acceptPauses);
    private long _acceptPauses;

    public ControlServer(string path, IEnumerable<ControlCommand> commands, ControlServerOptions? options = null)
    {
        Path = path;
        _options = options ?? new ControlServerOptions();
        if (_options.MaxConnections < 1)
            throw new ArgumentException($"control_max_connections must be at least 1 (got {_options.MaxConnections})");
        _commands = commands.ToDictionary(c => c.Name);
        _cap = _options.MaxConnections;
        _inherited = _options.InheritedListenFd is not null;
        _listenFd = _options.InheritedListenFd ?? Listen(path);
        _wakeFd = Posix.EventFd(0, Posix.EFD_NONBLOCK | Posix.EFD_CLOEXEC);
        if (_wakeFd < 0)
        {
            Posix.Close(_listenFd);
            throw new IOException($"eventfd for the control server: {Posix.Describe(Posix.Errno)}");
        }
        _reserveFd = Posix.Open("/dev/null", Posix.O_RDONLY | Posix.O_CLOEXEC);
        _thread = new Thread(Loop) { IsBackground = true, Name = "roceuio-control" };
        _thread.Start();
    }

    private static int Listen(string path)
    {
        string? dir = System.IO.Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(dir))
            Directory.CreateDirectory(dir);
        if (File.Exists(path))
            File.Delete(path); // a stale socket of an earlier run
        Posix.SockaddrUn addr = Posix.UnixAddress(path, out uint len);
        int fd = Posix.Socket(Posix.AF_UNIX, Posix.SOCK_STREAM | Posix.SOCK_NONBLOCK | Posix.SOCK_CLOEXEC, 0);
        if (fd < 0)
            throw new IOException($"cannot create the control socket {path}: {Posix.Describe(Posix.Errno)}");
        if (Posix.Bind(fd, &addr, len) < 0 || Posix.Listen(fd, 128) < 0)
        {
            int e = Posix.Errno;
            Posix.Close(fd);
            throw new IOException($"cannot create the control socket {path}: {Posix.Describe(e)}");
        }
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        return fd;
    }

    // ---- the control thread ----

    private void Loop()
    {
        var fds = new Posix.PollFd[2 + _options.MaxConnections];
        while (!_stopping)
        {
            try
            {
                Iteration(fds);
            }
            catch (Exception e)
            {
                // Nothing a client sends may end the control thread; an unexpected failure is logged and serving goes on.
                Log($"control: unexpected {e.GetType().Name}: {e.Message}");
                Thread.Sleep(InitialBackoffMs);
            }
        }
    }

    private void Log(string message)
    {
        try
        {
            _options.Log(message);
        }
        catch (Exception)
        {
            // Out of descriptors or a closed stream: the message is lost, the server is not.
        }
    }

    private void Iteration(Posix.PollFd[] fds)
    {
        {
            long now = Environment.TickCount64;
            bool accepting = now >= _acceptPausedUntil;
            fds[0] = new Posix.PollFd { Fd = _wakeFd, Events = Posix.POLLIN };
            fds[1] = new Posix.PollFd { Fd = accepting ? _listenFd : -1, Events = Posix.POLLIN };
            for (int i = 0; i < _connections.Count; i++)
                fds[2 + i] = new Posix.PollFd { Fd = _connections[i].Fd, Events = _connections[i].WantedEvents };
            int n;
            fixed (Posix.PollFd* p = fds)
                n = Posix.Poll(p, (nuint)(2 + _connections.Count), PollTimeout(now, accepting));
            if (n < 0 && Posix.Errno != Posix.EINTR)
            {
                Log($"control: poll failed: {Posix.Describe(Posix.Errno)}");
                Thread.Sleep(InitialBackoffMs);
                return;
            }
            if (_stopping)
                return;
            if ((fds[0].Revents & Posix.POLLIN) != 0)
                DrainWakeups();
            DeliverAnswers();
            for (int i = 0; i < _connections.Count && n > 0; i++)
            {
                short revents = fds[2 + i].Revents;
                if (revents != 0 && fds[2 + i].Fd == _connections[i].Fd)
                    Serve(_connections[i], revents);
            }
            if (accepting && (fds[1].Revents & Posix.POLLIN) != 0)
                AcceptAll();
            CloseIdle(Environment.TickCount64);
            RemoveClosed();
        }
    }

    private int PollTimeout(long now, bool accepting)
    {
        long next = long.MaxValue;
        if (!accepting)
            next = _acceptPausedUntil;
        long idleMs = (long)_options.IdleTimeout.TotalMilliseconds;
        foreach (Connection c in _connections)
            if (c.CanIdle)
                next = Math.Min(next, c.LastActivity + idleMs);
        return next == long.MaxValue ? -1 : (int)Math.Clamp(next - now + 1, 0, 60_000);
    }

    private void DrainWakeups()
    {
        ulong count;
        Posix.Read(_wakeFd, (byte*)&count, sizeof(ulong));
    }

    private void Wake()
    {
        ulong one = 1;
        lock (_wakeLock)
            if (_wakeFd >= 0)
                Posix.Write(_wakeFd, (byte*)&one, sizeof(ulong));
    }

    private void DeliverAnswers()
    {
        while (_answered.TryDequeue(out var a))
        {
            a.Conn.Busy = false;
            if (a.Conn.Closed)
                continue;
            a.Conn.LastActivity = Environment.TickCount64;
            Send(a.Conn, a.Frame);
            ProcessFrames(a.Conn);
        }
    }

    private void AcceptAll()
    {
        while (true)
        {
            int fd = Posix.Accept4(_listenFd, null, null, Posix.SOCK_NONBLOCK | Posix.SOCK_CLOEXEC);
            if (fd < 0)
            {
                int e = Posix.Errno;
                if (e is Posix.EINTR or Posix.ECONNABORTED)
                    continue;
                if (e is Posix.EMFILE or Posix.ENFILE or Posix.ENOBUFS or Posix.ENOMEM)
                    PauseAccepting(e);
                else if (e != Posix.EAGAIN)
                    Log($"control: accept failed: {Posix.Describe(e)}");
                return;
            }
            _backoffMs = InitialBackoffMs;
            Admit(fd);
        }
    }

    /// <summary>
    /// Out of descriptors: pause accepting (50 ms doubling to 1 s), and give the process room to live: the runtime
    /// needs descriptors now and then (a new thread, a file it loads) and aborts without them. So the cap drops to
    /// <see cref="Headroom"/> below the connections open now, and the newest idle connections over it are told why and
    /// closed; the cap stays there (the limit was lower than the configuration assumed) and the log says so.
    /// </summary>
    private void PauseAccepting(int errno)
    {
        Interlocked.Increment(ref _acceptPauses);
        if (_backoffMs == InitialBackoffMs)
        {
            // The reserve descriptor makes room for whatever writing the line needs (the runtime may open files).
            if (_reserveFd >= 0)
                Posix.Close(_reserveFd);
            int open = _connections.Count(c => !c.Closed);
            int cap = Math.Max(1, Math.Min(_cap, open - Headroom));
            int shed = ShedAbove(cap);
            Log($"control: cannot accept a connection: {Posix.Describe(errno)}; pausing accept {_backoffMs} ms (doubling up to {MaxBackoffMs} ms); "
                + $"{open} connections were open, {shed} closed; at most {cap} from now on (raise the descriptor limit, RLIMIT_NOFILE / LimitNOFILE=, to serve {_options.MaxConnections})");
            _cap = cap;
            _reserveFd = Posix.Open("/dev/null", Posix.O_RDONLY | Posix.O_CLOEXEC);
        }
        _acceptPausedUntil = Environment.TickCount64 + _backoffMs;
        _backoffMs = Math.Min(_backoffMs * 2, MaxBackoffMs);
    }

    /// <summary>Descriptors kept free for the runtime once the process has run out of them.</summary>
    private const int Headroom = 8;

    private int ShedAbove(int cap)
    {
        int shed = 0;
        byte[]? notice = null;
        for (int i = _connections.Count - 1; i >= 0 && _connections.Count(c => !c.Closed) > cap; i--)
        {
            Connection c = _connections[i];
            if (c.Closed || c.Busy)
                continue;
            notice ??= Frame(Error("the daemon ran out of file descriptors and closed this connection; connect again later"));
            fixed (byte* b = notice)
                Posix.Send(c.Fd, b, (nuint)notice.Length, Posix.MSG_NOSIGNAL | Posix.MSG_DONTWAIT);
            Close(c);
            shed++;
        }
        return shed;
    }

    private void Admit(int fd)
    {
        var c = new Connection(fd) { LastActivity = Environment.TickCount64 };
        if (_connections.Count >= _cap)
        {
            // Told why, then closed: the answer fits the socket's buffer, so a non-blocking send delivers it.
            c.CloseAfterSend = true;
            Send(c, Frame(Error($"the daemon serves at most {_cap} control connections and all are open; close idle clients or raise control_max_connections")));
            if (!c.Closed)
                Close(c);
            return;
        }
        try
        {
            c.Peer = Posix.PeerOf(fd);
        }
        catch (IOException e)
        {
            Log($"control: {e.Message}; connection closed");
            Posix.Close(fd);
            return;
        }
        _connections.Add(c);
        Interlocked.Increment(ref _connectionCount);
    }

    private void Serve(Connection c, short revents)
    {
        if ((revents & Posix.POLLOUT) != 0)
            Flush(c);
        if (c.Closed)
            return;
        if ((revents & Posix.POLLIN) != 0)
            Receive(c);
        else if ((revents & (Posix.POLLHUP | Posix.POLLERR | Posix.POLLNVAL)) != 0)
            Close(c); // gone (while its request runs, its answer is dropped)
    }

    private void Receive(Connection c)
    {
        while (!c.Closed && c.Reading)
        {
            int want = c.BytesWanted(ControlFraming.MaxRequestFrame);
            if (want < 0)
            {
                RefuseOversized(c);
                return;
            }
            c.EnsureRoom(want);
            nint n;
            fixed (byte* b = c.In)
                n = Posix.Recv(c.Fd, b + c.InLength, (nuint)(c.In.Length - c.InLength), Posix.MSG_DONTWAIT);
            if (n == 0)
            {
                Close(c); // end of stream (a partial frame is dropped with it)
                return;
            }
            if (n < 0)
            {
                int e = Posix.Errno;
                if (e == Posix.EINTR)
                    continue;
                if (e != Posix.EAGAIN)
                    Close(c);
                return;
            }
            c.InLength += (int)n;
            ProcessFrames(c);
        }
    }

    private void RefuseOversized(Connection c)
    {
        uint len = BinaryPrimitives.ReadUInt32BigEndian(c.In);
        c.InLength = 0;
        c.CloseAfterSend = true;
        Send(c, Frame(Error($"bad frame: frame of {len} bytes is larger than the {ControlFraming.MaxRequestFrame}-byte limit; the connection is closed")));
    }

    /// <summary>Answers every complete frame buffered, in order, until one has to wait (worker or unsent output).</summary>
    private void ProcessFrames(Connection c)
    {
        while (!c.Closed && c.Reading && c.InLength >= 4)
        {
            uint len = BinaryPrimitives.ReadUInt32BigEndian(c.In);
            if (len > ControlFraming.MaxRequestFrame)
            {
                RefuseOversized(c);
                return;
            }
            if (c.InLength < 4 + len)
                return;
            byte[] frame = c.In.AsSpan(4, (int)len).ToArray();
            c.Consume(4 + (int)len);
            c.LastActivity = Environment.TickCount64;
            Answer(c, frame);
        }
    }

    private void Answer(Connection c, byte[] frame)
    {
        long started = Stopwatch.GetTimestamp(); // the RoceUio meter's control request count and time
        if (Parse(frame, c.Peer, out ControlCommand? cmd, out JsonObject? args) is { } refusal)
        {
            Send(c, Frame(refusal));
            RoceUio.Diagnostics.RoceUioMetrics.ControlRequestAnswered(started);
            return;
        }
        if (cmd!.ReadsSnapshot || Dispatch is null)
        {
            Send(c, Frame(Run(cmd, () => cmd.Handle(args!))));
            RoceUio.Diagnostics.RoceUioMetrics.ControlRequestAnswered(started);
            return;
        }
        c.Busy = true;
        Task<JsonNode?> work;
        try
        {
            work = Dispatch(() => cmd.Handle(args!));
        }
        catch (Exception e)
        {
            work = Task.FromException<JsonNode?>(e);
        }
        work.ContinueWith(t =>
        {
            _answered.Enqueue((c, Frame(Result(cmd, t))));
            RoceUio.Diagnostics.RoceUioMetrics.ControlRequestAnswered(started);
            Wake();
        }, TaskScheduler.Default);
    }

    /// <summary>Null when the request names a command this peer may run; otherwise the error answer.</summary>
    private JsonObject? Parse(byte[] frame, PeerCredentials peer, out ControlCommand? cmd, out JsonObject? args)
    {
        cmd = null;
        args = null;
        if (Utf8Text.FirstInvalid(frame) is int bad and >= 0)
            return Error($"malformed request: not valid UTF-8 (byte 0x{frame[bad]:x2} at offset {bad} of the {frame.Length}-byte frame); requests are UTF-8 JSON");
        JsonObject request;
        try
        {
            request = JsonNode.Parse(frame) as JsonObject ?? throw new JsonException("not a JSON object");
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            return Error($"malformed request: {e.Message}");
        }
        string? name;
        try
        {
            name = request["command"]?.GetValueKind() == JsonValueKind.String ? (string?)request["command"] : null;
            args = request["args"] as JsonObject ?? [];
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return Error($"malformed request: {e.Message}"); // duplicate keys surface here, when the object is first read
        }
        if (name is null)
            return Error("malformed request: no \"command\" string");
        if (!_commands.TryGetValue(name, out cmd))
            return Error($"unknown command \"{name}\" (known: {string.Join(", ", _commands.Keys.Order())})");
        if (cmd.ChangesState && !peer.IsRoot)
            return Error($"\"{name}\" changes the daemon's state and needs root (you are uid {peer.Uid})");
        return null;
    }

    private JsonNode Run(ControlCommand cmd, Func<JsonNode?> handler)
    {
        try
        {
            return Ok(handler());
        }
        catch (Exception e)
        {
            return Failure(cmd, e);
        }
    }

    private JsonNode Result(ControlCommand cmd, Task<JsonNode?> t)
        => t.IsCompletedSuccessfully ? Ok(t.Result) : Failure(cmd, t.Exception?.InnerException ?? new OperationCanceledException());

    private JsonObject Failure(ControlCommand cmd, Exception e)
    {
        switch (e)
        {
            case ControlException:
                return Error(e.Message);
            case FormatException or ArgumentException or InvalidOperationException:
                return Error($"{cmd.Name}: {e.Message}");
            default:
                Log($"control: {cmd.Name} failed: {e}");
                return Error($"{cmd.Name}: internal error ({e.GetType().Name}: {e.Message}); the daemon logged it");
        }
    }

    private static JsonObject Ok(JsonNode? result) => new() { ["ok"] = true, ["result"] = result };

    private static JsonObject Error(string message) => new() { ["ok"] = false, ["error"] = message };

    private static byte[] Frame(JsonNode message)
    {
        byte[] body = Encoding.UTF8.GetBytes(message.ToJsonString()); // no reflection: bin/roceuio is NativeAOT
        byte[] frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)body.Length);
        body.CopyTo(frame, 4);
        return frame;
    }

    private void Send(Connection c, byte[] frame)
    {
        c.Out = frame;
        c.OutOffset = 0;
        Flush(c);
    }

    private void Flush(Connection c)
    {
        while (c.Out is { } o)
        {
            nint n;
            fixed (byte* b = o)
                n = Posix.Send(c.Fd, b + c.OutOffset, (nuint)(o.Length - c.OutOffset), Posix.MSG_NOSIGNAL | Posix.MSG_DONTWAIT);
            if (n < 0)
            {
                int e = Posix.Errno;
                if (e == Posix.EINTR)
                    continue;
                if (e != Posix.EAGAIN)
                    Close(c);
                return; // EAGAIN: POLLOUT resumes it
            }
            c.LastActivity = Environment.TickCount64;
            c.OutOffset += (int)n;
            if (c.OutOffset == o.Length)
            {
                c.Out = null;
                if (c.CloseAfterSend)
                    Close(c);
            }
        }
    }

    private void CloseIdle(long now)
    {
        long idleMs = (long)_options.IdleTimeout.TotalMilliseconds;
        foreach (Connection c in _connections)
            if (!c.Closed && c.CanIdle && now - c.LastActivity >= idleMs)
                Close(c);
    }

    private void Close(Connection c)
    {
        if (c.Closed)
            return;
        c.Closed = true;
        Posix.Close(c.Fd);
    }

    private void RemoveClosed()
    {
        int removed = _connections.RemoveAll(c => c.Closed);
        if (removed > 0)
            Interlocked.Add(ref _connectionCount, -removed);
    }

    /// <summary>Stops the control thread, closes every connection and removes the socket file.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _stopping = true;
        Wake();
        if (!_thread.Join(TimeSpan.FromSeconds(5)))
            Log("control: the control thread did not stop within 5 s");
        foreach (Connection c in _connections)
            Close(c);
        Posix.Close(_listenFd);
        if (_reserveFd >= 0)
            Posix.Close(_reserveFd);
        lock (_wakeLock)
        {
            Posix.Close(_wakeFd);
            _wakeFd = -1;
        }
        if (!_inherited)
            try { File.Delete(Path); } catch (IOException) { }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>One client connection; touched only by the control thread (but <see cref="Busy"/>'s answer arrives by queue).</summary>
    private sealed class Connection(int fd)
    {
        public readonly int Fd = fd;
        public PeerCredentials Peer;
        public byte[] In = new byte[512];
        public int InLength;
        public byte[]? Out;
        public int OutOffset;
        public bool Busy, Closed, CloseAfterSend;
        public long LastActivity;

        /// <summary>More requests are read only when the last one is answered and its answer sent.</summary>
        public bool Reading => !Busy && Out is null && !CloseAfterSend;
        public bool CanIdle => !Busy && !Closed;

        public short WantedEvents => (short)((Reading ? Posix.POLLIN : 0) | (Out is null ? 0 : Posix.POLLOUT));

        /// <summary>How many bytes the buffer must hold to complete the frame in progress; -1 when its prefix is over the limit.</summary>
        public int BytesWanted(int maxFrame)
        {
            if (InLength < 4)
                return 4;
            uint len = BinaryPrimitives.ReadUInt32BigEndian(In);
            return len > maxFrame ? -1 : 4 + (int)len;
        }

        /// <summary>Grows the buffer when it is full, never past the frame in progress (<paramref name="total"/> bytes).</summary>
        public void EnsureRoom(int total)
        {
            if (InLength < In.Length)
                return;
            Array.Resize(ref In, Math.Min(In.Length * 2, total)); // full means InLength < total: this frame is not complete
        }

        public void Consume(int n)
        {
            In.AsSpan(n, InLength - n).CopyTo(In);
            InLength -= n;
            if (InLength == 0 && In.Length > 4096)
                In = new byte[512]; // a big request's buffer is not kept
        }
    }
}
