using System.Buffers.Binary;
using System.Runtime.InteropServices;
using RoceUio.Netlink;

namespace RoceUio.Cli;

/// <summary>
/// <c>roceuio record FILE</c>: a capture in iproute2's rtmon format (<c>ip monitor file FILE</c> reads it) whose first
/// dump holds the links <em>and</em> the addresses, then every link and address change, each with its timestamp.
/// rtmon's own first dump has the links only, so replaying it misses every address that existed before it started.
/// </summary>
/// <remarks>Order: the event socket joins its groups before the dumps, so no change between the dump and the first
/// event is lost (a change seen twice is harmless: replay applies the latest state).</remarks>
internal static class RecordCommand
{
    private const string Usage = """
        Usage: roceuio record FILE [--count N]
        Writes an rtmon capture (ip monitor file FILE reads it; roceuio replay FILE replays it): a first dump of every
        link and address, then each link and address change with a timestamp, until Ctrl-C/SIGTERM or N changes.
        Use it instead of rtmon when the capture must reproduce a running host (rtmon's first dump has no addresses).
        """;

    public static int Run(string[] args)
    {
        var a = new ArgReader(args, ["--count"], []);
        if (a.Help)
        {
            Console.WriteLine(Usage);
            return 0;
        }
        if (a.Positional.Count != 1)
            throw new UsageException(a.Positional.Count == 0 ? "the capture FILE is missing" : $"unexpected '{a.Positional[1]}'");
        long count = a.Int("--count") ?? long.MaxValue;
        string path = a.Positional[0];
        using var stop = new CancellationTokenSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        try
        {
            using var writer = RtmonCaptureWriter.Create(path);
            using NetlinkSocket events = NetlinkSocket.Open();
            events.JoinGroup(RtnlGroup.RTNLGRP_LINK);
            events.JoinGroup(RtnlGroup.RTNLGRP_IPV4_IFADDR);
            events.JoinGroup(RtnlGroup.RTNLGRP_IPV6_IFADDR);
            byte[] buffer = new byte[256 * 1024];
            int links, addresses;
            using (NetlinkSocket requests = NetlinkSocket.Open())
            {
                links = Dump(requests, NlMsgType.RTM_GETLINK, 1, writer, buffer);
                addresses = Dump(requests, NlMsgType.RTM_GETADDR, 2, writer, buffer);
            }
            writer.Flush();
            Console.Error.WriteLine($"roceuio record: {path}: first dump of {links} link(s) and {addresses} address(es); recording changes (Ctrl-C stops)");
            long recorded = 0;
            while (recorded < count && !stop.IsCancellationRequested)
            {
                if (!events.WaitReadable(200))
                    continue;
                NetlinkReceiveStatus st = events.Receive(buffer, wait: false, out int n);
                if (st == NetlinkReceiveStatus.Overrun)
                    Console.Error.WriteLine("roceuio record: warning: ENOBUFS: the kernel dropped events; the capture has a gap here");
                if (st != NetlinkReceiveStatus.Ok)
                    continue;
                var reader = new NetlinkMessageReader(buffer.AsSpan(0, n));
                while (reader.TryRead(out NetlinkMessage m) && recorded < count)
                {
                    writer.WriteEvent(m.Bytes);
                    recorded++;
                }
                writer.Flush();
            }
            Console.Error.WriteLine($"roceuio record: {path}: {recorded} change(s) recorded");
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NetlinkException)
        {
            Console.Error.WriteLine($"roceuio record: {e.Message}");
            return 1;
        }
    }

    /// <summary>One RTM_GETLINK or RTM_GETADDR dump (all families), each reply message written as a dump message.</summary>
    private static int Dump(NetlinkSocket s, ushort type, uint seq, RtmonCaptureWriter writer, byte[] buffer)
    {
        int bodySize = type == NlMsgType.RTM_GETLINK ? IfInfoMsg.Size : IfAddrMsg.Size;
        Span<byte> req = stackalloc byte[NlMsgHdr.Size + IfInfoMsg.Size];
        req.Clear();
        int len = NlMsgHdr.Size + bodySize;
        BinaryPrimitives.WriteUInt32LittleEndian(req, (uint)len);
        BinaryPrimitives.WriteUInt16LittleEndian(req[NlMsgHdr.OffsetType..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(req[NlMsgHdr.OffsetFlags..], NlMsgFlags.NLM_F_REQUEST | NlMsgFlags.NLM_F_DUMP);
        BinaryPrimitives.WriteUInt32LittleEndian(req[NlMsgHdr.OffsetSeq..], seq);
        s.Send(req[..len]);
        int written = 0;
        while (true)
        {
            NetlinkReceiveStatus st = s.Receive(buffer, wait: true, out int n);
            if (st == NetlinkReceiveStatus.Truncated)
                throw new NetlinkException($"{NetlinkNames.MessageType(type)} dump reply larger than {buffer.Length} bytes", 0);
            if (st != NetlinkReceiveStatus.Ok)
                continue;
            var reader = new NetlinkMessageReader(buffer.AsSpan(0, n));
            while (reader.TryRead(out NetlinkMessage m))
            {
                if (m.Sequence != seq)
                    continue;
                if (m.Type == NlMsgType.NLMSG_DONE)
                    return written;
                if (m.Type == NlMsgType.NLMSG_ERROR && m.TryGetError(out int err) && err < 0)
                    throw new NetlinkException($"{NetlinkNames.MessageType(type)} dump", -err);
                if (m.Type is NlMsgType.RTM_NEWLINK or NlMsgType.RTM_NEWADDR)
                {
                    writer.WriteMessage(m.Bytes);
                    written++;
                }
            }
        }
    }
}
