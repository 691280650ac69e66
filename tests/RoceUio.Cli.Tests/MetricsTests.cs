using System.Diagnostics;
using System.Text.Json.Nodes;
using NUnit.Framework;
using RoceUio.Testing;

namespace RoceUio.Cli.Tests;

/// <summary>The RoceUio meter as an operator reads it: <c>--metrics-textfile</c> (Prometheus text) and <c>roceuio stat</c>.</summary>
public class MetricsTests
{
    private const string Used = "roceuio_gid_table_used{dev=\"mlx4_0\",port=\"1\"}";

    [Test]
    public void Textfile_AndStat_FollowTheTable_AndTheFileIsReplacedWhole()
    {
        using var dir = new TempDirectory("roceuio-metrics");
        using var ns = NetworkNamespace.Create("roceuio-metrics");
        ns.IpBatch(["link add veth0 address 02:00:00:00:00:01 type veth peer name veth1", "link set veth1 up", "link set veth0 up"]);
        string prom = dir["roceuio.prom"];
        using var d = DaemonProcess.Start(ns, dir.Path, "--emulate", "mlx4:veth0", "--metrics-textfile", prom);

        string text = WaitForFile(prom, t => t.Contains($"{Used} 2\n"), "the two default GIDs");
        Assert.That(text, Does.Contain("# TYPE roceuio_gid_table_used gauge\n"));
        Assert.That(text, Does.Contain("# TYPE roceuio_netlink_messages_total counter\n"));
        Assert.That(text, Does.Contain("roceuio_gid_table_capacity{dev=\"mlx4_0\",port=\"1\"} 128\n"));
        Assert.That(text, Does.Match(@"roceuio_hw_pushes_total\{dev=""mlx4_0"",port=""1""\} [1-9]"));

        ns.Ip("addr add 10.0.0.1/24 dev veth0");
        Assert.That(WaitForGidCount(d, 4), Is.EqualTo(4), "the address's two GIDs");
        var stat = RoceuioProcess.Run("stat", "--json", "--control", d.Control);
        Assert.That(stat.Exit, Is.Zero, stat.Err);
        var values = JsonNode.Parse(stat.Out)!.AsArray();
        JsonNode used = values.Single(v => (string?)v!["name"] == "roceuio.gid.table.used")!;
        Assert.That(((string?)used["tags"]!["dev"], (string?)used["tags"]!["port"], (long?)used["value"]), Is.EqualTo(("mlx4_0", "1", (long?)4)));
        Assert.That((long?)values.Single(v => (string?)v!["name"] == "roceuio.netlink.messages")!["value"], Is.GreaterThan(0));
        long Value(string name) => (long)values.Single(v => (string?)v!["name"] == name)!["value"]!;
        Assert.That((Value("roceuio.gid.adds"), Value("roceuio.gid.deletes"), Value("roceuio.gid.refused")), Is.EqualTo((4L, 0L, 0L)),
            "two defaults and the address's two GIDs added, nothing deleted or refused");
        Assert.That(Value("roceuio.control.requests"), Is.GreaterThan(1), "the waits' show-gids requests and this one");
        Assert.That(Value("roceuio.control.time"), Is.GreaterThan(0));
        // The histograms since the start, as the control socket's metrics command (and the textfile) have them.
        var all = d.Call("metrics")!.AsArray();
        JsonNode push = all.Single(v => (string?)v!["name"] == "roceuio.hw.push.duration")!;
        Assert.That(((string?)push["kind"], (string?)push["tags"]!["dev"], (long?)push["count"] > 0, (double?)push["p99"] >= (double?)push["p50"]),
            Is.EqualTo(("histogram", "mlx4_0", true, true)), "the device's pushes timed");
        Assert.That((long?)all.Single(v => (string?)v!["name"] == "roceuio.control.duration")!["count"], Is.GreaterThan(0));
        JsonNode burst = all.Single(v => (string?)v!["name"] == "roceuio.hw.pushes_per_burst")!;
        Assert.That(((long?)burst["count"] > 0, (double?)burst["p50"] >= 1), Is.EqualTo((true, true)), "the address's burst pushed");
        Assert.That(Value("roceuio.hw.push.failures"), Is.Zero);
        text = WaitForFile(prom, t => t.Contains($"{Used} 4\n"), "the address in the textfile");
        Assert.That(text, Does.Contain("# TYPE roceuio_hw_push_duration histogram\n"));
        Assert.That(text, Does.Match(@"roceuio_hw_push_duration_bucket\{dev=""mlx4_0"",le=""\+Inf""\} [1-9]"));
        Assert.That(text, Does.Match(@"roceuio_hw_push_duration_count\{dev=""mlx4_0""\} [1-9]"));
        Assert.That(Directory.GetFiles(dir.Path, "roceuio.prom.tmp*"), Is.Empty, "written through a temporary file, renamed over");

        // Over EventPipe from the daemon's pid: the same values as the control socket's.
        var evp = RoceuioProcess.Run("stat", "--pid", d.Pid.ToString(), "--json", "--control", d.Control);
        Assert.That(evp.Exit, Is.Zero, evp.Err);
        Assert.That(evp.Err, Does.Not.Contain("no EventPipe session"), "EventPipe reached, no fallback");
        var ev = JsonNode.Parse(evp.Out)!.AsArray();
        JsonNode evUsed = ev.Single(v => (string?)v!["name"] == "roceuio.gid.table.used")!;
        Assert.That(((string?)evUsed["kind"], (string?)evUsed["tags"]!["dev"], (string?)evUsed["tags"]!["port"], (long?)evUsed["value"]),
            Is.EqualTo(("gauge", "mlx4_0", "1", (long?)4)));
        JsonNode evAdds = ev.Single(v => (string?)v!["name"] == "roceuio.gid.adds")!;
        Assert.That(((string?)evAdds["kind"], (long?)evAdds["value"]), Is.EqualTo(("counter", (long?)4)), "a counter's total, not its rate");

        // Without --pid: the daemon behind the control socket, over EventPipe, as a table.
        var text1 = RoceuioProcess.Run("stat", "--control", d.Control);
        Assert.That(text1.Exit, Is.Zero, text1.Err);
        Assert.That(text1.Err, Does.Contain($"counters over EventPipe from pid {d.Pid}"), "stat says where its numbers come from");
        Assert.That(text1.Out, Does.Match(@"roceuio\.gid\.table\.used \[dev=mlx4_0,port=1\] +4\n"));

        // A pid with no diagnostics socket (not a .NET process): the control socket's values, and stat says so.
        using var sleeper = Process.Start("sleep", "60");
        try
        {
            // An earlier .NET process with the same pid, killed without cleanup, left its socket beside the control
            // socket (pids are reused: pid_max is 32768 here): it is not the sleeper's, and stat must not take it.
            File.WriteAllText(Path.Combine(Path.GetDirectoryName(d.Control)!, $"dotnet-diagnostic-{sleeper.Id}-1-socket"), "");
            var fb = RoceuioProcess.Run("stat", "--pid", sleeper.Id.ToString(), "--control", d.Control);
            Assert.That(fb.Exit, Is.Zero, fb.Err);
            Assert.That(fb.Err, Does.Contain($"no EventPipe session (no diagnostics socket dotnet-diagnostic-{sleeper.Id}-*-socket"));
            Assert.That(fb.Err, Does.Contain($"counters from the control socket {d.Control} instead"));
            Assert.That(fb.Out, Does.Match(@"roceuio\.gid\.table\.used \[dev=mlx4_0,port=1\] +4\n"));
        }
        finally
        {
            sleeper.Kill();
        }
        Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
    }

