using System.Buffers.Binary;

namespace RoceUio.Netlink;

/// <summary>Settings of a <see cref="NetlinkMonitor"/>.</summary>
public sealed class NetlinkMonitorOptions
{
    /// <summary>Receive buffer requested at start (SO_RCVBUFFORCE, else SO_RCVBUF). 0: leave the default.</summary>
    public int ReceiveBufferBytes { get; init; } = 1 << 20;
    /// <summary>Upper bound when an overrun makes the monitor double the receive buffer.</summary>
    public int MaxReceiveBufferBytes { get; init; } = 16 << 20;
    /// <summary>How often a dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is retried before giving up.</summary>
    public int MaxDumpAttempts { get; init; } = 10;
    /// <summary>Size of the reusable receive buffer (a datagram never exceeds it: dumps use at most 32 KiB skbs).</summary>
    public int DatagramBufferBytes { get; init; } = 64 * 1024;
    /// <summary>
    /// Follow the netdevs of every other network namespace too, as the kernel's RoCE code does (a macvlan or VLAN moved
    /// into a container keeps its lower device here, and its addresses are still GIDs): NETLINK_LISTEN_ALL_NSID on the
    /// event socket, RTNLGRP_NSID for namespaces that come and go, and IFLA_TARGET_NETNSID dumps per namespace. Off: this
    /// namespace only.
    /// </summary>
    public bool FollowNamespaces { get; init; }
    /// <summary>With <see cref="FollowNamespaces"/>: namespace files, or directories of them, whose namespaces get an id
    /// here at start if they have none (only a namespace with an id here can be heard).</summary>
    public IReadOnlyList<string> NamespacePaths { get; init; } = ["/run/netns"];
    /// <summary>With <see cref="FollowNamespaces"/>: also every process's namespace (/proc/PID/ns/net) at start.</summary>
    public bool ScanProcessNamespaces { get; init; } = true;
    /// <summary>With <see cref="FollowNamespaces"/>: watch the directories among <see cref="NamespacePaths"/> (and those
    /// not there yet) for namespaces made later, and give each an id here (<see cref="NetnsDirectoryWatcher"/>).</summary>
    public bool WatchNamespacePaths { get; init; } = true;
}

/// <summary>
/// Follows rtnetlink for a <see cref="NetdevCache"/>: an event socket subscribed to RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR
/// and RTNLGRP_IPV6_IFADDR <em>before</em> the initial dump, and a separate request socket for RTM_GETLINK and
/// RTM_GETADDR dumps (a dump on the event socket would make events arriving meanwhile look like stray replies).
/// </summary>
/// <remarks>
/// Locking: none; one thread calls Start, Poll and Resync (the cache's owner thread).
/// Overrun (ENOBUFS) recipe, userspace-mechanics.md section 3: keep the socket, drain what is queued, double the
/// receive buffer (up to the maximum), re-dump links then addresses inside a cache resync (the diff becomes events),
/// count it in <see cref="Overruns"/>/<see cref="Resyncs"/> and log it. NETLINK_NO_ENOBUFS is never set.
/// Once started, processing events allocates nothing beyond what the cache allocates for new links.
/// </remarks>
public sealed class NetlinkMonitor : IDisposable
{
    private readonly NetlinkMonitorOptions _options;
    private readonly byte[] _buffer;
    private NetlinkSocket? _events;
    private NetlinkSocket? _requests;
    private NetlinkSocket? _targetRequests;    // strict-checked: IFA_TARGET_NETNSID is only read under GET_STRICT_CHK
    private NetnsFollower? _follower;
    private NetnsDirectoryWatcher? _watcher;
    private readonly List<int> _namespacesToDump = new();
    private uint _seq;
    private int _rcvbuf;

    public NetlinkMonitor(NetdevCache cache, NetlinkMonitorOptions? options = null)
    {
        Cache = cache;
        _options = options ?? new NetlinkMonitorOptions();
        _buffer = new byte[_options.DatagramBufferBytes];
    }

