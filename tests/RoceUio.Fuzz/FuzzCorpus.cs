using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using RoceUio.Netlink;

namespace RoceUio.Fuzz;

/// <summary>
/// tests/fuzz-corpus/TARGET/: the seeds each target's mutations start from, and every finding (finding-SHA.bin),
/// kept so that it is replayed by <c>./build.sh test</c> for good once fixed. <see cref="WriteSeeds"/> makes the seeds
/// from the kernel's message layouts (RtnlMessages) and the project's own files.
/// </summary>
public static class FuzzCorpus
{
    public static string Root(string repo) => Path.Combine(repo, "tests", "fuzz-corpus");

    public static IReadOnlyList<(string Name, byte[] Bytes)> Load(string repo, string target)
    {
        string dir = Path.Combine(Root(repo), target);
        if (!Directory.Exists(dir))
            return [];
        return Directory.GetFiles(dir).Order(StringComparer.Ordinal).Select(f => (Path.GetFileName(f), File.ReadAllBytes(f))).ToList();
    }

    public static string SaveFinding(string repo, string target, byte[] input)
    {
        string dir = Directory.CreateDirectory(Path.Combine(Root(repo), target)).FullName;
        string path = Path.Combine(dir, $"finding-{Convert.ToHexString(SHA256.HashData(input))[..16].ToLowerInvariant()}.bin");
        File.WriteAllBytes(path, input);
        return path;
    }

    public static void WriteSeeds(string repo)
    {
        void Put(string target, string name, byte[] bytes)
        {
            string dir = Directory.CreateDirectory(Path.Combine(Root(repo), target)).FullName;
            File.WriteAllBytes(Path.Combine(dir, name), bytes);
        }

        const int Eth0 = 2, Eth1 = 3, Vlan = 4, Bond = 5, Mv = 6;
        byte[][] links =
        [
            RtnlMessages.NewLink(new LinkSpec(1, "lo") { ArphrdType = Arphrd.ARPHRD_LOOPBACK, Mac = "00:00:00:00:00:00" }),
            RtnlMessages.NewLink(new LinkSpec(Eth0, "eth0") { Mac = "02:00:00:00:00:0a" }),
            RtnlMessages.NewLink(new LinkSpec(Eth1, "eth1") { Mac = "02:00:00:00:00:0b" }),
            RtnlMessages.NewLink(new LinkSpec(Vlan, "eth0.100") { Mac = "02:00:00:00:00:0a", Kind = "vlan", Link = Eth0, VlanId = 100 }),
            RtnlMessages.NewLink(new LinkSpec(Bond, "bond0") { Mac = "02:00:00:00:00:b0", Kind = "bond" }),
            RtnlMessages.NewLink(new LinkSpec(Mv, "mv0") { Mac = "02:00:00:00:00:0c", Kind = "macvlan", Link = Eth0 }),
        ];
        byte[][] events =
        [
            RtnlMessages.NewAddress(Eth0, "10.0.0.1/24"),
            RtnlMessages.NewAddress(Eth0, "2001:db8::1/64"),
            RtnlMessages.NewAddress(Vlan, "192.168.100.1/24"),
            RtnlMessages.NewAddress(Mv, "10.0.1.1/24"),
            RtnlMessages.NewLink(new LinkSpec(Eth1, "eth1") { Mac = "02:00:00:00:00:b0", Master = Bond, SlaveKind = "bond" }),
            RtnlMessages.DelAddress(Eth0, "10.0.0.1/24"),
            RtnlMessages.DelLink(new LinkSpec(Mv, "mv0") { Kind = "macvlan", Link = Eth0 }),
        ];
        Put("netlink", "links.bin", links.SelectMany(b => b).ToArray());
        Put("netlink", "events.bin", events.SelectMany(b => b).ToArray());
        Put("netlink", "one-address.bin", events[0]);

        var ms = new MemoryStream();
        using (var w = new RtmonCaptureWriter(ms, ownsStream: false, clock: () => DateTimeOffset.FromUnixTimeSeconds(1_700_000_000)))
        {
            foreach (byte[] m in links)
            {
                byte[] dumped = (byte[])m.Clone();
                dumped[NlMsgHdr.OffsetFlags] |= (byte)NlMsgFlags.NLM_F_MULTI;
                w.WriteMessage(dumped);
            }
            foreach (byte[] e in events)
                w.WriteEvents(e);
        }
        Put("rtmon", "capture.rtmon", ms.ToArray());

        static byte[] Frame(string json)
        {
            byte[] body = Encoding.UTF8.GetBytes(json);
            byte[] f = new byte[4 + body.Length];
            BinaryPrimitives.WriteUInt32BigEndian(f, (uint)body.Length);
            body.CopyTo(f, 4);
            return f;
        }
        Put("control", "status.bin", Frame("""{"command":"status","args":{}}"""));
        Put("control", "show-gids.bin", Frame("""{"command":"show-gids","args":{"dev":"rxe0","port":1}}"""));
        Put("control", "find.bin", [.. Frame("""{"command":"find","args":{"ip":"10.0.0.1","type":"v2","ndev":"eth0"}}"""),
            .. Frame("""{"command":"find","args":{"gid":"fe80::ff:fe00:a"}}""")]);
        Put("control", "pipelined.bin", [.. Frame("""{"command":"show-ports"}"""), .. Frame("""{"command":"show-devices"}"""), .. Frame("""{"command":"save-state"}""")]);
        Put("control", "oversized-prefix.bin", [0x00, 0x01, 0x00, 0x01, (byte)'{']);

        Put("config", "example.json", File.ReadAllBytes(Path.Combine(repo, "docs", "roceuio.example.json")));
        Put("config", "devices.json", Encoding.UTF8.GetBytes("""
            { "index_policy": "kernel", "control_max_connections": 8, "control_idle_timeout_s": 1.5,
              "devices": [ { "driver": "mlx4", "attach": "/tmp/cx3", "ports": ["eth0", "eth1"] },
                           { "driver": "rxe", "emulate": true, "ports": ["eth2"] } ] }
            """));
    }
}
