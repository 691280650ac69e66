using System.Net;
using System.Text.Json.Nodes;
using RoceUio.Cli.Control;
using RoceUio.Cli.Output;
using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Cli.Daemon;

/// <summary>A device the daemon drives, with where it came from (for <c>show devices</c>).</summary>
public sealed record DaemonDevice(IRoceDevice Device, string PciAddress, string Mapping);

/// <summary>
/// The control commands the daemon serves. They run on the daemon's worker (see <see cref="ControlServer.Dispatch"/>),
/// so they may read the manager and the netdev graph freely.
/// </summary>
public sealed class ControlHandlers(GidManager manager, IReadOnlyList<DaemonDevice> devices, Action saveState)
{
    public IEnumerable<ControlCommand> Commands =>
    [
        new("show-gids", false, ShowGids),
        new("show-devices", false, _ => ShowDevices()),
        new("show-ports", false, _ => ShowPorts()),
        new("find", false, Find),
        new("status", false, _ => Status()),
        new("save-state", true, _ => { saveState(); return "saved"; }),
    ];

    /// <summary>All valid entries as rows, optionally of one device and port.</summary>
    public IEnumerable<GidRow> Rows(string? dev = null, int? port = null)
    {
        foreach (RocePort p in manager.Ports)
        {
            if ((dev is not null && p.Device.Name != dev) || (port is not null && p.Port != port))
                continue;
            foreach (var (index, e) in p.Table.EnumerateValid())
                yield return new GidRow(p.Device.Name, p.Port, index, e.Gid, e.Type, manager.NameOf(e.NetdevIfindex), e.NetdevIfindex);
        }
    }

    public static JsonArray ToJson(IEnumerable<GidRow> rows)
        => (JsonArray)JsonNode.Parse(ShowGidsFormat.Json(rows))!;

    public static IEnumerable<GidRow> FromJson(JsonNode? array)
        => (array as JsonArray ?? []).Select(n => new GidRow((string)n!["dev"]!, (int)n["port"]!, (int)n["index"]!,
            Gid.Parse((string)n["gid"]!), (GidType)(int)n["gid_type"]!, (string)n["ndev"]!, (int)n["ndev_ifindex"]!));

    private JsonNode ShowGids(JsonObject args)
    {
        string? dev = (string?)args["dev"];
        int? port = (int?)args["port"];
        CheckTarget(dev, port);
        return ToJson(Rows(dev, port));
    }

    private void CheckTarget(string? dev, int? port)
    {
        if (dev is not null && manager.Ports.All(p => p.Device.Name != dev))
            throw new ControlException($"no device '{dev}' (devices: {string.Join(", ", devices.Select(d => d.Device.Name))})");
        if (port is not null && manager.Ports.All(p => p.Port != port || (dev is not null && p.Device.Name != dev)))
            throw new ControlException($"no port {port}{(dev is null ? "" : $" on {dev}")}");
    }

    private JsonNode ShowDevices()
        => new JsonArray(devices.Select(d => (JsonNode)new JsonObject
        {
            ["dev"] = d.Device.Name, ["driver"] = d.Device.DriverName, ["pci"] = d.PciAddress,
            ["mapping"] = d.Mapping, ["ports"] = d.Device.PortCount,
        }).ToArray());

    private JsonNode ShowPorts()
        => new JsonArray(manager.Ports.Select(p => (JsonNode)new JsonObject
        {
            ["dev"] = p.Device.Name, ["port"] = p.Port,
            ["ndev"] = p.NetdevIfindex == 0 ? null : manager.NameOf(p.NetdevIfindex),
            ["binding"] = p.Binding.ToString(),
            ["gid_types"] = string.Join(",", Enum.GetValues<GidType>().Where(t => p.Types.Contains(t)).Select(t => t.ToShortString())),
            ["capacity"] = p.Table.Capacity, ["used"] = p.Table.Count, ["index_policy"] = p.Table.Policy.ToString().ToLowerInvariant(),
        }).ToArray());

    /// <summary>The lowest index per port whose entry matches (find_gid with mask GID [| GID_TYPE] [| NETDEV]).</summary>
    private JsonNode Find(JsonObject args)
    {
        Gid gid = args["gid"] is { } g ? Gid.Parse((string)g!)
                : args["ip"] is { } ip ? Gid.FromIPAddress(IPAddress.TryParse((string)ip!, out var a) ? a : throw new ControlException($"'{ip}' is not an IP address"))
                : throw new ControlException("find needs --gid or --ip");
        GidType[] types = args["type"] is { } t
            ? [GidTypeText.TryParse((string)t!, out var tt) ? tt : throw new ControlException($"'{t}' is not a GID type: use v1 or v2")]
            : [GidType.RoceV1, GidType.RoceV2];
        string? ndev = (string?)args["ndev"], dev = (string?)args["dev"];
        int? port = (int?)args["port"];
        CheckTarget(dev, port);
        var found = new List<GidRow>();
        foreach (RocePort p in manager.Ports)
        {
            if ((dev is not null && p.Device.Name != dev) || (port is not null && p.Port != port))
                continue;
            foreach (GidType type in types)
            {
                if (!p.Types.Contains(type))
                    continue;
                int ifindex = 0;
                GidFindMask mask = GidFindMask.Gid | GidFindMask.GidType;
                if (ndev is not null)
                {
                    ifindex = FindIfindex(p, ndev);
                    if (ifindex == 0)
                        continue;
                    mask |= GidFindMask.Netdev;
                }
                if (p.Table.TryFind(gid, type, ifindex, mask, false, out int index) && p.Table.TryGet(index, out GidEntry e))
                    found.Add(new GidRow(p.Device.Name, p.Port, index, e.Gid, e.Type, manager.NameOf(e.NetdevIfindex), e.NetdevIfindex));
            }
        }
        return ToJson(found);
    }

    private int FindIfindex(RocePort p, string ndev)
    {
        foreach (var (_, e) in p.Table.EnumerateValid())
            if (manager.NameOf(e.NetdevIfindex) == ndev)
                return e.NetdevIfindex;
        return 0;
    }

    private JsonNode Status()
        => new JsonObject
        {
            ["version"] = CommandLine.Version,
            ["devices"] = devices.Count,
            ["ports"] = manager.Ports.Count,
            ["gids"] = manager.Ports.Sum(p => p.Table.Count),
            ["out_of_sync"] = OutOfSync(),
            ["recent_errors"] = new JsonArray(manager.RecentErrors.Select(e => (JsonNode)e).ToArray()),
        };

    /// <summary>Ports whose hardware is behind the core table (a refused or timed-out push, retried with backoff):
    /// since when (UTC), why, how many pushes failed, when the next one is due.</summary>
    private JsonArray OutOfSync()
    {
        long now = manager.Clock();
        DateTime wallNow = DateTime.UtcNow;
        return new JsonArray(manager.OutOfSyncPorts.Select(p => (JsonNode)new JsonObject
        {
            ["dev"] = p.Device.Name, ["port"] = p.Port,
            ["since"] = wallNow.AddMilliseconds(p.Sync.OutOfSyncSinceMs - now).ToString("yyyy-MM-ddTHH:mm:ss.fffZ"),
            ["why"] = p.Sync.Why,
            ["failed_pushes"] = p.Sync.FailedAttempts,
            ["next_retry_ms"] = Math.Max(0, p.Sync.NextAttemptMs - now),
            ["waiting_entries"] = p.Table.UnpublishedCount,
        }).ToArray());
    }
}
