namespace RoceUio.Gids;

/// <summary>Which attributes a find compares: the kernel's <c>enum gid_attr_find_mask</c> (cache.c).</summary>
[Flags]
public enum GidFindMask
{
    /// <summary>The 16-byte GID value (<c>GID_ATTR_FIND_MASK_GID</c>).</summary>
    Gid = 1 << 0,
    /// <summary>The netdev identity, here the ifindex (<c>GID_ATTR_FIND_MASK_NETDEV</c>).</summary>
    Netdev = 1 << 1,
    /// <summary>Whether the slot is a reserved default slot (<c>GID_ATTR_FIND_MASK_DEFAULT</c>).</summary>
    Default = 1 << 2,
    /// <summary>The GID type (<c>GID_ATTR_FIND_MASK_GID_TYPE</c>).</summary>
    GidType = 1 << 3,
}
