using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace RoceUio.Netlink;

/// <summary>
/// Namespace ids (net/core/net_namespace.c rtnl_net_getid, rtnl_net_newid, rtnl_net_dumpid) on a NETLINK_ROUTE socket
/// of its own, so that a question can be asked while another socket is in the middle of a dump. A message is a
/// nlmsghdr, a struct rtgenmsg (one family byte, padded to 4) and NETNSA_* attributes.
/// Locking: none; the monitor's thread uses it.
/// </summary>
public sealed class NetnsIdSocket : IDisposable
{
    private const int RtGenMsgSize = 4;
    private readonly NetlinkSocket _socket;
    private readonly byte[] _buffer = new byte[16 * 1024];
    private uint _seq;

    private NetnsIdSocket(NetlinkSocket socket) => _socket = socket;

    /// <summary>Opens the socket in the calling thread's namespace (the namespace whose ids it asks about).</summary>
    public static NetnsIdSocket Open() => new(NetlinkSocket.Open());

    /// <summary>
    /// The id that the namespace behind <paramref name="netns"/> (an open /proc/PID/ns/net or /run/netns/NAME) has in
    /// this namespace, or, with <paramref name="asSeenFrom"/> &gt;= 0, in the namespace with that id here (NETNSA_TARGET_NSID).
    /// <see cref="Netnsa.NETNSA_NSID_NOT_ASSIGNED"/> when it has none; null when the kernel refused the question.
    /// </summary>
    public int? IdOf(SafeFileHandle netns, int asSeenFrom = -1)
    {
        Span<byte> req = stackalloc byte[NlMsgHdr.Size + RtGenMsgSize + 16];
        int len = Header(req, NlMsgType.RTM_GETNSID, NlMsgFlags.NLM_F_REQUEST);
        len = PutS32(req, len, Netnsa.NETNSA_FD, (int)netns.DangerousGetHandle());
        if (asSeenFrom >= 0)
            len = PutS32(req, len, Netnsa.NETNSA_TARGET_NSID, asSeenFrom);
        return Ask(req[..len], out int id) == 0 ? id : null;
    }

    /// <summary>
    /// Gives the namespace behind <paramref name="netns"/> an id here (RTM_NEWNSID, NETNSA_NSID -1: the kernel picks the
    /// lowest free one), as <c>ip netns set NAME auto</c> does; its messages can then be heard with
    /// NETLINK_LISTEN_ALL_NSID. Returns 0, or the kernel's -errno (-EEXIST: it has one already).
    /// </summary>
    public int Assign(SafeFileHandle netns)
    {
        Span<byte> req = stackalloc byte[NlMsgHdr.Size + RtGenMsgSize + 16];
        int len = Header(req, NlMsgType.RTM_NEWNSID, NlMsgFlags.NLM_F_REQUEST | NlMsgFlags.NLM_F_ACK);
        len = PutS32(req, len, Netnsa.NETNSA_FD, (int)netns.DangerousGetHandle());
        len = PutS32(req, len, Netnsa.NETNSA_NSID, Netnsa.NETNSA_NSID_NOT_ASSIGNED);
        return Ask(req[..len], out _);
    }

    /// <summary>Every id that other namespaces have in this one (RTM_GETNSID dump, as <c>ip netns list-id</c>).</summary>
    public List<int> ListIds()
    {
        Span<byte> req = stackalloc byte[NlMsgHdr.Size + RtGenMsgSize];
        int len = Header(req, NlMsgType.RTM_GETNSID, NlMsgFlags.NLM_F_REQUEST | NlMsgFlags.NLM_F_DUMP);
        uint seq = _seq;
        _socket.Send(req[..len]);
        var ids = new List<int>();
        while (true)
        {
            if (_socket.Receive(_buffer, wait: true, out int n) != NetlinkReceiveStatus.Ok)
                continue;
            var reader = new NetlinkMessageReader(_buffer.AsSpan(0, n));
            while (reader.TryRead(out NetlinkMessage m))
            {
                if (m.Sequence != seq)
                    continue;
                if (m.Type == NlMsgType.NLMSG_DONE)
                    return ids;
                if (m.Type == NlMsgType.NLMSG_ERROR)
                {
                    m.TryGetError(out int err);
                    throw new NetlinkException("RTM_GETNSID dump", -err);
                }
                if (m.Type == NlMsgType.RTM_NEWNSID && TryReadNsid(m, out int id) && id >= 0)
                    ids.Add(id);
            }
            if (reader.Failure.IsError)
                throw new NetlinkException($"RTM_GETNSID dump reply malformed: {reader.Failure}", 0);
        }
    }

    /// <summary>The NETNSA_NSID of an RTM_NEWNSID/RTM_DELNSID message (a reply, or an event on RTNLGRP_NSID).</summary>
    public static bool TryReadNsid(in NetlinkMessage m, out int nsid)
    {
        nsid = Netnsa.NETNSA_NSID_NOT_ASSIGNED;
        if (m.Payload.Length < RtGenMsgSize)
            return false;
        var reader = new RtAttributeReader(m.Payload[RtGenMsgSize..]);
        while (reader.TryRead(out RtAttribute a))
            if (a.Type == Netnsa.NETNSA_NSID)
                return a.TryGetS32(out nsid);
        return false;
    }

    // Sends one request and waits for its answer: 0 with the NETNSA_NSID of an RTM_NEWNSID reply, 0 for an ACK, or the
    // -errno of an NLMSG_ERROR.
    private int Ask(ReadOnlySpan<byte> request, out int nsid)
    {
        uint seq = _seq;
        _socket.Send(request);
        nsid = Netnsa.NETNSA_NSID_NOT_ASSIGNED;
        while (true)
        {
            if (_socket.Receive(_buffer, wait: true, out int n) != NetlinkReceiveStatus.Ok)
                continue;
            var reader = new NetlinkMessageReader(_buffer.AsSpan(0, n));
            while (reader.TryRead(out NetlinkMessage m))
            {
                if (m.Sequence != seq)
                    continue; // the answer to an earlier question that was given up on
                if (m.Type == NlMsgType.NLMSG_ERROR)
                {
                    m.TryGetError(out int err);
                    return err;
                }
                if (m.Type == NlMsgType.RTM_NEWNSID)
                {
                    TryReadNsid(m, out nsid);
                    return 0;
                }
            }
        }
    }

    private int Header(Span<byte> req, ushort type, ushort flags)
    {
        req.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(req[NlMsgHdr.OffsetType..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(req[NlMsgHdr.OffsetFlags..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(req[NlMsgHdr.OffsetSeq..], ++_seq);
        int len = NlMsgHdr.Size + RtGenMsgSize; // rtgen_family AF_UNSPEC
        BinaryPrimitives.WriteUInt32LittleEndian(req, (uint)len);
        return len;
    }

    // Appends a 4-byte attribute and updates nlmsg_len.
    private static int PutS32(Span<byte> req, int at, ushort type, int value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(req[at..], 8);
        BinaryPrimitives.WriteUInt16LittleEndian(req[(at + 2)..], type);
        BinaryPrimitives.WriteInt32LittleEndian(req[(at + 4)..], value);
        at += 8;
        BinaryPrimitives.WriteUInt32LittleEndian(req, (uint)at);
        return at;
    }

    public void Dispose() => _socket.Dispose();
}
