using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace RoceUio.Cli;

/// <summary>Where text that must be UTF-8 (a request frame, a config file) stops being so.</summary>
internal static class Utf8Text
{
    public static ReadOnlySpan<byte> Bom => [0xEF, 0xBB, 0xBF];

    /// <summary>The offset of the first byte that does not start a valid UTF-8 sequence; -1 when all is valid.</summary>
    public static int FirstInvalid(ReadOnlySpan<byte> s)
    {
        if (Utf8.IsValid(s))
            return -1;
        for (int at = 0; at < s.Length;)
        {
            if (Rune.DecodeFromUtf8(s[at..], out _, out int used) != OperationStatus.Done)
                return at;
            at += used;
        }
        return -1;
    }
}
