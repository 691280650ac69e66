using System.Net;
using RoceUio.Gids;

namespace RoceUio.Core.Tests.Gids;

/// <summary>Entries, a recording programmer and a recording listener for the GidTable tests.</summary>
internal static class GidTableTestKit
{
    public const int Eth0 = 2, Vlan10 = 5, Bond0 = 7;

    public static GidEntry V1(string ip, int ndev = Eth0) => new(Gid.FromIPAddress(IPAddress.Parse(ip)), GidType.RoceV1, ndev);
    public static GidEntry V2(string ip, int ndev = Eth0) => new(Gid.FromIPAddress(IPAddress.Parse(ip)), GidType.RoceV2, ndev);

    /// <summary>The default GID of MAC 24:8a:07:aa:bb:cc (kernel-gid.md section 2).</summary>
    public static Gid DefaultGid => Gid.DefaultFromMac([0x24, 0x8a, 0x07, 0xaa, 0xbb, 0xcc]);

    public static GidTable RoceTable(int capacity = 16, IndexPolicy policy = IndexPolicy.Kernel,
        IGidProgrammer? programmer = null, IGidTableListener? listener = null)
        => new(1, capacity, GidTypes.Roce, policy, programmer, listener);

    /// <summary>(index, entry) of every valid entry, in the order the table enumerates them.</summary>
    public static List<(int Index, GidEntry Entry)> Snapshot(GidTable t)
    {
        var list = new List<(int, GidEntry)>();
        foreach (var (i, e) in t)
            list.Add((i, e));
        return list;
    }
}

internal sealed class RecordingProgrammer : IGidProgrammer
{
    public readonly List<string> Calls = new();
    public Func<int, GidEntry, bool>? FailAdd;
    public Func<int, GidEntry, bool>? FailDelete;
    public Action? OnCall;

    public bool TryAddGid(int port, int index, in GidEntry e, out string? refusal)
    {
        OnCall?.Invoke();
        refusal = FailAdd?.Invoke(index, e) == true ? $"device refused add at {index}" : null;
        if (refusal is not null)
            return false;
        Calls.Add($"add {port}/{index} {e}");
        return true;
    }

    public void DeleteGid(int port, int index, in GidEntry e)
    {
        OnCall?.Invoke();
        if (FailDelete?.Invoke(index, e) == true)
            throw new InvalidOperationException($"device refused delete at {index}");
        Calls.Add($"del {port}/{index} {e}");
    }
}

internal sealed class RecordingListener : IGidTableListener
{
    public readonly List<GidChange[]> Batches = new();
    public Action<GidTable>? OnEvent;

    public void OnGidChanged(GidTable table, ReadOnlySpan<GidChange> batch)
    {
        Batches.Add(batch.ToArray());
        OnEvent?.Invoke(table);
    }
}
