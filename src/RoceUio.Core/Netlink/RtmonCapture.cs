using System.Buffers.Binary;

namespace RoceUio.Netlink;

/// <summary>
/// Writes iproute2's <c>rtmon file X</c> format (ip/rtmon.c): raw netlink messages, each padded to NLMSG_ALIGN,
/// back to back; an NLMSG_TSTAMP (15) record (nlmsghdr + u32 tv_sec + u32 tv_usec) before the initial dump and
/// before each later event. <c>ip monitor file X</c> reads it (lib/libnetlink.c rtnl_from_file).
/// Not thread-safe.
/// </summary>
public sealed class RtmonCaptureWriter : IDisposable
{
    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly Func<DateTimeOffset> _clock;
    private bool _stamped;

    public RtmonCaptureWriter(Stream stream, bool ownsStream = true, Func<DateTimeOffset>? clock = null)
    {
        _stream = stream;
        _ownsStream = ownsStream;
        _clock = clock ?? (() => DateTimeOffset.UtcNow);
    }

    public static RtmonCaptureWriter Create(string path) => new(File.Create(path));

    /// <summary>A dump message: the first one is preceded by one timestamp, like rtmon's initial dump.</summary>
    public void WriteMessage(ReadOnlySpan<byte> message)
    {
        if (!_stamped)
            WriteTimestamp();
        WriteRaw(message);
    }

    /// <summary>An event: a timestamp then the message, like rtmon after its initial dump.</summary>
    public void WriteEvent(ReadOnlySpan<byte> message)
    {
        WriteTimestamp();
        WriteRaw(message);
    }

    /// <summary>Every message of a buffer built by <see cref="NetlinkMessageWriter"/>, each as an event.</summary>
    public void WriteEvents(ReadOnlySpan<byte> messages)
    {
        var reader = new NetlinkMessageReader(messages);
        while (reader.TryRead(out NetlinkMessage m))
            WriteEvent(m.Bytes);
        if (reader.Failure.IsError)
            throw new ArgumentException($"messages are malformed: {reader.Failure}", nameof(messages));
    }

    public void WriteTimestamp()
    {
        Span<byte> rec = stackalloc byte[NlMsgHdr.Size + 8];
        rec.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(rec, (uint)rec.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(rec[NlMsgHdr.OffsetType..], NlMsgType.NLMSG_TSTAMP);
        long us = _clock().ToUnixTimeMilliseconds() * 1000;
        BinaryPrimitives.WriteUInt32LittleEndian(rec[NlMsgHdr.Size..], (uint)(us / 1_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(rec[(NlMsgHdr.Size + 4)..], (uint)(us % 1_000_000));
        _stream.Write(rec);
        _stamped = true;
    }

    private void WriteRaw(ReadOnlySpan<byte> message)
    {
        if (message.Length < NlMsgHdr.Size || BinaryPrimitives.ReadUInt32LittleEndian(message) != (uint)message.Length)
            throw new ArgumentException("not one complete netlink message (nlmsg_len must equal its length)", nameof(message));
        _stream.Write(message);
        Span<byte> pad = stackalloc byte[3];
        pad.Clear();
        _stream.Write(pad[..(NlMsgHdr.Align(message.Length) - message.Length)]);
    }

    public void Flush() => _stream.Flush();

    public void Dispose()
    {
        _stream.Flush();
        if (_ownsStream)
            _stream.Dispose();
    }
}

/// <summary>
/// Reads an rtmon capture: the link and address messages, in order, skipping timestamps (NLMSG_TSTAMP), control
/// messages and the route, netconf and nsid messages rtmon also records. A framing error stops the walk.
/// </summary>
public ref struct RtmonCaptureReader
{
    private NetlinkMessageReader _reader;

    public RtmonCaptureReader(ReadOnlySpan<byte> file) => _reader = new NetlinkMessageReader(file);

    public readonly NetlinkParseFailure Failure => _reader.Failure;
    /// <summary>Records skipped so far (timestamps, routes, netconf, ...).</summary>
    public int Skipped { get; private set; }

    /// <summary>The time of the latest NLMSG_TSTAMP record read (rtmon writes one before each event and before the first
    /// dump; u32 tv_sec, u32 tv_usec after the header), in microseconds since the epoch; 0 before the first.</summary>
    public long TimestampUs { get; private set; }

    /// <summary>The next RTM_NEWLINK/DELLINK/NEWADDR/DELADDR message.</summary>
    public bool TryRead(out NetlinkMessage message)
    {
        while (_reader.TryRead(out message))
        {
            if (message.Type is NlMsgType.RTM_NEWLINK or NlMsgType.RTM_DELLINK or NlMsgType.RTM_NEWADDR or NlMsgType.RTM_DELADDR)
                return true;
            if (message.Type == NlMsgType.NLMSG_TSTAMP && message.Bytes.Length >= NlMsgHdr.Size + 8)
                TimestampUs = BinaryPrimitives.ReadUInt32LittleEndian(message.Bytes[NlMsgHdr.Size..]) * 1_000_000L
                              + BinaryPrimitives.ReadUInt32LittleEndian(message.Bytes[(NlMsgHdr.Size + 4)..]);
            Skipped++;
        }
        return false;
    }

    /// <summary>Replays a whole capture into <paramref name="cache"/>; returns the messages applied.</summary>
    public static int Replay(ReadOnlySpan<byte> file, NetdevCache cache)
    {
        var reader = new RtmonCaptureReader(file);
        int applied = 0;
        while (reader.TryRead(out NetlinkMessage m))
            if (cache.Apply(m))
                applied++;
        if (reader.Failure.IsError)
            cache.ApplyAll(file[reader.Failure.Offset..]); // counts and logs the framing error
        return applied;
    }
}
