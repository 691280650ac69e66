namespace RoceUio.Gids;

/// <summary>
/// The kernel's distinct answers for a GID query (drivers/infiniband/core/cache.c), where a bool would lose which
/// one it was. The names say the errno the kernel returns.
/// </summary>
public enum GidQueryError
{
    /// <summary>0: the entry is there.</summary>
    None = 0,
    /// <summary>-EINVAL: no such port or index (<c>rdma_get_gid_attr</c>), or the entry is no longer valid
    /// (<c>rdma_read_gid_attr_ndev_rcu</c>).</summary>
    InvalidArgument,
    /// <summary>-ENODATA: the slot is empty or pending delete (<c>rdma_get_gid_attr</c>, <c>ibv_query_gid_ex</c>).</summary>
    NoData,
    /// <summary>-ENOENT: nothing matched (<c>rdma_find_gid_by_filter</c>, <c>rdma_find_gid_by_port</c>).</summary>
    NotFound,
    /// <summary>-ENODEV: the entry a holder keeps has no netdev any more: <c>del_gid</c> detached it when the entry was
    /// deleted (<c>rdma_read_gid_l2_fields</c>). (The kernel's older -EAGAIN, for an entry caught between a driver call
    /// and its publication, cannot happen here: an entry is published whole, after its hardware write.)</summary>
    NoDevice,
}

/// <summary>A caller's predicate for <see cref="GidTable.FindByFilter{TState}"/> (<c>rdma_find_gid_by_filter</c>'s
/// filter). It runs on a reader's consistent view and may run more than once for one entry if a writer interferes,
/// so it must only look (no side effects).</summary>
public delegate bool GidFilter<in TState>(in GidEntry entry, int index, TState state);
