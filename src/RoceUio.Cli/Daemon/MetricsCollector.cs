using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using RoceUio.Diagnostics;

namespace RoceUio.Cli.Daemon;

/// <summary>One value of one instrument: <c>roceuio.gid.table.used{dev=mlx4_0,port=1} = 4</c>. A histogram carries
/// <see cref="Histogram"/> (since the start) and no <see cref="Value"/>.</summary>
public sealed record MetricValue(string Name, string Kind, string Description, IReadOnlyList<KeyValuePair<string, string>> Tags, long Value,
    HistogramSnapshot? Histogram = null);

/// <summary>A histogram since the start: <see cref="Counts"/>[i] measurements at most <see cref="Bounds"/>[i] (and above
/// the bound before it); the last count is above every bound.</summary>
public sealed record HistogramSnapshot(double[] Bounds, long[] Counts, long Count, double Sum, double Min, double Max)
{
    /// <summary>The <paramref name="q"/> quantile, within the smallest and largest value measured.</summary>
    public double Quantile(double q) => Count == 0 ? 0 : Math.Clamp(Interpolated(q), Min, Max);

    /// <summary>The <paramref name="q"/> quantile, interpolated within its bucket (as Prometheus' histogram_quantile);
    /// above the last bound it answers the last bound.</summary>
    private double Interpolated(double q)
    {
        if (Count == 0)
            return 0;
        double rank = q * Count;
        long below = 0;
        for (int i = 0; i < Counts.Length; i++)
        {
            if (below + Counts[i] >= rank && Counts[i] > 0)
            {
                if (i == Bounds.Length)
                    return Bounds[^1];
                double lo = i == 0 ? 0 : Bounds[i - 1];
                return lo + (Bounds[i] - lo) * (rank - below) / Counts[i];
            }
            below += Counts[i];
        }
        return Bounds[^1];
    }
}

