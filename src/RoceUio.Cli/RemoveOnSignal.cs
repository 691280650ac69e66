using System.Runtime.InteropServices;

namespace RoceUio.Cli;

/// <summary>
/// Removes a command's temporary directory when the command is stopped by SIGTERM or SIGINT (the runtime then ends the
/// process as the signal would, without running the command's finally blocks), and on dispose. The directory's files
/// may still be written by a device model thread meanwhile: the removal is retried until it stays gone. After removing it the
/// handler ends the process at once (<c>_exit</c>, status 128 + the signal's number, as a shell reports it): left to the
/// runtime's own shutdown, the command's other threads ran on for milliseconds and could create the directory again
/// (a busy machine showed it: the directory came back after the signal).
/// </summary>
internal sealed class RemoveOnSignal : IDisposable
{
    private readonly string _dir;
    private readonly PosixSignalRegistration _term, _intr;

    public RemoveOnSignal(string dir)
    {
        _dir = dir;
        _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => RemoveAndExit(128 + 15));
        _intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => RemoveAndExit(128 + 2));
    }

    /// <summary>
    /// Deletes the directory until it has stayed gone across a short pause: the command's other threads may be in the
    /// middle of creating a device's files there (a delete then fails with "not empty", or the directory is created
    /// again right after it). Bounded: at most about half a second.
    /// </summary>
    public void Remove()
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            if (!Directory.Exists(_dir))
            {
                Thread.Sleep(2);
                if (!Directory.Exists(_dir))
                    return;
            }
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A file appeared while deleting (the model wrote its state): go again after a pause.
                Thread.Sleep(3);
            }
        }
    }

    private void RemoveAndExit(int status)
    {
        Remove();
        // No flush of stdout/stderr here: the command may be stopped exactly because nobody reads them (a full pipe).
        Control.Posix.ExitNow(status);
    }

    public void Dispose()
    {
        _term.Dispose();
        _intr.Dispose();
        Remove();
    }
}
