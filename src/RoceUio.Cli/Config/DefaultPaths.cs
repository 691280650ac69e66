namespace RoceUio.Cli.Config;

/// <summary>
/// Where the control socket and the state live when nobody said: <c>/run/roceuio/control.sock</c> and
/// <c>/var/lib/roceuio</c> for root. A non-root user cannot create those, so the daemon falls back to
/// <c>$XDG_RUNTIME_DIR/roceuio/</c> (or <c>/tmp/roceuio-UID/</c>) and says so; clients look there too.
/// </summary>
public static class DefaultPaths
{
    /// <summary>The per-user directory that replaces /run/roceuio and /var/lib/roceuio for a non-root user.</summary>
    public static string UserDirectory
        => Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } xdg
            ? Path.Combine(xdg, "roceuio")
            : $"/tmp/roceuio-{Tmds.Linux.LibC.geteuid()}"; // the uid, not $USER: the same path with USER unset (env -i, cron)

    public static string UserControl => Path.Combine(UserDirectory, "control.sock");
    public static string UserStateDir => Path.Combine(UserDirectory, "state");

    /// <summary>Where the shared-memory GID tables go unless told (<c>run --shm-dir</c>, <c>show gids --shm-dir</c>).</summary>
    public const string SystemShmDir = "/dev/shm/roceuio";

    public static string UserShmDir => Path.Combine(UserDirectory, "shm");

    /// <summary>The daemon's shared-memory directory: ROCEUIO_SHM_DIR, else /dev/shm/roceuio, else (not root and that
    /// is not writable, e.g. another user's) the per-user one, said on stderr.</summary>
    public static string DaemonShmDir()
    {
        if (Environment.GetEnvironmentVariable("ROCEUIO_SHM_DIR") is { Length: > 0 } env)
            return env;
        if (Environment.IsPrivilegedProcess || CanWrite(SystemShmDir))
            return SystemShmDir;
        Console.Error.WriteLine($"roceuio run: note: not root; the shared-memory tables are in {UserShmDir} instead of {SystemShmDir}");
        return UserShmDir;
    }

    /// <summary>The directory a client reads: ROCEUIO_SHM_DIR, else /dev/shm/roceuio, else (not root, no system
    /// directory) the per-user one.</summary>
    public static string ClientShmDir()
    {
        if (Environment.GetEnvironmentVariable("ROCEUIO_SHM_DIR") is { Length: > 0 } env)
            return env;
        if (!Environment.IsPrivilegedProcess && !Directory.Exists(SystemShmDir) && Directory.Exists(UserShmDir))
            return UserShmDir;
        return SystemShmDir;
    }

    /// <summary>True when <paramref name="dir"/> exists and is writable, or can be created.</summary>
    public static bool CanWrite(string dir)
    {
        try
        {
            Directory.CreateDirectory(dir);
            string probe = Path.Combine(dir, $".probe{Environment.ProcessId}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The socket a client uses by default: ROCEUIO_CONTROL, else the system path, else (not root, no system
    /// socket) the per-user one.</summary>
    public static string ClientControl()
    {
        if (Environment.GetEnvironmentVariable("ROCEUIO_CONTROL") is { Length: > 0 } env)
            return env;
        if (!Environment.IsPrivilegedProcess && !File.Exists(DaemonConfig.DefaultControl) && File.Exists(UserControl))
            return UserControl;
        return DaemonConfig.DefaultControl;
    }
}
