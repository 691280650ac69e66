using System.Globalization;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Diagnostics.NETCore.Client;
using RoceUio.Cli.Control;
using RoceUio.Diagnostics;

namespace RoceUio.Cli;

/// <summary>
/// <c>roceuio stat</c>: the running daemon's <c>RoceUio</c> meter, printed like <c>dotnet-counters monitor</c>. It opens an
/// EventPipe session on the daemon through the .NET diagnostics IPC (Microsoft.Diagnostics.NETCore.Client; the provider
/// System.Diagnostics.Metrics with Metrics=RoceUio) and reads the nettrace stream with <see cref="NettraceReader"/>.
/// Where no EventPipe session can be had (no diagnostics socket visible, e.g. systemd's PrivateTmp without
/// TMPDIR=/run/roceuio), it reads the same values over the control socket (<c>metrics</c>) and says so on stderr.
/// </summary>
internal static class StatCommand
{
    private const string Usage = """
        Usage: roceuio stat [--pid PID] [--interval S] [--count N] [--json] [--control PATH]
        The daemon's counters (netlink messages, malformed, ENOBUFS, resyncs; per port: GIDs used, capacity, pending,
        added, deleted, refused, pushes, failing pushes). Once, or every S seconds (N times; Ctrl-C
        stops). --json: one JSON array per sample.
        Read over EventPipe (the .NET diagnostics IPC, as dotnet-counters does) from the daemon PID, or, without --pid,
        from the daemon that serves the control socket (its peer pid). The diagnostics socket is looked for in $TMPDIR
        (or /tmp) and beside the control socket (the unit sets TMPDIR=/run/roceuio). Where EventPipe cannot be reached,
        the counters come from the control socket, and stat says so on stderr.
        """;

    public static int Run(string[] args)
    {
        var a = new ArgReader(args, ["--interval", "--count", "--control", "--pid"], ["--json"]);
        if (a.Help)
        {
            Console.WriteLine(Usage);
            return 0;
        }
        if (a.Positional.Count > 0)
            throw new UsageException($"unexpected '{a.Positional[0]}'");
        int? pid = a.Int("--pid");
        if (pid is <= 0)
            throw new UsageException("--pid needs a process id above 0");
        int? interval = a.Int("--interval");
        if (interval is <= 0)
            throw new UsageException("--interval needs a whole number of seconds above 0");
        int count = a.Int("--count") ?? (interval is null ? 1 : int.MaxValue);
        string control = a.Value("--control") ?? ControlClient.DefaultPath;
        bool json = a.Flag("--json");

        string? why = null;
        pid ??= PeerPid(control, out why);
        if (pid is { } p)
        {
            int? rc = RunEventPipe(p, control, interval ?? 1, count, json, out why);
            if (rc is not null)
                return rc.Value;
        }
        else
            why ??= "no daemon pid";
        Console.Error.WriteLine($"roceuio stat: no EventPipe session ({why}); counters from the control socket {control} instead");
        return RunControl(control, interval, count, json);
    }

