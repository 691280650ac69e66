using System.Net;
using RoceUio.Netlink;
using RoceUio.Roce;

namespace RoceUio.Testing;

/// <summary>
/// A netdev graph a test edits by hand; each edit is passed to the manager the way the netlink pump does (the change,
/// then <see cref="GidManager.EndOfBurst"/>): this test double plays both the netdev cache and the
/// <see cref="NetdevEventRouter"/>. Shared by the core tests and the driver conformance tests.
/// </summary>
public sealed class FakeNetdevs : INetdevGraph
{
    private readonly SortedDictionary<int, NetdevInfo> _links = new();
    private readonly Dictionary<int, List<IPAddress>> _addrs = new();
    public GidManager? Manager { get; set; }

    public NetdevInfo? Find(int ifindex) => _links.GetValueOrDefault(ifindex);
    public IEnumerable<NetdevInfo> All => _links.Values.ToArray();
    public IReadOnlyList<int> LinkUppersOf(int ifindex) => _links.Values.Where(l => l.LowerIfindex == ifindex).Select(l => l.Ifindex).ToList();
    public IReadOnlyList<int> SlavesOf(int ifindex) => _links.Values.Where(l => l.MasterIfindex == ifindex).Select(l => l.Ifindex).ToList();

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
        // A bond here is active-backup (the mode RoCE bonding is used with) unless a test edits BondMode.
        var n = new NetdevInfo
        {
            Ifindex = ifindex, Name = name, Mac = Mac(mac), Kind = kind, LowerIfindex = lower, IsEthernet = ethernet, IsUp = true,
            BondMode = kind == NetdevKind.Bond ? IflaBond.BOND_MODE_ACTIVEBACKUP : (byte)0,
        };
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
