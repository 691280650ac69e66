using System.Globalization;

namespace RoceUio.Hardware.Emulation;

/// <summary>
/// Faults a device model can be told to show, to test how a driver copes with a device that misbehaves, and the one
/// parser of the fault file every model takes.
/// <para>The common faults: <see cref="Stalled"/> (stops answering: writes are seen only once it resumes),
/// <see cref="Delay"/> (answers late), and queued error statuses a model reports instead of success
/// (<see cref="TryTakeError"/>; the model decides which status field that is). A family adds its own keys with
/// <see cref="AddKey"/> (ocrdma: <c>mq=</c>).</para>
/// <para>The file (<see cref="FileName"/> in the device directory, docs/emulated-devices.md): one <c>key=value</c> per
/// line; blank lines and lines starting with <c>#</c> are ignored; spaces around key and value are trimmed; numbers are
/// decimal or <c>0x</c> hex; a key named twice takes its last value. The common keys are <c>stall=0|1</c>,
/// <c>delay_ms=N</c>, <c>error=S</c> and <c>error_count=N</c> (default 1 when <c>error</c> is set). A file is the whole
/// fault set: a key it does not name is off. It is written whole (<see cref="Arm"/>: a temporary file renamed into
/// place) and taken by the model (read, then deleted) before the next command it handles, so its absence tells the
/// writer that the model has it. A bad line is one error naming <c>file:line</c> and the bad key or value, and nothing
/// of that file is applied.</para>
/// Locking: members are thread-safe (one lock); models call them from their poll loop; <see cref="AddKey"/> before the
/// first file.
/// </summary>
public sealed class FaultInjection
{
    /// <summary>The fault file in a device directory, for every model.</summary>
    public const string FileName = "faults";

    private static readonly string[] CommonKeys = ["stall", "delay_ms", "error", "error_count"];

    private sealed record FamilyKey(string Name, string Syntax, Func<string, string?> Check, Action<string?> Apply);

    private readonly object _lock = new();
    private readonly List<FamilyKey> _familyKeys = new();
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

    /// <summary>
    /// A family's own key. <paramref name="check"/> says why a value is wrong (null: it is right); <paramref name="apply"/>
    /// gets the value of each file that names the key, and null for each file that does not (the fault is off).
    /// </summary>
    /// <param name="syntax">The accepted values, for error messages (<c>no-completion|wrong-tag|...</c>).</param>
    public void AddKey(string key, string syntax, Func<string, string?> check, Action<string?> apply)
    {
        if (key.Length == 0 || key.Contains('=') || key.Contains('#') || key != key.Trim())
            throw new ArgumentException($"'{key}' cannot be a fault key", nameof(key));
        lock (_lock)
        {
            if (Array.IndexOf(CommonKeys, key) >= 0 || _familyKeys.Exists(k => k.Name == key))
                throw new ArgumentException($"fault key '{key}' is already defined", nameof(key));
            _familyKeys.Add(new FamilyKey(key, syntax, check, apply));
        }
    }

    /// <summary>Every key this model takes, common ones first.</summary>
    public IReadOnlyList<string> Keys
    {
        get
        {
            lock (_lock)
                return [.. CommonKeys, .. _familyKeys.Select(k => k.Name)];
        }
    }

    /// <summary>Applies a fault file's lines (see the class remarks). <paramref name="path"/> names the file in errors.
    /// Throws <see cref="FormatException"/> for the first bad line, before anything is applied.</summary>
    public void Apply(string path, IEnumerable<string> lines)
    {
        bool stall = false;
        TimeSpan delay = TimeSpan.Zero;
        uint error = 0;
        int? count = null;
        FamilyKey[] family;
        lock (_lock)
            family = _familyKeys.ToArray();
        var familyValues = new string?[family.Length];
        int lineNo = 0;
        foreach (string raw in lines)
        {
            lineNo++;
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            int eq = line.IndexOf('=');
            if (eq <= 0)
                throw new FormatException($"{path}:{lineNo}: expected key=value, got '{raw}'");
            string key = line[..eq].Trim(), val = line[(eq + 1)..].Trim();
            int f = Array.FindIndex(family, k => k.Name == key);
            if (f >= 0)
            {
                if (family[f].Check(val) is { } why)
                    throw new FormatException($"{path}:{lineNo}: bad value in '{key}={val}': {why} (want {key}={family[f].Syntax})");
                familyValues[f] = val;
                continue;
            }
            if (Array.IndexOf(CommonKeys, key) < 0)
                throw new FormatException($"{path}:{lineNo}: unknown key '{key}' (known: {string.Join(", ", CommonKeys.Concat(family.Select(k => k.Name)))})");
            if (!TryParseNumber(val, out ulong n))
                throw new FormatException($"{path}:{lineNo}: '{key}={val}' is not a number (decimal or 0x hex)");
            switch (key)
            {
                case "stall": stall = n != 0; break;
                case "delay_ms": delay = TimeSpan.FromMilliseconds(Math.Min(n, int.MaxValue)); break;
                case "error": error = (uint)n; break;
                default: count = (int)Math.Min(n, int.MaxValue); break;
            }
        }
        Stalled = stall;
        Delay = delay;
        InjectError(error, error != 0 ? Math.Max(count ?? 1, 1) : 0);
        for (int i = 0; i < family.Length; i++)
            family[i].Apply(familyValues[i]);
    }

    /// <summary>A fault-file number: decimal or <c>0x</c> hex.</summary>
    public static bool TryParseNumber(string text, out ulong value)
    {
        bool hex = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        return ulong.TryParse(hex ? text[2..] : text, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out value);
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
        if (!File.Exists(path))
            return null;   // the common case, without a FileNotFoundException per look
        try
        {
            string[] lines = File.ReadAllLines(path);
            File.Delete(path);
            return lines;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }
}