    /// <summary>The pid of the process that serves <paramref name="control"/> (SO_PEERCRED of a connection to it).</summary>
    private static int? PeerPid(string control, out string? why)
    {
        try
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Connect(new UnixDomainSocketEndPoint(control));
            why = null;
            return Posix.PeerOf((int)s.Handle).Pid;
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            why = $"no daemon found at the control socket {control} to attach to: {e.Message}";
            return null;
        }
    }

    /// <summary>The directory where the daemon's diagnostics socket <c>dotnet-diagnostic-PID-*-socket</c> is: the
    /// runtime makes it in its own $TMPDIR (or /tmp); the client looks in its own. Null: in neither place.</summary>
    private static string? DiagnosticsDirectory(int pid, string control)
    {
        string own = Path.GetTempPath();
        // The runtime names the socket dotnet-diagnostic-PID-KEY-socket with KEY its process's start time (field 22 of
        // /proc/PID/stat). A process killed without cleanup leaves its socket behind, and a later process may get the
        // same pid: only the socket whose KEY is this process's start is its own.
        string key = StartTimeOf(pid) ?? "*";
        foreach (string dir in new[] { own, Path.GetDirectoryName(Path.GetFullPath(control)) ?? "/", "/tmp/" })
        {
            try
            {
                if (Directory.EnumerateFileSystemEntries(dir, $"dotnet-diagnostic-{pid}-{key}-socket").Any())
                    return dir;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return null;
    }

    /// <summary>Field 22 of /proc/PID/stat (starttime, clock ticks since boot); null when the process is gone.</summary>
    private static string? StartTimeOf(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so count fields after the last ')'.
        int close = stat.LastIndexOf(')');
        if (close < 0)
            return null;
        string[] rest = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return rest.Length > 19 ? rest[19] : null; // rest[0] is field 3 (state), so field 22 is rest[19]
    }

    /// <summary>Samples over EventPipe; null (with <paramref name="why"/>) when no session could be started.</summary>
    private static int? RunEventPipe(int pid, string control, int interval, int count, bool json, out string? why)
    {
        string? dir = DiagnosticsDirectory(pid, control);
        if (dir is null)
        {
            why = $"no diagnostics socket dotnet-diagnostic-{pid}-*-socket in {Path.GetTempPath()} or beside {control}: is pid {pid} the daemon, "
                  + "and under systemd, does the unit set TMPDIR=/run/roceuio?";
            return null;
        }
        // The client library looks for the socket in Path.GetTempPath(), which follows TMPDIR.
        if (Path.TrimEndingDirectorySeparator(dir) != Path.TrimEndingDirectorySeparator(Path.GetTempPath()))
            Environment.SetEnvironmentVariable("TMPDIR", dir);
        string sessionId = Guid.NewGuid().ToString("N");
        var provider = new EventPipeProvider(MetricsEventDecoder.Provider, System.Diagnostics.Tracing.EventLevel.Informational,
            0x3, // Messages | TimeSeriesValues
            new Dictionary<string, string>
            {
                ["SessionId"] = sessionId, ["Metrics"] = RoceUioMetrics.MeterName,
                ["RefreshInterval"] = interval.ToString(CultureInfo.InvariantCulture),
                ["MaxTimeSeries"] = "1000", ["MaxHistograms"] = "100",
            });
        EventPipeSession session;
        try
        {
            session = new DiagnosticsClient(pid).StartEventPipeSession([provider], requestRundown: false, circularBufferMB: 4);
        }
        catch (Exception e) when (e is ServerNotAvailableException or ServerErrorException or UnsupportedCommandException or IOException
                                      or TimeoutException or UnauthorizedAccessException or SocketException)
        {
            why = $"pid {pid}'s diagnostics IPC refused a session: {e.Message}";
            return null;
        }
        why = null;
        using (session)
        {
            if (!json)
                Console.Error.WriteLine($"roceuio stat: counters over EventPipe from pid {pid} (every {interval} s)");
            var reader = new NettraceReader();
            var decoder = new MetricsEventDecoder(sessionId, RoceUioMetrics.MeterName);
            int printed = 0;
            decoder.Error = m => Console.Error.WriteLine($"roceuio stat: the daemon's metrics source says: {m}");
            decoder.IntervalEnded = values =>
            {
                if (printed >= count)
                    return;
                JsonArray arr = ToJson(values);
                Console.WriteLine(json ? arr.ToJsonString() : Table(arr));
                Console.Out.Flush();
                printed++;
            };
            byte[] buf = new byte[64 * 1024];
            try
            {
                int n;
                while (printed < count && (n = session.EventStream.Read(buf, 0, buf.Length)) > 0)
                    reader.Feed(buf.AsSpan(0, n), decoder.OnEvent);
            }
            catch (FormatException e)
            {
                Console.Error.WriteLine($"roceuio stat: {e.Message}");
                return 1;
            }
            catch (IOException e) when (printed < count)
            {
                Console.Error.WriteLine($"roceuio stat: the EventPipe stream from pid {pid} broke: {e.Message}");
                return 1;
            }
            try
            {
                session.Stop();
            }
            catch (Exception e) when (e is ServerNotAvailableException or IOException or ServerErrorException)
            {
                // The daemon went away after the last sample: nothing to stop.
            }
            if (printed < count)
            {
                Console.Error.WriteLine($"roceuio stat: pid {pid} ended the EventPipe stream after {printed} sample(s)");
                return 1;
            }
            return 0;
        }
    }

    /// <summary>EventPipe values in the control socket's <c>metrics</c> shape, sorted by name then tags.</summary>
    private static JsonArray ToJson(IReadOnlyList<EventPipeMetric> values)
    {
        var arr = new JsonArray();
        foreach (EventPipeMetric v in values.OrderBy(v => v.Name, StringComparer.Ordinal).ThenBy(v => v.Tags, StringComparer.Ordinal))
        {
            var tags = new JsonObject();
            foreach (string kv in v.Tags.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = kv.IndexOf('=');
                if (eq > 0)
                    tags[kv[..eq]] = kv[(eq + 1)..];
            }
            var o = new JsonObject { ["name"] = v.Name, ["kind"] = v.Kind, ["tags"] = tags };
            if (v.Kind == "histogram")
            {
                o["count"] = v.Count;
                o["sum"] = v.Sum;
                foreach (string q in v.Quantiles.Split(';', StringSplitOptions.RemoveEmptyEntries))
                {
                    int eq = q.IndexOf('=');
                    if (eq > 0 && double.TryParse(q[..eq], NumberStyles.Float, CultureInfo.InvariantCulture, out double p)
                        && double.TryParse(q[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double x))
                        o[$"p{p * 100:0.#}"] = x;
                }
            }
            else if (double.IsFinite(v.Value) && v.Value == Math.Floor(v.Value) && Math.Abs(v.Value) < 9e15)
                o["value"] = (long)v.Value;
            else
                o["value"] = v.Value;
            arr.Add((JsonNode)o);
        }
        return arr;
    }

    private static int RunControl(string control, int? interval, int count, bool json)
    {
        for (int i = 0; i < count; i++)
        {
            if (i > 0)
                Thread.Sleep(TimeSpan.FromSeconds(interval ?? 1));
            JsonNode? result;
            try
            {
                result = ControlClient.CallAsync(control, "metrics").GetAwaiter().GetResult();
            }
            catch (ControlException e)
            {
                Console.Error.WriteLine($"roceuio stat: {e.Message}");
                return 1;
            }
            Console.WriteLine(json ? result?.ToJsonString() : Table(result as JsonArray ?? []));
        }
        return 0;
    }

    private static string Table(JsonArray values)
    {
        var lines = new List<string> { $"[RoceUio] {DateTime.Now.ToString("HH:mm:ss", CultureInfo.InvariantCulture)}" };
        foreach (JsonNode? v in values)
        {
            string tags = string.Join(',', (v!["tags"] as JsonObject ?? []).Select(t => $"{t.Key}={t.Value}"));
            string name = tags.Length > 0 ? $"{v["name"]} [{tags}]" : $"{v["name"]}";
            if ((string?)v["kind"] == "histogram")
            {
                string qs = string.Join(' ', (v as JsonObject)!.Where(kv => kv.Key.StartsWith('p'))
                    .Select(kv => $"{kv.Key}={((double)kv.Value!).ToString("0.###", CultureInfo.InvariantCulture)}"));
                lines.Add($"    {name,-52} {qs} (n={v["count"]})");
            }
            else
                lines.Add($"    {name,-52} {v["value"],12}");
        }
        return string.Join('\n', lines);
    }
}