    [Test]
    public void AnEventPipeSession_OnTheRunningDaemon_StreamsTheRoceUioMeter()
    {
        // What dotnet-counters does: the diagnostics IPC socket, an EventPipe session on System.Diagnostics.Metrics
        // filtered to the RoceUio meter. The native binary has both (EventSourceSupport in the CLI's project).
        using var dir = new TempDirectory("roceuio-eventpipe");
        using var ns = NetworkNamespace.Create("roceuio-evp");
        ns.IpBatch(["link add veth0 address 02:00:00:00:00:01 type veth peer name veth1", "link set veth0 up"]);
        using var d = DaemonProcess.Start(ns, dir.Path, "--emulate", "mlx4:veth0");
        var client = new Microsoft.Diagnostics.NETCore.Client.DiagnosticsClient(d.Pid);
        var provider = new Microsoft.Diagnostics.NETCore.Client.EventPipeProvider("System.Diagnostics.Metrics",
            System.Diagnostics.Tracing.EventLevel.Informational, 0x7, new Dictionary<string, string>
            {
                ["SessionId"] = "roceuio-test", ["Metrics"] = "RoceUio", ["RefreshInterval"] = "0.2",
                ["MaxTimeSeries"] = "100", ["MaxHistograms"] = "10",
            });
        using var session = client.StartEventPipeSession([provider], requestRundown: false);
        byte[] want = System.Text.Encoding.Unicode.GetBytes("roceuio.gid.table.used");
        var seen = new MemoryStream();
        var read = Task.Run(() =>
        {
            byte[] buf = new byte[64 * 1024];
            int n;
            while ((n = session.EventStream.Read(buf, 0, buf.Length)) > 0)
            {
                lock (seen)
                    seen.Write(buf, 0, n);
                if (Contains(seen, want))
                    return true;
            }
            return false;
        });
        Assert.That(read.Wait(TimeSpan.FromSeconds(20)), Is.True, $"the EventPipe reader finished within 20 s ({seen.Length} bytes read)");
        Assert.That(read.Result, Is.True, $"the EventPipe stream named roceuio.gid.table.used ({seen.Length} bytes read)");
        session.Stop();
        Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
    }

