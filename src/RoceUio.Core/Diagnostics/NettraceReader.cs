using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace RoceUio.Diagnostics;

/// <summary>One event of a nettrace stream: its provider, its event id within the provider, and its payload (valid
/// only during the callback).</summary>
public readonly ref struct NettraceEvent(string provider, int eventId, int version, ReadOnlySpan<byte> payload)
{
    public string Provider { get; } = provider;
    public int EventId { get; } = eventId;
    public int Version { get; } = version;
    public ReadOnlySpan<byte> Payload { get; } = payload;
}

public delegate void NettraceEventHandler(in NettraceEvent e);

/// <summary>
/// A streaming reader of the nettrace format (version 5, what the .NET runtime writes to an EventPipe session over the
/// diagnostics IPC; TraceEvent's <c>EventPipe/NetTraceFormat_v5.md</c> in microsoft/perfview describes it, the writer
/// is the runtime's <c>src/native/eventpipe/ep-block.c</c> and <c>ep-file.c</c>). It reads only what a counter client
/// needs: metadata (id → provider, event id) and events with their payload; stacks and sequence points are skipped.
/// Bytes are fed as they arrive (<see cref="Feed"/>); an object is decoded once it is whole.
/// </summary>
/// <remarks>
/// Layout: "Nettrace" (8 bytes), then int32 20 + "!FastSerialization.1", then objects. An object is
/// <c>BeginPrivateObject(5)</c>, its type (<c>5, NullReference(1), int32 version, int32 minReaderVersion, int32 nameLength,
/// name (UTF-8), EndObject(6)</c>), its body, <c>EndObject(6)</c>. The stream ends with a <c>NullReference(1)</c> tag
/// where the next object would start. The "Trace" body is fixed (48 bytes: SYSTEMTIME, sync QPC, QPC frequency, pointer
/// size, pid, processors, sampling rate). Every other body is <c>int32 blockSize</c>, zero padding to a 4-byte stream
/// offset, then blockSize bytes. EventBlock and MetadataBlock start with <c>int16 headerSize</c> (counting itself),
/// <c>int16 flags</c> (bit 0: compressed event headers), then events.
/// </remarks>
public sealed class NettraceReader
{
    private const byte NullReference = 1, BeginPrivateObject = 5, EndObject = 6;
    private static ReadOnlySpan<byte> Magic => "Nettrace"u8;
    private static ReadOnlySpan<byte> Serialization => "!FastSerialization.1"u8;
    private const int TraceBodySize = 16 + 8 + 8 + 4 + 4 + 4 + 4;
    /// <summary>A block larger than this is refused (the runtime writes blocks of at most 100 KB).</summary>
    public const int MaxBlockSize = 16 << 20;

    private readonly Dictionary<int, (string Provider, int EventId, int Version)> _metadata = [];
    private byte[] _buf = new byte[64 * 1024];
    private int _start, _end;
    private long _consumed; // stream offset of _buf[_start]
    private bool _headerRead;

    /// <summary>True once the stream's end tag was read.</summary>
    public bool Ended { get; private set; }

    /// <summary>Events decoded so far (metadata events not counted).</summary>
    public long Events { get; private set; }

    /// <summary>Adds <paramref name="data"/> and calls <paramref name="onEvent"/> for every event now complete.</summary>
    /// <exception cref="FormatException">The stream is not nettrace v5 or is damaged (the message says where).</exception>
    public void Feed(ReadOnlySpan<byte> data, NettraceEventHandler onEvent)
    {
        if (Ended)
            return;
        Append(data);
        while (TryReadObject(onEvent))
        {
        }
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (_end + data.Length > _buf.Length)
        {
            int live = _end - _start;
            byte[] target = live + data.Length > _buf.Length ? new byte[Math.Max(_buf.Length * 2, live + data.Length)] : _buf;
            Buffer.BlockCopy(_buf, _start, target, 0, live);
            _buf = target;
            _start = 0;
            _end = live;
        }
        data.CopyTo(_buf.AsSpan(_end));
        _end += data.Length;
    }

    private void Consume(int n)
    {
        _start += n;
        _consumed += n;
    }

