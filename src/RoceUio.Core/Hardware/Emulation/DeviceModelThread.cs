namespace RoceUio.Hardware.Emulation;

/// <summary>
/// A device model serving on a background thread of this process (<c>--emulate</c> and tests): runs the model's loop
/// until disposed, and reports a model that dies. A loop that throws (a bad fault file, a damaged device directory) or
/// returns while it should still serve is not silent: <see cref="Failure"/> says why, and <see cref="Died"/> is called
/// once on the model's thread with the same text (the daemon logs it and <c>show devices</c> says so).
/// Locking: <see cref="Failure"/> is written once by the model thread and read by anyone (volatile); <see cref="Died"/>
/// is called at most once (an interlocked flag), on whichever thread sees both the failure and the callback first.
/// </summary>
public class DeviceModelThread : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private readonly IDisposable? _model;
    private volatile string? _failure;
    private volatile Action<string>? _died;
    private int _reported;

    /// <param name="name">The thread's name (<c>mlx4-model</c>).</param>
    /// <param name="run">The model's loop: serves until the token is cancelled, returns an exit status (0: clean).</param>
    /// <param name="model">Disposed after the loop ended (the model's mappings), or null.</param>
    public DeviceModelThread(string name, Func<CancellationToken, int> run, IDisposable? model = null)
    {
        _model = model;
        _thread = new Thread(() => Serve(name, run)) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Null while the model serves (or stopped because it was told to); else why it died.</summary>
    public string? Failure => _failure;

    /// <summary>Called once with <see cref="Failure"/> when the model dies; set at once if it already has.</summary>
    public Action<string>? Died
    {
        set
        {
            _died = value;
            if (_failure is not null)
                Report();
        }
    }

    private void Serve(string name, Func<CancellationToken, int> run)
    {
        string? failure;
        try
        {
            int status = run(_stop.Token);
            failure = _stop.IsCancellationRequested ? null : $"{name} stopped serving (exit status {status}) while the driver still uses it";
        }
        catch (Exception e) when (!_stop.IsCancellationRequested || e is not OperationCanceledException)
        {
            failure = $"{name} died: {e.GetType().Name}: {e.Message}";
        }
        if (failure is null)
            return;
        _failure = failure;
        Report();
    }

    private void Report()
    {
        if (_died is { } died && _failure is { } f && Interlocked.Exchange(ref _reported, 1) == 0)
            died(f);
    }

    /// <summary>Stops the model, waits for its thread, then disposes the model.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join();
        _stop.Dispose();
        _model?.Dispose();
    }
}
