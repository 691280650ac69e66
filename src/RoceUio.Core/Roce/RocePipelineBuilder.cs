using RoceUio.Gids;
using RoceUio.Netlink;

namespace RoceUio.Roce;

/// <summary>
/// Builds the one pipeline netlink → netdev cache → graph → GID manager → tables → drivers, the same way for the
/// daemon (<c>roceuio run</c>), <c>roceuio replay</c> and the tests. Set what differs, then <see cref="Build"/>.
/// </summary>
public sealed class RocePipelineBuilder
{
    private Gids.IndexPolicy _policy = Gids.IndexPolicy.Sticky;
    private Action<string> _netlinkLog = static m => Console.Error.WriteLine(m);
    private Action<string>? _gidLog;
    private Action<string> _errors = static _ => { };
    private Func<string, ushort>? _devIds;
    private readonly List<INetdevObserver> _observers = [];

    /// <summary>sticky (the default) or kernel index assignment.</summary>
    public RocePipelineBuilder IndexPolicy(Gids.IndexPolicy policy)
    {
        _policy = policy;
        return this;
    }

    /// <summary>Where the netdev cache reports malformed messages and dropped addresses.</summary>
    public RocePipelineBuilder NetlinkLog(Action<string> log)
    {
        _netlinkLog = log;
        return this;
    }

    /// <summary>One line per GID change and why (<see cref="GidManager.Log"/>); null keeps quiet.</summary>
    public RocePipelineBuilder GidLog(Action<string>? log)
    {
        _gidLog = log;
        return this;
    }

    /// <summary>Errors the kernel would only log (<see cref="GidManager.Error"/>).</summary>
    public RocePipelineBuilder Errors(Action<string> errors)
    {
        _errors = errors;
        return this;
    }

    /// <summary>Reads a netdev's dev_id by name (sysfs in the daemon); none: 0.</summary>
    public RocePipelineBuilder DevIds(Func<string, ushort> provider)
    {
        _devIds = provider;
        return this;
    }

    /// <summary>Another observer of the cache's events (<c>-v</c> printers), called after the manager has handled each.</summary>
    public RocePipelineBuilder Observe(INetdevObserver observer)
    {
        _observers.Add(observer);
        return this;
    }

    public RocePipeline Build()
    {
        var cache = new NetdevCache { Log = _netlinkLog, DevIdProvider = _devIds };
        var graph = new NetlinkNetdevGraph(cache);
        var manager = new GidManager(graph, _policy) { Log = _gidLog, Error = _errors };
        cache.Subscribe(new NetdevEventRouter(graph, manager));
        foreach (INetdevObserver o in _observers)
            cache.Subscribe(o);
        return new RocePipeline(cache, graph, manager);
    }
}
