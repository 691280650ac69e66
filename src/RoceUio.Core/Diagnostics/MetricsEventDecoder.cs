using System.Globalization;

namespace RoceUio.Diagnostics;

/// <summary>One instrument's value in one collection interval of an EventPipe session on System.Diagnostics.Metrics.
/// Counters and gauges carry <see cref="Value"/>; histograms carry <see cref="Quantiles"/> (e.g. <c>0.5=1.2;0.95=3</c>),
/// <see cref="Count"/> and <see cref="Sum"/> of that interval.</summary>
public sealed record EventPipeMetric(string Name, string Kind, string Unit, string Tags, double Value, string Quantiles, long Count, double Sum);

/// <summary>
/// The events of the runtime's <c>System.Diagnostics.Metrics</c> EventSource (MetricsEventSource in
/// System.Diagnostics.DiagnosticSource, event ids and payloads as its manifest says: 2 CollectionStart, 3 CollectionStop,
/// 4 CounterRateValuePublished, 5 GaugeValuePublished, 6 HistogramValuePublished, 9 Error, 12/13 limits reached,
/// 14 ObservableInstrumentCallbackError, 15 MultipleSessionsNotSupportedError, 16 UpDownCounterRateValuePublished,
/// 17 MultipleSessionsConfiguredIncorrectlyError), turned into one list of values per interval for one session.
/// Payload strings are UTF-16, NUL-terminated; the values are strings (invariant culture).
/// </summary>
public sealed class MetricsEventDecoder(string sessionId, string meterName)
{
    public const string Provider = "System.Diagnostics.Metrics";
    private List<EventPipeMetric> _interval = [];

    /// <summary>Called with an interval's values at its CollectionStop.</summary>
    public Action<IReadOnlyList<EventPipeMetric>>? IntervalEnded { get; set; }

    /// <summary>Called with what the event source reported as an error (another session, a callback that threw).</summary>
    public Action<string>? Error { get; set; }

    public void OnEvent(in NettraceEvent e)
    {
        if (e.Provider != Provider)
            return;
        var r = new SpanReader(e.Payload, 0);
        switch (e.EventId)
        {
            case 15:
                Error?.Invoke($"another EventPipe session ({r.Utf16Z()}) is reading the daemon's meters, and the runtime serves one at a time");
                return;
            case 17:
                Error?.Invoke("another EventPipe session reads the daemon's meters with another interval or limits: use the same --interval");
                return;
            case not (2 or 3 or 4 or 5 or 6 or 9 or 12 or 14 or 16):
                return;
        }
        if (r.Utf16Z() != sessionId)
            return;
        switch (e.EventId)
        {
            case 2:
                _interval = [];
                break;
            case 3:
                IntervalEnded?.Invoke(_interval);
                _interval = [];
                break;
            case 9 or 14:
                Error?.Invoke(r.Utf16Z());
                break;
            case 12:
                Error?.Invoke("the session's time series limit was reached: some values are missing");
                break;
            default:
                if (r.Utf16Z() != meterName)
                    break;
                r.Utf16Z(); // meter version
                string name = r.Utf16Z(), unit = r.Utf16Z(), tags = r.Utf16Z();
                _interval.Add(e.EventId switch
                {
                    4 => Value(name, "counter", unit, tags, RateThenValue(ref r)),
                    16 => Value(name, "gauge", unit, tags, RateThenValue(ref r)),
                    5 => Value(name, "gauge", unit, tags, Number(r.Utf16Z())),
                    _ => new EventPipeMetric(name, "histogram", unit, tags, 0, r.Utf16Z(), r.Int32(), r.Double()),
                });
                break;
        }
    }

    private static EventPipeMetric Value(string name, string kind, string unit, string tags, double value)
        => new(name, kind, unit, tags, value, "", 0, 0);

    /// <summary>Counter events carry the interval's rate, then (version 1 on) the observed value; the value is what
    /// a counter's total is.</summary>
    private static double RateThenValue(ref SpanReader r)
    {
        double rate = Number(r.Utf16Z());
        return r.Remaining > 0 ? Number(r.Utf16Z()) : rate;
    }

    private static double Number(string s)
        => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : double.NaN;
}