    private bool TryReadObject(NettraceEventHandler onEvent)
    {
        var s = new ReadOnlySpan<byte>(_buf, _start, _end - _start);
        if (!_headerRead)
        {
            if (s.Length < Magic.Length + 4 + Serialization.Length)
                return false;
            if (!s[..8].SequenceEqual(Magic))
                throw new FormatException("not a nettrace stream: it does not start with \"Nettrace\"");
            if (BinaryPrimitives.ReadInt32LittleEndian(s[8..]) != Serialization.Length || !s.Slice(12, Serialization.Length).SequenceEqual(Serialization))
                throw new FormatException("nettrace stream: no \"!FastSerialization.1\" header at offset 8");
            Consume(12 + Serialization.Length);
            _headerRead = true;
            return true;
        }
        if (s.Length < 1)
            return false;
        if (s[0] == NullReference)
        {
            Consume(1);
            Ended = true;
            return false;
        }
        var r = new SpanReader(s, _consumed);
        r.Tag(BeginPrivateObject, "an object");
        if (!r.Has(1 + 1 + 4 + 4 + 4))
            return false;
        r.Tag(BeginPrivateObject, "an object's type");
        r.Tag(NullReference, "an object's type");
        int version = r.Int32();
        r.Int32(); // minimum reader version
        int nameLength = r.Int32();
        if (nameLength is < 0 or > 64)
            throw new FormatException($"nettrace stream: object type name of {nameLength} bytes at offset {r.Offset - 4}");
        if (!r.Has(nameLength + 1))
            return false;
        string name = Encoding.UTF8.GetString(r.Bytes(nameLength));
        r.Tag(EndObject, $"the end of the '{name}' type");
        if (name == "Trace")
        {
            if (!r.Has(TraceBodySize + 1))
                return false;
            r.Bytes(TraceBodySize);
        }
        else
        {
            if (!r.Has(4))
                return false;
            int blockSize = r.Int32();
            if (blockSize is < 0 or > MaxBlockSize)
                throw new FormatException($"nettrace stream: '{name}' block of {blockSize} bytes at offset {r.Offset - 4}");
            int padding = (int)((4 - (r.Offset % 4)) % 4);
            if (!r.Has(padding + blockSize + 1))
                return false;
            r.Bytes(padding);
            long blockOffset = r.Offset;
            ReadOnlySpan<byte> block = r.Bytes(blockSize);
            if (name == "MetadataBlock")
                ReadEventBlock(block, blockOffset, version, metadata: true, onEvent);
            else if (name == "EventBlock")
                ReadEventBlock(block, blockOffset, version, metadata: false, onEvent);
            // StackBlock, SPBlock: nothing a counter client needs.
        }
        r.Tag(EndObject, $"the end of a '{name}' object");
        Consume(r.Position);
        return true;
    }

    /// <summary>The events of one EventBlock or MetadataBlock (ep-block.c, ep_event_block_base_write_event).</summary>
    private void ReadEventBlock(ReadOnlySpan<byte> block, long blockOffset, int version, bool metadata, NettraceEventHandler onEvent)
    {
        var r = new SpanReader(block, blockOffset);
        bool compressed = false;
        if (version >= 2)
        {
            int headerSize = r.Int16();
            int flags = r.Int16();
            if (headerSize < 4 || headerSize > block.Length)
                throw new FormatException($"nettrace stream: block header of {headerSize} bytes at offset {blockOffset}");
            r.Bytes(headerSize - 4);
            compressed = (flags & 1) != 0;
        }
        // The compressed header carries only what changed since the previous event of the same block.
        int metadataId = 0, payloadSize = 0;
        while (r.Remaining > 0)
        {
            long eventOffset = r.Offset;
            if (compressed)
            {
                byte f = r.Byte();
                if ((f & 0x01) != 0)
                    metadataId = (int)r.VarUInt32();
                if ((f & 0x02) != 0)
                {
                    r.VarUInt32(); // sequence number delta
                    r.VarUInt64(); // capture thread id
                    r.VarUInt32(); // processor number
                }
                if ((f & 0x04) != 0)
                    r.VarUInt64(); // thread id
                if ((f & 0x08) != 0)
                    r.VarUInt32(); // stack id
                r.VarUInt64(); // timestamp delta
                if ((f & 0x10) != 0)
                    r.Bytes(16); // activity id
                if ((f & 0x20) != 0)
                    r.Bytes(16); // related activity id
                if ((f & 0x80) != 0)
                    payloadSize = (int)r.VarUInt32();
            }
            else
            {
                r.Int32(); // event size
                metadataId = r.Int32() & 0x7FFF_FFFF; // high bit: sorted
                r.Bytes(4 + 8 + 8 + 4 + 4 + 8 + 16 + 16); // sequence, thread, capture thread, processor, stack, timestamp, activity ids
                payloadSize = r.Int32();
            }
            if (payloadSize < 0 || payloadSize > r.Remaining)
                throw new FormatException($"nettrace stream: event at offset {eventOffset} claims a {payloadSize}-byte payload, {r.Remaining} left in its block");
            ReadOnlySpan<byte> payload = r.Bytes(payloadSize);
            if (!compressed)
                r.Bytes(Math.Min((int)((4 - r.Offset % 4) % 4), r.Remaining)); // uncompressed events are 4-byte aligned
            if (metadata)
                ReadMetadata(payload, r.Offset - payloadSize);
            else if (_metadata.TryGetValue(metadataId, out var m))
            {
                Events++;
                onEvent(new NettraceEvent(m.Provider, m.EventId, m.Version, payload));
            }
        }
    }

