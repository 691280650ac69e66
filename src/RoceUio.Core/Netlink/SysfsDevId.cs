using System.Globalization;

namespace RoceUio.Netlink;

/// <summary>
/// dev_id from sysfs (<c>/sys/class/net/NAME/dev_id</c>, "0x%x" of net_device.dev_id; net/core/net-sysfs.c).
/// rtnetlink does not carry dev_id (IFLA_PHYS_PORT_ID is a different, driver-defined id), so the cache asks sysfs.
/// Note that /sys shows the namespace sysfs was mounted in: a monitor in a private namespace should not use it
/// unless /sys was remounted there.
/// </summary>
public static class SysfsDevId
{
    /// <summary>Reads dev_id of <paramref name="name"/> under <paramref name="classNetRoot"/>; 0 when absent or unreadable.</summary>
    public static ushort Read(string name, string classNetRoot = "/sys/class/net")
    {
        try
        {
            string text = File.ReadAllText(Path.Combine(classNetRoot, name, "dev_id")).Trim();
            if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
                text = text[2..];
            return ushort.TryParse(text, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ushort v) ? v : (ushort)0;
        }
        catch (IOException) { return 0; }
        catch (UnauthorizedAccessException) { return 0; }
    }
}
