using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using NUnit.Framework;
using RoceUio.Cli.Control;
using RoceUio.Cli.Daemon;
using RoceUio.Cli.Output;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// <c>roceuio run --emulate mlx4:veth0</c> as a process inside a private network namespace, driven by real netlink
/// events (<c>ip</c> in the namespace), observed through the control socket and the CLI as a user would. Expected
/// tables are written out by hand from the kernel's rules (kernel-gid.md 2-3): default GIDs (fe80:: + the MAC's
/// EUI-64, U/L bit flipped) in slots 0 (v1) and 1 (v2), every address once per type, v1 before v2, in the first free
/// slot (--index-policy kernel) or its remembered one (sticky).
/// </summary>
/// <remarks>
/// The namespace sets addr_gen_mode=none (no automatic link-local, so the rows are exactly the ones a step adds) and
/// keep_addr_on_down=1 (IPv6 addresses survive a flap, as IPv4 ones do: then "link down removes nothing" is visible).
/// </remarks>
[NonParallelizable]
public class DaemonEndToEndTests
{
    private const string Mac1 = "02:00:00:00:00:01", Mac2 = "02:00:00:00:00:11";
    private const string Default1 = "fe80:0000:0000:0000:0000:00ff:fe00:0001", Default2 = "fe80:0000:0000:0000:0000:00ff:fe00:0011";
    private const string V4a = "0000:0000:0000:0000:0000:ffff:0a00:0001";    // 10.0.0.1
    private const string V4b = "0000:0000:0000:0000:0000:ffff:0a00:0201";    // 10.0.2.1
    private const string V4c = "0000:0000:0000:0000:0000:ffff:0a00:0301";    // 10.0.3.1
    private const string V4mv = "0000:0000:0000:0000:0000:ffff:0a00:0101";   // 10.0.1.1
    private const string V6 = "2001:0db8:0000:0000:0000:0000:0000:0001";     // 2001:db8::1

