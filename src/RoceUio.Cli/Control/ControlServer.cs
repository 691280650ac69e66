using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RoceUio.Cli.Control;

/// <summary>The peer of a control connection, from SO_PEERCRED (<c>struct ucred { pid_t pid; uid_t uid; gid_t gid; }</c>, socket(7)).</summary>
public readonly record struct PeerCredentials(int Pid, uint Uid, uint Gid)
{
    public bool IsRoot => Uid == 0;

    public static PeerCredentials Of(Socket s)
    {
        Span<byte> ucred = stackalloc byte[12];
        const int SOL_SOCKET = 1, SO_PEERCRED = 17;
        int n = s.GetRawSocketOption(SOL_SOCKET, SO_PEERCRED, ucred);
        if (n < 12)
            throw new IOException($"SO_PEERCRED returned {n} bytes, expected 12");
        return new PeerCredentials(MemoryMarshal.Read<int>(ucred), MemoryMarshal.Read<uint>(ucred[4..]), MemoryMarshal.Read<uint>(ucred[8..]));
    }
}

/// <summary>A control command: read-only ones are open to anyone who can connect (the socket's group); the others only to root.</summary>
public sealed record ControlCommand(string Name, bool ChangesState, Func<JsonObject, JsonNode?> Handle);

/// <summary>A request the daemon refuses; its message goes back to the client.</summary>
public sealed class ControlException(string message) : Exception(message);

/// <summary>
/// Serves the daemon's control socket: a Unix stream socket, mode 0660, one task per connection, requests answered in
/// order. A malformed request gets an error response and the daemon keeps serving; a bad frame closes that connection.
/// Handlers run on the caller-supplied <see cref="Dispatch"/> (the daemon marshals them onto its worker).
/// </summary>
public sealed class ControlServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Dictionary<string, ControlCommand> _commands;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;

    public string Path { get; }
    public Func<Func<JsonNode?>, Task<JsonNode?>> Dispatch { get; init; } = f => Task.FromResult(f());

    public ControlServer(string path, IEnumerable<ControlCommand> commands)
    {
        Path = path;
        _commands = commands.ToDictionary(c => c.Name);
        string? dir = System.IO.Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(dir))
            Directory.CreateDirectory(dir);
        if (File.Exists(path))
            File.Delete(path);   // a stale socket of an earlier run
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            _listener.Bind(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException e)
        {
            _listener.Dispose();
            throw new IOException($"cannot create the control socket {path}: {e.Message}", e);
        }
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        _listener.Listen(16);
        _accept = Task.Run(AcceptLoop);
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket s;
            try
            {
                s = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            _ = Task.Run(() => Serve(s));
        }
    }

    private async Task Serve(Socket s)
    {
        using (s)
        await using (var stream = new NetworkStream(s, ownsSocket: false))
        {
            PeerCredentials peer = PeerCredentials.Of(s);
            PipeReader reader = PipeReader.Create(stream);
            PipeWriter writer = PipeWriter.Create(stream);
            try
            {
                while (await ControlFraming.ReadFrameAsync(reader, _stop.Token).ConfigureAwait(false) is { } frame)
                    await ControlFraming.WriteFrameAsync(writer, await Answer(frame, peer).ConfigureAwait(false), _stop.Token).ConfigureAwait(false);
            }
            catch (InvalidDataException e)
            {
                await ControlFraming.WriteFrameAsync(writer, Error($"bad frame: {e.Message}"), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or SocketException)
            {
                // The client went away or the daemon is stopping.
            }
            await reader.CompleteAsync().ConfigureAwait(false);
            await writer.CompleteAsync().ConfigureAwait(false);
        }
    }

    private async Task<JsonNode> Answer(byte[] frame, PeerCredentials peer)
    {
        JsonObject request;
        try
        {
            request = JsonNode.Parse(frame) as JsonObject ?? throw new JsonException("not a JSON object");
        }
        catch (JsonException e)
        {
            return Error($"malformed request: {e.Message}");
        }
        string? name = request["command"]?.GetValueKind() == JsonValueKind.String ? (string?)request["command"] : null;
        if (name is null)
            return Error("malformed request: no \"command\" string");
        if (!_commands.TryGetValue(name, out ControlCommand? cmd))
            return Error($"unknown command \"{name}\" (known: {string.Join(", ", _commands.Keys.Order())})");
        if (cmd.ChangesState && !peer.IsRoot)
            return Error($"\"{name}\" changes the daemon's state and needs root (you are uid {peer.Uid})");
        JsonObject args = request["args"] as JsonObject ?? [];
        try
        {
            JsonNode? result = await Dispatch(() => cmd.Handle(args)).ConfigureAwait(false);
            return new JsonObject { ["ok"] = true, ["result"] = result };
        }
        catch (ControlException e)
        {
            return Error(e.Message);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
        {
            return Error($"{name}: {e.Message}");
        }
    }

    private static JsonObject Error(string message) => new() { ["ok"] = false, ["error"] = message };

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        try { await _accept.ConfigureAwait(false); } catch (OperationCanceledException) { }
        try { File.Delete(Path); } catch (IOException) { }
        _stop.Dispose();
    }
}
