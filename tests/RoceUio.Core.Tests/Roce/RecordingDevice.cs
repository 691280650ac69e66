using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Core.Tests.Roce;

/// <summary>
/// A driver that remembers what it was told, per port (<see cref="Hardware"/>: its shadow), what its "hardware" took
/// at the last successful commit (<see cref="Committed"/>), and can be made to refuse commits. Like mlx4, a refused
/// commit changes nothing: the shadow stays what the hardware must hold.
/// </summary>
internal sealed class RecordingDevice(string name, int ports, int capacity, GidTypes types) : IRoceDevice
{
    public readonly Dictionary<(int Port, int Index), GidEntry> Hardware = new();
    public readonly Dictionary<(int Port, int Index), GidEntry> Committed = new();
    public readonly List<string> Calls = [];

    /// <summary>How many of the next commits fail (with status BAD_PARAM).</summary>
    public int FailCommits { get; set; }

    /// <summary>Called at every commit attempt, before it succeeds or fails, with the port.</summary>
    public Action<int>? OnCommit { get; set; }

    public string Name => name;
    public string DriverName => "recording";
    public int PortCount => ports;
    public int GidTableSize(int port) => capacity;
    public GidTypes SupportedGidTypes(int port) => types;

    public void AddGid(int port, int index, in GidEntry entry)
    {
        Calls.Add($"add {port}/{index} {entry.Gid.ToCompressedString()} {entry.Type.ToShortString()}");
        Hardware[(port, index)] = entry;
    }

    public void DeleteGid(int port, int index, in GidEntry entry)
    {
        Calls.Add($"del {port}/{index} {entry.Gid.ToCompressedString()} {entry.Type.ToShortString()}");
        if (!Hardware.Remove((port, index), out GidEntry had) || had != entry)
            throw new InvalidOperationException($"delete of {port}/{index} {entry} that the driver does not hold");
    }

    public void Commit(int port)
    {
        OnCommit?.Invoke(port);
        if (FailCommits > 0)
        {
            FailCommits--;
            Calls.Add($"commit {port} refused");
            throw new RoceDeviceException($"{name} port {port}: SET_PORT failed with status BAD_PARAM (injected)");
        }
        foreach (var k in Committed.Keys.Where(k => k.Port == port).ToList()) Committed.Remove(k);
        foreach (var kv in Hardware.Where(kv => kv.Key.Port == port)) Committed[kv.Key] = kv.Value;
        Calls.Add($"commit {port}");
    }

    public void Dispose() { }
}
