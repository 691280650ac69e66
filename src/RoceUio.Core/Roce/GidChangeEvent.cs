using System.Threading.Channels;
using RoceUio.Gids;

namespace RoceUio.Roce;

/// <summary>One GID table change as subscribers see it: which slot, what it held, what it holds now (null = empty).</summary>
public readonly record struct GidChangeEvent(string Device, int Port, int Index, GidEntry? Old, GidEntry? New);

/// <summary>
/// <c>IB_EVENT_GID_CHANGE</c> for a port, as cache.c <c>dispatch_gid_change_event</c> sends it: once after each add,
/// each single delete and each delete-all batch (a netdev's entries at once); none for no-op adds or failures.
/// <paramref name="Changes"/> is how many slots the batch changed.
/// </summary>
public readonly record struct GidPortChangeEvent(string Device, int Port, int Changes);

/// <summary>
/// Fans table changes out to subscribers, each with its own unbounded channel, so a slow reader never stalls the worker.
/// Thread-safe: subscribe and unsubscribe from any thread; publishing happens on the manager's worker.
/// </summary>
public class Broadcaster<T>
{
    private readonly object _lock = new();
    private Channel<T>[] _subscribers = [];

    public IAsyncEnumerable<T> Subscribe(CancellationToken cancellationToken = default)
    {
        var ch = Channel.CreateUnbounded<T>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        lock (_lock)
            _subscribers = [.. _subscribers, ch];
        cancellationToken.Register(() => Remove(ch));
        return ch.Reader.ReadAllAsync(cancellationToken);
    }

    private void Remove(Channel<T> ch)
    {
        lock (_lock)
            _subscribers = _subscribers.Where(s => s != ch).ToArray();
        ch.Writer.TryComplete();
    }

    public void Publish(in T e)
    {
        foreach (Channel<T> ch in Volatile.Read(ref _subscribers))
            ch.Writer.TryWrite(e);
    }

    public void Complete()
    {
        lock (_lock)
        {
            foreach (Channel<T> ch in _subscribers)
                ch.Writer.TryComplete();
            _subscribers = [];
        }
    }
}

/// <summary>The per-entry change stream (<see cref="GidChangeEvent"/>).</summary>
public sealed class GidChangeBroadcaster : Broadcaster<GidChangeEvent>;

/// <summary>The per-port GID_CHANGE stream (<see cref="GidPortChangeEvent"/>).</summary>
public sealed class GidPortChangeBroadcaster : Broadcaster<GidPortChangeEvent>;