    public NetdevCache Cache { get; }
    /// <summary>ENOBUFS seen on the event socket.</summary>
    public long Overruns { get; private set; }
    /// <summary>Full re-dumps done after the initial one (each after an overrun or a truncated datagram).</summary>
    public long Resyncs { get; private set; }
    /// <summary>Dumps restarted because the kernel flagged NLM_F_DUMP_INTR.</summary>
    public long InterruptedDumps { get; private set; }
    /// <summary>Event datagrams larger than the buffer.</summary>
    public long TruncatedDatagrams { get; private set; }
    /// <summary>Effective SO_RCVBUF of the event socket.</summary>
    public int ReceiveBufferBytes => _rcvbuf;
    /// <summary>When set, every message received (events and dumps) is recorded, rtmon style.</summary>
    public RtmonCaptureWriter? Capture { get; set; }
    /// <summary>Where problems are reported (lost events, refused requests); stderr by default.</summary>
    public Action<string> Log { get; set; } = static m => Console.Error.WriteLine(m);
    /// <summary>Where ordinary news is reported that is no problem, such as a followed namespace going away with its
    /// netdevs (a pod deleted); nothing by default. A daemon prints it with its other news, not as an error.</summary>
    public Action<string> Info { get; set; } = static _ => { };

    /// <summary>The nsfs inode (st_ino of /proc/PID/ns/net) of the namespace with id <paramref name="netNsId"/> here,
    /// -1 for this one; 0 when unknown. What the shared-memory tables name a netdev's namespace by.</summary>
    public ulong NetNsInodeOf(int netNsId)
        => netNsId < 0 ? _ownInode : _follower?.InodeOfId(netNsId) ?? 0;

    private ulong _ownInode;

    /// <summary>Other namespaces whose netdevs are followed (<see cref="NetlinkMonitorOptions.FollowNamespaces"/>).</summary>
    public int FollowedNamespaces => _follower?.Followed.Count ?? 0;

    /// <summary>Called after each event datagram of a <see cref="Poll"/> is applied, before the next is read (the GID
    /// manager pushes a port there once its oldest unpushed change is old enough, instead of waiting for the whole
    /// backlog). Runs on the polling thread; null: nothing.</summary>
    public Action? AfterDatagram { get; set; }

    /// <summary>The event socket (for callers that poll it with others); null before Start.</summary>
    public NetlinkSocket? EventSocket => _events;

    /// <summary>
    /// Opens both sockets in the calling thread's network namespace, subscribes, and loads the cache with a full dump
    /// (events: LinkAdded/AddressAdded for everything present).
    /// </summary>
    public void Start()
    {
        if (_events != null)
            throw new InvalidOperationException("already started");
        _events = NetlinkSocket.Open();
        _ownInode = NetnsFollower.OwnInode();
        _events.JoinGroup(RtnlGroup.RTNLGRP_LINK);
        _events.JoinGroup(RtnlGroup.RTNLGRP_IPV4_IFADDR);
        _events.JoinGroup(RtnlGroup.RTNLGRP_IPV6_IFADDR);
        _rcvbuf = _options.ReceiveBufferBytes > 0 ? _events.SetReceiveBufferSize(_options.ReceiveBufferBytes) : _events.ReceiveBufferSize;
        _requests = NetlinkSocket.Open();
        if (_options.FollowNamespaces)
            StartFollowingNamespaces();
        DumpAll();
    }

