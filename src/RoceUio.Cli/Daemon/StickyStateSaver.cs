using RoceUio.Roce;

namespace RoceUio.Cli.Daemon;

/// <summary>
/// When the sticky state file must be written: a subscriber of the manager's change stream
/// (<see cref="GidManager.Changes"/>) marks it dirty on every GID change, and the worker writes it once the first
/// unsaved change is <c>SaveDelay</c> old (changes in between are written together).
/// </summary>
/// <remarks>Threading: the subscription's reader runs on the thread pool; the worker asks <see cref="IsDue"/> and calls
/// <see cref="TakeForSave"/> just before it writes, so a change that arrives during the write marks it dirty again.</remarks>
public sealed class StickyStateSaver : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader;
    private long _dirtySince = -1;   // Environment.TickCount64 of the first unsaved change; -1 when nothing is unsaved

    public StickyStateSaver(GidChangeBroadcaster changes)
    {
        IAsyncEnumerable<GidChangeEvent> stream = changes.Subscribe(_stop.Token);
        _reader = Task.Run(async () =>
        {
            try
            {
                await foreach (GidChangeEvent _ in stream)
                    MarkDirty();
            }
            catch (OperationCanceledException)
            {
            }
        });
    }

    /// <summary>Something to save (a change, or the first fill).</summary>
    public void MarkDirty() => Interlocked.CompareExchange(ref _dirtySince, Environment.TickCount64, -1);

    public bool IsDue(TimeSpan delay)
    {
        long since = Volatile.Read(ref _dirtySince);
        return since >= 0 && Environment.TickCount64 - since >= delay.TotalMilliseconds;
    }

    /// <summary>The worker is about to write the state: what changes from now on is written next time.</summary>
    public void TakeForSave() => Volatile.Write(ref _dirtySince, -1);

    public void Dispose()
    {
        _stop.Cancel();
        try { _reader.Wait(TimeSpan.FromSeconds(1)); } catch (AggregateException) { }
        _stop.Dispose();
    }
}