    private NetworkNamespace _ns = null!;
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _ns = NetworkNamespace.Create("roceuio-cli");
        _dir = new TempDirectory("roceuio-daemon");
        NetworkNamespace.RunTool("ip", ["netns", "exec", _ns.Name, "sysctl", "-qw",
            "net.ipv6.conf.default.addr_gen_mode=1", "net.ipv6.conf.all.addr_gen_mode=1",
            "net.ipv6.conf.default.keep_addr_on_down=1", "net.ipv6.conf.all.keep_addr_on_down=1"]);
        _ns.IpBatch([
            $"link add veth0 address {Mac1} type veth peer name veth1",
            "link set veth1 up",
            "link set veth0 up",
        ]);
    }

    [TearDown]
    public void TearDown()
    {
        _ns.Dispose();
        _dir.Dispose();
    }

    private int Ifindex(string name) => int.Parse(_ns.Ip($"-o link show {name}").Split(':')[0]);

    /// <summary>One show_gids row of mlx4_0 port 1, as the script prints it.</summary>
    private static string Row(int index, string gid, string ver, string ndev)
    {
        string ipv4 = gid.StartsWith("0000", StringComparison.Ordinal)
            ? $"{Convert.ToInt32(gid[30..32], 16)}.{Convert.ToInt32(gid[32..34], 16)}.{Convert.ToInt32(gid[35..37], 16)}.{Convert.ToInt32(gid[37..39], 16)}  \t"
            : "\t\t";
        return $"mlx4_0\t1\t{index}\t{gid}\t{ipv4}{ver}\t{ndev}\n";
    }

    private static string Table(params string[] rows)
        => "DEV\tPORT\tINDEX\tGID\t\t\t\t\tIPv4  \t\tVER\tDEV\n---\t----\t-----\t---\t\t\t\t\t------------  \t---\t---\n"
           + string.Concat(rows) + $"n_gids_found={rows.Length}\n";

    private static string[] Pair(int index, string gid, string ndev) => [Row(index, gid, "v1", ndev), Row(index + 1, gid, "v2", ndev)];

    /// <summary>The JSON form: the ibv_gid_entry fields of every row, ipv4 only on IPv4-mapped GIDs.</summary>
    private static void AssertJson(List<GidRow> rows, params (int Index, string Gid, int Type, string Ndev, int Ifindex, string? Ipv4)[] expected)
    {
        var json = (JsonArray)JsonNode.Parse(ShowGidsFormat.Json(rows))!;
        var actual = json.Select(n => ((int)n!["index"]!, (string)n["gid"]!, (int)n["gid_type"]!, (string)n["ndev"]!, (int)n["ndev_ifindex"]!, (string?)n["ipv4"])).ToArray();
        Assert.That(actual, Is.EqualTo(expected));
        Assert.That(json.Select(n => ((string?)n!["dev"], (int?)n["port"])), Is.All.EqualTo(((string?)"mlx4_0", (int?)1)), "dev and port of every entry");
    }

    private static int[] Find(DaemonProcess d, string ip, string? type = null, string? ndev = null)
        => ControlHandlers.FromJson(d.Call("find", new JsonObject { ["ip"] = ip, ["type"] = type, ["ndev"] = ndev })).Select(r => r.Index).ToArray();

    [Test]
    public void Addresses_Macvlan_Flap_MacChange_FollowTheKernelsRules()
    {
        using var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "mlx4:veth0", "--index-policy", "kernel");
        int veth = Ifindex("veth0");
        WaitUntil(() => d.Stdout.Contains(Table(Pair(0, Default1, "veth0"))), "the tables printed at start");
        Assert.That(d.Stdout, Does.Contain($"roceuio: mlx4_0 (mlx4, emulated:{Path.Combine(_dir.Path, "state", "emulated", "mlx4_0")}): port 1 veth0;"),
            "the start-up line says where the device is, once");

        _ns.Ip("addr add 10.0.0.1/24 dev veth0");
        var rows = d.WaitForGids(Table([.. Pair(0, Default1, "veth0"), .. Pair(2, V4a, "veth0")]), "adding 10.0.0.1");
        AssertJson(rows, (0, Default1, 1, "veth0", veth, null), (1, Default1, 2, "veth0", veth, null),
            (2, V4a, 1, "veth0", veth, "10.0.0.1"), (3, V4a, 2, "veth0", veth, "10.0.0.1"));
        Assert.That(Find(d, "10.0.0.1"), Is.EqualTo(new[] { 2, 3 }));
        Assert.That(Find(d, "10.0.0.1", "v2"), Is.EqualTo(new[] { 3 }));
        // One log line per change, with why (stdout reaches this process through a pipe: a bounded wait).
        WaitUntil(() => d.Stdout.Contains($"mlx4_0 port 1 index 3: add {V4a} v2 veth0 (address 10.0.0.1 added to veth0)\n"), "the change's log line");

        _ns.Ip("addr add 2001:db8::1/64 dev veth0 nodad");
        d.WaitForGids(Table([.. Pair(0, Default1, "veth0"), .. Pair(2, V4a, "veth0"), .. Pair(4, V6, "veth0")]), "adding 2001:db8::1");
        Assert.That(Find(d, "2001:db8::1"), Is.EqualTo(new[] { 4, 5 }));

        _ns.Ip("addr del 10.0.0.1/24 dev veth0");
        d.WaitForGids(Table([.. Pair(0, Default1, "veth0"), .. Pair(4, V6, "veth0")]), "removing 10.0.0.1");
        Assert.That(Find(d, "10.0.0.1"), Is.Empty, "a removed address is found nowhere");

        // A macvlan upper with its own address: its GIDs take the first free slots, with the macvlan as ndev.
        _ns.IpBatch(["link add mv0 link veth0 address 02:00:00:00:00:02 type macvlan mode bridge", "link set mv0 up", "addr add 10.0.1.1/24 dev mv0"]);
        int mv = Ifindex("mv0");
        rows = d.WaitForGids(Table([.. Pair(0, Default1, "veth0"), .. Pair(2, V4mv, "mv0"), .. Pair(4, V6, "veth0")]), "a macvlan with 10.0.1.1");
        AssertJson(rows, (0, Default1, 1, "veth0", veth, null), (1, Default1, 2, "veth0", veth, null),
            (2, V4mv, 1, "mv0", mv, "10.0.1.1"), (3, V4mv, 2, "mv0", mv, "10.0.1.1"),
            (4, V6, 1, "veth0", veth, null), (5, V6, 2, "veth0", veth, null));
        Assert.That(Find(d, "10.0.1.1", ndev: "mv0"), Is.EqualTo(new[] { 2, 3 }));
        Assert.That(Find(d, "10.0.1.1", ndev: "veth0"), Is.Empty, "the macvlan's GID belongs to mv0, not veth0");

        // Link down and up removes nothing.
        string before = ShowGidsFormat.Text(d.Gids());
        _ns.IpBatch(["link set veth0 down", "link set veth0 up"]);
        _ns.Ip("addr add 10.0.9.9/32 dev veth1"); // an unrelated event after the flap: once it is processed, so is the flap
        d.WaitForGids(before, "a link flap");

        // MAC change: every GID of veth0 deleted and added again (defaults from the new MAC, then its IPs in the first
        // free slots); the macvlan's stay where they are.
        _ns.IpBatch(["link set veth0 down", $"link set veth0 address {Mac2}", "link set veth0 up"]);
        d.WaitForGids(Table([.. Pair(0, Default2, "veth0"), .. Pair(2, V4mv, "mv0"), .. Pair(4, V6, "veth0")]), "a MAC change");

        // Deleting the macvlan deletes its GIDs.
        _ns.Ip("link del mv0");
        string final = Table([.. Pair(0, Default2, "veth0"), .. Pair(4, V6, "veth0")]);
        d.WaitForGids(final, "deleting the macvlan");

        // The CLI prints the same bytes; find's exit status says whether there is an index.
        var show = RoceuioProcess.Run("show", "gids", "--control", d.Control);
        Assert.That((show.Exit, show.Out), Is.EqualTo((0, final)), show.Err);
        var found = RoceuioProcess.Run("find", "--ip", "2001:db8::1", "--type", "v2", "--control", d.Control);
        Assert.That((found.Exit, found.Out), Is.EqualTo((0, $"mlx4_0\t1\t5\t{V6}\tv2\tveth0\n")), found.Err);
        var none = RoceuioProcess.Run("find", "--ip", "10.0.1.1", "--control", d.Control);
        Assert.That((none.Exit, none.Out), Is.EqualTo((1, "")), none.Err);
        var devs = RoceuioProcess.Run("show", "devices", "--json", "--control", d.Control);
        var dev = JsonNode.Parse(devs.Out)![0]!;
        Assert.That(((string?)dev["dev"], (string?)dev["driver"], (string?)dev["mapping"], (int?)dev["ports"], (string?)dev["model"]),
            Is.EqualTo(("mlx4_0", "mlx4", "emulated", 1, "serving")));
        Assert.That(d.Stderr, Is.Empty, "no errors");
    }

    [Test]
    public void Restart_KeepsStickyIndexes_AndSoDoFlaps_SigtermSavesTheState()
    {
        _ns.IpBatch(["addr add 10.0.0.1/24 dev veth0", "addr add 10.0.2.1/24 dev veth0", "addr add 2001:db8::1/64 dev veth0 nodad"]);
        string stateFile;
        using (var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "mlx4:veth0"))
        {
            d.WaitForGids(Table([.. Pair(0, Default1, "veth0"), .. Pair(2, V4a, "veth0"), .. Pair(4, V4b, "veth0"), .. Pair(6, V6, "veth0")]), "start");
            _ns.Ip("addr del 10.0.0.1/24 dev veth0");
            d.WaitForGids(Table([.. Pair(0, Default1, "veth0"), .. Pair(4, V4b, "veth0"), .. Pair(6, V6, "veth0")]), "removing 10.0.0.1");
            Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
            stateFile = Path.Combine(d.StateDir, "gid-indexes.json");
            Assert.That(File.Exists(stateFile), "the state file after SIGTERM");
            Assert.That(d.Stdout, Does.Contain("state saved"));
        }
        Assert.That(File.ReadAllText(stateFile), Does.Contain("\"ndev\": \"veth0\""));

        // A fresh start would put 10.0.2.1 at 2 and 2001:db8::1 at 4 (kernel order); sticky keeps 4 and 6.
        using (var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "mlx4:veth0"))
        {
            d.WaitForGids(Table([.. Pair(0, Default1, "veth0"), .. Pair(4, V4b, "veth0"), .. Pair(6, V6, "veth0")]), "the restart");
            // A new address avoids the slots remembered for absent ones; the returning 10.0.0.1 gets its 2 back.
            _ns.Ip("addr add 10.0.3.1/24 dev veth0");
            _ns.Ip("addr add 10.0.0.1/24 dev veth0");
            string all = Table([.. Pair(0, Default1, "veth0"), .. Pair(2, V4a, "veth0"), .. Pair(4, V4b, "veth0"), .. Pair(6, V6, "veth0"), .. Pair(8, V4c, "veth0")]);
            d.WaitForGids(all, "a new and a returning address");
            // Flaps: an address deleted and added again, and the link down and up, keep every index.
            _ns.Ip("addr del 10.0.2.1/24 dev veth0");
            d.WaitForGids(Table([.. Pair(0, Default1, "veth0"), .. Pair(2, V4a, "veth0"), .. Pair(6, V6, "veth0"), .. Pair(8, V4c, "veth0")]), "deleting 10.0.2.1");
            _ns.Ip("addr add 10.0.2.1/24 dev veth0");
            d.WaitForGids(all, "adding 10.0.2.1 back");
            _ns.IpBatch(["link set veth0 down", "link set veth0 up", "addr add 10.0.9.9/32 dev veth1"]);
            d.WaitForGids(all, "a link flap");
            Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
        }
    }

    [Test]
    public void NonRootClient_CannotChangeState_MalformedRequests_GetErrors_AndTheDaemonKeepsServing()
    {
        using var d = DaemonProcess.Start(_ns, _dir.Path, "--emulate", "mlx4:veth0", "--quiet");
        d.WaitForGids(Table(Pair(0, Default1, "veth0")), "start");
        Assert.That(d.Stdout, Is.Empty, "--quiet prints nothing but errors");

        // Let uid 65534 reach the socket (the daemon makes it 0660 root:root; the group is how operators open it), and
        // run a copy of the CLI it can read: the clone may sit where other users cannot go (a 0700 mktemp -d, /root).
        File.SetUnixFileMode(_dir.Path, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(d.Control, (UnixFileMode)0b110_110_110);
        string[] cli = RoceuioProcess.CopyForAnyUser(_dir.Path);
        string[] asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=/tmp", "DOTNET_CLI_HOME=/tmp",
            .. cli];
        var save = Tool([.. asNobody, "save-state", "--control", d.Control]);
        Assert.That(save.Exit, Is.EqualTo(1), save.Out + save.Err);
        Assert.That(save.Err, Does.Contain("\"save-state\" changes the daemon's state and needs root (you are uid 65534)"));
        var show = Tool([.. asNobody, "show", "gids", "--control", d.Control]);
        Assert.That((show.Exit, show.Out), Is.EqualTo((0, Table(Pair(0, Default1, "veth0")))), "reading is open: " + show.Err);
        var rootSave = RoceuioProcess.Run("save-state", "--control", d.Control);
        Assert.That(rootSave.Exit, Is.EqualTo(0), rootSave.Err);

        // Raw frames: not JSON, no command, an unknown command, then a frame over the limit (the connection closes).
        using (var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            s.Connect(new UnixDomainSocketEndPoint(d.Control));
            Assert.That(Exchange(s, "{not json"), Does.Contain("malformed request"));
            Assert.That(Exchange(s, "[1,2]"), Does.Contain("malformed request: not a JSON object"));
            Assert.That(Exchange(s, "{\"args\":{}}"), Does.Contain("no \\u0022command\\u0022 string").Or.Contain("no \"command\" string"));
            Assert.That(Exchange(s, "{\"command\":\"reboot\"}"), Does.Contain("unknown command"));
            Assert.That(Exchange(s, "{\"command\":\"find\",\"args\":{\"ip\":\"300.1.1.1\"}}"), Does.Contain("not an IP address"));
            s.Send([0x7f, 0xff, 0xff, 0xff, (byte)'x']);
            Assert.That(ReadFrame(s), Does.Contain("bad frame"));
        }
        // Still serving.
        d.WaitForGids(Table(Pair(0, Default1, "veth0")), "malformed requests");
        Assert.That(d.Terminate(), Is.EqualTo(0));
    }

    [Test]
    public void Attach_ToAModelInAnotherProcess_HardwareKeepsItsTable_UnlessClearOnExit()
    {
        string dev = _dir["dev"];
        using var model = RoceuioProcess.Start("model", "mlx4", "--dir", dev, "--create", "--ports", "1");
        try
        {
            string stateFile = Path.Combine(dev, RoceUio.Drivers.Mlx4.Model.Mlx4ModelState.FileName);
            WaitUntil(() => File.Exists(stateFile), "the model to start");
            Func<string[]> hardware = () => RoceUio.Drivers.Mlx4.Model.Mlx4ModelState.Parse(File.ReadAllText(stateFile)).Table(1).Entries
                .Select(e => $"{e.Gid} {e.GidType}").Order().ToArray();
            string[] expected = [$"{V4a} RoceV1", $"{V4a} RoceV2", $"{Default1} RoceV1", $"{Default1} RoceV2"]; // sorted: 0000... first

            _ns.Ip("addr add 10.0.0.1/24 dev veth0");
            using (var d = DaemonProcess.Start(_ns, _dir.Path, "--attach", $"mlx4:{dev}=veth0"))
            {
                d.WaitForGids(Table([.. Pair(0, Default1, "veth0"), .. Pair(2, V4a, "veth0")]), "attach");
                var info = (System.Text.Json.Nodes.JsonArray)d.Call("show-devices")!;
                Assert.That(((string?)info[0]!["mapping"], (string?)info[0]!["pci"]), Is.EqualTo(("attached", $"emulated:{dev}")));
                WaitUntil(() => hardware().SequenceEqual(expected), "the model's table to hold the four GIDs");
                Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
            }
            Assert.That(hardware(), Is.EqualTo(expected), "without --clear-on-exit the hardware keeps its table");

            using (var d = DaemonProcess.Start(_ns, _dir.Path, "--attach", $"mlx4:{dev}=veth0", "--clear-on-exit"))
            {
                d.WaitForGids(Table([.. Pair(0, Default1, "veth0"), .. Pair(2, V4a, "veth0")]), "the second attach");
                Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
                Assert.That(d.Stdout, Does.Contain("hardware tables cleared"));
            }
            Assert.That(hardware(), Is.Empty, "--clear-on-exit deleted every entry from the hardware");
            Assert.That(model.HasExited, Is.False, "the model keeps serving");
        }
        finally
        {
            if (!model.HasExited)
                model.Kill();
            model.WaitForExit(5_000);
        }
    }

    private static void WaitUntil(Func<bool> condition, string what)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(10))
                Assert.Fail($"timed out waiting for {what}");
            Thread.Sleep(20);
        }
    }

    private static string Exchange(Socket s, string body)
    {
        byte[] b = Encoding.UTF8.GetBytes(body);
        byte[] frame = new byte[4 + b.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)b.Length);
        b.CopyTo(frame, 4);
        s.Send(frame);
        string answer = ReadFrame(s);
        Assert.That(answer, Does.Contain("\"ok\":false"), body);
        return answer;
    }

    private static string ReadFrame(Socket s)
    {
        s.ReceiveTimeout = 5000;
        byte[] hdr = ReadExactly(s, 4);
        return Encoding.UTF8.GetString(ReadExactly(s, (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(hdr)));
    }

    private static byte[] ReadExactly(Socket s, int n)
    {
        byte[] buf = new byte[n];
        for (int got = 0; got < n;)
        {
            int r = s.Receive(buf, got, n - got, SocketFlags.None);
            if (r == 0)
                Assert.Fail("the daemon closed the connection without an answer");
            got += r;
        }
        return buf;
    }

    private static (int Exit, string Out, string Err) Tool(string[] argv)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/tmp" };
        foreach (string a in argv[1..])
            psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(30_000))
        {
            p.Kill();
            Assert.Fail($"{string.Join(' ', argv)} did not exit");
        }
        return (p.ExitCode, output, err.Result);
    }
}
