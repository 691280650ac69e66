using System.Globalization;
using System.Text;
using RoceUio.Gids;

namespace RoceUio.Drivers.Ocrdma.Model;

/// <summary>One GID of the host table as the synthetic side channel reports it.</summary>
public readonly record struct ShadowGid(int Port, int Index, bool Pending, Gid Gid, OcrdmaL3Type L3Type, ushort VlanId);

/// <summary>A binding of a QP (by id) or an AV (by table index) to the sgid index it was built from.</summary>
public readonly record struct ShadowBinding(int Id, int Port, int Index);

/// <summary>The host SGID table and who uses which index, at one moment.</summary>
public sealed record OcrdmaShadowSnapshot(long Generation, IReadOnlyList<ShadowGid> Gids,
    IReadOnlyList<ShadowBinding> Qps, IReadOnlyList<ShadowBinding> Ahs)
{
    public bool TryGetGid(int port, int index, out ShadowGid gid)
    {
        foreach (ShadowGid g in Gids)
            if (g.Port == port && g.Index == index) { gid = g; return true; }
        gid = default;
        return false;
    }
}

/// <summary>
/// SYNTHETIC, not hardware: how the device model learns the host's SGID table (hw-layouts.md P2, "an explicitly
/// synthetic side-channel event GID_SET"). The real Skyhawk has no register or command for it: its firmware never learns
/// the table, it only receives the bytes of each MODIFY_QP and AV. So the driver knows nothing of this file: whoever runs
/// the model (the ocrdma descriptor for an emulated device, the tests) has <see cref="Follow"/> write it from the driver's
/// public view (<see cref="OcrdmaDevice.Sgids"/>, <see cref="OcrdmaDevice.Bindings"/>, <see cref="OcrdmaDevice.Changed"/>).
/// A text file (<c>sgid_shadow</c> in an emulated device's directory), replaced atomically (write + rename) on every
/// change, so a model in another process reads a whole snapshot. Format, one item a line: <c>generation N</c>;
/// <c>gid PORT INDEX valid|pending GID L3TYPE VLAN</c>; <c>qp QPID PORT INDEX</c>; <c>ah AHID PORT INDEX</c>.
/// </summary>
public sealed class SgidShadowFile
{
    public const string FileName = "sgid_shadow";

    public SgidShadowFile(string path) => Path = path;

    public string Path { get; }

    /// <summary>Writes the file in <paramref name="directory"/> now and after every change of <paramref name="device"/>'s
    /// host table or bindings, until disposed.</summary>
    public static IDisposable Follow(OcrdmaDevice device, string directory)
    {
        var file = new SgidShadowFile(System.IO.Path.Combine(directory, FileName));
        long generation = 0;
        var writing = new object(); // consumers on several threads: one snapshot written at a time, in order
        void Write()
        {
            lock (writing)
                WriteSnapshot();
        }
        void WriteSnapshot()
        {
            var gids = device.Sgids.Snapshot()
                .Select(x => new ShadowGid(x.Port, x.Index, x.State == OcrdmaSgidState.PendingDelete, x.Sgid.Gid, x.Sgid.L3Type, x.Sgid.VlanId))
                .ToList();
            var (qps, ahs) = device.Bindings();
            file.Publish(new OcrdmaShadowSnapshot(++generation, gids,
                qps.Select(b => new ShadowBinding(b.Id, b.Port, b.Index)).ToList(),
                ahs.Select(b => new ShadowBinding(b.Id, b.Port, b.Index)).ToList()));
        }
        device.Changed += Write;
        Write();
        return new Unsubscribe(() => device.Changed -= Write);
    }

    private sealed class Unsubscribe(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    public void Publish(OcrdmaShadowSnapshot s)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# SYNTHETIC side channel (hw-layouts.md P2): the host SGID table for the device model's checks.");
        sb.AppendLine("# Not a register, not a command: real ocrdma hardware never sees this.");
        sb.Append(CultureInfo.InvariantCulture, $"generation {s.Generation}\n");
        foreach (ShadowGid g in s.Gids)
            sb.Append(CultureInfo.InvariantCulture, $"gid {g.Port} {g.Index} {(g.Pending ? "pending" : "valid")} {g.Gid} {(int)g.L3Type} {g.VlanId}\n");
        foreach (ShadowBinding b in s.Qps)
            sb.Append(CultureInfo.InvariantCulture, $"qp {b.Id} {b.Port} {b.Index}\n");
        foreach (ShadowBinding b in s.Ahs)
            sb.Append(CultureInfo.InvariantCulture, $"ah {b.Id} {b.Port} {b.Index}\n");
        string tmp = Path + ".tmp";
        File.WriteAllText(tmp, sb.ToString());
        File.Move(tmp, Path, overwrite: true);
    }

    /// <summary>Parses a snapshot; a missing file is an empty table at generation 0.</summary>
    public static OcrdmaShadowSnapshot Parse(string text)
    {
        long gen = 0;
        var gids = new List<ShadowGid>();
        var qps = new List<ShadowBinding>();
        var ahs = new List<ShadowBinding>();
        int lineNo = 0;
        foreach (string raw in text.Split('\n'))
        {
            lineNo++;
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            try
            {
                switch (f[0])
                {
                    case "generation":
                        gen = long.Parse(f[1], CultureInfo.InvariantCulture);
                        break;
                    case "gid":
                        gids.Add(new ShadowGid(int.Parse(f[1], CultureInfo.InvariantCulture), int.Parse(f[2], CultureInfo.InvariantCulture),
                            f[3] == "pending", Gid.Parse(f[4]), (OcrdmaL3Type)byte.Parse(f[5], CultureInfo.InvariantCulture),
                            ushort.Parse(f[6], CultureInfo.InvariantCulture)));
                        break;
                    case "qp":
                    case "ah":
                        var b = new ShadowBinding(int.Parse(f[1], CultureInfo.InvariantCulture), int.Parse(f[2], CultureInfo.InvariantCulture),
                            int.Parse(f[3], CultureInfo.InvariantCulture));
                        (f[0] == "qp" ? qps : ahs).Add(b);
                        break;
                    default:
                        throw new FormatException($"unknown item '{f[0]}'");
                }
            }
            catch (Exception e) when (e is FormatException or IndexOutOfRangeException or OverflowException)
            {
                throw new FormatException($"{FileName}:{lineNo}: '{line}': {e.Message}", e);
            }
        }
        return new OcrdmaShadowSnapshot(gen, gids, qps, ahs);
    }
}
