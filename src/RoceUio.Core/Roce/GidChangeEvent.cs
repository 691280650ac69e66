using System.Threading.Channels;
using RoceUio.Gids;

namespace RoceUio.Roce;

/// <summary>One GID table change as subscribers see it: which slot, what it held, what it holds now (null = empty).</summary>
public readonly record struct GidChangeEvent(string Device, int Port, int Index, GidEntry? Old, GidEntry? New);

/// <summary>
/// Fans table changes out to subscribers, each with its own unbounded channel, so a slow reader never stalls the worker.
/// Thread-safe: subscribe and unsubscribe from any thread; publishing happens on the manager's worker.
/// </summary>
public sealed class GidChangeBroadcaster
{
    private readonly object _lock = new();
    private Channel<GidChangeEvent>[] _subscribers = [];

    public IAsyncEnumerable<GidChangeEvent> Subscribe(CancellationToken cancellationToken = default)
    {
        var ch = Channel.CreateUnbounded<GidChangeEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        lock (_lock)
            _subscribers = [.. _subscribers, ch];
        cancellationToken.Register(() => Remove(ch));
        return ch.Reader.ReadAllAsync(cancellationToken);
    }

    private void Remove(Channel<GidChangeEvent> ch)
    {
        lock (_lock)
            _subscribers = _subscribers.Where(s => s != ch).ToArray();
        ch.Writer.TryComplete();
    }

    public void Publish(in GidChangeEvent e)
    {
        foreach (Channel<GidChangeEvent> ch in Volatile.Read(ref _subscribers))
            ch.Writer.TryWrite(e);
    }

    public void Complete()
    {
        lock (_lock)
        {
            foreach (Channel<GidChangeEvent> ch in _subscribers)
                ch.Writer.TryComplete();
            _subscribers = [];
        }
    }
}
