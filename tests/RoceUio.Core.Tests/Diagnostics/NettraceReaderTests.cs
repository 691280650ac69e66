using System.Buffers.Binary;
using System.Text;
using NUnit.Framework;
using RoceUio.Diagnostics;

namespace RoceUio.Core.Tests.Diagnostics;

/// <summary>The nettrace reader behind <c>roceuio stat</c> on streams built here as the runtime writes them (ep-block.c,
/// ep-file.c): whole or a byte at a time, and damaged ones refused with the offset. MetricsTests runs it on a real daemon.</summary>
public class NettraceReaderTests
{
    private const string Session = "s1";

    [Test]
    public void AStream_FedWholeOrAByteAtATime_GivesTheMetricsIntervalWithTheCountersTotal()
    {
        byte[] stream = Stream();
        foreach (int chunk in new[] { stream.Length, 1, 7 })
        {
            var (reader, intervals, errors) = Reader();
            NettraceEventHandler decode = Decode(reader, intervals, errors);
            for (int i = 0; i < stream.Length; i += chunk)
                reader.Feed(stream.AsSpan(i, Math.Min(chunk, stream.Length - i)), decode);
            Assert.That(reader.Ended, Is.True, $"chunks of {chunk}: the end tag read");
            Assert.That(intervals, Has.Count.EqualTo(1), $"chunks of {chunk}");
            Assert.That(intervals[0].Select(v => (v.Name, v.Kind, v.Tags, v.Value)),
                Is.EqualTo(new[] { ("roceuio.gid.adds", "counter", "dev=mlx4_0,port=1", 4.0), ("roceuio.gid.table.used", "gauge", "dev=mlx4_0,port=1", 4.0) }));
            Assert.That(errors, Is.Empty);
        }
    }

    [Test]
    public void DamagedStreams_AreRefused_SayingWhat_AndWhere()
    {
        var (reader, intervals, errors) = Reader();
        Assert.That(() => reader.Feed("NotTrace!FastSerialization.1____"u8, Decode(reader, intervals, errors)),
            Throws.TypeOf<FormatException>().With.Message.Contains("does not start with \"Nettrace\""));

        byte[] s = Stream();
        int blockSizeAt = IndexOf(s, "MetadataBlock"u8) + "MetadataBlock".Length + 1;
        BinaryPrimitives.WriteInt32LittleEndian(s.AsSpan(blockSizeAt), NettraceReader.MaxBlockSize + 1);
        (reader, intervals, errors) = Reader();
        Assert.That(() => reader.Feed(s, Decode(reader, intervals, errors)),
            Throws.TypeOf<FormatException>().With.Message.Contains($"'MetadataBlock' block of {NettraceReader.MaxBlockSize + 1} bytes at offset {blockSizeAt}"));

        // An event that claims more payload than its block holds.
        (reader, intervals, errors) = Reader();
        byte[] t = Stream(payloadSizeDelta: 500);
        Assert.That(() => reader.Feed(t, Decode(reader, intervals, errors)),
            Throws.TypeOf<FormatException>().With.Message.Contains("-byte payload").And.Message.Contains("left in its block"));
    }

    private static (NettraceReader, List<IReadOnlyList<EventPipeMetric>>, List<string>) Reader() => (new NettraceReader(), [], []);

    private static NettraceEventHandler Decode(NettraceReader _, List<IReadOnlyList<EventPipeMetric>> intervals, List<string> errors)
    {
        var d = new MetricsEventDecoder(Session, "RoceUio") { IntervalEnded = v => intervals.Add(v.ToList()), Error = errors.Add };
        return d.OnEvent;
    }

    private static int IndexOf(byte[] s, ReadOnlySpan<byte> what) => s.AsSpan().IndexOf(what);

    // ------------------------------------------------------------ a stream as the runtime writes it

