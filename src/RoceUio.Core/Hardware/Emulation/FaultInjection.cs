using System.Globalization;

namespace RoceUio.Hardware.Emulation;

/// <summary>
/// Faults a device model can be told to show, to test how a driver copes with a device that misbehaves:
/// <see cref="Stalled"/> (stops answering: writes are seen only once it resumes), <see cref="Delay"/> (answers late),
/// and queued error statuses a model reports instead of success (<see cref="TryTakeError"/>).
/// Set in-process, or from another process through the device directory's <see cref="FileName"/> file
/// (docs/emulated-devices.md): <c>stall=1</c>, <c>delay_ms=N</c>, <c>error=0xSTATUS</c> with <c>error_count=N</c>.
/// The one convention for every model: the file is written whole (<see cref="Arm"/>: a temporary file renamed into
/// place) and taken by the model (read, then deleted) before the next command it handles, so its absence tells the
/// writer that the model has it.
/// Locking: members are thread-safe (one lock); models call them from their poll loop.
/// </summary>
public sealed class FaultInjection
{
    /// <summary>The fault file in a device directory, for every model.</summary>
    public const string FileName = "faults";

    private readonly object _lock = new();
    private uint _errorStatus;
    private int _errorCount;
    private volatile bool _stalled;
    private long _delayTicks;

    public bool Stalled { get => _stalled; set => _stalled = value; }

    public TimeSpan Delay
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _delayTicks));
        set => Interlocked.Exchange(ref _delayTicks, value.Ticks);
    }

    /// <summary>The next <paramref name="count"/> commands fail with <paramref name="status"/>.</summary>
    public void InjectError(uint status, int count = 1)
    {
        lock (_lock)
        {
            _errorStatus = status;
            _errorCount = count;
        }
    }

    /// <summary>True (with the status) when the command being handled must fail.</summary>
    public bool TryTakeError(out uint status)
    {
        lock (_lock)
        {
            status = _errorStatus;
            if (_errorCount <= 0)
                return false;
            _errorCount--;
            return true;
        }
    }

    /// <summary>Applies a <c>faults</c> file's <c>key=value</c> lines; unknown keys are an error naming the line.</summary>
    public void Apply(string path, IEnumerable<string> lines)
    {
        bool stall = false;
        TimeSpan delay = TimeSpan.Zero;
        uint error = 0;
        int count = 0;
        int lineNo = 0;
        foreach (string raw in lines)
        {
            lineNo++;
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            int eq = line.IndexOf('=');
            string key = eq > 0 ? line[..eq].Trim() : "";
            string val = eq > 0 ? line[(eq + 1)..].Trim() : "";
            bool hex = val.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
            if (!ulong.TryParse(hex ? val[2..] : val, hex ? NumberStyles.HexNumber : NumberStyles.None, CultureInfo.InvariantCulture, out ulong n))
                throw new FormatException($"{path}:{lineNo}: expected key=number, got '{raw}'");
            switch (key)
            {
                case "stall": stall = n != 0; break;
                case "delay_ms": delay = TimeSpan.FromMilliseconds(n); break;
                case "error": error = (uint)n; count = Math.Max(count, 1); break;
                case "error_count": count = (int)n; break;
                default: throw new FormatException($"{path}:{lineNo}: unknown fault '{key}' (known: stall, delay_ms, error, error_count)");
            }
        }
        Stalled = stall;
        Delay = delay;
        InjectError(error, error != 0 ? count : 0);
    }

    /// <summary>Hands <paramref name="text"/> to the model serving <paramref name="directory"/> as its fault file
    /// (written whole: a temporary file renamed into place).</summary>
    public static void Arm(string directory, string text)
    {
        string path = Path.Combine(directory, FileName);
        File.WriteAllText(path + ".tmp", text);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    /// <summary>Waits until the model serving <paramref name="directory"/> has taken its fault file; false when
    /// <paramref name="timeout"/> passed first (the model is not serving).</summary>
    public static bool WaitTaken(string directory, TimeSpan timeout)
    {
        string path = Path.Combine(directory, FileName);
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (File.Exists(path))
        {
            if (Environment.TickCount64 > deadline)
                return false;
            Thread.Sleep(1);
        }
        return true;
    }

    /// <summary>Takes the fault file of <paramref name="directory"/> (reads and deletes it); null when there is none.</summary>
    public static string[]? Take(string directory)
    {
        string path = Path.Combine(directory, FileName);
        try
        {
            string[] lines = File.ReadAllLines(path);
            File.Delete(path);
            return lines;
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }
}
