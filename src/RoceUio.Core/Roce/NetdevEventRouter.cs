using RoceUio.Netlink;

namespace RoceUio.Roce;

/// <summary>
/// Passes the netdev cache's events to the GID manager: the one place where netlink state becomes manager calls. The
/// dependency runs one way (cache → router → manager → graph → cache, reads only): the graph never calls the manager
/// and the manager never subscribes to anything. Runs on the cache's thread, which is the manager's worker, after the
/// cache already shows the new state.
/// </summary>
public sealed class NetdevEventRouter(NetlinkNetdevGraph graph, GidManager manager) : INetdevObserver
{
    public void OnNetdevEvent(in NetdevEvent e)
    {
        switch (e.Type)
        {
            case NetdevEventType.LinkAdded:
                manager.LinkAdded(graph.Find(e.Ifindex) ?? NetlinkNetdevGraph.InfoOf(e.Link));
                break;
            case NetdevEventType.LinkChanged:
                manager.LinkChanged(NetlinkNetdevGraph.InfoBefore(e), graph.Find(e.Ifindex) ?? NetlinkNetdevGraph.InfoOf(e.Link));
                break;
            case NetdevEventType.LinkRemoved:
                // The cache no longer has it; the event's link object keeps its last state.
                manager.LinkRemoved(NetlinkNetdevGraph.InfoOf(e.Link));
                break;
            case NetdevEventType.AddressAdded:
                manager.AddressAdded(e.Ifindex, NetlinkNetdevGraph.RoceGid(e.Address));
                break;
            case NetdevEventType.AddressRemoved:
                manager.AddressRemoved(e.Ifindex, NetlinkNetdevGraph.RoceGid(e.Address));
                break;
            // AddressChanged (flags, lifetimes, DAD completion) does not touch the table (kernel-gid.md 9.3).
        }
    }
}
