namespace RoceUio.Gids;

/// <summary>
/// The attributes of one GID table entry, the part of <c>struct ib_gid_attr</c> that identifies it:
/// the GID, its type and the net device it belongs to. The netdev is named by ifindex, our stand-in
/// for the kernel's pointer identity (<c>attr.ndev == val.ndev</c> in cache.c find_gid).
/// </summary>
public readonly record struct GidEntry(Gid Gid, GidType Type, int NetdevIfindex)
{
    public override string ToString() => $"{Gid} {Type.ToShortString()} ifindex {NetdevIfindex}";
}
