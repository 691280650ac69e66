using System.Globalization;

namespace RoceUio.Hardware.Pci;

/// <summary>Reads and writes the small text attributes of sysfs (<c>vendor</c>, <c>driver_override</c>, <c>unbind</c>).</summary>
public static class SysfsFile
{
    /// <summary>The file's text without the trailing newline; null if it does not exist.</summary>
    public static string? TryReadText(string path)
    {
        try
        {
            return File.ReadAllText(path).TrimEnd('\n', '\0', ' ');
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    /// <summary>A hex attribute such as <c>0x15b3</c>; throws naming the file if it is missing or malformed.</summary>
    public static uint ReadHex(string path)
    {
        string text = TryReadText(path) ?? throw new HardwareAccessException($"{path} is missing");
        string s = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        return uint.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint v) ? v
            : throw new HardwareAccessException($"{path}: '{text}' is not a hex number");
    }

    /// <summary>A 64-bit hex attribute such as a UIO map's <c>addr</c> (<c>0x00000000fe000000</c>).</summary>
    public static ulong ReadHexLong(string path)
    {
        string text = TryReadText(path) ?? throw new HardwareAccessException($"{path} is missing");
        string s = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        return ulong.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v) ? v
            : throw new HardwareAccessException($"{path}: '{text}' is not a hex number");
    }

    /// <summary>The last path component of a symlink's target (a <c>driver</c> or <c>iommu_group</c> link); null if no link.</summary>
    public static string? LinkName(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not string target)
            return null;
        return Path.GetFileName(Path.TrimEndingDirectorySeparator(target));
    }

    /// <summary>
    /// Writes <paramref name="value"/> with one write(2), as sysfs store methods want. The file must exist: sysfs
    /// attributes are never created by writing, so a missing one means an old kernel or a wrong path.
    /// </summary>
    public static void Write(string path, string value)
    {
        if (!File.Exists(path))
            throw new HardwareAccessException($"{path} does not exist (kernel too old, driver not loaded, or wrong sysfs root)");
        try
        {
            using var fs = new FileStream(path, FileMode.Truncate, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            byte[] bytes = System.Text.Encoding.ASCII.GetBytes(value);
            fs.Write(bytes);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new HardwareAccessException($"{path}: permission denied writing '{value.TrimEnd()}': run as root", e);
        }
        catch (IOException e) when (e is not HardwareAccessException)
        {
            throw new HardwareAccessException($"{path}: writing '{value.TrimEnd()}' failed: {e.Message}", e);
        }
    }
}
