using System.Runtime.InteropServices;

namespace RoceUio.Cli;

/// <summary>
/// Removes a command's temporary directory when the command is stopped by SIGTERM or SIGINT (the runtime then ends the
/// process as the signal would, without running the command's finally blocks), and on dispose. The directory's files
/// may still be written by a device model thread meanwhile: the removal is retried a few times.
/// </summary>
internal sealed class RemoveOnSignal : IDisposable
{
    private readonly string _dir;
    private readonly PosixSignalRegistration _term, _intr;

    public RemoveOnSignal(string dir)
    {
        _dir = dir;
        _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => Remove());
        _intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => Remove());
    }

    public void Remove()
    {
        for (int attempt = 0; attempt < 5 && Directory.Exists(_dir); attempt++)
        {
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A file appeared while deleting (the model wrote its state): go again.
            }
        }
    }

    public void Dispose()
    {
        _term.Dispose();
        _intr.Dispose();
        Remove();
    }
}
