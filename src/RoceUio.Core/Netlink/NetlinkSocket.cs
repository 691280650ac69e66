using System.Runtime.InteropServices;
using static Tmds.Linux.LibC;

namespace RoceUio.Netlink;

/// <summary>Outcome of one receive.</summary>
public enum NetlinkReceiveStatus : byte
{
    /// <summary>A datagram was read.</summary>
    Ok,
    /// <summary>Nothing queued (non-blocking receive).</summary>
    WouldBlock,
    /// <summary>ENOBUFS: the kernel dropped multicast messages for this socket; the state may be out of sync.</summary>
    Overrun,
    /// <summary>The datagram was larger than the buffer; its tail is lost.</summary>
    Truncated,
}

/// <summary>
/// A NETLINK_ROUTE socket (socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE)) through Tmds.LibC.
/// The socket belongs to the network namespace of the thread that opens it, for its whole life.
/// Locking: none; one thread uses a socket at a time.
/// </summary>
public sealed unsafe partial class NetlinkSocket : IDisposable
{
    private const int ENOBUFS_ = 105, EAGAIN_ = 11, EINTR_ = 4;
    private int _fd;

    private NetlinkSocket(int fd) => _fd = fd;

    /// <summary>Opens and binds (nl_pid 0: the kernel assigns the port id; no legacy groups).</summary>
    public static NetlinkSocket Open()
    {
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NetlinkSocketConstants.NETLINK_ROUTE);
        if (fd < 0)
            throw new NetlinkException("socket(AF_NETLINK, NETLINK_ROUTE)", errno);
        var s = new NetlinkSocket(fd);
        var addr = new SockaddrNl { nl_family = AddressFamilies.AF_NETLINK };
        if (bind(fd, (Tmds.Linux.sockaddr*)&addr, sizeof(SockaddrNl)) < 0)
        {
            int e = errno;
            s.Dispose();
            throw new NetlinkException("bind(AF_NETLINK)", e);
        }
        return s;
    }

    public int Handle => _fd;

    /// <summary>The port id the kernel assigned (getsockname nl_pid): dump replies carry it.</summary>
    public uint PortId
    {
        get
        {
            SockaddrNl addr;
            Tmds.Linux.socklen_t len = sizeof(SockaddrNl);
            if (getsockname(_fd, (Tmds.Linux.sockaddr*)&addr, &len) < 0)
                throw new NetlinkException("getsockname(AF_NETLINK)", errno);
            return addr.nl_pid;
        }
    }

    /// <summary>Subscribes to a multicast group (NETLINK_ADD_MEMBERSHIP; works for any group number).</summary>
    public void JoinGroup(int group) => SetInt(NetlinkSocketConstants.SOL_NETLINK, NetlinkSocketConstants.NETLINK_ADD_MEMBERSHIP, group, $"NETLINK_ADD_MEMBERSHIP {group}");

    /// <summary>NETLINK_GET_STRICT_CHK: the kernel validates and filters dump requests strictly.</summary>
    public void EnableStrictCheck() => SetInt(NetlinkSocketConstants.SOL_NETLINK, NetlinkSocketConstants.NETLINK_GET_STRICT_CHK, 1, "NETLINK_GET_STRICT_CHK");

    /// <summary>
    /// NETLINK_LISTEN_ALL_NSID: the groups' messages of every namespace that has an id in this one arrive here too,
    /// tagged with that id (<see cref="Receive(Span{byte}, bool, out int, out int)"/>). Needs CAP_NET_BROADCAST; false
    /// when refused (the socket then hears its own namespace only).
    /// </summary>
    public bool TryEnableListenAllNsid() => TrySetInt(NetlinkSocketConstants.SOL_NETLINK, NetlinkSocketConstants.NETLINK_LISTEN_ALL_NSID, 1);

    /// <summary>NETLINK_EXT_ACK: errors carry extended-ack TLVs.</summary>
    public void EnableExtendedAck() => SetInt(NetlinkSocketConstants.SOL_NETLINK, NetlinkSocketConstants.NETLINK_EXT_ACK, 1, "NETLINK_EXT_ACK");

    /// <summary>
    /// Sets the receive buffer: SO_RCVBUFFORCE (needs CAP_NET_ADMIN, ignores rmem_max), else SO_RCVBUF (capped at
    /// rmem_max). The kernel doubles the value for bookkeeping. Returns the effective size (getsockopt).
    /// </summary>
    public int SetReceiveBufferSize(int bytes)
    {
        if (!TrySetInt(SOL_SOCKET, SO_RCVBUFFORCE, bytes))
            SetInt(SOL_SOCKET, SO_RCVBUF, bytes, $"SO_RCVBUF {bytes}");
        return ReceiveBufferSize;
    }

    /// <summary>Sets SO_RCVBUF only (capped at rmem_max; the kernel doubles it, minimum 2 * SOCK_MIN_RCVBUF).</summary>
    public int SetReceiveBufferSizeUnforced(int bytes)
    {
        SetInt(SOL_SOCKET, SO_RCVBUF, bytes, $"SO_RCVBUF {bytes}");
        return ReceiveBufferSize;
    }

    public int ReceiveBufferSize
    {
        get
        {
            int v;
            Tmds.Linux.socklen_t len = sizeof(int);
            if (getsockopt(_fd, SOL_SOCKET, SO_RCVBUF, &v, &len) < 0)
                throw new NetlinkException("getsockopt(SO_RCVBUF)", errno);
            return v;
        }
    }

    /// <summary>Sends one request to the kernel.</summary>
    public void Send(ReadOnlySpan<byte> message)
    {
        fixed (byte* p = message)
        {
            while (true)
            {
                long n = send(_fd, p, message.Length, 0);
                if (n == message.Length) return;
                int e = errno;
                if (n < 0 && e == EINTR_) continue;
                throw new NetlinkException($"send({message.Length} bytes) on netlink", n < 0 ? e : 0);
            }
        }
    }

    /// <summary>
    /// Receives one datagram into <paramref name="buffer"/>. <paramref name="wait"/> false: MSG_DONTWAIT.
    /// Uses MSG_TRUNC so a datagram larger than the buffer is reported as Truncated. Allocation-free.
    /// </summary>
    public NetlinkReceiveStatus Receive(Span<byte> buffer, bool wait, out int length)
    {
        int flags = MSG_TRUNC | (wait ? 0 : MSG_DONTWAIT);
        fixed (byte* p = buffer)
        {
            while (true)
            {
                long n = recv(_fd, p, buffer.Length, flags);
                if (n >= 0)
                {
                    length = (int)Math.Min(n, buffer.Length);
                    return n > buffer.Length ? NetlinkReceiveStatus.Truncated : NetlinkReceiveStatus.Ok;
                }
                int e = errno;
                length = 0;
                if (e == EINTR_) continue;
                if (e == EAGAIN_) return NetlinkReceiveStatus.WouldBlock;
                if (e == ENOBUFS_) return NetlinkReceiveStatus.Overrun;
                throw new NetlinkException("recv on netlink", e);
            }
        }
    }

    /// <summary>
    /// Receives one datagram like <see cref="Receive(Span{byte}, bool, out int)"/> and says which namespace it came
    /// from: the id (in this socket's namespace) of the sender's namespace from the NETLINK_LISTEN_ALL_NSID control
    /// message, or <see cref="Netnsa.NETNSA_NSID_NOT_ASSIGNED"/> when there is none (this socket's own namespace, or a
    /// socket that does not listen to all). Allocation-free.
    /// </summary>
    public NetlinkReceiveStatus Receive(Span<byte> buffer, bool wait, out int length, out int nsid)
    {
        int flags = MSG_TRUNC | (wait ? 0 : MSG_DONTWAIT);
        // Control buffer: room for one cmsghdr with an int (CMSG_SPACE(4) = 24) and some slack.
        const int ControlBytes = 64;
        byte* control = stackalloc byte[ControlBytes];
        fixed (byte* p = buffer)
        {
            while (true)
            {
                IoVec iov = new() { Base = p, Length = (nuint)buffer.Length };
                MsgHdr msg = new() { Iov = &iov, IovLength = 1, Control = control, ControlLength = ControlBytes };
                long n = RecvMsg(_fd, &msg, flags);
                if (n >= 0)
                {
                    length = (int)Math.Min(n, buffer.Length);
                    nsid = NsidFromControl(control, (int)Math.Min(msg.ControlLength, (nuint)ControlBytes));
                    return n > buffer.Length ? NetlinkReceiveStatus.Truncated : NetlinkReceiveStatus.Ok;
                }
                int e = Marshal.GetLastPInvokeError();
                length = 0;
                nsid = Netnsa.NETNSA_NSID_NOT_ASSIGNED;
                if (e == EINTR_) continue;
                if (e == EAGAIN_) return NetlinkReceiveStatus.WouldBlock;
                if (e == ENOBUFS_) return NetlinkReceiveStatus.Overrun;
                throw new NetlinkException("recvmsg on netlink", e);
            }
        }
    }

    // Walks the control messages (struct cmsghdr, include/linux/socket.h: size_t cmsg_len, int cmsg_level, int
    // cmsg_type, data at CMSG_ALIGN(16); each message CMSG_ALIGN(cmsg_len) = 8-byte aligned) for SOL_NETLINK /
    // NETLINK_LISTEN_ALL_NSID, whose data is the int nsid (netlink_cmsg_listen_all_nsid). Bounded by `length`.
    private static int NsidFromControl(byte* control, int length)
    {
        const int HeaderBytes = 16;
        int offset = 0;
        while (offset + HeaderBytes <= length)
        {
            long cmsgLen = *(long*)(control + offset);
            int level = *(int*)(control + offset + 8), type = *(int*)(control + offset + 12);
            if (cmsgLen < HeaderBytes || offset + cmsgLen > length)
                break;
            if (level == NetlinkSocketConstants.SOL_NETLINK && type == NetlinkSocketConstants.NETLINK_LISTEN_ALL_NSID
                && cmsgLen >= HeaderBytes + sizeof(int))
                return *(int*)(control + offset + HeaderBytes);
            offset += (int)((cmsgLen + 7) & ~7L);
        }
        return Netnsa.NETNSA_NSID_NOT_ASSIGNED;
    }

    // struct msghdr and struct iovec of x86-64/arm64 glibc (bits/socket.h, bits/types/struct_iovec.h): pointers and
    // size_t are 8 bytes, so msg_namelen and msg_flags are each followed by 4 bytes of padding (56 bytes in all).
    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial long RecvMsg(int fd, MsgHdr* msg, int flags);

    /// <summary>Waits until a datagram (or an error such as ENOBUFS) is pending, up to <paramref name="timeoutMs"/> (-1: forever).</summary>
    public bool WaitReadable(int timeoutMs)
    {
        Tmds.Linux.pollfd pfd = default;
        pfd.fd = _fd;
        pfd.events = (short)POLLIN;
        while (true)
        {
            int n = PollWithErrno(&pfd, 1, timeoutMs);
            if (n >= 0) return n > 0;
            int e = Marshal.GetLastPInvokeError();
            if (e != EINTR_) throw new NetlinkException("poll on netlink", e);
        }
    }

    /// <summary>poll(2) with errno captured: Tmds.LibC's <c>poll</c> lacks SetLastError, so an EINTR read back as 0
    /// (userspace-mechanics.md 4) and could not be told from a real failure.</summary>
    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int PollWithErrno(Tmds.Linux.pollfd* fds, ulong nfds, int timeout);

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
            close(fd);
    }

    private void SetInt(int level, int name, int value, string what)
    {
        if (!TrySetInt(level, name, value))
            throw new NetlinkException($"setsockopt({what})", errno);
    }

    private bool TrySetInt(int level, int name, int value) => setsockopt(_fd, level, name, &value, sizeof(int)) == 0;
}