    /// <summary>A metadata event's payload: int32 metadata id, provider name (UTF-16, NUL-ended), int32 event id,
    /// event name, int64 keywords, int32 version, int32 level, then the fields (not needed here).</summary>
    private void ReadMetadata(ReadOnlySpan<byte> payload, long offset)
    {
        var r = new SpanReader(payload, offset);
        int id = r.Int32();
        string provider = r.Utf16Z();
        int eventId = r.Int32();
        r.Utf16Z(); // event name
        r.Bytes(8); // keywords
        int version = r.Int32();
        _metadata[id] = (provider, eventId, version);
    }
}

/// <summary>Bounds-checked little-endian reads over a span; every failure names the stream offset.</summary>
public ref struct SpanReader(ReadOnlySpan<byte> span, long baseOffset)
{
    private readonly ReadOnlySpan<byte> _s = span;
    private int _pos;

    public readonly int Position => _pos;
    public readonly long Offset => baseOffset + _pos;
    public readonly int Remaining => _s.Length - _pos;
    public readonly bool Has(int n) => n >= 0 && Remaining >= n;

    public ReadOnlySpan<byte> Bytes(int n)
    {
        if (!Has(n))
            throw new FormatException($"nettrace stream: {n} bytes wanted at offset {Offset}, {Remaining} left");
        ReadOnlySpan<byte> b = _s.Slice(_pos, n);
        _pos += n;
        return b;
    }

    public byte Byte() => Bytes(1)[0];
    public short Int16() => BinaryPrimitives.ReadInt16LittleEndian(Bytes(2));
    public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Bytes(4));
    public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Bytes(8));
    public double Double() => BinaryPrimitives.ReadDoubleLittleEndian(Bytes(8));

    public void Tag(byte expected, string what)
    {
        long at = Offset;
        byte b = Byte();
        if (b != expected)
            throw new FormatException($"nettrace stream: tag {b} where {what} begins (tag {expected} expected) at offset {at}");
    }

    public uint VarUInt32() => (uint)VarUInt(5);
    public ulong VarUInt64() => VarUInt(10);

    private ulong VarUInt(int maxBytes)
    {
        ulong v = 0;
        for (int i = 0; i < maxBytes; i++)
        {
            byte b = Byte();
            v |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
                return v;
        }
        throw new FormatException($"nettrace stream: variable-length integer longer than {maxBytes} bytes at offset {Offset}");
    }

    /// <summary>A NUL-terminated UTF-16LE string (EventPipe payload strings).</summary>
    public string Utf16Z()
    {
        ReadOnlySpan<byte> rest = _s[_pos..];
        ReadOnlySpan<char> chars = MemoryMarshal.Cast<byte, char>(rest[..(rest.Length & ~1)]);
        int n = chars.IndexOf('\0');
        if (n < 0)
            throw new FormatException($"nettrace stream: unterminated UTF-16 string at offset {Offset}");
        string s = new(chars[..n]);
        _pos += 2 * (n + 1);
        return s;
    }
}
