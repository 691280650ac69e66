using System.Globalization;

namespace RoceUio.Hardware.Pci;

/// <summary>A process that has a PCI function open from user space: its pid, command name, and what it holds.</summary>
public sealed record DeviceUser(int Pid, string Command, string Holds)
{
    public override string ToString() => $"pid {Pid} ({Command}) holds {Holds}";
}

/// <summary>
/// Finds the processes that use a function from user space, as fuser does: open descriptors (<c>/proc/PID/fd</c>
/// links) and mappings (<c>/proc/PID/maps</c>) of its VFIO group node (<c>/dev/vfio/N</c>, <c>noiommu-N</c>), its
/// VFIO cdev (<c>/dev/vfio/devices/vfioX</c>), its UIO node (<c>/dev/uioN</c>) and its sysfs <c>resourceN</c> files.
/// Unbinding under such a user is what <see cref="PciBinder"/> refuses: vfio-pci's remove waits until every device
/// fd is closed (vfio_unregister_group_dev), so the unbind write would hang. A VFIO device fd whose group fd was
/// closed shows only as <c>anon_inode:[vfio-device]</c> and cannot be told apart; ours and DPDK's keep the group open.
/// </summary>
public static class DeviceUsers
{
    public static IReadOnlyList<DeviceUser> Find(SysfsRoot sysfs, PciFunction function, string procRoot = "/proc")
    {
        List<string> nodes = Nodes(sysfs, function);
        string resource = $"/{function.Address}/resource";
        var users = new List<DeviceUser>();
        IEnumerable<string> pids;
        try
        {
            pids = Directory.EnumerateDirectories(procRoot).Where(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out _)).ToList();
        }
        catch (IOException)
        {
            return users;
        }
        foreach (string dir in pids)
        {
            string? holds = HeldThroughFd(dir, nodes) ?? MappedIn(dir, nodes, resource);
            if (holds != null)
                users.Add(new DeviceUser(int.Parse(Path.GetFileName(dir), CultureInfo.InvariantCulture),
                    SysfsFile.TryReadText(Path.Combine(dir, "comm")) ?? "?", holds));
        }
        return users;
    }

    /// <summary>The device nodes through which a process can hold <paramref name="f"/>.</summary>
    private static List<string> Nodes(SysfsRoot sysfs, PciFunction f)
    {
        var nodes = new List<string>();
        if (f.IommuGroup is int g)
        {
            nodes.Add(sysfs.Dev($"vfio/{g.ToString(CultureInfo.InvariantCulture)}"));
            nodes.Add(sysfs.Dev($"vfio/noiommu-{g.ToString(CultureInfo.InvariantCulture)}"));
        }
        foreach (string sub in new[] { "vfio-dev", "uio" })
        {
            string d = Path.Combine(f.SysfsPath, sub);
            if (Directory.Exists(d))
                foreach (string e in Directory.EnumerateFileSystemEntries(d))
                    nodes.Add(sysfs.Dev(sub == "uio" ? Path.GetFileName(e) : $"vfio/devices/{Path.GetFileName(e)}"));
        }
        return nodes;
    }

    private static string? HeldThroughFd(string procDir, List<string> nodes)
    {
        try
        {
            foreach (string fd in Directory.EnumerateFileSystemEntries(Path.Combine(procDir, "fd")))
            {
                string? target = new FileInfo(fd).LinkTarget;
                if (target != null && nodes.Contains(target))
                    return target;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the process went away, or is not ours to look at
        }
        return null;
    }

    private static string? MappedIn(string procDir, List<string> nodes, string resource)
    {
        try
        {
            foreach (string line in File.ReadLines(Path.Combine(procDir, "maps")))
            {
                int slash = line.IndexOf('/');
                if (slash < 0)
                    continue;
                string path = line[slash..];
                if (path.Contains(resource, StringComparison.Ordinal) || nodes.Contains(path))
                    return $"a mapping of {path}";
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }
}
