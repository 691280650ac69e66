using System.Globalization;
using System.Text;
using RoceUio.Gids;
using RoceUio.Roce;

namespace RoceUio.Shm;

/// <summary>
/// Keeps a sysfs-shaped copy of every port's GID table under a directory (<c>roceuio run --sysfs-export DIR</c>), so
/// scripts that read <c>/sys/class/infiniband</c> (show_gids, NCCL index pickers) work with their path changed:
/// <c>DIR/class/infiniband/DEV/ports/PORT/gids/I</c> for every slot (the zero GID for an empty one, as show_port_gid
/// prints it), and <c>gid_attrs/types/I</c> and <c>gid_attrs/ndevs/I</c> only for valid entries (the kernel answers
/// EINVAL for the others), byte for byte as drivers/infiniband/core/sysfs.c prints them. Each file is replaced
/// atomically (written under a temporary name, renamed), so a reader sees the old or the new text, never a mix.
/// Worker thread only; <see cref="Sync"/> writes only the files whose text changed.
/// </summary>
public sealed class SysfsGidExport : IDisposable
{
    private readonly Dictionary<RocePort, PortFiles> _ports = new();

    public SysfsGidExport(string dir)
    {
        Directory = dir;
        System.IO.Directory.CreateDirectory(ClassDir);
    }

    public string Directory { get; }
    private string ClassDir => Path.Combine(Directory, "class", "infiniband");

    /// <summary>Told when a port's files cannot be written (never null).</summary>
    public Action<string> Error { get; init; } = _ => { };

    /// <summary>The port directory: DIR/class/infiniband/DEV/ports/PORT.</summary>
    public static string PortDir(string dir, string device, int port)
        => Path.Combine(dir, "class", "infiniband", device, "ports", port.ToString(CultureInfo.InvariantCulture));

    public void Sync(IReadOnlyList<RocePort> ports, Func<int, string> nameOf)
    {
        foreach (RocePort port in ports)
        {
            try
            {
                if (!_ports.TryGetValue(port, out PortFiles? files))
                    _ports[port] = files = PortFiles.Create(PortDir(Directory, port.Device.Name, port.Port), port.Table.Capacity);
                files.Sync(port.Table, nameOf);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Error($"{port}: sysfs export under {Directory}: {e.Message}");
            }
        }
        foreach (RocePort gone in _ports.Keys.Where(p => !ports.Contains(p)).ToList())
        {
            _ports.Remove(gone);
            DeleteQuietly(PortDir(Directory, gone.Device.Name, gone.Port));
        }
    }

    /// <summary>The daemon stops: its devices go away from the export, as from /sys/class/infiniband.</summary>
    public void Dispose()
    {
        foreach (string dev in _ports.Keys.Select(p => p.Device.Name).Distinct())
            DeleteQuietly(Path.Combine(ClassDir, dev));
        _ports.Clear();
    }

    private static void DeleteQuietly(string dir)
    {
        try { System.IO.Directory.Delete(dir, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }

    /// <summary>One port's files and the text each holds now.</summary>
    private sealed class PortFiles
    {
        private static readonly string ZeroGid = Gid.Zero.ToString() + "\n";
        private readonly string _gids, _types, _ndevs;
        private readonly string?[] _gidText, _typeText, _ndevText, _names;
        private readonly GidEntry?[] _entries;

        private PortFiles(string portDir, int capacity)
        {
            _gids = Path.Combine(portDir, "gids");
            _types = Path.Combine(portDir, "gid_attrs", "types");
            _ndevs = Path.Combine(portDir, "gid_attrs", "ndevs");
            _gidText = new string?[capacity];
            _typeText = new string?[capacity];
            _ndevText = new string?[capacity];
            _names = new string?[capacity];
            _entries = new GidEntry?[capacity];
        }

        /// <summary>A fresh port directory: whatever an earlier run left there is removed first (no stale entry).</summary>
        public static PortFiles Create(string portDir, int capacity)
        {
            DeleteQuietly(portDir);
            var f = new PortFiles(portDir, capacity);
            System.IO.Directory.CreateDirectory(f._gids);
            System.IO.Directory.CreateDirectory(f._types);
            System.IO.Directory.CreateDirectory(f._ndevs);
            return f;
        }

        public void Sync(GidTable table, Func<int, string> nameOf)
        {
            for (int i = 0; i < table.Capacity; i++)
            {
                bool valid = table.TryGet(i, out GidEntry e);
                GidEntry? now = valid ? e : null;
                string? name = valid && e.NetdevIfindex != 0 ? nameOf(e.NetdevIfindex) : null;
                if (_gidText[i] is not null && _entries[i] == now && _names[i] == name)
                    continue; // unchanged: no text made, no file touched
                // The attributes first, the GID last: a script that reads gids/I and then gid_attrs/*/I sees a new
                // entry's attributes already there, and a zero GID only once the old attributes are gone.
                Put(_types, i, _typeText, valid ? e.Type.ToSysfsString() + "\n" : null);
                Put(_ndevs, i, _ndevText, name is null ? null : name + "\n");
                Put(_gids, i, _gidText, valid ? e.Gid.ToString() + "\n" : ZeroGid);
                _entries[i] = now; // only once its files say so: a failed write is tried again next time
                _names[i] = name;
            }
        }

        /// <summary>Makes DIR/index hold <paramref name="text"/> (null: no file), replacing it atomically.</summary>
        private static void Put(string dir, int index, string?[] current, string? text)
        {
            if (current[index] == text)
                return;
            string path = Path.Combine(dir, index.ToString(CultureInfo.InvariantCulture));
            if (text is null)
            {
                File.Delete(path);
            }
            else
            {
                string tmp = Path.Combine(dir, $".{index}.tmp");
                File.WriteAllBytes(tmp, Encoding.ASCII.GetBytes(text));
                File.Move(tmp, path, overwrite: true);
            }
            current[index] = text;
        }
    }
}
