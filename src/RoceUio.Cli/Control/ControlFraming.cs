using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RoceUio.Cli.Control;

/// <summary>
/// The control socket's framing: each message is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
/// A request is <c>{"command": NAME, "args": {...}}</c>; a response <c>{"ok": true, "result": ...}</c> or
/// <c>{"ok": false, "error": TEXT}</c>. A request over <see cref="MaxRequestFrame"/> is refused at its length prefix
/// and the connection closed; answers (a big table's rows) may be up to <see cref="MaxResponseFrame"/>.
/// </summary>
public static class ControlFraming
{
    public const int MaxRequestFrame = 64 * 1024;
    public const int MaxResponseFrame = 64 << 20;

    /// <summary>Reads one frame; null at a clean end of stream. Throws <see cref="InvalidDataException"/> on a bad frame.</summary>
    public static async ValueTask<byte[]?> ReadFrameAsync(PipeReader reader, CancellationToken ct, int maxFrame = MaxResponseFrame)
    {
        while (true)
        {
            ReadResult rr = await reader.ReadAsync(ct).ConfigureAwait(false);
            ReadOnlySequence<byte> buf = rr.Buffer;
            if (buf.Length >= 4)
            {
                uint len = ReadLength(buf);
                if (len > maxFrame)
                {
                    reader.AdvanceTo(buf.Start, buf.End);
                    throw new InvalidDataException($"frame of {len} bytes is larger than the {maxFrame}-byte limit");
                }
                if (buf.Length >= 4 + len)
                {
                    byte[] body = buf.Slice(4, len).ToArray();
                    reader.AdvanceTo(buf.GetPosition(4 + len));
                    return body;
                }
            }
            if (rr.IsCompleted)
            {
                reader.AdvanceTo(buf.End);
                if (buf.Length == 0)
                    return null;
                throw new InvalidDataException($"the stream ended inside a frame ({buf.Length} bytes of it)");
            }
            reader.AdvanceTo(buf.Start, buf.End);
        }
    }

    private static uint ReadLength(in ReadOnlySequence<byte> buf)
    {
        Span<byte> hdr = stackalloc byte[4];
        buf.Slice(0, 4).CopyTo(hdr);
        return BinaryPrimitives.ReadUInt32BigEndian(hdr);
    }

    public static async ValueTask WriteFrameAsync(PipeWriter writer, JsonNode message, CancellationToken ct)
    {
        byte[] body = Encoding.UTF8.GetBytes(message.ToJsonString()); // ToJsonString: no reflection, fine under NativeAOT
        Memory<byte> mem = writer.GetMemory(4 + body.Length);
        BinaryPrimitives.WriteUInt32BigEndian(mem.Span, (uint)body.Length);
        body.CopyTo(mem[4..]);
        writer.Advance(4 + body.Length);
        await writer.FlushAsync(ct).ConfigureAwait(false);
    }
}
