using System.Net;
using RoceUio.Gids;
using RoceUio.Netlink;
using RoceUio.Roce;

namespace RoceUio.Core.Tests.Roce;

/// <summary>A netdev graph a test edits by hand; each edit is passed to the manager the way the netlink pump does.</summary>
internal sealed class FakeNetdevs : INetdevGraph
{
    private readonly SortedDictionary<int, NetdevInfo> _links = new();
    private readonly Dictionary<int, List<IPAddress>> _addrs = new();
    public GidManager? Manager { get; set; }

    public NetdevInfo? Find(int ifindex) => _links.GetValueOrDefault(ifindex);
    public IEnumerable<NetdevInfo> All => _links.Values.ToArray();

    public IReadOnlyList<IPAddress> Addresses(int ifindex)
    {
        var list = _addrs.GetValueOrDefault(ifindex) ?? [];
        // Kernel order: IPv4 in insertion order, then IPv6 newest first.
        return list.Where(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            .Concat(list.Where(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6).Reverse()).ToList();
    }

    public NetdevInfo this[string name] => _links.Values.Single(l => l.Name == name);

    public static byte[] Mac(string text) => text.Split(':').Select(h => Convert.ToByte(h, 16)).ToArray();

    public NetdevInfo Add(int ifindex, string name, string mac, NetdevKind kind = NetdevKind.Veth, int lower = 0, bool ethernet = true)
    {
        var n = new NetdevInfo { Ifindex = ifindex, Name = name, Mac = Mac(mac), Kind = kind, LowerIfindex = lower, IsEthernet = ethernet, IsUp = true };
        _links[ifindex] = n;
        Manager?.LinkAdded(n);
        Manager?.EndOfBurst();
        return n;
    }

    public void Change(string name, Func<NetdevInfo, NetdevInfo> edit)
    {
        NetdevInfo before = this[name];
        NetdevInfo now = edit(before);
        _links[now.Ifindex] = now;
        Manager?.LinkChanged(before, now);
        Manager?.EndOfBurst();
    }

    public void Remove(string name)
    {
        NetdevInfo before = this[name];
        _links.Remove(before.Ifindex);
        _addrs.Remove(before.Ifindex);
        Manager?.LinkRemoved(before);
        Manager?.EndOfBurst();
    }

    public void AddAddress(string name, string ip)
    {
        NetdevInfo n = this[name];
        var a = IPAddress.Parse(ip);
        if (!_addrs.TryGetValue(n.Ifindex, out var list))
            _addrs[n.Ifindex] = list = [];
        list.Add(a);
        Manager?.AddressAdded(n.Ifindex, a);
        Manager?.EndOfBurst();
    }

    public void RemoveAddress(string name, string ip)
    {
        NetdevInfo n = this[name];
        var a = IPAddress.Parse(ip);
        _addrs[n.Ifindex].Remove(a);
        Manager?.AddressRemoved(n.Ifindex, a);
        Manager?.EndOfBurst();
    }
}

/// <summary>A driver that remembers what it was told, per port, and can be made to refuse a commit.</summary>
internal sealed class RecordingDevice(string name, int ports, int capacity, GidTypes types) : IRoceDevice
{
    public readonly Dictionary<(int Port, int Index), GidEntry> Hardware = new();
    public readonly List<string> Calls = [];
    private readonly Dictionary<(int, int), GidEntry> _committed = new();
    public bool FailNextCommit { get; set; }

    public string Name => name;
    public string DriverName => "recording";
    public int PortCount => ports;
    public int GidTableSize(int port) => capacity;
    public GidTypes SupportedGidTypes(int port) => types;

    public void AddGid(int port, int index, in GidEntry entry)
    {
        Calls.Add($"add {port}/{index} {entry.Gid.ToCompressedString()} {entry.Type.ToShortString()}");
        Hardware[(port, index)] = entry;
    }

    public void DeleteGid(int port, int index, in GidEntry entry)
    {
        Calls.Add($"del {port}/{index} {entry.Gid.ToCompressedString()} {entry.Type.ToShortString()}");
        if (!Hardware.Remove((port, index), out GidEntry had) || had != entry)
            throw new InvalidOperationException($"delete of {port}/{index} {entry} that the driver does not hold");
    }

    public void Commit(int port)
    {
        if (FailNextCommit)
        {
            FailNextCommit = false;
            // Roll the shadow back to what the "hardware" last accepted, as the contract requires.
            foreach (var k in Hardware.Keys.Where(k => k.Port == port).ToList()) Hardware.Remove(k);
            foreach (var kv in _committed.Where(kv => kv.Key.Item1 == port)) Hardware[kv.Key] = kv.Value;
            throw new RoceDeviceException($"{name} port {port}: SET_PORT failed with status BAD_PARAM (injected)");
        }
        foreach (var k in _committed.Keys.Where(k => k.Item1 == port).ToList()) _committed.Remove(k);
        foreach (var kv in Hardware.Where(kv => kv.Key.Port == port)) _committed[kv.Key] = kv.Value;
        Calls.Add($"commit {port}");
    }

    public void Dispose() { }
}