    private void StartFollowingNamespaces()
    {
        if (!_events!.TryEnableListenAllNsid())
        {
            Log("netlink: NETLINK_LISTEN_ALL_NSID refused (needs CAP_NET_BROADCAST): following this namespace's netdevs only");
            return;
        }
        _events.JoinGroup(RtnlGroup.RTNLGRP_NSID);
        _follower = new NetnsFollower { Log = Log };
        Cache.LinkNetNsHere = _follower.LinkNetNsHere;
        _targetRequests = NetlinkSocket.Open();
        _targetRequests.EnableStrictCheck();
        // The watcher first, so that a namespace made while the start-up scan runs is not missed by both.
        if (_options.WatchNamespacePaths)
            StartWatchingNamespacePaths();
        _follower.AssignIds(_options.NamespacePaths, _options.ScanProcessNamespaces);
    }

    private void StartWatchingNamespacePaths()
    {
        var dirs = _options.NamespacePaths.Where(p => !File.Exists(p)).ToList(); // directories, or not there yet
        if (dirs.Count == 0)
            return;
        try { _watcher = new NetnsDirectoryWatcher(dirs, Log); }
        catch (IOException e)
        {
            Log($"netlink: cannot watch {string.Join(", ", dirs)} ({e.Message}); namespaces made later are followed only once they have an id here");
        }
    }

    /// <summary>The watcher of the namespace directories; null when not watching.</summary>
    public NetnsDirectoryWatcher? NamespaceWatcher => _watcher;