    [Test]
    public void Textfile_InAPlaceThatCannotBeWritten_IsAClearError_AndTheDaemonGoesOn()
    {
        using var dir = new TempDirectory("roceuio-badprom");
        using var ns = NetworkNamespace.Create("roceuio-badp");
        ns.IpBatch(["link add veth0 address 02:00:00:00:00:01 type veth peer name veth1", "link set veth0 up"]);
        File.WriteAllText(dir["file"], "a file, not a directory");
        string prom = Path.Combine(dir["file"], "roceuio.prom");
        using var d = DaemonProcess.Start(ns, dir.Path, "--emulate", "mlx4:veth0", "--metrics-textfile", prom);
        var sw = Stopwatch.StartNew();
        while (!d.Stderr.Contains("cannot write the metrics") && sw.Elapsed < TimeSpan.FromSeconds(20) && !d.HasExited)
            Thread.Sleep(50);
        Assert.That(d.Stderr, Does.Contain($"error: cannot write the metrics to {prom}: "), "the error names the file");
        ns.Ip("addr add 10.0.0.1/24 dev veth0");
        Assert.That(WaitForGidCount(d, 4), Is.EqualTo(4), "the daemon goes on: the address's GIDs");
        Assert.That(d.HasExited, Is.False);
        Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
        Assert.That(System.Text.RegularExpressions.Regex.Count(d.Stderr, "cannot write the metrics"), Is.EqualTo(1), "said once, not every 5 s");
    }

    [Test]
    public void Stat_FindsTheDiagnosticsSocket_BesideTheControlSocket_AsUnderTheUnitsTmpdir()
    {
        // The unit sets TMPDIR=/run/roceuio (PrivateTmp hides the daemon's /tmp): the runtime makes its diagnostics
        // socket in $TMPDIR, beside the control socket, where stat looks when its own temp directory has none.
        using var dir = new TempDirectory("roceuio-tmpdir");
        using var ns = NetworkNamespace.Create("roceuio-tmpd");
        ns.IpBatch(["link add veth0 address 02:00:00:00:00:01 type veth peer name veth1", "link set veth0 up"]);
        using var d = DaemonProcess.Start(ns, dir.Path, new Dictionary<string, string> { ["TMPDIR"] = dir.Path }, "--emulate", "mlx4:veth0");
        Assert.That(Directory.GetFiles(dir.Path, $"dotnet-diagnostic-{d.Pid}-*-socket"), Has.Length.EqualTo(1), "the socket in the daemon's TMPDIR");
        var stat = RoceuioProcess.Run("stat", "--control", d.Control);
        Assert.That(stat.Exit, Is.Zero, stat.Err);
        Assert.That(stat.Err, Does.Contain($"counters over EventPipe from pid {d.Pid}"));
        Assert.That(stat.Out, Does.Match(@"roceuio\.gid\.table\.used \[dev=mlx4_0,port=1\] +2\n"));
        Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
    }

