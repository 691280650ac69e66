namespace RoceUio.Netlink;

/// <summary>
/// Where a link or address message came from: this network namespace, or another one that has an id here
/// (<see cref="NetNsId"/>: the id NETLINK_LISTEN_ALL_NSID tags its messages with, and IFLA_TARGET_NETNSID dumps it by).
/// </summary>
/// <remarks>
/// The ids inside a message (IFLA_LINK_NETNSID) are written from one namespace's point of view: an event from another
/// namespace is built there, so its ids are that namespace's (rtnl_fill_ifinfo with the sender's net); a dump asked
/// for with IFLA_TARGET_NETNSID is built for the requester, so its ids are this namespace's
/// (<see cref="IdsAsSeenHere"/>; rtnl_dump_ifinfo passes the requester's net as src_net) [obs: Linux 6.1].
/// </remarks>
public readonly record struct NetlinkOrigin(int NetNsId, bool IdsAsSeenHere)
{
    /// <summary>This namespace.</summary>
    public static NetlinkOrigin Own => new(-1, true);

    /// <summary>An event of the namespace with id <paramref name="nsid"/> (its own ids inside).</summary>
    public static NetlinkOrigin EventOf(int nsid) => new(nsid, false);

    /// <summary>A dump of the namespace with id <paramref name="nsid"/> asked for from here (this namespace's ids inside).</summary>
    public static NetlinkOrigin DumpOf(int nsid) => new(nsid, true);

    public bool IsOwn => NetNsId < 0;
}
