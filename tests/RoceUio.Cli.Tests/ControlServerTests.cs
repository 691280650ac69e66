using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using NUnit.Framework;
using RoceUio.Cli.Control;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>
/// The control server in-process, driven through raw frames on its Unix socket: reads answered while a command on the
/// worker is stuck, requests answered in order, and the limits that keep a client from knocking it over (frame size,
/// connection cap, idle timeout, bad bytes).
/// </summary>
public class ControlServerTests
{
    private TempDirectory _dir = null!;
    private TaskCompletionSource _gate = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDirectory("roceuio-ctl");
        _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [TearDown]
    public void TearDown()
    {
        _gate.TrySetResult();
        _dir.Dispose();
    }

    /// <summary>"echo" reads a snapshot (answered on the control thread); "worker" goes through Dispatch, which here
    /// waits for the test's gate, as the daemon's worker waits for a stuck device.</summary>
    private ControlServer Start(ControlServerOptions? options = null)
        => new(_dir["c.sock"],
            [
                new ControlCommand("echo", false, args => args.DeepClone()) { ReadsSnapshot = true },
                new ControlCommand("worker", false, _ => "done"),
            ], options)
        {
            Dispatch = async work =>
            {
                await _gate.Task.ConfigureAwait(false);
                return work();
            },
        };

