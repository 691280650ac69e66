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

    /// <summary>Opens the socket in the calling thread's namespace (the namespace whose ids it asks about). Strict-checked
    /// (NETLINK_GET_STRICT_CHK): rtnl_net_dumpid reads NETNSA_TARGET_NSID only under it (net/core/net_namespace.c).</summary>
    public static NetnsIdSocket Open()
    {
        NetlinkSocket s = NetlinkSocket.Open();
        try { s.EnableStrictCheck(); }
        catch { s.Dispose(); throw; }
        return new(s);
    }

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
    public List<int> ListIds() => ListIds(-1).Select(e => e.Id).ToList();

    /// <summary>
    /// The ids that namespaces have in the namespace with id <paramref name="target"/> here, each with the id the same
    /// namespace has here (<c>ip netns list-id target-nsid N</c>: rtnl_net_dumpid with NETNSA_TARGET_NSID answers
    /// NETNSA_CURRENT_NSID, <see cref="Netnsa.NETNSA_NSID_NOT_ASSIGNED"/> where it has none here). Target -1: this
    /// namespace's own ids (IdHere then repeats Id). Throws when the kernel refuses (the target went away).
    /// </summary>
    public List<(int Id, int IdHere)> ListIds(int target)
    {
        Span<byte> req = stackalloc byte[NlMsgHdr.Size + RtGenMsgSize + 8];
        int len = Header(req, NlMsgType.RTM_GETNSID, NlMsgFlags.NLM_F_REQUEST | NlMsgFlags.NLM_F_DUMP);
        if (target >= 0)
            len = PutS32(req, len, Netnsa.NETNSA_TARGET_NSID, target);
        uint seq = _seq;
        _socket.Send(req[..len]);
        var ids = new List<(int, int)>();
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
                {
                    if (m.TryGetError(out int doneErr) && doneErr < 0)
                        throw new NetlinkException("RTM_GETNSID dump", -doneErr);
                    return ids;
                }
                if (m.Type == NlMsgType.NLMSG_ERROR)
                {
                    m.TryGetError(out int err);
                    throw new NetlinkException("RTM_GETNSID dump", -err);
                }
                if (m.Type == NlMsgType.RTM_NEWNSID && TryReadNsid(m, out int id) && id >= 0)
                    ids.Add((id, target < 0 ? id : TryReadAttribute(m, Netnsa.NETNSA_CURRENT_NSID, out int here) ? here : Netnsa.NETNSA_NSID_NOT_ASSIGNED));
            }
            if (reader.Failure.IsError)
                throw new NetlinkException($"RTM_GETNSID dump reply malformed: {reader.Failure}", 0);
        }
    }

    /// <summary>
    /// IFLA_LINK_NETNSID of the link with ifindex <paramref name="ifindex"/> in the namespace with id
    /// <paramref name="target"/> here, asked from here (RTM_GETLINK with IFLA_TARGET_NETNSID): the reply is written for
    /// this namespace (rtnl_getlink passes the requester's net to rtnl_fill_ifinfo), so the id is one of this
    /// namespace's, and rtnl_fill_link_netnsid gives the lower device's namespace one here if it had none
    /// (peernet2id_alloc; an RTM_NEWNSID follows on RTNLGRP_NSID). <see cref="Netnsa.NETNSA_NSID_NOT_ASSIGNED"/> when the
    /// link has no IFLA_LINK_NETNSID; null when the kernel refused (the link or the namespace is gone).
    /// </summary>
    public int? LinkNetNsIdOf(int target, int ifindex)
    {
        Span<byte> req = stackalloc byte[NlMsgHdr.Size + IfInfoMsg.Size + 8];
        req.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(req[NlMsgHdr.OffsetType..], NlMsgType.RTM_GETLINK);
        BinaryPrimitives.WriteUInt16LittleEndian(req[NlMsgHdr.OffsetFlags..], NlMsgFlags.NLM_F_REQUEST);
        uint seq = ++_seq;
        BinaryPrimitives.WriteUInt32LittleEndian(req[NlMsgHdr.OffsetSeq..], seq);
        BinaryPrimitives.WriteInt32LittleEndian(req[(NlMsgHdr.Size + IfInfoMsg.OffsetIndex)..], ifindex); // ifi_family AF_UNSPEC
        BinaryPrimitives.WriteUInt32LittleEndian(req, NlMsgHdr.Size + IfInfoMsg.Size);
        int len = PutS32(req, NlMsgHdr.Size + IfInfoMsg.Size, Ifla.IFLA_TARGET_NETNSID, target);
        _socket.Send(req[..len]);
        while (true)
        {
            NetlinkReceiveStatus st = _socket.Receive(_buffer, wait: true, out int n);
            if (st == NetlinkReceiveStatus.Truncated)
                return null; // larger than 16 KiB (VF lists): the tail, where the answer may be, is lost
            if (st != NetlinkReceiveStatus.Ok)
                continue;
            var reader = new NetlinkMessageReader(_buffer.AsSpan(0, n));
            while (reader.TryRead(out NetlinkMessage m))
            {
                if (m.Sequence != seq)
                    continue;
                if (m.Type == NlMsgType.NLMSG_ERROR)
                    return null;
                if (m.Type == NlMsgType.RTM_NEWLINK)
                {
                    if (!LinkMessage.TryParse(m, out LinkMessage link, out _))
                        return null;
                    return link.Has(LinkAttributes.LinkNetNsId) ? link.LinkNetNsId : Netnsa.NETNSA_NSID_NOT_ASSIGNED;
                }
            }
        }
    }

    /// <summary>The NETNSA_NSID of an RTM_NEWNSID/RTM_DELNSID message (a reply, or an event on RTNLGRP_NSID).</summary>
    public static bool TryReadNsid(in NetlinkMessage m, out int nsid) => TryReadAttribute(m, Netnsa.NETNSA_NSID, out nsid);

    private static bool TryReadAttribute(in NetlinkMessage m, ushort type, out int value)
    {
        value = Netnsa.NETNSA_NSID_NOT_ASSIGNED;
        if (m.Payload.Length < RtGenMsgSize)
            return false;
        var reader = new RtAttributeReader(m.Payload[RtGenMsgSize..]);
        while (reader.TryRead(out RtAttribute a))
            if (a.Type == type)
                return a.TryGetS32(out value);
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