    /// <summary>Test hook: shrink the event socket's receive buffer (plain SO_RCVBUF) to provoke overruns.</summary>
    public int SetEventReceiveBuffer(int bytes, bool force)
    {
        NetlinkSocket s = _events ?? throw new InvalidOperationException("not started");
        _rcvbuf = force ? s.SetReceiveBufferSize(bytes) : s.SetReceiveBufferSizeUnforced(bytes);
        return _rcvbuf;
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> for events, then applies every queued datagram. Returns the number of
    /// link/address messages applied. Handles overruns (resync) itself.
    /// </summary>
    public int Poll(int timeoutMs)
    {
        NetlinkSocket s = _events ?? throw new InvalidOperationException("not started");
        if (!s.WaitReadable(timeoutMs))
            return 0;
        int applied = 0;
        bool lostSync = false;
        while (true)
        {
            NetlinkReceiveStatus st = s.Receive(_buffer, wait: false, out int n, out int nsid);
            if (st == NetlinkReceiveStatus.WouldBlock)
            {
                RoceUio.Diagnostics.PushTrace.Mark(RoceUio.Diagnostics.PushTrace.Drained);
                break;
            }
            RoceUio.Diagnostics.PushTrace.Mark(RoceUio.Diagnostics.PushTrace.Received, n);
            if (st == NetlinkReceiveStatus.Overrun)
            {
                Overruns++;
                lostSync = true;
                continue; // keep the socket and drain what is still queued
            }
            if (st == NetlinkReceiveStatus.Truncated)
            {
                TruncatedDatagrams++;
                lostSync = true;
            }
            NetlinkOrigin origin = NetlinkOrigin.Own;
            if (_follower is not null)
            {
                origin = _follower.OriginOf(nsid, out bool isNew);
                if (isNew)
                    _namespacesToDump.Add(origin.NetNsId);
            }
            applied += ApplyDatagram(_buffer.AsSpan(0, n), origin);
            DumpNewNamespaces();
            AfterDatagram?.Invoke();
        }
        if (lostSync)
        {
            GrowReceiveBuffer();
            Log($"netlink: event socket overrun (ENOBUFS {Overruns}, truncated {TruncatedDatagrams}): events were lost; "
                + $"resyncing by dump (SO_RCVBUF now {_rcvbuf})");
            Resync();
        }
        return applied;
    }

    /// <summary>Runs <see cref="Poll"/> until cancelled.</summary>
    public void Run(CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
            Poll(100);
    }

    /// <summary>Re-dumps links and addresses and applies the differences to the cache as events.</summary>
    public void Resync()
    {
        Resyncs++;
        DumpAll();
    }

    private void GrowReceiveBuffer()
    {
        int target = (int)Math.Min(_options.MaxReceiveBufferBytes, Math.Max(_rcvbuf, 4096) * 2L);
        if (target > _rcvbuf)
            _rcvbuf = _events!.SetReceiveBufferSize(target);
    }

    private int ApplyDatagram(ReadOnlySpan<byte> datagram, NetlinkOrigin origin)
    {
        var reader = new NetlinkMessageReader(datagram);
        int applied = 0;
        while (reader.TryRead(out NetlinkMessage m))
        {
            if (origin.IsOwn)
            {
                Capture?.WriteEvent(m.Bytes); // a capture replays one namespace: other namespaces' messages stay out
                if (m.Type is NlMsgType.RTM_NEWNSID or NlMsgType.RTM_DELNSID)
                {
                    ApplyNamespaceId(m);
                    continue;
                }
            }
            if (Cache.Apply(m, origin))
                applied++;
        }
        if (reader.Failure.IsError)
            Cache.ApplyAll(datagram[reader.Failure.Offset..]); // counts and logs the framing error
        return applied;
    }

    // RTNLGRP_NSID of this namespace: an id given to another namespace (follow it), or taken back (it is gone: drop its
    // links, since its own messages stopped before its devices were destroyed: cleanup_net unhashes the ids first).
    private void ApplyNamespaceId(in NetlinkMessage m)
    {
        if (_follower is null || !NetnsIdSocket.TryReadNsid(m, out int id))
            return;
        if (m.Type == NlMsgType.RTM_NEWNSID)
        {
            if (_follower.OnNewId(id))
                _namespacesToDump.Add(id);
        }
        else if (_follower.OnDeletedId(id))
        {
            int n = Cache.RemoveNamespace(id);
            if (n > 0)
                Info($"netlink: namespace with id {id} went away with {n} netdev(s)");
        }
    }

    private void DumpNewNamespaces()
    {
        foreach (int id in _namespacesToDump)
        {
            _follower!.LearnInode(id);
            Cache.BeginResync();
            bool ok = DumpNamespace(id);
            Cache.EndResync(onlyNamespace: id);
            if (!ok)
                _follower!.OnDeletedId(id);
        }
        _namespacesToDump.Clear();
    }

    // The links and addresses of another namespace, asked for by its id (IFLA_TARGET_NETNSID, IFA_TARGET_NETNSID);
    // false when the kernel no longer knows the id (the namespace went away meanwhile).
    private bool DumpNamespace(int id)
    {
        for (int attempt = 1; attempt <= _options.MaxDumpAttempts; attempt++)
        {
            DumpStatus link = Dump(_targetRequests!, NlMsgType.RTM_GETLINK, id);
            if (link == DumpStatus.TargetGone)
                return false;
            DumpStatus addr = Dump(_targetRequests!, NlMsgType.RTM_GETADDR, id);
            if (addr == DumpStatus.TargetGone)
                return false;
            if (link == DumpStatus.Complete && addr == DumpStatus.Complete)
                return true;
            InterruptedDumps++;
        }
        return true;
    }

    private void DumpAll()
    {
        for (int attempt = 1; ; attempt++)
        {
            Cache.BeginResync();
            bool interrupted = Dump(_requests!, NlMsgType.RTM_GETLINK, -1) != DumpStatus.Complete
                               | Dump(_requests!, NlMsgType.RTM_GETADDR, -1) != DumpStatus.Complete;
            if (_follower is not null)
            {
                _follower.Refresh();
                foreach (int id in _follower.Followed.ToList())
                {
                    _follower.LearnInode(id);
                    if (!DumpNamespace(id))
                        _follower.OnDeletedId(id);
                }
            }
            if (!interrupted)
            {
                Cache.EndResync();
                return;
            }
            InterruptedDumps++;
            if (attempt >= _options.MaxDumpAttempts)
            {
                Cache.EndResync();
                Log($"netlink: dump still interrupted (NLM_F_DUMP_INTR) after {attempt} attempts; the cache may lag until the next event");
                return;
            }
        }
    }

    private enum DumpStatus : byte { Complete, Interrupted, TargetGone }

    // Sends a dump request and applies the replies: of this namespace (target -1), or of the namespace with id
    // `target` here (its replies are written with this namespace's ids). Interrupted when any part carried
    // NLM_F_DUMP_INTR; TargetGone when the kernel refused the target id.
    private DumpStatus Dump(NetlinkSocket s, ushort type, int target)
    {
        uint seq = ++_seq;
        Span<byte> req = stackalloc byte[NlMsgHdr.Size + IfInfoMsg.Size + 8];
        req.Clear();
        int len = type == NlMsgType.RTM_GETLINK ? NlMsgHdr.Size + IfInfoMsg.Size : NlMsgHdr.Size + IfAddrMsg.Size;
        if (target >= 0)
        {
            ushort attr = type == NlMsgType.RTM_GETLINK ? Ifla.IFLA_TARGET_NETNSID : Ifa.IFA_TARGET_NETNSID;
            BinaryPrimitives.WriteUInt16LittleEndian(req[len..], 8);
            BinaryPrimitives.WriteUInt16LittleEndian(req[(len + 2)..], attr);
            BinaryPrimitives.WriteInt32LittleEndian(req[(len + 4)..], target);
            len += 8;
        }
        NetlinkOrigin origin = target >= 0 ? NetlinkOrigin.DumpOf(target) : NetlinkOrigin.Own;
        BinaryPrimitives.WriteUInt32LittleEndian(req, (uint)len);
        BinaryPrimitives.WriteUInt16LittleEndian(req[NlMsgHdr.OffsetType..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(req[NlMsgHdr.OffsetFlags..], NlMsgFlags.NLM_F_REQUEST | NlMsgFlags.NLM_F_DUMP);
        BinaryPrimitives.WriteUInt32LittleEndian(req[NlMsgHdr.OffsetSeq..], seq);
        s.Send(req[..len]);
        bool interrupted = false;
        while (true)
        {
            NetlinkReceiveStatus st = s.Receive(_buffer, wait: true, out int n);
            if (st == NetlinkReceiveStatus.Truncated)
                throw new NetlinkException($"{NetlinkNames.MessageType(type)} dump reply larger than {_buffer.Length} bytes", 0);
            if (st != NetlinkReceiveStatus.Ok)
                continue; // a request socket has no groups: no overrun; EAGAIN cannot happen when blocking
            var reader = new NetlinkMessageReader(_buffer.AsSpan(0, n));
            while (reader.TryRead(out NetlinkMessage m))
            {
                if (m.Sequence != seq)
                    continue; // a stale reply of an abandoned request
                interrupted |= m.IsDumpInterrupted;
                switch (m.Type)
                {
                    case NlMsgType.NLMSG_DONE:
                        if (m.TryGetError(out int doneErr) && doneErr < 0)
                        {
                            if (target >= 0)
                                return DumpStatus.TargetGone;
                            throw new NetlinkException($"{NetlinkNames.MessageType(type)} dump", -doneErr);
                        }
                        return interrupted ? DumpStatus.Interrupted : DumpStatus.Complete;
                    case NlMsgType.NLMSG_ERROR:
                        m.TryGetError(out int err);
                        if (target >= 0)
                            return DumpStatus.TargetGone;
                        throw new NetlinkException($"{NetlinkNames.MessageType(type)} dump request", -err);
                    default:
                        if (target < 0)
                            Capture?.WriteMessage(m.Bytes);
                        Cache.Apply(m, origin);
                        break;
                }
            }
            if (reader.Failure.IsError)
                throw new NetlinkException($"{NetlinkNames.MessageType(type)} dump reply malformed: {reader.Failure}", 0);
        }
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _events?.Dispose();
        _requests?.Dispose();
        _targetRequests?.Dispose();
        _follower?.Dispose();
    }
}
