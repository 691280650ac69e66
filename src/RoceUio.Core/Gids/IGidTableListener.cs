namespace RoceUio.Gids;

/// <summary>
/// Told about changes of a <see cref="GidTable"/>, as the kernel's <c>IB_EVENT_GID_CHANGE</c>
/// (cache.c dispatch_gid_change_event): one call per add, per delete and per delete-all batch; none for an add that
/// found the entry already there, and none for a failed change.
/// </summary>
/// <remarks>
/// Called on the writer's thread while the table's writer lock is held, so calls arrive in the order the changes
/// were made. The listener may read the table but must not call its writers (that throws
/// <see cref="InvalidOperationException"/>); hand the work to another thread instead.
/// </remarks>
public interface IGidTableListener
{
    void OnGidChanged(GidTable table, ReadOnlySpan<GidChange> batch);
}
