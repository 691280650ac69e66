using System.Globalization;
using RoceUio.Gids;
using RoceUio.Shm;

namespace RoceUio.Cli.Output;

/// <summary><c>roceuio show gids --shm</c>: the rows of every table file under the shared-memory directory.</summary>
public static class ShmGids
{
    /// <summary>Every valid entry of DIR/&lt;dev&gt;/&lt;port&gt;, optionally of one device and port. A file that went away
    /// meanwhile (daemon restarting) is skipped; a directory with no tables is an error that says where it looked.</summary>
    public static List<GidRow> Rows(string dir, string? dev = null, int? port = null)
    {
        if (!Directory.Exists(dir))
            throw new IOException($"{dir}: no shared-memory GID tables there (is roceuio run running with --shm-dir {dir}?)");
        var rows = new List<GidRow>();
        bool anyTable = false;
        foreach (string devDir in Directory.GetDirectories(dir).Order(StringComparer.Ordinal))
        {
            string devName = Path.GetFileName(devDir);
            if (dev is not null && devName != dev)
                continue;
            foreach (string file in Directory.GetFiles(devDir).Order(StringComparer.Ordinal))
            {
                if (!int.TryParse(Path.GetFileName(file), NumberStyles.None, CultureInfo.InvariantCulture, out int p) || (port is not null && p != port))
                    continue;
                GidShmReader r;
                try
                {
                    r = GidShmReader.Open(file);
                }
                catch (FileNotFoundException)
                {
                    continue;
                }
                using (r)
                {
                    if (r.IsGone)
                        continue;
                    anyTable = true;
                    foreach (var (index, e, ndev, _, _) in r.Snapshot())
                        rows.Add(new GidRow(r.Device, r.Port, index, e.Gid, e.Type, ndev, e.NetdevIfindex));
                }
            }
        }
        if (!anyTable)
            throw new IOException($"{dir}: no shared-memory GID table{(dev is null ? "" : $" of {dev}")}{(port is null ? "" : $" port {port}")} (is roceuio run publishing there?)");
        return rows;
    }
}
