using System.Text.Json;
using System.Text.Json.Nodes;
using RoceUio.Gids;

namespace RoceUio.Cli.Daemon;

/// <summary>
/// Keeps the sticky index assignment of every port in <c>STATE_DIR/gid-indexes.json</c>, so that a restarted daemon gives
/// each GID the index it had. Netdevs are stored by name (ifindexes change across reboots) and resolved on load.
/// Written atomically: a temporary file in the same directory, fsync'd, then renamed over the old one.
/// </summary>
public sealed class StickyStateStore(string stateDir)
{
    public string FilePath { get; } = Path.Combine(stateDir, "gid-indexes.json");

    public readonly record struct Assignment(string Dev, int Port, Gid Gid, GidType Type, string Ndev, int Index);

    public void Save(IEnumerable<Assignment> assignments)
    {
        Directory.CreateDirectory(stateDir);
        var arr = new JsonArray();
        foreach (Assignment a in assignments)
            arr.Add((JsonNode)new JsonObject
            {
                ["dev"] = a.Dev, ["port"] = a.Port, ["gid"] = a.Gid.ToString(),
                ["gid_type"] = (int)a.Type, ["ndev"] = a.Ndev, ["index"] = a.Index,
            });
        string tmp = FilePath + $".tmp{Environment.ProcessId}";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            // JsonNode.WriteTo needs no reflection (the AOT binary has none to offer).
            using (var w = new Utf8JsonWriter(fs, new JsonWriterOptions { Indented = true }))
                new JsonObject { ["version"] = 1, ["assignments"] = arr }.WriteTo(w);
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, FilePath, overwrite: true);
    }

    /// <summary>The saved assignments; none if there is no file yet. A damaged file is an error that names it.</summary>
    public IReadOnlyList<Assignment> Load()
    {
        if (!File.Exists(FilePath))
            return [];
        try
        {
            JsonNode root = JsonNode.Parse(File.ReadAllBytes(FilePath)) ?? throw new JsonException("empty");
            var list = new List<Assignment>();
            foreach (JsonNode? n in root["assignments"]?.AsArray() ?? [])
            {
                if (n is null)
                    continue;
                list.Add(new Assignment((string)n["dev"]!, (int)n["port"]!, Gid.Parse((string)n["gid"]!),
                    (GidType)(int)n["gid_type"]!, (string)n["ndev"]!, (int)n["index"]!));
            }
            return list;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or NullReferenceException)
        {
            throw new InvalidDataException($"{FilePath} is damaged ({e.Message}); move it away to start with fresh indexes", e);
        }
    }
}