    private Socket Connect()
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { ReceiveTimeout = 10_000 };
        s.Connect(new UnixDomainSocketEndPoint(_dir["c.sock"]));
        return s;
    }

    private static byte[] Frame(byte[] body)
    {
        byte[] f = new byte[4 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(f, (uint)body.Length);
        body.CopyTo(f, 4);
        return f;
    }

    private static byte[] Frame(string json) => Frame(Encoding.UTF8.GetBytes(json));

    private static JsonObject ReadAnswer(Socket s)
    {
        byte[] hdr = ReadExactly(s, 4) ?? throw new AssertionException("the server closed the connection without an answer");
        byte[] body = ReadExactly(s, (int)BinaryPrimitives.ReadUInt32BigEndian(hdr)) ?? throw new AssertionException("the answer was cut short");
        return (JsonObject)JsonNode.Parse(body)!;
    }

    /// <summary>Null at end of stream before the first byte.</summary>
    private static byte[]? ReadExactly(Socket s, int n)
    {
        byte[] buf = new byte[n];
        for (int got = 0; got < n;)
        {
            int r = s.Receive(buf, got, n - got, SocketFlags.None);
            if (r == 0)
                return got == 0 ? null : throw new AssertionException($"end of stream after {got} of {n} bytes");
            got += r;
        }
        return buf;
    }

    private static bool ClosedByServer(Socket s)
    {
        try
        {
            return s.Receive(new byte[1]) == 0;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }

    private static string Echo(Socket s, string value)
    {
        s.Send(Frame(new JsonObject { ["command"] = "echo", ["args"] = new JsonObject { ["v"] = value } }.ToJsonString()));
        JsonObject a = ReadAnswer(s);
        Assert.That((bool?)a["ok"], Is.True, a.ToJsonString());
        return (string)a["result"]!["v"]!;
    }

    [Test]
    public void Reads_AreAnsweredAtOnce_WhileACommandOnTheWorkerIsStuck()
    {
        using ControlServer server = Start();
        using Socket stuck = Connect(), reader = Connect();
        stuck.Send(Frame("""{"command":"worker"}"""));
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 20; i++)
            Assert.That(Echo(reader, $"r{i}"), Is.EqualTo($"r{i}"));
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "20 reads while the worker is blocked");
        Assert.That(stuck.Poll(0, SelectMode.SelectRead), Is.False, "the stuck command has no answer yet");

        _gate.SetResult(); // the device answers: the worker finishes, the answer arrives
        JsonObject done = ReadAnswer(stuck);
        Assert.That(((bool?)done["ok"], (string?)done["result"]), Is.EqualTo((true, "done")));
    }

    [Test]
    public void PipelinedRequests_AreAnsweredInOrder_EvenAcrossTheWorker()
    {
        _gate.SetResult();
        using ControlServer server = Start();
        using Socket s = Connect();
        s.Send([.. Frame("""{"command":"echo","args":{"v":"1"}}"""), .. Frame("""{"command":"worker"}"""), .. Frame("""{"command":"echo","args":{"v":"3"}}""")]);
        Assert.That((string?)ReadAnswer(s)["result"]!["v"], Is.EqualTo("1"));
        Assert.That((string?)ReadAnswer(s)["result"], Is.EqualTo("done"));
        Assert.That((string?)ReadAnswer(s)["result"]!["v"], Is.EqualTo("3"));
    }

    [Test]
    public void AFrameOverTheLimit_IsRefusedAtItsLengthPrefix_AndTheConnectionClosed()
    {
        using ControlServer server = Start();
        using (Socket s = Connect())
        {
            // Only the 4-byte prefix is sent: the refusal cannot have waited for (or buffered) the body.
            byte[] prefix = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(prefix, ControlFraming.MaxRequestFrame + 1);
            s.Send(prefix);
            JsonObject a = ReadAnswer(s);
            Assert.That((string?)a["error"], Is.EqualTo($"bad frame: frame of {ControlFraming.MaxRequestFrame + 1} bytes is larger than the 65536-byte limit; the connection is closed"));
            Assert.That(ClosedByServer(s), Is.True, "the connection is closed after the refusal");
        }
        // A frame of exactly the limit is served.
        using (Socket s = Connect())
        {
            string head = """{"command":"echo","args":{"v":"big"}}""";
            s.Send(Frame(head + new string(' ', ControlFraming.MaxRequestFrame - head.Length)));
            JsonObject a = ReadAnswer(s);
            Assert.That((string?)a["result"]!["v"], Is.EqualTo("big"));
        }
    }

    [Test]
    public void InvalidUtf8_DuplicateKeys_AndNonObjects_GetErrors_AndTheConnectionKeepsServing()
    {
        using ControlServer server = Start();
        using Socket s = Connect();
        byte[] bad = [.. "{\"command\":\""u8.ToArray(), 0xff, .. "\"}"u8.ToArray()];
        s.Send(Frame(bad));
        Assert.That((string?)ReadAnswer(s)["error"], Is.EqualTo("malformed request: not valid UTF-8 (byte 0xff at offset 12 of the 15-byte frame); requests are UTF-8 JSON"));
        s.Send(Frame("""{"command":"echo","command":"echo"}"""));
        Assert.That((string?)ReadAnswer(s)["error"], Does.StartWith("malformed request:"));
        s.Send(Frame("[1]"));
        Assert.That((string?)ReadAnswer(s)["error"], Is.EqualTo("malformed request: not a JSON object"));
        s.Send(Frame("""{"command":"nope"}"""));
        Assert.That((string?)ReadAnswer(s)["error"], Is.EqualTo("unknown command \"nope\" (known: echo, worker)"));
        Assert.That(Echo(s, "still"), Is.EqualTo("still"));
    }

    [Test]
    public void OneConnectionOverTheCap_IsToldWhy_AndASlotFreedIsUsedAgain()
    {
        using ControlServer server = Start(new ControlServerOptions { MaxConnections = 3 });
        var open = new List<Socket>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                open.Add(Connect());
                Assert.That(Echo(open[i], $"c{i}"), Is.EqualTo($"c{i}"));
            }
            using (Socket over = Connect())
            {
                JsonObject a = ReadAnswer(over);
                Assert.That((string?)a["error"], Is.EqualTo("the daemon serves at most 3 control connections and all are open; close idle clients or raise control_max_connections"));
                Assert.That(ClosedByServer(over), Is.True);
            }
            open[0].Dispose();
            WaitUntil(() => server.ConnectionCount == 2, "the server to notice the closed connection");
            using Socket again = Connect();
            Assert.That(Echo(again, "back"), Is.EqualTo("back"));
            Assert.That(Echo(open[1], "c1 still"), Is.EqualTo("c1 still"));
        }
        finally
        {
            open.ForEach(s => s.Dispose());
        }
    }

    [Test]
    public void AnIdleConnection_IsClosed_ButOneWaitingForTheWorkerIsNot()
    {
        using ControlServer server = Start(new ControlServerOptions { IdleTimeout = TimeSpan.FromMilliseconds(300) });
        using Socket idle = Connect(), waiting = Connect();
        waiting.Send(Frame("""{"command":"worker"}"""));
        var sw = Stopwatch.StartNew();
        Assert.That(ClosedByServer(idle), Is.True, "the idle connection is closed");
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(9)));
        WaitUntil(() => server.ConnectionCount == 1, "only the waiting connection to remain");
        _gate.SetResult();
        Assert.That((string?)ReadAnswer(waiting)["result"], Is.EqualTo("done"), "the waiting request is answered after the timeout passed");
    }

    [Test]
    public void APartialFrame_ThenEndOfStream_LeavesTheServerServing()
    {
        using ControlServer server = Start();
        using (Socket s = Connect())
            s.Send([0, 0, 1, 0, (byte)'{']);
        WaitUntil(() => server.ConnectionCount == 0, "the half-sent connection to be dropped");
        using Socket next = Connect();
        Assert.That(Echo(next, "ok"), Is.EqualTo("ok"));
    }

    private static void WaitUntil(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(10))
                Assert.Fail($"timed out waiting for {what}");
            Thread.Sleep(10);
        }
    }
}
