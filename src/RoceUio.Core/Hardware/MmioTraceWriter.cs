using System.Diagnostics;
using System.Globalization;

namespace RoceUio.Hardware;

/// <summary>
/// The MMIO trace: one register access a line,
/// <c>&lt;ns since start&gt; &lt;R|W&gt;&lt;32|64&gt; bar&lt;N&gt;+0x&lt;offset hex&gt; 0x&lt;value hex&gt;</c>, e.g.
/// <c>1532 W32 bar0+0x80698 0x00a0100c</c>. The value is in the layout's own terms, before any byte swap (for mlx4 the
/// argument of <c>cpu_to_be32</c>), zero-padded to the access width. Set it as <see cref="MmioRegion.Tracer"/>; with
/// no tracer set a region pays one null check per access.
/// Locking: <see cref="Access"/> takes the instance lock, so regions on several threads can share one trace.
/// </summary>
public sealed class MmioTraceWriter : IMmioTracer, IDisposable
{
    private readonly TextWriter _writer;
    private readonly bool _ownsWriter;
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly char[] _line = new char[96];
    private readonly object _lock = new();

    public MmioTraceWriter(TextWriter writer, bool ownsWriter = false)
    {
        _writer = writer;
        _ownsWriter = ownsWriter;
    }

    /// <summary>Traces to a file (created or truncated).</summary>
    public static MmioTraceWriter Open(string path)
        => new(new StreamWriter(path, append: false) { AutoFlush = false }, ownsWriter: true);

    public void Access(int bar, long offset, int width, bool isWrite, ulong value)
    {
        long ns = (long)((Stopwatch.GetTimestamp() - _start) * (1_000_000_000.0 / Stopwatch.Frequency));
        lock (_lock)
        {
            Span<char> s = _line;
            int n = Format(s, ns, bar, offset, width, isWrite, value);
            _writer.Write(s[..n]);
            _writer.Write('\n');
        }
    }

    /// <summary>Formats one trace line (without the newline) into <paramref name="into"/>; returns its length.</summary>
    public static int Format(Span<char> into, long ns, int bar, long offset, int width, bool isWrite, ulong value)
    {
        var inv = CultureInfo.InvariantCulture;
        int n = 0;
        ns.TryFormat(into, out int w, default, inv); n += w;
        into[n++] = ' ';
        into[n++] = isWrite ? 'W' : 'R';
        width.TryFormat(into[n..], out w, default, inv); n += w;
        " bar".CopyTo(into[n..]); n += 4;
        bar.TryFormat(into[n..], out w, default, inv); n += w;
        "+0x".CopyTo(into[n..]); n += 3;
        offset.TryFormat(into[n..], out w, "x", inv); n += w;
        " 0x".CopyTo(into[n..]); n += 3;
        value.TryFormat(into[n..], out w, width == 64 ? "x16" : "x8", inv); n += w;
        return n;
    }

    public void Flush()
    {
        lock (_lock)
            _writer.Flush();
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _writer.Flush();
            if (_ownsWriter)
                _writer.Dispose();
        }
    }
}
