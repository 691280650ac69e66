namespace RoceUio.Gids;

/// <summary>
/// A GID could not be added because no slot of its class is free (the kernel's <c>-ENOSPC</c> in
/// cache.c __ib_cache_gid_add). The table is unchanged. The message names the port, the capacity and the GID.
/// </summary>
public sealed class GidTableFullException : InvalidOperationException
{
    public GidTableFullException(int port, int capacity, string message) : base(message)
    {
        Port = port;
        Capacity = capacity;
    }

    /// <summary>The port whose table is full.</summary>
    public int Port { get; }

    /// <summary>The table's capacity (slots, default slots included).</summary>
    public int Capacity { get; }
}