    [Test]
    public void DotnetCounters_AgainstTheNativeDaemon_ReadsTheRoceUioMeter()
    {
        // build.sh test installs dotnet-counters into artifacts/tools (dotnet tool install --tool-path).
        string root = TestContext.CurrentContext.TestDirectory;
        while (!File.Exists(Path.Combine(root, "build.sh")) && Path.GetDirectoryName(root) is { } up)
            root = up;
        string tool = Path.Combine(root, "artifacts", "tools", "dotnet-counters");
        if (!File.Exists(tool))
            Assert.Fail($"{tool} is missing: ./build.sh test installs it (dotnet tool install --tool-path artifacts/tools dotnet-counters --version 10.0.750501)");
        using var dir = new TempDirectory("roceuio-counters");
        using var ns = NetworkNamespace.Create("roceuio-ctr");
        ns.IpBatch(["link add veth0 address 02:00:00:00:00:01 type veth peer name veth1", "link set veth0 up"]);
        using var d = DaemonProcess.Start(ns, dir.Path, "--emulate", "mlx4:veth0");
        string json = dir["counters.json"];
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string a in (string[])["collect", "-p", d.Pid.ToString(), "--counters", "RoceUio", "--refresh-interval", "1",
                     "--format", "json", "-o", json, "--duration", "00:00:03"])
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEndAsync().Result + p.StandardOutput.ReadToEnd();
        Assert.That(p.WaitForExit(60_000), Is.True, "dotnet-counters collect ends after its 3 s");
        Assert.That(p.ExitCode, Is.Zero, err);
        var events = JsonNode.Parse(File.ReadAllText(json))!["Events"]!.AsArray();
        JsonNode used = events.Last(e => ((string?)e!["name"])!.StartsWith("roceuio.gid.table.used", StringComparison.Ordinal))!;
        Assert.That(((string?)used["provider"], (string?)used["tags"], (double?)used["value"]), Is.EqualTo(("RoceUio", "dev=mlx4_0,port=1", (double?)2)),
            "the two default GIDs, as dotnet-counters reads them from the native binary");
        Assert.That(d.Terminate(), Is.EqualTo(0), d.Stderr);
    }

    [Test]
    public void RecordingTheHistograms_AllocatesNothing_WithTheDaemonsListener()
    {
        // The daemon's own listener (always on: the textfile, the control socket's metrics) sees every record.
        using var collector = new RoceUio.Cli.Daemon.MetricsCollector();
        var dev = new KeyValuePair<string, object?>("dev", "alloc0");
        Record(20_000, dev); // first series, buckets, tiering
        long before = GC.GetAllocatedBytesForCurrentThread();
        Record(10_000, dev);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, "bytes for 10,000 pushes, bursts and control requests recorded");
        var push = collector.Collect().Single(v => v.Name == "roceuio.hw.push.duration" && v.Tags.Any(t => t.Value == "alloc0"));
        Assert.That(push.Histogram!.Count, Is.EqualTo(30_000), "every push counted by the daemon's own listener");

    }

    private static void Record(int n, KeyValuePair<string, object?> dev)
    {
        for (int i = 0; i < n; i++)
            RoceUio.Diagnostics.RoceUioMetrics.HardwarePushed(dev, Stopwatch.GetTimestamp());
        for (int i = 0; i < n; i++)
            RoceUio.Diagnostics.RoceUioMetrics.BurstPushed(3);
        for (int i = 0; i < n; i++)
            RoceUio.Diagnostics.RoceUioMetrics.ControlRequestAnswered(Stopwatch.GetTimestamp());
    }

    private static bool Contains(MemoryStream ms, byte[] what)
    {
        lock (ms)
            return ms.GetBuffer().AsSpan(0, (int)ms.Length).IndexOf(what) >= 0;
    }

    private static int WaitForGidCount(DaemonProcess d, int count)
    {
        var sw = Stopwatch.StartNew();
        int n;
        while ((n = d.Gids().Count) != count && sw.Elapsed < TimeSpan.FromSeconds(5))
            Thread.Sleep(20);
        return n;
    }

    private static string WaitForFile(string path, Func<string, bool> ok, string what)
    {
        var sw = Stopwatch.StartNew();
        string text = "";
        while (sw.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (File.Exists(path) && ok(text = File.ReadAllText(path)))
                return text;
            Thread.Sleep(50);
        }
        Assert.Fail($"{path} never showed {what}:\n{text}");
        return text;
    }
}
