using System.Text.Json;
using RoceUio.Netlink;
using RoceUio.Testing;

namespace RoceUio.Core.Tests.Netlink;

/// <summary>The netdev state as sorted lines, from the cache or from `ip -j -d addr show`, so tests compare the two.</summary>
internal static class NetlinkTestState
{
    public static string FromCache(NetdevCache cache)
    {
        var lines = new List<string>();
        foreach (NetdevLink l in cache.Links)
        {
            string linkName = l.Kind == NetdevKind.Veth ? "(veth peer)"
                : l.Link != 0 && cache.TryGetLink(l.Link, out NetdevLink lower) ? lower.Name : "-";
            string master = l.Master != 0 && cache.TryGetLink(l.Master, out NetdevLink m) ? m.Name : "-";
            lines.Add(LinkLine(l.Ifindex, l.Name, l.Mac.ToString(), l.KindName, linkName, master,
                (l.Flags & Iff.IFF_UP) != 0, (l.Flags & Iff.IFF_LOWER_UP) != 0, OperName(l.OperState)));
            foreach (NetdevAddress a in l.Addresses)
                lines.Add(AddrLine(l.Ifindex, a.ToIPAddress().ToString(), a.PrefixLength, a.IsTentative));
        }
        lines.Sort(StringComparer.Ordinal);
        return string.Join('\n', lines);
    }

    public static string FromIp(NetworkNamespace ns)
    {
        using var doc = JsonDocument.Parse(ns.Ip("-j -d addr show"));
        var lines = new List<string>();
        foreach (JsonElement l in doc.RootElement.EnumerateArray())
        {
            var flags = l.GetProperty("flags").EnumerateArray().Select(f => f.GetString()).ToHashSet();
            string kind = l.TryGetProperty("linkinfo", out JsonElement li) && li.TryGetProperty("info_kind", out JsonElement k) ? k.GetString()! : "";
            int idx = l.GetProperty("ifindex").GetInt32();
            lines.Add(LinkLine(idx, l.GetProperty("ifname").GetString()!,
                l.TryGetProperty("address", out JsonElement mac) ? mac.GetString()! : "", kind,
                // A veth's peer is not in the event stream reliably: the first end is announced before its peer exists
                // (IFLA_LINK 0) and no event follows when the peer appears. Only stacked devices' IFLA_LINK is compared.
                kind == "veth" ? "(veth peer)"
                : l.TryGetProperty("link", out JsonElement link) && link.ValueKind == JsonValueKind.String ? link.GetString()! : "-",
                l.TryGetProperty("master", out JsonElement master) ? master.GetString()! : "-",
                flags.Contains("UP"), flags.Contains("LOWER_UP"), l.GetProperty("operstate").GetString()!));
            if (l.TryGetProperty("addr_info", out JsonElement addrs))
                foreach (JsonElement a in addrs.EnumerateArray())
                    lines.Add(AddrLine(idx, a.GetProperty("local").GetString()!, a.GetProperty("prefixlen").GetInt32(),
                        a.TryGetProperty("tentative", out JsonElement t) && t.GetBoolean()));
        }
        lines.Sort(StringComparer.Ordinal);
        return string.Join('\n', lines);
    }

    private static string LinkLine(int idx, string name, string mac, string kind, string link, string master, bool up, bool lowerUp, string oper)
        => $"{idx:D4} link {name} mac={mac} kind={kind} link={link} master={master} up={up} lower_up={lowerUp} oper={oper}";

    private static string AddrLine(int idx, string addr, int prefix, bool tentative)
        => $"{idx:D4} addr {addr}/{prefix} tentative={tentative}";

    private static string OperName(OperState s) => s switch
    {
        OperState.LowerLayerDown => "LOWERLAYERDOWN",
        OperState.NotPresent => "NOTPRESENT",
        _ => s.ToString().ToUpperInvariant(),
    };

    /// <summary>Polls the monitor until the cache equals what ip reports (events may still be in flight), or fails with the diff.</summary>
    public static void AssertCacheMatchesIp(NetlinkMonitor monitor, NetworkNamespace ns, string step, int timeoutMs = 5000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        string ip, cached;
        while (true)
        {
            monitor.Poll(50);
            ip = FromIp(ns);
            cached = FromCache(monitor.Cache);
            if (ip == cached || Environment.TickCount64 > deadline)
                break;
        }
        NUnit.Framework.Assert.That(cached, NUnit.Framework.Is.EqualTo(ip), $"after '{step}': cache != ip");
    }
}

/// <summary>Records the cache's events as text lines.</summary>
internal sealed class EventLog : INetdevObserver
{
    public List<NetdevEvent> Events { get; } = new();
    public void OnNetdevEvent(in NetdevEvent e) => Events.Add(e);
    public IEnumerable<string> Lines => Events.Select(e => e.ToString());
    public void Clear() => Events.Clear();
}
