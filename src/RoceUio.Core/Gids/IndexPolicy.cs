namespace RoceUio.Gids;

/// <summary>How a <see cref="GidTable"/> picks the index of a new, non-default GID.</summary>
public enum IndexPolicy
{
    /// <summary>
    /// The default. A GID that comes back (link flap, bond failover, daemon restart) gets the index it had before
    /// when that slot is free; otherwise the first free slot that no absent GID remembers; otherwise the first free
    /// slot. Index drift after a port flap breaks applications that cache GID indexes (NVIDIA/nccl#1333, #2157).
    /// </summary>
    Sticky = 0,

    /// <summary>Exactly as Linux (cache.c find_gid's <c>pempty</c>): the first free non-default slot.</summary>
    Kernel = 1,
}
