using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Core.Tests.Roce;

/// <summary>A driver that remembers what it was told, per port, and can be made to refuse a commit.</summary>
internal sealed class RecordingDevice(string name, int ports, int capacity, GidTypes types) : IRoceDevice
{
    public readonly Dictionary<(int Port, int Index), GidEntry> Hardware = new();
    public readonly List<string> Calls = [];
    private readonly Dictionary<(int, int), GidEntry> _committed = new();
    public bool FailNextCommit { get; set; }

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
        if (FailNextCommit)
        {
            FailNextCommit = false;
            // Roll the shadow back to what the "hardware" last accepted, as the contract requires.
            foreach (var k in Hardware.Keys.Where(k => k.Port == port).ToList()) Hardware.Remove(k);
            foreach (var kv in _committed.Where(kv => kv.Key.Item1 == port)) Hardware[kv.Key] = kv.Value;
            throw new RoceDeviceException($"{name} port {port}: SET_PORT failed with status BAD_PARAM (injected)");
        }
        foreach (var k in _committed.Keys.Where(k => k.Item1 == port).ToList()) _committed.Remove(k);
        foreach (var kv in Hardware.Where(kv => kv.Key.Port == port)) _committed[kv.Key] = kv.Value;
        Calls.Add($"commit {port}");
    }

    public void Dispose() { }
}
