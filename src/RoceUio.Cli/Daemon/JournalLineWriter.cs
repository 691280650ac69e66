using System.Text;

namespace RoceUio.Cli.Daemon;

/// <summary>
/// Gives each line the syslog priority prefix that journald reads from a service's stdout/stderr (sd-daemon(3):
/// <c>&lt;3&gt;</c> error, <c>&lt;4&gt;</c> warning, <c>&lt;6&gt;</c> info), so <c>journalctl -p warning -u roceuio</c> shows what
/// went wrong. Used only when <c>$JOURNAL_STREAM</c> says the output goes to the journal (which stamps each line itself,
/// so the daemon adds no timestamps); on a terminal or in a file, output stays as it is.
/// </summary>
/// <remarks>Thread-safe: one lock around the line buffer; whole lines reach the inner writer, flushed at once.</remarks>
public sealed class JournalLineWriter(TextWriter inner, Func<string, int> priorityOf) : TextWriter
{
    public const int Error = 3, Warning = 4, Info = 6;

    private readonly StringBuilder _line = new();
    private readonly Lock _lock = new();

    public override Encoding Encoding => inner.Encoding;

    /// <summary>True when systemd connected stdout/stderr to the journal ($JOURNAL_STREAM is set).</summary>
    public static bool ToJournal => Environment.GetEnvironmentVariable("JOURNAL_STREAM") is { Length: > 0 };

    /// <summary>stdout: changes and start-up lines, all <c>&lt;6&gt;</c>.</summary>
    public static JournalLineWriter ForOut(TextWriter inner) => new(inner, _ => Info);

    /// <summary>stderr: <c>error: ...</c> and fatal <c>roceuio CMD: ...</c> lines are errors; notes and the rest warnings.</summary>
    public static JournalLineWriter ForErr(TextWriter inner) => new(inner, ErrPriority);

    public static int ErrPriority(string line)
        => line.StartsWith("error:", StringComparison.Ordinal) || line.Contains(": error:", StringComparison.Ordinal)
           || (line.StartsWith("roceuio ", StringComparison.Ordinal) && !line.Contains(": note:", StringComparison.Ordinal)
               && !line.Contains(": warning:", StringComparison.Ordinal))
            ? Error : Warning;

    public override void Write(char value)
    {
        lock (_lock)
            Append(value);
    }

    public override void Write(string? value)
    {
        if (value is null)
            return;
        lock (_lock)
            foreach (char c in value)
                Append(c);
    }

    public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

    public override void WriteLine(string? value) => Write((value ?? "") + "\n");

    public override void WriteLine() => Write('\n');

    public override void Flush()
    {
        lock (_lock)
            inner.Flush();
    }

    private void Append(char c)
    {
        if (c == '\r')
            return;
        if (c != '\n')
        {
            _line.Append(c);
            return;
        }
        string line = _line.ToString();
        _line.Clear();
        inner.Write($"<{priorityOf(line)}>{line}\n");
        inner.Flush();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            lock (_lock)
                if (_line.Length > 0)
                    Append('\n');
        base.Dispose(disposing);
    }
}
