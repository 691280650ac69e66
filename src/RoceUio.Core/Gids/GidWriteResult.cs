namespace RoceUio.Gids;

/// <summary>
/// What an add to a <see cref="GidTable"/> did: the one result shape of the event path (table → manager → status),
/// instead of a bool for a full table, exceptions for bad input and driver exceptions let through. The text of
/// what went wrong comes beside it (an <c>out string? error</c>).
/// </summary>
public enum GidWriteResult : byte
{
    /// <summary>Taken into a slot (and, in a table that publishes after commit, visible once the push succeeded).</summary>
    Added,
    /// <summary>(gid, type, netdev) was already there: nothing changed, no event (find_gid's "already exists").</summary>
    Exists,
    /// <summary>No free slot of its class (the kernel's -ENOSPC); nothing changed.</summary>
    Full,
    /// <summary>The entry can never be valid here: the zero GID, an unsupported type, a RoCE GID without a netdev
    /// (the kernel's -EINVAL); nothing changed.</summary>
    Invalid,
    /// <summary>The hardware hook refused it (<see cref="IGidProgrammer.TryAddGid"/>); nothing changed.</summary>
    DeviceRefused,
}
