namespace RoceUio.Cli;

/// <summary>
/// A small reader for <c>--name value</c>, <c>--name=value</c> and <c>--flag</c> arguments. Unknown options and missing
/// values are <see cref="UsageException"/>s that name the option.
/// </summary>
internal sealed class ArgReader
{
    private readonly Dictionary<string, List<string>> _values = new();
    private readonly HashSet<string> _flags = [];
    public List<string> Positional { get; } = [];
    public bool Help { get; }

    /// <param name="args">The command's arguments.</param>
    /// <param name="valued">Options that take a value (e.g. "--dev").</param>
    /// <param name="flags">Options that take none (e.g. "--json").</param>
    public ArgReader(string[] args, string[] valued, string[] flags)
    {
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "-h" or "--help")
            {
                Help = true;
                continue;
            }
            if (!a.StartsWith("--", StringComparison.Ordinal))
            {
                Positional.Add(a);
                continue;
            }
            string name = a;
            string? value = null;
            int eq = a.IndexOf('=');
            if (eq > 0)
            {
                name = a[..eq];
                value = a[(eq + 1)..];
            }
            if (flags.Contains(name) && value is null)
                _flags.Add(name);
            else if (valued.Contains(name))
            {
                if (value is null)
                {
                    if (i + 1 >= args.Length)
                        throw new UsageException($"{name} needs a value");
                    value = args[++i];
                }
                if (!_values.TryGetValue(name, out var list))
                    _values[name] = list = [];
                list.Add(value);
            }
            else
                throw new UsageException($"unknown option '{a}'");
        }
    }

    public bool Flag(string name) => _flags.Contains(name);
    public string? Value(string name) => _values.TryGetValue(name, out var l) ? l[^1] : null;
    public IReadOnlyList<string> Values(string name) => _values.TryGetValue(name, out var l) ? l : [];

    public int? Int(string name)
    {
        string? v = Value(name);
        if (v is null)
            return null;
        return int.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n)
            ? n : throw new UsageException($"{name} '{v}' is not a number");
    }
}