    private static byte[] Stream(int payloadSizeDelta = 0)
    {
        var w = new List<byte>();
        w.AddRange("Nettrace"u8.ToArray());
        Int32(w, 20);
        w.AddRange("!FastSerialization.1"u8.ToArray());
        Object(w, "Trace", 4, body: new byte[48], sized: false);
        // Metadata: ids 1..5 → System.Diagnostics.Metrics events 2, 3, 4, 5 and an unrelated provider's event.
        var meta = new List<byte[]>();
        foreach (var (id, provider, ev) in new[] { (1, MetricsEventDecoder.Provider, 2), (2, MetricsEventDecoder.Provider, 3),
                     (3, MetricsEventDecoder.Provider, 4), (4, MetricsEventDecoder.Provider, 5), (5, "Other", 4) })
        {
            var p = new List<byte>();
            Int32(p, id);
            Utf16(p, provider);
            Int32(p, ev);
            Utf16(p, $"Event{ev}");
            p.AddRange(new byte[8]);
            Int32(p, 0);
            Int32(p, 4);
            meta.Add(p.ToArray());
        }
        Object(w, "MetadataBlock", 2, Block(meta.Select(m => (0, m)).ToList(), 0), sized: true);
        var events = new List<(int, byte[])>
        {
            (1, Payload(Session, time: true)),
            (5, Payload(Session, "RoceUio", "", "roceuio.other", "", "", "9", "9")),
            (3, Payload(Session, "RoceUio", "1.0", "roceuio.gid.adds", "{gid}", "dev=mlx4_0,port=1", "0", "4")),
            (3, Payload("other-session", "RoceUio", "1.0", "roceuio.gid.adds", "{gid}", "dev=mlx4_0,port=1", "0", "99")),
            (4, Payload(Session, "RoceUio", "1.0", "roceuio.gid.table.used", "{gid}", "dev=mlx4_0,port=1", "4")),
            (2, Payload(Session, time: true)),
        };
        Object(w, "EventBlock", 2, Block(events, payloadSizeDelta), sized: true);
        w.Add(1); // NullReference: the end
        return w.ToArray();

        void Object(List<byte> o, string name, int version, byte[] body, bool sized)
        {
            o.Add(5);
            o.Add(5);
            o.Add(1);
            Int32(o, version);
            Int32(o, 0);
            Int32(o, name.Length);
            o.AddRange(Encoding.UTF8.GetBytes(name));
            o.Add(6);
            if (sized)
            {
                Int32(o, body.Length);
                while (o.Count % 4 != 0)
                    o.Add(0);
            }
            o.AddRange(body);
            o.Add(6);
        }
    }

    /// <summary>A block with compressed headers: flags byte, metadata id when it changes, timestamp delta, payload size
    /// when it changes (ep_event_block_base_write_event).</summary>
    private static byte[] Block(List<(int MetadataId, byte[] Payload)> events, int payloadSizeDelta)
    {
        var b = new List<byte>();
        Int16(b, 20);
        Int16(b, 1);
        b.AddRange(new byte[16]);
        int lastId = -1, lastSize = -1;
        bool first = true;
        foreach (var (id, payload) in events)
        {
            byte flags = 0x02 | 0x04; // sequence/capture thread and thread id: present, skipped by the reader
            if (id != lastId)
                flags |= 0x01;
            if (payload.Length != lastSize)
                flags |= 0x80;
            b.Add(flags);
            if ((flags & 0x01) != 0)
                VarUInt(b, (uint)id);
            VarUInt(b, 0);
            VarUInt(b, 123456789);
            VarUInt(b, 3);
            VarUInt(b, 987654321);
            VarUInt(b, 1000); // timestamp delta
            if ((flags & 0x80) != 0)
                VarUInt(b, (uint)(payload.Length + (first ? payloadSizeDelta : 0)));
            b.AddRange(payload);
            lastId = id;
            lastSize = payload.Length;
            first = false;
        }
        return b.ToArray();
    }

    private static byte[] Payload(string session, bool time)
    {
        var p = new List<byte>();
        Utf16(p, session);
        p.AddRange(new byte[16]);
        return p.ToArray();
    }

    private static byte[] Payload(params string[] strings)
    {
        var p = new List<byte>();
        foreach (string s in strings)
            Utf16(p, s);
        Int32(p, 7); // instrument id
        return p.ToArray();
    }

    private static void Utf16(List<byte> o, string s)
    {
        o.AddRange(Encoding.Unicode.GetBytes(s));
        o.Add(0);
        o.Add(0);
    }

    private static void Int16(List<byte> o, short v)
    {
        o.Add((byte)v);
        o.Add((byte)(v >> 8));
    }

    private static void Int32(List<byte> o, int v)
    {
        for (int i = 0; i < 4; i++)
            o.Add((byte)(v >> (8 * i)));
    }

    private static void VarUInt(List<byte> o, uint v)
    {
        while (v >= 0x80)
        {
            o.Add((byte)(v | 0x80));
            v >>= 7;
        }
        o.Add((byte)v);
    }
}
