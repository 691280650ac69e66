using System.Text;
using System.Text.Json;

namespace RoceUio.Cli.Config;

/// <summary>
/// A JSON value that remembers where it stood in its file, so that a config error can name the line and column.
/// (System.Text.Json's DOM forgets positions; its reader knows them.) Comments and trailing commas are allowed.
/// </summary>
public sealed class JValue
{
    public JsonValueKind Kind { get; private init; }
    public string? Text { get; private init; }
    public double Number { get; private init; }
    public bool Bool { get; private init; }
    public List<JValue> Items { get; } = [];
    public List<(string Key, JValue Value, Position KeyAt)> Members { get; } = [];
    public Position At { get; private init; }

    public readonly record struct Position(string File, int Line, int Column)
    {
        /// <summary>FILE:LINE:COL, or only FILE when the problem has no position in it (Line 0: it could not be read).</summary>
        public override string ToString() => Line == 0 ? File : $"{File}:{Line}:{Column}";
    }

    /// <summary>Parses a config file's bytes: UTF-8, a leading byte order mark allowed (and skipped), no key twice in an object.</summary>
    public static JValue Parse(string file, byte[] utf8)
    {
        if (utf8.AsSpan().StartsWith(Utf8Text.Bom))
            utf8 = utf8[Utf8Text.Bom.Length..];
        var lines = new LineMap(utf8);
        if (Utf8Text.FirstInvalid(utf8) is int bad and >= 0)
            throw new ConfigException(lines.At(file, bad), $"not valid UTF-8 (byte 0x{utf8[bad]:x2}); save the file as UTF-8");
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        try
        {
            if (!reader.Read())
                throw new ConfigException(new Position(file, 1, 1), "the file is empty; expected a JSON object");
            JValue v = ReadValue(ref reader, file, lines);
            if (reader.Read())
                throw new ConfigException(lines.At(file, reader.TokenStartIndex), "unexpected text after the top-level value");
            return v;
        }
        catch (JsonException e)
        {
            // LineNumber and BytePositionInLine are 0-based.
            var at = new Position(file, (int)(e.LineNumber ?? 0) + 1, (int)(e.BytePositionInLine ?? 0) + 1);
            string msg = e.Message;
            int cut = msg.IndexOf(" LineNumber:", StringComparison.Ordinal);
            throw new ConfigException(at, $"not valid JSON: {(cut > 0 ? msg[..cut] : msg)}");
        }
    }

    private static JValue ReadValue(ref Utf8JsonReader r, string file, LineMap lines)
    {
        Position at = lines.At(file, r.TokenStartIndex);
        switch (r.TokenType)
        {
            case JsonTokenType.StartObject:
            {
                var o = new JValue { Kind = JsonValueKind.Object, At = at };
                var seen = new Dictionary<string, Position>();
                while (r.Read() && r.TokenType != JsonTokenType.EndObject)
                {
                    Position keyAt = lines.At(file, r.TokenStartIndex);
                    string key = r.GetString()!;
                    if (!seen.TryAdd(key, keyAt))
                        throw new ConfigException(keyAt, $"duplicate key \"{key}\" (first at line {seen[key].Line}, column {seen[key].Column}); keep one of them");
                    r.Read();
                    o.Members.Add((key, ReadValue(ref r, file, lines), keyAt));
                }
                return o;
            }
            case JsonTokenType.StartArray:
            {
                var a = new JValue { Kind = JsonValueKind.Array, At = at };
                while (r.Read() && r.TokenType != JsonTokenType.EndArray)
                    a.Items.Add(ReadValue(ref r, file, lines));
                return a;
            }
            case JsonTokenType.String:
                return new JValue { Kind = JsonValueKind.String, Text = r.GetString(), At = at };
            case JsonTokenType.Number:
                return new JValue { Kind = JsonValueKind.Number, Number = r.GetDouble(), At = at };
            case JsonTokenType.True:
            case JsonTokenType.False:
                return new JValue { Kind = r.TokenType == JsonTokenType.True ? JsonValueKind.True : JsonValueKind.False, Bool = r.GetBoolean(), At = at };
            default:
                return new JValue { Kind = JsonValueKind.Null, At = at };
        }
    }

    public string Describe() => Kind switch
    {
        JsonValueKind.String => $"the string \"{Text}\"",
        JsonValueKind.Number => $"the number {Number}",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.True or JsonValueKind.False => $"{(Bool ? "true" : "false")}",
        _ => "null",
    };

    /// <summary>Maps byte offsets to 1-based lines and columns (columns in characters).</summary>
    private sealed class LineMap
    {
        private readonly byte[] _text;
        private readonly List<int> _starts = [0];

        public LineMap(byte[] text)
        {
            _text = text;
            for (int i = 0; i < text.Length; i++)
                if (text[i] == '\n')
                    _starts.Add(i + 1);
        }

        public Position At(string file, long offset)
        {
            int line = _starts.BinarySearch((int)offset);
            if (line < 0)
                line = ~line - 1;
            int col = Encoding.UTF8.GetCharCount(_text, _starts[line], (int)offset - _starts[line]) + 1;
            return new Position(file, line + 1, col);
        }
    }
}

/// <summary>A config file is wrong: names the file, line and column, and what was expected.</summary>
public sealed class ConfigException(JValue.Position at, string message) : Exception($"{at}: {message}")
{
    public JValue.Position At { get; } = at;
}
