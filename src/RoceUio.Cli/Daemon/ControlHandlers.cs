using System.Net;
using System.Text.Json.Nodes;
using RoceUio.Cli.Control;
using RoceUio.Cli.Output;
using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Cli.Daemon;

/// <summary>A device the daemon drives, with where it came from (for <c>show devices</c>).</summary>
/// <summary>A device as <c>show devices</c> lists it; <paramref name="ModelStatus"/> says whether the device model this
/// process runs for it still serves ("serving", why it died, "-" for none).</summary>
public sealed record DaemonDevice(IRoceDevice Device, string PciAddress, string Mapping, Func<string>? ModelStatus = null);

/// <summary>
/// The control commands the daemon serves. Reads (show-*, find, status) answer from the latest
/// <see cref="ControlSnapshot"/> on the control thread; commands that change state run on the daemon's worker (see
/// <see cref="ControlServer.Dispatch"/>), where they may use the manager freely. <see cref="Publish"/> runs on the worker.
/// </summary>
public sealed class ControlHandlers(GidManager manager, IReadOnlyList<DaemonDevice> devices, Action saveState)
{
    private ControlSnapshot _snapshot = ControlSnapshot.Empty;

    /// <summary>At most this many pending GIDs are listed by <c>show gids --pending</c> (status counts them all).</summary>
    public const int MaxPendingRows = 1000;

    public IEnumerable<ControlCommand> Commands =>
    [
        new("show-gids", false, ShowGids) { ReadsSnapshot = true },
        new("show-devices", false, _ => ShowDevices()) { ReadsSnapshot = true },
        new("show-ports", false, _ => ShowPorts()) { ReadsSnapshot = true },
        new("find", false, Find) { ReadsSnapshot = true },
        new("status", false, _ => Status()) { ReadsSnapshot = true },
        new("save-state", true, _ => { saveState(); return "saved"; }),
    ];

    /// <summary>The latest published state (any thread).</summary>
    public ControlSnapshot Current => Volatile.Read(ref _snapshot);

    /// <summary>Copies what the read commands show out of the manager (worker only), for the control thread to serve.</summary>
    public void Publish()
    {
        ControlSnapshot previous = Current;
        var snapshot = new ControlSnapshot
        {
            Rows = Rows().ToArray(),
            Ports = manager.Ports.Select(p => new PortSnapshot(p.Device.Name, p.Port,
                p.NetdevIfindex == 0 ? null : manager.NameOf(p.NetdevIfindex), p.Binding.ToString(),
                Enum.GetValues<GidType>().Where(t => p.Types.Contains(t)).ToArray(),
                p.Table.Capacity, p.Table.Count, p.Table.Policy.ToString().ToLowerInvariant())).ToArray(),
            RecentErrors = manager.RecentErrors.ToArray(),
            OutOfSync = OutOfSyncNow(),
            // The first MaxPendingRows in the order they will be added (each publish walks the pending netdevs' lists).
            Pending = manager.Ports.SelectMany(p => manager.PendingInKernelOrder(p).Select(e =>
                new GidRow(p.Device.Name, p.Port, -1, e.Gid, e.Type, manager.NameOf(e.NetdevIfindex), e.NetdevIfindex)))
                .Take(MaxPendingRows).ToArray(),
            PendingTotal = manager.Ports.Sum(p => p.PendingCount),
            PendingKept = manager.PendingKept,
            PendingRestored = manager.PendingRestored,
            PublishedAt = Environment.TickCount64,
            Sequence = previous.Sequence + 1,
        };
        Volatile.Write(ref _snapshot, snapshot);
    }

    private OutOfSyncPort[] OutOfSyncNow()
    {
        long now = manager.Clock();
        DateTime wall = DateTime.UtcNow;
        return manager.OutOfSyncPorts.Select(p => new OutOfSyncPort(p.Device.Name, p.Port,
            wall.AddMilliseconds(p.Sync.BehindSinceMs - now), p.Sync.WhyBehind(now), p.Sync.FailedAttempts,
            p.Sync.InFlight ? null : wall.AddMilliseconds(p.Sync.NextAttemptMs - now), p.Table.UnpublishedCount,
            p.Sync.InFlight ? now - p.Sync.InFlightSinceMs : null)).ToArray();
    }

    /// <summary>All valid entries as rows, optionally of one device and port, read from the manager (worker only).</summary>
    public IEnumerable<GidRow> Rows(string? dev = null, int? port = null)
    {
        foreach (RocePort p in manager.Ports)
        {
            if ((dev is not null && p.Device.Name != dev) || (port is not null && p.Port != port))
                continue;
            foreach (var (index, e) in p.Table.EnumerateValid())
                yield return new GidRow(p.Device.Name, p.Port, index, e.Gid, e.Type, manager.NameOf(e.NetdevIfindex), manager.NetNsIfindexOf(e.NetdevIfindex));
        }
    }

    private static IEnumerable<GidRow> SnapshotRows(ControlSnapshot s, string? dev, int? port)
        => s.Rows.Where(r => (dev is null || r.Dev == dev) && (port is null || r.Port == port));

