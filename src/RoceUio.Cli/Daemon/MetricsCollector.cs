using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using RoceUio.Diagnostics;

namespace RoceUio.Cli.Daemon;

/// <summary>One value of one instrument: <c>roceuio.gid.table.used{dev=mlx4_0,port=1} = 4</c>.</summary>
public sealed record MetricValue(string Name, string Kind, string Description, IReadOnlyList<KeyValuePair<string, string>> Tags, long Value);

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
        _listener.Start();
    }

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        var t = new KeyValuePair<string, string>[tags.Length];
        for (int i = 0; i < tags.Length; i++)
            t[i] = new(tags[i].Key, Convert.ToString(tags[i].Value, CultureInfo.InvariantCulture) ?? "");
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
            return _values.OrderBy(v => v.Name, StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>The values as the control socket's <c>metrics</c> answer: <c>[{"name","kind","tags":{},"value"}]</c>.</summary>
    public JsonArray ToJson()
    {
        var arr = new JsonArray();
        foreach (MetricValue v in Collect())
        {
            var tags = new JsonObject();
            foreach (var (k, val) in v.Tags)
                tags[k] = val;
            arr.Add((JsonNode)new JsonObject { ["name"] = v.Name, ["kind"] = v.Kind, ["tags"] = tags, ["value"] = v.Value });
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
                sb.Append(name);
                if (v.Tags.Count > 0)
                    sb.Append('{').Append(string.Join(',', v.Tags.Select(t => $"{t.Key}=\"{Escape(t.Value)}\""))).Append('}');
                sb.Append(' ').Append(v.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }
        return sb.ToString();
    }

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
