using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace RoceUio.Cli.Control;

/// <summary>Sends one request to the daemon's control socket and returns its result, or throws with the daemon's error.</summary>
public static class ControlClient
{
    public static string DefaultPath => Config.DefaultPaths.ClientControl();

    public static async Task<JsonNode?> CallAsync(string path, string command, JsonObject? args = null, CancellationToken ct = default)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await s.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new ControlException(Unreachable(path, e));
        }
        await using var stream = new NetworkStream(s, ownsSocket: false);
        var writer = PipeWriter.Create(stream);
        var reader = PipeReader.Create(stream);
        await ControlFraming.WriteFrameAsync(writer, new JsonObject { ["command"] = command, ["args"] = args ?? [] }, ct).ConfigureAwait(false);
        byte[] frame = await ControlFraming.ReadFrameAsync(reader, ct).ConfigureAwait(false)
                       ?? throw new ControlException($"the daemon at {path} closed the connection without an answer");
        JsonNode response = JsonNode.Parse(frame) ?? throw new ControlException("the daemon sent an empty answer");
        if ((bool?)response["ok"] != true)
            throw new ControlException((string?)response["error"] ?? "the daemon refused the request");
        return response["result"];
    }

    /// <summary>Why connect failed, in a user's words. .NET reports a missing socket file (ENOENT) as
    /// AddressNotAvailable, whose text "Cannot assign requested address" says nothing to a user.</summary>
    private static string Unreachable(string path, SocketException e)
        => e.SocketErrorCode switch
        {
            SocketError.AddressNotAvailable or SocketError.ConnectionRefused
                => $"no daemon at {path}: is it running? (start it with `roceuio run`; --control or ROCEUIO_CONTROL names another socket)",
            SocketError.AccessDenied
                => $"cannot open {path}: permission denied (the socket is 0660: join its group or use root)",
            _ => $"cannot reach the daemon at {path}: {e.Message}",
        };
}
