namespace RoceUio.Cli.Config;

/// <summary>
/// The daemon's state directory (sticky indexes, emulated devices' files) made ready before anything starts: created
/// if missing and proven writable with a probe file, so a wrong one is one clear line at start rather than a bare
/// "Could not find file" from deep inside (a directory under /proc or /sys can never hold our files).
/// </summary>
internal static class StateDirectory
{
    public static void Prepare(string dir)
    {
        string probe = Path.Combine(dir, $".roceuio-probe-{Environment.ProcessId}");
        try
        {
            Directory.CreateDirectory(dir);
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string reason = e switch
            {
                UnauthorizedAccessException => "permission denied",
                FileNotFoundException or DirectoryNotFoundException => "it cannot be created or written there",
                _ => e.Message,
            };
            string full = Path.GetFullPath(dir);
            string? kernelFs = new[] { "/proc", "/sys", "/dev" }.FirstOrDefault(r => full == r || full.StartsWith(r + "/", StringComparison.Ordinal));
            throw new IOException($"state directory {dir}: {reason}"
                + (kernelFs is null ? "" : $" ({kernelFs} is a kernel file system: it holds no files of ours)")
                + $"; choose a writable directory with --state-dir DIR or \"state_dir\" in the config (default {DaemonConfig.DefaultStateDir})", e);
        }
    }
}
