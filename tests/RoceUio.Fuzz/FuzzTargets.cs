using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using RoceUio.Cli.Config;
using RoceUio.Cli.Control;
using RoceUio.Cli.Daemon;
using RoceUio.Drivers.Rxe;
using RoceUio.Netlink;
using RoceUio.Roce;

namespace RoceUio.Fuzz;

/// <summary>
/// One parser that takes outside input, and what it may do with any bytes: return, or refuse them with its documented
/// error. Anything else thrown (or a broken invariant) is a finding. Targets are thread-safe: the runner calls them
/// from several threads.
/// </summary>
public sealed record FuzzTarget(string Name, string What, Action<byte[]> Run);

public static class FuzzTargets
{
    public static readonly IReadOnlyList<FuzzTarget> All =
    [
        new("netlink", "rtnetlink datagrams (RTM_NEWLINK/DELLINK/NEWADDR/DELADDR) into the netdev cache", Netlink),
        new("rtmon", "an rtmon capture replayed through cache, graph, GID manager and an rxe device", Rtmon),
        new("control", "bytes on the control socket (frames, requests) to a server with the daemon's commands", Control),
        new("config", "a config file (roceuio run --config)", Config),
    ];

    public static FuzzTarget Get(string name)
        => All.FirstOrDefault(t => t.Name == name)
           ?? throw new ArgumentException($"no fuzz target '{name}' (targets: {string.Join(", ", All.Select(t => t.Name))})");

    /// <summary>The cache takes any datagram: a malformed message is counted and logged, never thrown.</summary>
    private static void Netlink(byte[] input)
    {
        var cache = new NetdevCache { Log = static _ => { } };
        cache.ApplyAll(input);
        if (cache.MalformedMessages < 0)
            throw new InvalidOperationException("negative malformed count");
    }

    /// <summary>A capture replays without throwing, and every table stays within its capacity with no entry twice.</summary>
    private static void Rtmon(byte[] input)
    {
        using RocePipeline pipeline = new RocePipelineBuilder().NetlinkLog(static _ => { }).Errors(static _ => { }).Build();
        pipeline.AddDevice(new RxeDevice("rxe0"), ["eth0"]);
        pipeline.Replay(input);
        foreach (RocePort p in pipeline.Manager.Ports)
        {
            var seen = new HashSet<(RoceUio.Gids.Gid, RoceUio.Gids.GidType, int)>();
            int n = 0;
            foreach (var (_, e) in p.Table.EnumerateValid())
            {
                n++;
                if (!seen.Add((e.Gid, e.Type, e.NetdevIfindex)))
                    throw new InvalidOperationException($"{p}: {e.Gid} {e.Type} ifindex {e.NetdevIfindex} is in the table twice");
            }
            if (n > p.Table.Capacity || n != p.Table.Count)
                throw new InvalidOperationException($"{p}: {n} valid entries, Count {p.Table.Count}, capacity {p.Table.Capacity}");
        }
    }

    /// <summary>The config loader refuses bad input only with a <see cref="ConfigException"/> (file:line:col: what).</summary>
    private static void Config(byte[] input)
    {
        try
        {
            DaemonConfig.FromJson(JValue.Parse("fuzz.json", input));
        }
        catch (ConfigException e) when (e.Message.StartsWith("fuzz.json:", StringComparison.Ordinal))
        {
        }
    }

    private static readonly Lazy<ControlTarget> s_control = new(() => new ControlTarget());

    /// <summary>Whatever a client sends, every answer is a well-formed frame of a JSON object with a boolean "ok", and
    /// the server goes on answering a good request.</summary>
    private static void Control(byte[] input) => s_control.Value.Run(input);

    private sealed class ControlTarget
    {
        private readonly string _path = Path.Combine(Path.GetTempPath(), $"roceuio-fuzz-{Environment.ProcessId}.sock");
        private readonly ControlServer _server;

        public ControlTarget()
        {
            RocePipeline pipeline = new RocePipelineBuilder().NetlinkLog(static _ => { }).Errors(static _ => { }).Build();
            pipeline.AddDevice(new RxeDevice("rxe0"), ["eth0"]);
            pipeline.Cache.ApplyAll(RtnlMessages.NewLink(new LinkSpec(2, "eth0") { Mac = "02:00:00:00:00:0a" }));
            pipeline.Cache.ApplyAll(RtnlMessages.NewAddress(2, "10.0.0.1/24"));
            pipeline.Manager.EndOfBurst();
            var handlers = new ControlHandlers(pipeline.Manager, [], () => { });
            handlers.Publish();
            // Dispatch null: state-changing commands run on the control thread (this process is root, so save-state runs).
            _server = new ControlServer(_path, handlers.Commands, new ControlServerOptions { Log = static _ => { } });
            AppDomain.CurrentDomain.ProcessExit += (_, _) => _server.Dispose();
        }

        public void Run(byte[] input)
        {
            using (Socket s = Connect())
            {
                s.Send(input);
                s.Shutdown(SocketShutdown.Send);
                foreach (byte[] answer in ReadFrames(s))
                    CheckAnswer(answer);
            }
            // Still serving.
            using Socket probe = Connect();
            byte[] status = JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["command"] = "status" });
            byte[] frame = new byte[4 + status.Length];
            BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)status.Length);
            status.CopyTo(frame, 4);
            probe.Send(frame);
            probe.Shutdown(SocketShutdown.Send);
            if (ReadFrames(probe).Select(a => JsonNode.Parse(a)?["ok"]?.GetValue<bool>()).FirstOrDefault() != true)
                throw new InvalidOperationException("the server stopped answering status");
        }

        private Socket Connect()
        {
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { ReceiveTimeout = 10_000 };
            s.Connect(new UnixDomainSocketEndPoint(_path));
            return s;
        }

        private static List<byte[]> ReadFrames(Socket s)
        {
            var all = new MemoryStream();
            byte[] buf = new byte[64 * 1024];
            try
            {
                int n;
                while ((n = s.Receive(buf)) > 0)
                    all.Write(buf, 0, n);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
            }
            var frames = new List<byte[]>();
            ReadOnlySpan<byte> rest = all.ToArray();
            while (rest.Length > 0)
            {
                if (rest.Length < 4)
                    throw new InvalidOperationException($"an answer ends inside its length prefix ({rest.Length} bytes)");
                int len = (int)BinaryPrimitives.ReadUInt32BigEndian(rest);
                if (len > rest.Length - 4)
                    throw new InvalidOperationException($"an answer announces {len} bytes and has {rest.Length - 4}");
                frames.Add(rest.Slice(4, len).ToArray());
                rest = rest[(4 + len)..];
            }
            return frames;
        }

        private static void CheckAnswer(byte[] answer)
        {
            if (JsonNode.Parse(answer) is not JsonObject o || o["ok"]?.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                throw new InvalidOperationException($"an answer is not {{\"ok\": bool, ...}}: {System.Text.Encoding.UTF8.GetString(answer)}");
            if (o["ok"]!.GetValue<bool>() == false && o["error"]?.GetValueKind() != JsonValueKind.String)
                throw new InvalidOperationException("a refusal without an error text");
        }
    }
}