    public static JsonArray ToJson(IEnumerable<GidRow> rows)
        => (JsonArray)JsonNode.Parse(ShowGidsFormat.Json(rows))!;

    public static IEnumerable<GidRow> FromJson(JsonNode? array)
        => (array as JsonArray ?? []).Select(n => new GidRow((string)n!["dev"]!, (int)n["port"]!, (int)n["index"]!,
            Gid.Parse((string)n["gid"]!), (GidType)(int)n["gid_type"]!, (string)n["ndev"]!, (int)n["ndev_ifindex"]!));

    private JsonNode ShowGids(JsonObject args)
    {
        string? dev = (string?)args["dev"];
        int? port = (int?)args["port"];
        ControlSnapshot s = Current;
        CheckTarget(s, dev, port);
        if (args["pending"] is { } pending && (bool)pending)
            return ToJson(s.Pending.Where(r => (dev is null || r.Dev == dev) && (port is null || r.Port == port)));
        return ToJson(SnapshotRows(s, dev, port));
    }

    private void CheckTarget(ControlSnapshot s, string? dev, int? port)
    {
        if (dev is not null && s.Ports.All(p => p.Dev != dev))
            throw new ControlException($"no device '{dev}' (devices: {string.Join(", ", devices.Select(d => d.Device.Name))})");
        if (port is not null && s.Ports.All(p => p.Port != port || (dev is not null && p.Dev != dev)))
            throw new ControlException($"no port {port}{(dev is null ? "" : $" on {dev}")}");
    }

    private JsonNode ShowDevices()
        => new JsonArray(devices.Select(d => (JsonNode)new JsonObject
        {
            ["dev"] = d.Device.Name, ["driver"] = d.Device.DriverName, ["pci"] = d.PciAddress,
            ["mapping"] = d.Mapping, ["ports"] = d.Device.PortCount, ["model"] = d.ModelStatus?.Invoke() ?? "-",
        }).ToArray());

    private JsonNode ShowPorts()
        => new JsonArray(Current.Ports.Select(p => (JsonNode)new JsonObject
        {
            ["dev"] = p.Dev, ["port"] = p.Port, ["ndev"] = p.Ndev, ["binding"] = p.Binding,
            ["gid_types"] = string.Join(",", p.Types.Select(t => t.ToShortString())),
            ["capacity"] = p.Capacity, ["used"] = p.Used, ["index_policy"] = p.IndexPolicy,
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
        ControlSnapshot s = Current;
        CheckTarget(s, dev, port);
        var found = new List<GidRow>();
        foreach (PortSnapshot p in s.Ports)
        {
            if ((dev is not null && p.Dev != dev) || (port is not null && p.Port != port))
                continue;
            foreach (GidType type in types)
            {
                if (!p.Types.Contains(type))
                    continue;
                // Rows are in index order: the first match is the lowest index.
                GidRow? hit = s.Rows.FirstOrDefault(r => r.Dev == p.Dev && r.Port == p.Port && r.Type == type && r.Gid == gid
                                                         && (ndev is null || r.Ndev == ndev));
                if (hit is not null)
                    found.Add(hit);
            }
        }
        return ToJson(found);
    }

    private JsonNode Status()
    {
        ControlSnapshot s = Current;
        return new JsonObject
        {
            ["version"] = CommandLine.Version,
            ["devices"] = devices.Count,
            ["ports"] = s.Ports.Count,
            ["gids"] = s.Ports.Sum(p => p.Used),
            ["out_of_sync"] = OutOfSync(s),
            ["pending_gids"] = s.PendingTotal,
            ["pending_kept_total"] = s.PendingKept,
            ["pending_restored_total"] = s.PendingRestored,
            ["recent_errors"] = new JsonArray(s.RecentErrors.Select(e => (JsonNode)e).ToArray()),
            // How old the state shown is: it grows while the worker is blocked (a device command outstanding).
            ["snapshot_age_ms"] = Environment.TickCount64 - s.PublishedAt,
        };
    }

    /// <summary>Ports whose hardware is behind the core table (a refused or timed-out push, retried with backoff, or a
    /// push the device has not answered for a second): since when (UTC), why, how many pushes failed, when the next one
    /// is due or how long the one outstanding has waited (as of the snapshot).</summary>
    private static JsonArray OutOfSync(ControlSnapshot s)
        => new(s.OutOfSync.Select(p => (JsonNode)new JsonObject
        {
            ["dev"] = p.Dev, ["port"] = p.Port,
            ["since"] = p.Since.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"),
            ["why"] = p.Why,
            ["failed_pushes"] = p.FailedPushes,
            // null while a push is outstanding (push_outstanding_ms): the next step is the device's answer.
            ["next_retry"] = p.NextRetry?.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"),
            ["push_outstanding_ms"] = p.PushOutstandingMs,
            ["waiting_entries"] = p.WaitingEntries,
        }).ToArray());
}
