namespace RoceUio.Netlink;

/// <summary>Names of message types for logs.</summary>
public static class NetlinkNames
{
    public static string MessageType(ushort type) => type switch
    {
        NlMsgType.NLMSG_NOOP => "NLMSG_NOOP",
        NlMsgType.NLMSG_ERROR => "NLMSG_ERROR",
        NlMsgType.NLMSG_DONE => "NLMSG_DONE",
        NlMsgType.NLMSG_OVERRUN => "NLMSG_OVERRUN",
        NlMsgType.NLMSG_TSTAMP => "NLMSG_TSTAMP",
        NlMsgType.RTM_NEWLINK => "RTM_NEWLINK",
        NlMsgType.RTM_DELLINK => "RTM_DELLINK",
        NlMsgType.RTM_GETLINK => "RTM_GETLINK",
        NlMsgType.RTM_NEWADDR => "RTM_NEWADDR",
        NlMsgType.RTM_DELADDR => "RTM_DELADDR",
        NlMsgType.RTM_GETADDR => "RTM_GETADDR",
        _ => $"type {type}",
    };
}
