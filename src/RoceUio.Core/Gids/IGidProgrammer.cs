namespace RoceUio.Gids;

/// <summary>
/// The hardware hook of a <see cref="GidTable"/>: the kernel's <c>ib_device_ops.add_gid</c>/<c>del_gid</c>
/// (cache.c add_roce_gid, del_gid). The GID manager adapts an <see cref="Roce.IRoceDevice"/> to it.
/// </summary>
/// <remarks>
/// Both are called with the table's writer lock held, one call at a time.
/// <see cref="AddGid"/> runs before the entry is published; if it throws, nothing is published and the exception
/// reaches the caller of the table's writer. <see cref="DeleteGid"/> runs when the entry is deleted, even if
/// references keep the slot pending (be5914c124bc); if it throws, the entry stays as it was.
/// </remarks>
public interface IGidProgrammer
{
    void AddGid(int port, int index, in GidEntry e);
    void DeleteGid(int port, int index, in GidEntry e);
}