/// <summary>
/// The daemon's own listener on the <c>RoceUio</c> meter: <see cref="Collect"/> reads every instrument now, for
/// <c>--metrics-textfile</c> (Prometheus text, <see cref="WritePrometheus"/>) and the control socket's <c>metrics</c>
/// command behind <c>roceuio stat</c>. Thread-safe: one lock around a collection.
/// </summary>
public sealed class MetricsCollector : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Lock _lock = new();
    private List<MetricValue> _values = [];

    public MetricsCollector()
    {
        _listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == RoceUioMetrics.MeterName)
                l.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => OnHistogram(i, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => OnHistogram(i, v, t));
        _listener.Start();
    }

    /// <summary>Bucket bounds: milliseconds for latencies, counts for the rest (Prometheus' le labels).</summary>
    private static readonly double[] s_msBounds = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
    private static readonly double[] s_countBounds = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

    /// <summary>One histogram's time series: its tags as recorded (compared by value) and its buckets.</summary>
    private sealed class Series(Instrument instrument, KeyValuePair<string, object?>[] tags)
    {
        public readonly Instrument Instrument = instrument;
        public readonly KeyValuePair<string, object?>[] Tags = tags;
        public readonly double[] Bounds = instrument.Unit == "ms" ? s_msBounds : s_countBounds;
        public readonly long[] Counts = new long[(instrument.Unit == "ms" ? s_msBounds : s_countBounds).Length + 1];
        public long Count;
        public double Sum, Min = double.MaxValue, Max = double.MinValue;
    }

    private readonly Lock _histLock = new();
    private readonly List<Series> _series = [];

    /// <summary>A histogram measurement, on the thread that recorded it (a device's thread, the worker, the control
    /// server): a lock, a search of a few series, two adds. It allocates only for a tag set seen the first time.</summary>
    private void OnHistogram(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        lock (_histLock)
        {
            Series? s = null;
            foreach (Series c in _series)
                if (c.Instrument == instrument && SameTags(c.Tags, tags))
                {
                    s = c;
                    break;
                }
            if (s is null)
                _series.Add(s = new Series(instrument, tags.ToArray()));
            int b = 0;
            while (b < s.Bounds.Length && value > s.Bounds[b])
                b++;
            s.Counts[b]++;
            s.Count++;
            s.Sum += value;
            s.Min = Math.Min(s.Min, value);
            s.Max = Math.Max(s.Max, value);
        }
    }

    private static bool SameTags(KeyValuePair<string, object?>[] a, ReadOnlySpan<KeyValuePair<string, object?>> b)
    {
        if (a.Length != b.Length)
            return false;
        for (int i = 0; i < a.Length; i++)
            if (a[i].Key != b[i].Key || !Equals(a[i].Value, b[i].Value))
                return false;
        return true;
    }

    private static KeyValuePair<string, string>[] Strings(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var t = new KeyValuePair<string, string>[tags.Length];
        for (int i = 0; i < tags.Length; i++)
            t[i] = new(tags[i].Key, Convert.ToString(tags[i].Value, CultureInfo.InvariantCulture) ?? "");
        return t;
    }

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        KeyValuePair<string, string>[] t = Strings(tags);
        string kind = instrument is ObservableCounter<long> ? "counter" : "gauge";
        _values.Add(new MetricValue(instrument.Name, kind, instrument.Description ?? "", t, value));
    }

    /// <summary>Every instrument's values now, by name.</summary>
    public IReadOnlyList<MetricValue> Collect()
    {
        lock (_lock)
        {
            _values = [];
            _listener.RecordObservableInstruments();
            lock (_histLock)
                foreach (Series h in _series)
                    _values.Add(new MetricValue(h.Instrument.Name, "histogram", h.Instrument.Description ?? "", Strings(h.Tags), 0,
                        new HistogramSnapshot(h.Bounds, (long[])h.Counts.Clone(), h.Count, h.Sum, h.Min, h.Max)));
            return _values.OrderBy(v => v.Name, StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>The values as the control socket's <c>metrics</c> answer: <c>[{"name","kind","tags":{},"value"}]</c>; a
    /// histogram has <c>count</c>, <c>sum</c>, <c>p50</c>, <c>p95</c>, <c>p99</c> (since the start) instead of value.</summary>
    public JsonArray ToJson()
    {
        var arr = new JsonArray();
        foreach (MetricValue v in Collect())
        {
            var tags = new JsonObject();
            foreach (var (k, val) in v.Tags)
                tags[k] = val;
            var o = new JsonObject { ["name"] = v.Name, ["kind"] = v.Kind, ["tags"] = tags };
            if (v.Histogram is { } h)
            {
                o["count"] = h.Count;
                o["sum"] = h.Sum;
                o["p50"] = h.Quantile(0.5);
                o["p95"] = h.Quantile(0.95);
                o["p99"] = h.Quantile(0.99);
            }
            else
                o["value"] = v.Value;
            arr.Add((JsonNode)o);
        }
        return arr;
    }

    /// <summary>Prometheus text exposition format (node_exporter's textfile collector reads it): dots become
    /// underscores, counters end in <c>_total</c>.</summary>
    public static string Prometheus(IReadOnlyList<MetricValue> values)
    {
        var sb = new StringBuilder();
        foreach (var group in values.GroupBy(v => v.Name))
        {
            MetricValue first = group.First();
            string name = first.Name.Replace('.', '_') + (first.Kind == "counter" ? "_total" : "");
            sb.Append("# HELP ").Append(name).Append(' ').Append(first.Description).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(' ').Append(first.Kind).Append('\n');
            foreach (MetricValue v in group)
            {
                if (v.Histogram is { } h)
                {
                    long cumulative = 0;
                    for (int i = 0; i <= h.Bounds.Length; i++)
                    {
                        cumulative += h.Counts[i];
                        string le = i < h.Bounds.Length ? h.Bounds[i].ToString(CultureInfo.InvariantCulture) : "+Inf";
                        sb.Append(name).Append("_bucket{").Append(Labels(v.Tags, $"le=\"{le}\"")).Append("} ")
                          .Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
                    }
                    sb.Append(name).Append("_sum");
                    if (v.Tags.Count > 0)
                        sb.Append('{').Append(Labels(v.Tags, null)).Append('}');
                    sb.Append(' ').Append(h.Sum.ToString(CultureInfo.InvariantCulture)).Append('\n');
                    sb.Append(name).Append("_count");
                    if (v.Tags.Count > 0)
                        sb.Append('{').Append(Labels(v.Tags, null)).Append('}');
                    sb.Append(' ').Append(h.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
                    continue;
                }
                sb.Append(name);
                if (v.Tags.Count > 0)
                    sb.Append('{').Append(string.Join(',', v.Tags.Select(t => $"{t.Key}=\"{Escape(t.Value)}\""))).Append('}');
                sb.Append(' ').Append(v.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }
        return sb.ToString();
    }

    private static string Labels(IReadOnlyList<KeyValuePair<string, string>> tags, string? extra)
        => string.Join(',', tags.Select(t => $"{t.Key}=\"{Escape(t.Value)}\"").Concat(extra is null ? [] : [extra]));

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    /// <summary>Writes <paramref name="path"/> atomically (a temporary file in the same directory, then rename), so the
    /// collector never reads half a file.</summary>
    public void WritePrometheus(string path)
    {
        string tmp = $"{path}.tmp{Environment.ProcessId}";
        File.WriteAllText(tmp, Prometheus(Collect()));
        File.Move(tmp, path, overwrite: true);
    }

    public void Dispose() => _listener.Dispose();
}
