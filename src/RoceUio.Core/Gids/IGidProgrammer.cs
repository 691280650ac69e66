namespace RoceUio.Gids;

/// <summary>
/// The hardware hook of a <see cref="GidTable"/>: the kernel's <c>ib_device_ops.add_gid</c>/<c>del_gid</c>
/// (cache.c add_roce_gid, del_gid). The GID manager adapts an <see cref="Roce.IRoceDevice"/> to it.
/// </summary>
/// <remarks>
/// Both are called with the table's writer lock held, one call at a time.
/// <see cref="TryAddGid"/> runs before the entry takes its slot; when it refuses (false, with the reason), nothing
/// changes and the table's add answers <see cref="GidWriteResult.DeviceRefused"/>. <see cref="DeleteGid"/> runs when
/// the entry is deleted, even if references keep the slot pending (be5914c124bc). The kernel's del_gid ignores the
/// driver's result, and so should an implementation: one that throws anyway leaves the entry as it was.
/// </remarks>
public interface IGidProgrammer
{
    bool TryAddGid(int port, int index, in GidEntry e, out string? refusal);
    void DeleteGid(int port, int index, in GidEntry e);
}
